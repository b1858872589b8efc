"""`neuralab pretrain`: our own pretrained backbones, for domains and machines without downloadable weights.

It trains a backbone on a source dataset (optionally leaving classes out, so a target task stays unseen) and saves
it in the same safetensors format as every checkpoint; `--weights RUN/checkpoints/model.safetensors` then loads it
into the same architecture with a new head.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from neuralab.config import Config, Settings, option, section, to_dict
from neuralab.data import load_dataset
from neuralab.data.base import Dataset, select_classes
from neuralab.device import pick_device
from neuralab.models import create_model
from neuralab.records import RunSummary
from neuralab.runs import Run
from neuralab.seed import seed_everything
from neuralab.train.config import ModelConfig, TrainConfig
from neuralab.train.result import TrainResult
from neuralab.train.trainer import Trainer


@dataclass
class PretrainConfig(Config):
    dataset: str = option("cifar10", "source dataset")
    exclude_classes: list[str] = option(["cat", "dog"], "classes left out of pretraining (the later target)")
    model: ModelConfig = section(ModelConfig("resnet_small"), prefix="model")
    epochs: int = option(10, "epochs", min=1)
    batch_size: int = option(128, "batch size", min=1)
    lr: float = option(3e-3, "peak learning rate (AdamW, one-cycle)", above=0)
    augment: str = option("flip,crop", "batch augmentation")
    seed: int = option(0, "random seed", min=0)


def train_config(cfg: PretrainConfig, dataset_label: str) -> TrainConfig:
    return TrainConfig.of(dataset=dataset_label, model=cfg.model.name, model_args=cfg.model.args, epochs=cfg.epochs,
                          batch_size=cfg.batch_size, optimizer="adamw", lr=cfg.lr, weight_decay=5e-4,
                          schedule="onecycle", augment=cfg.augment, label_smoothing=0.1, seed=cfg.seed,
                          eval_batch_size=512)


def pretrain_on(source: Dataset, cfg: PretrainConfig, run: Run, settings: Settings,
                log: Callable[[str], None] = print) -> TrainResult:
    tcfg = train_config(cfg, f"{cfg.dataset} without {','.join(cfg.exclude_classes) or 'nothing'}")
    run.write_config({"command": "pretrain", "config": to_dict(cfg), "train": to_dict(tcfg),
                      "data": source.describe()})
    seed_everything(cfg.seed)
    model = create_model(cfg.model.name, source.input_shape, source.num_outputs, **cfg.model.kwargs)
    result = Trainer(model, source, tcfg, run, pick_device(settings.device), log=log).fit()
    summary = result.summary()
    run.write_summary(replace(summary, details={**summary.details, "weights": str(weights_file(run))}))
    return result


def weights_file(run: Run) -> str:
    """What `--weights PATH` takes to start from this pretraining."""
    return str(run.checkpoints / "model.safetensors")


def pretrain(cfg: PretrainConfig, settings: Settings, log: Callable[[str], None] = print) -> tuple[Run, TrainResult]:
    data = load_dataset(cfg.dataset, settings, task="classification")
    source = select_classes(data, [c for c in data.classes if c not in cfg.exclude_classes])
    run = Run.create(settings.runs_dir, f"pretrain-{cfg.model.name}")
    return run, pretrain_on(source, cfg, run, settings, log)
