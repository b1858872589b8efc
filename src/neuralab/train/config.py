"""The training config: what `neuralab train` fills from its options and saves as the run's config.json.

It is made of sections that experiments embed as they are (an experiment that trains declares `data`, `model`,
`optim` and `schedule` sections with its own defaults and hands them to `TrainConfig`, instead of re-declaring the
fields and copying them over). On the command line the sections are flat: `--dataset`, `--model`, `--model-args`,
`--lr`, `--epochs`...
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Literal

from neuralab.config import Config, option, section
from neuralab.data.augment import parse as parse_augment
from neuralab.errors import ConfigError
from neuralab.runs import check_name

Optimizer = Literal["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "adadelta"]
Schedule = Literal["constant", "cosine", "step", "onecycle"]
Precision = Literal["auto", "float32", "bfloat16", "float16"]


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
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return v


@dataclass
class DataConfig(Config):
    dataset: str = option("digits", "dataset name (see `neuralab data list`), e.g. mnist or imagefolder:PATH")
    augment: str = option("none", "batch augmentations, e.g. flip,crop or crop=2 (pixels), rotate=10 (images only)")
    limit_train: int = option(0, "train on N examples drawn at random (0 = all), for quick runs", min=0)
    limit_eval: int = option(0, "validate and test on N examples each, drawn at random (0 = all), for quick runs",
                             min=0)
    n_samples: int = option(0, "points to generate (2-D datasets; 0 = dataset default)", min=0)
    noise: float = option(-1.0, "noise of generated datasets (-1 = dataset default)", min=-1.0)
    image_size: int = option(0, "resize images to this square size (0 = native)", min=0, max=4096)
    classes: list[str] = option([], "keep only these classes (image folders), e.g. cat,dog")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.dataset:
            raise ConfigError("dataset must be named (see `neuralab data list`)")
        parse_augment(self.augment)

    def loader_options(self) -> dict[str, Any]:
        """The DataOptions fields this config sets (0/-1/[] mean 'dataset default')."""
        return {"n_samples": self.n_samples or None, "noise": None if self.noise < 0 else self.noise,
                "image_size": self.image_size or None, "classes": list(self.classes) or None}


@dataclass
class ModelConfig(Config):
    name: str = option("mlp", "model name (registered in neuralab.models)")
    args: str = option("", "model keyword arguments, e.g. 'hidden=512,256 dropout=0.2'")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kwargs  # parse now, so a typo fails before any data is loaded

    @property
    def kwargs(self) -> dict[str, Any]:
        return parse_model_args(self.args)


@dataclass
class OptimConfig(Config):
    optimizer: Optimizer = option("adam", "optimizer")
    lr: float = option(1e-3, "peak learning rate", above=0)
    momentum: float = option(0.9, "momentum (momentum and nesterov optimizers)", min=0, max=0.9999)
    weight_decay: float = option(0.0, "L2 weight decay", min=0)
    label_smoothing: float = option(0.0, "label smoothing for cross-entropy", min=0, max=0.99)
    grad_clip: float = option(0.0, "clip the gradient norm to this value (0 = off)", min=0)
    ema: float = option(0.0, "keep an exponential moving average of the weights with this decay (0 = off)", min=0,
                        max=0.99999)


@dataclass
class ScheduleConfig(Config):
    epochs: int = option(10, "passes over the training set", min=1, max=100_000)
    schedule: Schedule = option("cosine", "learning-rate schedule (per step)")
    warmup_epochs: float = option(0.0, "linear warm-up length in epochs", min=0)
    early_stop: int = option(0, "stop after this many epochs without validation improvement (0 = off)", min=0)


@dataclass
class TrainConfig(Config):
    data: DataConfig = section(DataConfig())
    model: ModelConfig = section(ModelConfig(), prefix="model")
    optim: OptimConfig = section(OptimConfig())
    schedule: ScheduleConfig = section(ScheduleConfig())
    batch_size: int = option(128, "training batch size", min=1, max=1_000_000)
    eval_batch_size: int = option(1024, "batch size for evaluation", min=1, max=1_000_000)
    seed: int = option(0, "random seed: the same seed and config repeat a CPU run bit for bit", min=0)
    name: str = option("", "run name (default: dataset-model)")
    compile: bool = option(False, "torch.compile the model (pays off on GPUs for long runs)")
    tta: bool = option(False, "validate and test on the mean of each image's and its mirror's logits (for data "
                       "whose labels survive a left-right flip, such as CIFAR-10; not digits)")
    precision: Precision = option("auto", "compute dtype: auto (bf16 on GPUs; on CPUs with Intel AMX for conv "
                                  "nets, ~3-4x faster there; else float32), float32, bfloat16, float16 (GPU)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.name:
            check_name(self.name)

    @property
    def run_name(self) -> str:
        return self.name or f"{self.data.dataset.split(':')[0]}-{self.model.name}"
