"""`neuralab pretrain`: our own pretrained backbones, for domains and machines without downloadable weights.

It trains a backbone on a source dataset (optionally leaving classes out, so a target task stays unseen) and saves
it in the same safetensors format as every checkpoint; `--weights RUN/checkpoints/model.safetensors` then loads it
into the same architecture with a new head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from neuralab.config import Settings, option, to_dict
from neuralab.data.base import Dataset, select_classes
from neuralab.runs import Run
from neuralab.train.config import TrainConfig
from neuralab.train.trainer import Trainer


@dataclass
class PretrainConfig:
    dataset: str = option("cifar10", "source dataset")
    exclude_classes: list[str] = option(["cat", "dog"], "classes left out of pretraining (the later target)")
    model: str = option("resnet_small", "backbone to pretrain (any registered model)")
    model_args: str = option("", "backbone keyword arguments, e.g. 'width=32'")
    epochs: int = option(10, "epochs")
    batch_size: int = option(128, "batch size")
    lr: float = option(3e-3, "peak learning rate (AdamW, one-cycle)")
    augment: str = option("flip,crop", "batch augmentation")
    seed: int = option(0, "random seed")


def train_config(cfg: PretrainConfig, dataset_label: str) -> TrainConfig:
    return TrainConfig(dataset=dataset_label, model=cfg.model, model_args=cfg.model_args, epochs=cfg.epochs,
                       batch_size=cfg.batch_size, optimizer="adamw", lr=cfg.lr, weight_decay=5e-4,
                       schedule="onecycle", augment=cfg.augment, label_smoothing=0.1, seed=cfg.seed,
                       eval_batch_size=512)


def pretrain_on(source: Dataset, cfg: PretrainConfig, run: Run, settings: Settings,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    from neuralab.device import pick_device
    from neuralab.models import create_model
    from neuralab.seed import seed_everything

    tcfg = train_config(cfg, f"{cfg.dataset} without {','.join(cfg.exclude_classes) or 'nothing'}")
    run.write_config({"command": "pretrain", "config": to_dict(cfg), "train": to_dict(tcfg),
                      "data": source.describe()})
    seed_everything(cfg.seed)
    model = create_model(cfg.model, source.input_shape, source.num_outputs, **tcfg.model_kwargs)
    summary = Trainer(model, source, tcfg, run, pick_device(settings.device), log=log).fit()
    summary["weights"] = str(run.checkpoints / "model.safetensors")
    run.write_summary(summary)
    return summary


def pretrain(cfg: PretrainConfig, settings: Settings, log: Callable[[str], None] = print) -> tuple[Run, dict]:
    from neuralab.data import load_dataset

    data = load_dataset(cfg.dataset, settings)
    source = select_classes(data, [c for c in data.classes if c not in cfg.exclude_classes])
    run = Run.create(settings.runs_dir, f"pretrain-{cfg.model}")
    return run, pretrain_on(source, cfg, run, settings, log)
