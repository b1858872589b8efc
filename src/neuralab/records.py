"""The records that cross layers: what a model is (`ModelCard`), one line of training history (`EpochRow`), and
what a run achieved (`RunSummary`).

Each is a frozen dataclass with a format version, `to_json`/`from_json`, and validation on the way in, so every
writer and every reader agree on one meaning (a missing field has one answer: a clear error naming the file and the
field, or a documented default). Keras' `get_config`/`from_config` and timm's `PretrainedCfg` play this role there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from neuralab.data.base import Dataset
from neuralab.data.preprocess import Preprocess
from neuralab.errors import CheckpointError, DataError, NeuralabError
from neuralab.files import atomic_write_json, read_json

CARD_VERSION = 1
MAX_OUTPUTS = 100_000


def _scalars(d: Mapping[str, Any]) -> dict[str, float]:
    """The int/float entries of a mapping (metrics also hold per-class lists and confusion matrices)."""
    return {k: v for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


@dataclass(frozen=True)
class ModelCard:
    """Everything needed to rebuild and use a model without the code that trained it."""

    architecture: str  # registered model (or detector) name
    task: str  # a registered task: classification, regression, detection
    input_shape: tuple[int, ...]
    num_outputs: int  # width of the last layer (classes; 1 for regression; classes + background for detectors)
    preprocess: Preprocess
    args: Mapping[str, Any] = field(default_factory=dict)  # the architecture's keyword arguments
    classes: tuple[str, ...] = ()
    dataset: str = ""  # the training data, by registered name
    metrics: Mapping[str, Any] = field(default_factory=dict)  # measured when the weights were saved
    extra: Mapping[str, Any] = field(default_factory=dict)  # epoch, transfer strategy, source weights...
    version: int = CARD_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        object.__setattr__(self, "args", dict(self.args))
        if not self.architecture or not self.task:
            raise CheckpointError("a model card needs an architecture and a task")
        if not 1 <= self.num_outputs <= MAX_OUTPUTS:
            raise CheckpointError(f"num_outputs must be in [1, {MAX_OUTPUTS:,}]. Received: {self.num_outputs}")
        if self.input_shape != self.preprocess.input_shape:
            raise CheckpointError(f"input_shape {list(self.input_shape)} differs from its preprocessing's "
                                  f"{list(self.preprocess.input_shape)}")

    @classmethod
    def for_dataset(cls, architecture: str, args: Mapping[str, Any], data: Dataset, dataset: str = "",
                    preprocess: Preprocess | None = None, **extra: Any) -> "ModelCard":
        """The card of a model trained on `data`: its task, classes, shape and normalization statistics (8-bit
        pixels are scaled by 255, feature values by 1). `preprocess` overrides it where training prepared the
        arrays itself (transfer learning resizes and crops as the pretrained weights want)."""
        pre = preprocess or Preprocess(data.input_shape, data.mean or (0.0,) * data.input_shape[0],
                                       data.std or (1.0,) * data.input_shape[0],
                                       255.0 if data.train.x.dtype.name == "uint8" else 1.0)
        return cls(architecture, data.task, data.input_shape, data.num_outputs, pre, args, tuple(data.classes),
                   dataset or data.name, {}, extra)

    @property
    def is_image(self) -> bool:
        return self.preprocess.is_image

    def class_names(self, n: int) -> list[str]:
        """Names for n outputs: the card's classes, or '0', '1', ... when it has none."""
        return list(self.classes) if len(self.classes) >= n else [str(i) for i in range(n)]

    def with_metrics(self, metrics: Mapping[str, Any], **extra: Any) -> "ModelCard":
        return replace(self, metrics=dict(metrics), extra={**self.extra, **extra})

    def to_json(self) -> dict[str, Any]:
        return {"format": "neuralab.model-card", "version": self.version, "architecture": self.architecture,
                "args": dict(self.args), "task": self.task, "input_shape": list(self.input_shape),
                "num_outputs": self.num_outputs, "classes": list(self.classes),
                "preprocess": self.preprocess.to_json(), "dataset": self.dataset, "metrics": dict(self.metrics),
                "extra": dict(self.extra)}

    @classmethod
    def from_json(cls, d: Any, source: str = "model card") -> "ModelCard":
        """A card from its JSON; metadata of the version before cards existed is converted (`_legacy`)."""
        if not isinstance(d, dict):
            raise CheckpointError(f"{source}: the model card must be a JSON object. Received: {type(d).__name__}")
        if "version" not in d:
            d = _legacy(d, source)
        if d.get("version") != CARD_VERSION:
            raise CheckpointError(f"{source}: model card version {d.get('version')!r} is not one this neuralab "
                                  f"reads ({CARD_VERSION}); upgrade neuralab or re-export the model")
        try:
            for key in ("architecture", "task", "input_shape", "num_outputs", "preprocess"):
                if key not in d:
                    raise CheckpointError(f"{source}: the model card has no {key!r}")
            _expect(source, d, "architecture", str)
            _expect(source, d, "task", str)
            _expect(source, d, "input_shape", list)
            _expect(source, d, "num_outputs", int)
            _expect(source, d, "args", dict)
            _expect(source, d, "classes", list)
            _expect(source, d, "metrics", dict)
            _expect(source, d, "extra", dict)
            pre = Preprocess.from_json(d["preprocess"])
        except DataError as e:
            raise CheckpointError(f"{source}: {e}") from None
        try:
            return cls(architecture=d["architecture"], task=d["task"], input_shape=tuple(d["input_shape"]),
                       num_outputs=d["num_outputs"], preprocess=pre, args=d.get("args", {}),
                       classes=tuple(d.get("classes", [])), dataset=str(d.get("dataset", "")),
                       metrics=d.get("metrics", {}), extra=d.get("extra", {}))
        except (CheckpointError, DataError) as e:
            raise CheckpointError(f"{source}: {e}") from None
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{source}: invalid model card ({e})") from None


