"""augmentation: the same net and budget with each batch augmentation (none, flip, rotation, crop+translate,
flip+crop, +cutout), several seeds — validation curves, a final table, and a grid showing each augmentation on the
same images. All augmentation runs on whole batches (neuralab.data.augment)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from neuralab.config import option, section
from neuralab.data import load_dataset
from neuralab.data.augment import build
from neuralab.errors import ConfigError
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.sweep import Trial, samples, sweep
from neuralab.experiments.variant_report import (GAP_WHAT, QUICK_RECIPE, check_variants, clean_train, curves_block,
                                                 final_gap, gap_how, headline, mean_curves, narrower_gap, recipe,
                                                 versus, what_ran)
from neuralab.report.claims import Sample, best_claim, mean_pm
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.report.plots import plt
from neuralab.train.config import DataConfig, ModelConfig, OptimConfig, ScheduleConfig, TrainConfig

VARIANTS = {"none": "none", "flip": "flip", "rotation": "rotate", "crop+translate": "crop",
            "flip+crop": "flip,crop", "flip+crop+cutout": "flip,crop,cutout"}


@dataclass
class AugmentationConfig(ExperimentConfig):
    data: DataConfig = section(DataConfig("cifar10"))  # its `augment` is each variant's, not an option here
    model: ModelConfig = section(ModelConfig("cnn-basic"), prefix="model")
    optim: OptimConfig = section(OptimConfig("adam", lr=1e-3))
    schedule: ScheduleConfig = section(ScheduleConfig(epochs=15))
    batch_size: int = option(128, "batch size", min=1, max=65536)
    variants: list[str] = option(list(VARIANTS), f"augmentations to compare: {', '.join(VARIANTS)}")
    seeds: int = option(2, "seeds per variant (one seed: compared by a paired bootstrap over test and training "
                               "images)", min=1, max=100)
    # Quick: none against flip+crop, one seed (accuracies compared by a paired bootstrap over the test images, gaps
    # over the test and training images), on the batch-norm `cnn` (cnn-basic, without batch norm, reached 45% where
    # it reached 50-53%, after 20,000 images). 6 epochs on 7,500 images: enough passes over the same images for the
    # unaugmented net to overfit, and both variants reach ~60%.
    QUICK: ClassVar[dict[str, Any]] = {**QUICK_RECIPE, "data.limit_train": 7500, "schedule.epochs": 6, "seeds": 1,
                                       "variants": ["none", "flip+crop"], "model.name": "cnn",
                                       "model.args": "depth=4 width=32"}

    def __post_init__(self) -> None:
        super().__post_init__()
        check_variants(self.variants, list(VARIANTS))
        if self.data.augment != "none":
            raise ConfigError(f"augmentation sets the augmentation of each variant itself (--variants); "
                              f"--augment is not used here. Received: --augment {self.data.augment}")

    def train_configs(self) -> dict[str, TrainConfig]:
        return {name: TrainConfig(data=self.data.replace(augment=VARIANTS[name]), model=self.model, optim=self.optim,
                                  schedule=self.schedule, batch_size=self.batch_size, eval_batch_size=500)
                for name in self.variants}


@dataclass(frozen=True)
class AugmentationResult:
    cfg: AugmentationConfig
    trials: dict[str, list[Trial]]  # variant -> one Trial per seed
    images: np.ndarray  # a few test images (uint8, N C H W) for the grid of augmentations


def augmentation_grid(images: np.ndarray, variants: list[str], seed: int = 0) -> plt.Figure:
    """Rows: the same images; columns: each augmentation applied to them."""
    x = torch.from_numpy(images).float() / 255
    fig, axes = plt.subplots(len(x), len(variants), figsize=(1.5 * len(variants), 1.5 * len(x)), squeeze=False)
    for j, name in enumerate(variants):
        out = build(VARIANTS[name])(x, torch.Generator().manual_seed(seed)).clamp(0, 1)
        for i in range(len(x)):
            img = out[i].permute(1, 2, 0).numpy()
            axes[i, j].imshow(img if img.shape[2] == 3 else img[..., 0], cmap=None if img.shape[2] == 3 else "gray")
            axes[i, j].axis("off")
        axes[0, j].set_title(name, fontsize=8)
    fig.tight_layout()
    return fig


def _findings(r: AugmentationResult, acc: dict[str, Sample]) -> list[str]:
    # With two variants one of which is "none", the pairwise sentence below says it all.
    out = [best_claim(acc)] if len(acc) > 2 or "none" not in acc else []
    if "none" not in acc:
        return [s for s in out if s]
    for name in (n for n in acc if n != "none"):
        accuracy, gap = versus(name, "none", acc), narrower_gap(r.trials, name, "none")
        text = f"{name} against none: {accuracy.sentence()} {gap.sentence(GAP_WHAT)}"
        if gap.winner == name:
            text += (" The net sees a new version of each image every epoch, so it memorizes the training set "
                     "less" + (" and generalizes better." if accuracy.winner == name else "."))
        out.append(text)
    return out


def render(r: AugmentationResult) -> Page:
    acc = samples(r.trials)
    title, top = headline(r.trials, "augmentations")
    page = Page("augmentation", title, test={"accuracy": top})
    rows = [[name, VARIANTS[name], mean_pm(acc[name]), f"{100 * clean_train(ts):.1f}", f"{100 * final_gap(ts):.1f}"]
            for name, ts in r.trials.items()]
    page.add(f"{recipe(r.cfg)}. What ran: {what_ran(r.trials)}",
             table(["variant", "ops", "test accuracy %", "train accuracy %", "train−test gap (points)"], rows),
             gap_how(r.trials),
             curves_block(page, "curves", mean_curves(r.trials, "val_acc"), "validation accuracy (%)",
                          "validation accuracy, mean over seeds"),
             page.figure("examples", augmentation_grid(r.images, list(VARIANTS), r.cfg.seed),
                         "each augmentation on the same test images"))
    page.findings += _findings(r, acc)
    page.details.update(means={n: s.mean for n, s in acc.items()}, gap={n: final_gap(ts) for n, ts in
                                                                      r.trials.items()})
    return page


@experiment("augmentation", AugmentationConfig, "none vs flip vs rotation vs crop vs flip+crop vs +cutout, same budget",
            render, needs=("cifar10",), order=36,
            examples=["neuralab run augmentation", "neuralab run augmentation --quick",
                      "neuralab run augmentation --variants none,flip+crop --seeds 3"])
def measure(cfg: AugmentationConfig, ctx: Context) -> AugmentationResult:
    trials = sweep(cfg.train_configs(), [cfg.seed + s for s in range(cfg.seeds)], ctx, probe=True)
    images = load_dataset(cfg.data.dataset, ctx.settings, **cfg.data.loader_options()).test.x[:4]
    return AugmentationResult(cfg, trials, images)
