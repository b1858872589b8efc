"""transfer-cifar: transfer learning that needs no download.

Pretrain a small ResNet on the 8 CIFAR-10 classes that are not cat or dog, then learn cat vs dog (images the
backbone never saw) three ways — feature extraction, fine-tuning, and from scratch — at several training-set sizes.
The question it answers: how much do pretrained features help when the target task has little data?
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from neuralab.config import Settings, option
from neuralab.data import load_dataset
from neuralab.data.base import Dataset, per_class_subset, select_classes
from neuralab.errors import ConfigError
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.timing import Contention, CpuWatch
from neuralab.experiments.transfer_report import StrategyRun, check_data, measure_strategies, show_strategies, top
from neuralab.models.backbone_specs import spec_of
from neuralab.models.weights import preprocessing, read_weights_file
from neuralab.report.page import Page
from neuralab.train.pretrain import PretrainConfig, pretrain_on, weights_file
from neuralab.train.transfer import STRATEGIES, TransferOptions

BACKBONE = "resnet_small"


@dataclass
class TransferCifarConfig(ExperimentConfig):
    dataset: str = option("cifar10", "source and target dataset (CIFAR-10 or a copy in the same classes)")
    target: list[str] = option(["cat", "dog"], "target classes, held out from pretraining")
    pretrain_epochs: int = option(10, "epochs of pretraining on the other classes", min=1)
    pretrain_per_class: int = option(0, "pretraining images per source class (0 = all)", min=0)
    epochs: int = option(12, "epochs per strategy on the target (feature extraction: 4x as many, on cached "
                             "features)", min=1)
    sizes: list[int] = option([50, 200, 0], "training images per target class (0 = all)", min=0)
    weights: str = option("", f"reuse this pretrained {BACKBONE} (.safetensors) instead of pretraining")
    # Quick: pretraining on 1,000 images per source class for 3 epochs, then every strategy at 50 and 200 cats and
    # dogs for 6 epochs: tens of seconds of 32x32 images, and the lesson (pretrained vs scratch) still shows.
    QUICK: ClassVar[dict[str, Any]] = {"pretrain_epochs": 3, "pretrain_per_class": 1000, "epochs": 6,
                                       "sizes": [50, 200]}

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.sizes:
            raise ConfigError("--sizes needs at least one training-set size (0 = all)")
        if len(self.target) < 2:
            raise ConfigError(f"--target needs two or more classes. Received: {self.target}")

    def transfer_options(self, weights: str) -> TransferOptions:
        # same domain, same image size: batch-norm statistics re-estimated (the measured setting)
        return TransferOptions(backbone=BACKBONE, weights=weights, epochs=self.epochs, head_epochs=1, lr=2e-3,
                               backbone_lr=0.3, batch_size=64, augment="flip,crop", bn="train")


@dataclass(frozen=True)
class Pretraining:
    """Where the backbone came from: our pretraining in this run, or a file reused."""

    weights: str
    reused: bool
    epochs: int | None  # None when a reused file does not say
    images: int  # training images (0 when reused: unknown)
    classes: list[str]
    accuracy: float  # on the source classes (nan when unknown)
    accuracy_split: str  # "test", or "validation" (read from a reused file's model card)


@dataclass(frozen=True)
class TransferCifarResult:
    cfg: TransferCifarConfig
    pretraining: Pretraining
    target: list[str]
    test_images: int
    source: str
    runs: list[StrategyRun]
    contention: Contention  # whether other programs competed for the CPUs (then no seconds are shown)


def _pretrain(cfg: TransferCifarConfig, source: Dataset, ctx: Context) -> Pretraining:
    """Pretrain the backbone on the source classes, or read what a reused file says about itself."""
    if cfg.weights:
        _, card = read_weights_file(Path(cfg.weights).expanduser())
        metrics, extra = (card.metrics, card.extra) if card else ({}, {})
        epoch = extra.get("epoch")
        return Pretraining(cfg.weights, True, int(epoch) if isinstance(epoch, int) else None, 0,
                           list(card.classes) if card else [], float(metrics.get("accuracy", math.nan)), "validation")
    if cfg.pretrain_per_class:
        source = dataclasses.replace(source, train=per_class_subset(source.train, cfg.pretrain_per_class, cfg.seed))
    pcfg = PretrainConfig(dataset=cfg.dataset, exclude_classes=list(cfg.target), epochs=cfg.pretrain_epochs,
                          seed=cfg.seed)
    run = ctx.run.child("pretrain")
    result = pretrain_on(source, pcfg, run, ctx.settings, log=ctx.log)
    return Pretraining(weights_file(run), False, result.epochs_run, result.train_images, list(source.classes),
                       result.test_metric("accuracy"), "test")


def _about_pretraining(p: Pretraining) -> str:
    acc = "" if math.isnan(p.accuracy) else f" ({100 * p.accuracy:.1f}% {p.accuracy_split} accuracy there)"
    if p.reused:
        epochs = f", saved after epoch {p.epochs}" if p.epochs else ""
        classes = f" of {', '.join(p.classes)}" if p.classes else ""
        return f"Backbone: {BACKBONE} reused from `{p.weights}`{epochs}, trained on images{classes}{acc}."
    return (f"Backbone: {BACKBONE} pretrained in this run for {p.epochs} epochs on {p.images:,} images of "
            f"{', '.join(p.classes)}{acc}.")


def render(r: TransferCifarResult) -> Page:
    best = top(r.runs)
    task = " vs ".join(r.target)
    page = Page("transfer-cifar", f"{100 * best.accuracy:.1f}% {task} test accuracy at {best.per_class} images per "
                                  f"class ({best.strategy}, highest measured)",
                test={"accuracy": best.accuracy})
    sizes = sorted({x.per_class for x in r.runs})
    strategies = list(dict.fromkeys(x.strategy for x in r.runs))
    page.add(_about_pretraining(r.pretraining),
             f"Target: {task}, never seen in pretraining; the same {r.test_images:,} test images for every strategy. "
             f"Data: {r.source}. What ran: {', '.join(strategies)} at {', '.join(map(str, sizes))} training images "
             f"per class, one seed ({r.cfg.seed}); epochs as the table says (fine-tuning: head warm-up + "
             f"fine-tuning).")
    show_strategies(page, r.runs, r.contention)
    page.details["pretraining"] = {"epochs": r.pretraining.epochs, "images": r.pretraining.images,
                                   "accuracy": r.pretraining.accuracy, "weights": r.pretraining.weights}
    return page


def check(cfg: TransferCifarConfig, settings: Settings) -> None:
    check_data(cfg.dataset, settings)
    if cfg.weights and not Path(cfg.weights).expanduser().is_file():
        raise ConfigError(f"--weights {cfg.weights}: no such file")


@experiment("transfer-cifar", TransferCifarConfig,
            "pretrain on CIFAR-8, transfer to cat vs dog: feature extraction vs fine-tuning vs scratch", render,
            needs=("cifar10",), order=40, check=check,
            examples=["neuralab run transfer-cifar", "neuralab run transfer-cifar --quick",
                      "neuralab run transfer-cifar --sizes 200 --epochs 8"])
def measure(cfg: TransferCifarConfig, ctx: Context) -> TransferCifarResult:
    data = load_dataset(cfg.dataset, ctx.settings)
    target = select_classes(data, list(cfg.target))  # an unknown class fails here, before any training
    source = select_classes(data, [c for c in data.classes if c not in cfg.target])
    with CpuWatch() as watch:
        pretraining = _pretrain(cfg, source, ctx)
        ctx.log(f"[transfer-cifar] {_about_pretraining(pretraining)}")
        pre = preprocessing(spec_of(BACKBONE), pretraining.weights)
        runs = measure_strategies(target, pre, cfg.transfer_options(pretraining.weights), cfg.sizes, STRATEGIES,
                                  cfg.seed, ctx)
    return TransferCifarResult(cfg, pretraining, list(cfg.target), len(target.test), data.source, runs,
                               watch.contention)