def _expect(source: str, d: dict[str, Any], key: str, kind: type) -> None:
    if key in d and (not isinstance(d[key], kind) or (kind is int and isinstance(d[key], bool))):
        raise CheckpointError(f"{source}: model card field {key!r} must be {kind.__name__}. "
                              f"Received: {d[key]!r:.80}")


def _legacy(meta: dict[str, Any], source: str) -> dict[str, Any]:
    """Checkpoint metadata written before model cards (neuralab <= 0.1): flat keys, detectors marked kind=detector.
    Its `input_scale` was always written for classifiers; when absent the file did not come from neuralab."""
    if meta.get("kind") == "detector":
        size = int(meta.get("image_size") or 320)
        pre = {"input_shape": [3, size, size], "mean": [0.0] * 3, "std": [1.0] * 3, "scale": 255.0, "crop": False}
        return {"version": CARD_VERSION, "architecture": meta.get("model"), "task": "detection",
                "input_shape": pre["input_shape"], "num_outputs": len(meta.get("classes", [])) + 1,
                "classes": meta.get("classes", []), "preprocess": pre, "args": {"image_size": size},
                "dataset": meta.get("dataset", ""), "metrics": meta.get("metrics", {}), "extra": {}}
    missing = [k for k in ("model", "input_shape", "num_outputs", "mean", "std", "input_scale") if k not in meta]
    if missing:
        raise CheckpointError(f"{source} has no {missing[0]!r} in its metadata; it was not written by neuralab "
                              f"(or by a version too old to read)")
    shape = list(meta["input_shape"])
    pre = {"input_shape": shape, "mean": meta["mean"], "std": meta["std"], "scale": meta["input_scale"]}
    known = {"model", "model_args", "input_shape", "num_outputs", "task", "classes", "mean", "std", "input_scale",
             "dataset", "metrics"}
    return {"version": CARD_VERSION, "architecture": meta["model"], "task": meta.get("task") or "classification",
            "input_shape": shape, "num_outputs": meta["num_outputs"], "classes": meta.get("classes") or [],
            "preprocess": pre, "args": meta.get("model_args") or {}, "dataset": meta.get("dataset", ""),
            "metrics": meta.get("metrics") or {}, "extra": {k: v for k, v in meta.items() if k not in known}}


