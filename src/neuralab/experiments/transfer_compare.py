"""transfer-compare: feature extraction vs fine-tuning vs scratch on your own image folder, at several
training-set sizes, with accuracy, time, learning curves and conclusions drawn from the numbers.

The backbone defaults to `--backbone auto`, as cats-dogs: ImageNet weights already on this machine. Everything that
can be known to fail (no dataset, no such folder, no weights) fails before the run folder is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from neuralab.config import Settings, option, section
from neuralab.data.preprocess import Preprocess
from neuralab.errors import ConfigError
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.timing import Contention, CpuWatch
from neuralab.experiments.transfer_report import (StrategyRun, check_auto, check_data, measure_strategies, resolve,
                                                  show_strategies, top)
from neuralab.report.page import Page
from neuralab.train.transfer import STRATEGIES, TransferOptions, load_for_backbone


@dataclass
class TransferCompareConfig(ExperimentConfig):
    dataset: str = option("", "the custom dataset: imagefolder:PATH (required)")
    transfer: TransferOptions = section(TransferOptions(backbone="auto"))
    sizes: list[int] = option([50, 200, 0], "training images per class (0 = all)", min=0)
    strategies: list[str] = option(list(STRATEGIES), f"strategies to compare, of {', '.join(STRATEGIES)}")
    # Quick: one size (200 per class) and 2 epochs per strategy: the three strategies side by side, briefly.
    QUICK: ClassVar[dict[str, Any]] = {"sizes": [200], "transfer.epochs": 2}

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown or not self.strategies:
            raise ConfigError(f"--strategies takes some of {list(STRATEGIES)}. Received: {self.strategies}")
        if not self.sizes:
            raise ConfigError("--sizes needs at least one training-set size (0 = all)")
        check_auto(self.transfer)


@dataclass(frozen=True)
class TransferCompareResult:
    cfg: TransferCompareConfig
    opts: TransferOptions  # as resolved (--backbone auto -> the backbone that ran)
    about_weights: str
    source: str
    classes: list[str]
    test_images: int
    pre: Preprocess
    runs: list[StrategyRun]
    contention: Contention  # whether other programs competed for the CPUs (then no seconds are shown)


def render(r: TransferCompareResult) -> Page:
    best = top(r.runs)
    page = Page(f"transfer-compare: {r.opts.backbone}",
                f"{100 * best.accuracy:.1f}% test accuracy at {best.per_class} images per class ({best.strategy} of "
                f"{r.opts.backbone}, highest measured)", test={"accuracy": best.accuracy})
    sizes = sorted({x.per_class for x in r.runs})
    page.add(f"{r.opts.backbone} (weights: {r.opts.weights}) on {r.source}: classes {', '.join(r.classes)}; the same "
             f"{r.test_images:,} test images for every strategy, at {r.pre.input_shape[-1]} px. "
             f"{r.about_weights}".strip(),
             f"What ran: {', '.join(dict.fromkeys(x.strategy for x in r.runs))} at {', '.join(map(str, sizes))} "
             f"training images per class, one seed ({r.cfg.seed}).")
    show_strategies(page, r.runs, r.contention)
    page.details["resolved"] = {"backbone": r.opts.backbone, "weights": r.opts.weights}
    return page


def check(cfg: TransferCompareConfig, settings: Settings) -> None:
    if not cfg.dataset:
        raise ConfigError("transfer-compare needs --dataset imagefolder:PATH (your class-per-folder images)")
    check_data(cfg.dataset, settings)
    resolve(cfg.transfer, settings)


@experiment("transfer-compare", TransferCompareConfig,
            "feature extraction vs fine-tuning vs scratch on a custom image folder, at several sizes", render,
            manual=True, order=46, check=check, examples=[
                "neuralab run transfer-compare --dataset imagefolder:~/photos",
                "neuralab run transfer-compare --dataset imagefolder:~/photos --backbone resnet_small "
                "--weights runs/X-pretrain-resnet_small/checkpoints/model.safetensors --sizes 50,200"])
def measure(cfg: TransferCompareConfig, ctx: Context) -> TransferCompareResult:
    opts, about = resolve(cfg.transfer, ctx.settings)
    ctx.log(f"[transfer-compare] {opts.backbone}. {about}")
    data, pre = load_for_backbone(cfg.dataset, ctx.settings, opts)
    with CpuWatch() as watch:
        runs = measure_strategies(data, pre, opts, cfg.sizes, cfg.strategies, cfg.seed, ctx)
    return TransferCompareResult(cfg, opts, about, data.source, list(data.classes), len(data.test), pre, runs,
                                 watch.contention)
