"""The training config: what `neuralab train` fills from its options and saves as the run's config.json."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from neuralab.config import option
from neuralab.errors import ConfigError


def parse_model_args(text: str) -> dict[str, Any]:
    """'hidden=512,256 dropout=0.2 batch_norm=true' -> {'hidden': [512, 256], 'dropout': 0.2, 'batch_norm': True}."""
    out: dict[str, Any] = {}
    for item in text.replace(";", " ").split():
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"model arguments are key=value pairs. Received: {item!r}")
        values = [_literal(v) for v in raw.split(",")] if "," in raw else _literal(raw)
        out[key.replace("-", "_")] = values
    return out


def _literal(v: str) -> Any:
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    try:
        return ast.literal_eval(v)
    except (ValueError, SyntaxError):
        return v


@dataclass
class TrainConfig:
    dataset: str = option("digits", "dataset name (see `neuralab data list`), e.g. mnist or imagefolder:PATH")
    model: str = option("mlp", "model name (registered in neuralab.models)")
    model_args: str = option("", "model keyword arguments, e.g. 'hidden=512,256 dropout=0.2'")
    epochs: int = option(10, "passes over the training set")
    batch_size: int = option(128, "training batch size")
    optimizer: str = option("adam", "sgd, momentum, nesterov, adam, adamw, rmsprop or adagrad")
    lr: float = option(1e-3, "peak learning rate")
    momentum: float = option(0.9, "momentum (momentum and nesterov optimizers)")
    weight_decay: float = option(0.0, "L2 weight decay")
    schedule: str = option("cosine", "learning-rate schedule: constant, cosine, step or onecycle (per step)")
    warmup_epochs: float = option(0.0, "linear warm-up length in epochs")
    label_smoothing: float = option(0.0, "label smoothing for cross-entropy")
    grad_clip: float = option(0.0, "clip the gradient norm to this value (0 = off)")
    ema: float = option(0.0, "keep an exponential moving average of the weights with this decay (0 = off)")
    early_stop: int = option(0, "stop after this many epochs without validation improvement (0 = off)")
    augment: str = option("none", "batch augmentations, e.g. flip,crop or crop=2 (pixels), rotate=10 (images only)")
    seed: int = option(0, "random seed: the same seed and config repeat a CPU run bit for bit")
    eval_batch_size: int = option(1024, "batch size for evaluation")
    limit_train: int = option(0, "train on N examples drawn at random (0 = all), for quick runs")
    limit_eval: int = option(0, "validate and test on N examples each, drawn at random (0 = all), for quick runs")
    n_samples: int = option(0, "points to generate (2-D datasets; 0 = dataset default)")
    noise: float = option(-1.0, "noise of generated datasets (-1 = dataset default)")
    image_size: int = option(0, "resize images to this square size (0 = native)")
    classes: list[str] = option([], "keep only these classes (image folders), e.g. cat,dog")
    name: str = option("", "run name (default: dataset-model)")
    compile: bool = option(False, "torch.compile the model (pays off on GPUs for long runs)")
    tta: bool = option(False, "validate and test on the mean of each image's and its mirror's logits (for data "
                       "whose labels survive a left-right flip, such as CIFAR-10; not digits)")
    precision: str = option("auto", "compute dtype: auto (bf16 on GPUs; on CPUs with Intel AMX for conv nets, "
                            "~3-4x faster there; else float32), float32, bfloat16, float16 (GPU)")

    def __post_init__(self) -> None:
        for field, low in (("epochs", 1), ("batch_size", 1), ("eval_batch_size", 1)):
            if getattr(self, field) < low:
                raise ConfigError(f"{field} must be >= {low}. Received: {field}={getattr(self, field)}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1). Received: {self.label_smoothing}")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"ema decay must be in [0, 1). Received: ema={self.ema}")
        self.model_kwargs  # parse now, so a typo fails before any data is loaded

    @property
    def model_kwargs(self) -> dict[str, Any]:
        return parse_model_args(self.model_args)

    @property
    def run_name(self) -> str:
        return self.name or f"{self.dataset.split(':')[0]}-{self.model}"

    def data_options(self) -> dict[str, Any]:
        """The DataOptions fields this config sets (0/-1/[] mean 'dataset default')."""
        return {"n_samples": self.n_samples or None, "noise": None if self.noise < 0 else self.noise,
                "image_size": self.image_size or None, "classes": list(self.classes) or None}