@dataclass(frozen=True)
class EpochRow:
    """One line of metrics.jsonl: a split's numbers after an epoch (training, validation or the final test)."""

    epoch: int
    split: str  # "train", "val" or "test"
    loss: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    lr: float | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", dict(self.metrics))
        if isinstance(self.loss, float) and not math.isfinite(self.loss):
            object.__setattr__(self, "loss", None)  # stored as null: JSON has no NaN

    def metric(self, name: str, default: float = math.nan) -> float:
        v = self.metrics.get(name)
        return float(v) if isinstance(v, (int, float)) else default

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "split": self.split, "loss": self.loss, "metrics": dict(self.metrics),
                "lr": self.lr, "seconds": self.seconds}

    @classmethod
    def from_json(cls, d: Any, source: str = "metrics.jsonl") -> "EpochRow":
        if not isinstance(d, dict) or not isinstance(d.get("epoch"), int) or not isinstance(d.get("split"), str):
            raise NeuralabError(f"{source}: a metrics line needs an integer 'epoch' and a 'split'. Received: "
                                f"{str(d)[:120]}")
        names = {f.name for f in fields(cls)}
        return cls(**{k: d[k] for k in names if d.get(k) is not None})


@dataclass(frozen=True)
class RunSummary:
    """summary.json: what a run achieved. `headline` is the one line shown in lists and on the portfolio's front
    page; `findings` are the page's conclusions in words; `details` is the producer's own record."""

    headline: str = ""
    test: Mapping[str, Any] = field(default_factory=dict)
    val: Mapping[str, Any] = field(default_factory=dict)
    findings: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    version: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "findings", tuple(str(f) for f in self.findings))
        if not self.headline:
            object.__setattr__(self, "headline", default_headline(self.test))

    def metric(self, name: str, split: str = "test") -> float | None:
        v = (self.test if split == "test" else self.val).get(name)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def scalars(self) -> dict[str, float]:
        """'val accuracy', 'test loss'... for tables that put runs side by side."""
        return {f"{split} {k}": v for split, d in (("val", self.val), ("test", self.test))
                for k, v in _scalars(d).items()}

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "headline": self.headline, "test": dict(self.test), "val": dict(self.val),
                "findings": list(self.findings), **dict(self.details)}

    @classmethod
    def from_json(cls, d: Any, source: str = "summary.json") -> "RunSummary":
        if not isinstance(d, dict):
            raise NeuralabError(f"{source} must hold a JSON object. Received: {type(d).__name__}")
        core = {"version", "headline", "test", "val", "findings"}
        test, val, findings = d.get("test") or {}, d.get("val") or {}, d.get("findings") or []
        if not isinstance(test, dict) or not isinstance(val, dict) or not isinstance(findings, list):
            raise NeuralabError(f"{source}: 'test' and 'val' must be objects and 'findings' a list")
        return cls(headline=str(d.get("headline") or ""), test=test, val=val, findings=tuple(findings),
                   details={k: v for k, v in d.items() if k not in core})

    def write(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_json())

    @classmethod
    def read(cls, path: str | Path) -> "RunSummary":
        return cls.from_json(read_json(path, "run summary"), str(path))


def default_headline(test: Mapping[str, Any]) -> str:
    """The one-line result of a run that did not write its own: test accuracy, else RMSE, else box mAP@0.5."""
    s = _scalars(test)
    if "accuracy" in s:
        return f"{100 * s['accuracy']:.1f}% test accuracy"
    if "rmse" in s:
        return f"test RMSE {s['rmse']:.3f}"
    if "map50" in s:
        return f"test mAP@0.5 {s['map50']:.3f}"
    return ""
