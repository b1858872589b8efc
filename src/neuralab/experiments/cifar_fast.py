"""cifar-fast: the fastnet recipe on CIFAR-10 over several seeds — test accuracy (mean ± std over seeds) and time
per run.

`--model` runs the same recipe on another registered net (e.g. the configurable `cnn`), so a learner can see what
the recipe buys and what the architecture buys. The recipe's options (`--epochs`, `--lr`, `--tta`, ...) are
`train.fast.FastConfig`'s own, embedded here: one declaration, one set of defaults and ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from neuralab.config import option, section
from neuralab.data import load_dataset
from neuralab.device import pick_device
from neuralab.experiments.cifar10 import epochs_text
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.timing import Contention, CpuWatch
from neuralab.report.claims import Sample, mean_pm
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.report.plots import plot_compare
from neuralab.train.fast import FastConfig, FastResult, train_fast


@dataclass
class CifarFastConfig(ExperimentConfig):
    dataset: str = option("cifar10", "CIFAR-10 or a copy with 32x32 images (imagefolder:PATH)")
    seeds: int = option(3, "independent runs (seeds seed, seed+1, ...)", min=1, max=100)
    fast: FastConfig = section(FastConfig(), prefix="")
    # Quick: one seed, 1.5 epochs on all 45,000 training images, mirror TTA only, full test set. Measured alone on
    # the 2 cores: 75.4% test accuracy in 101 s wall, 191 CPU-s; 2 epochs with the full TTA gave 81.3% for ~60% more
    # time (the 1-px-shift views double the test pass: 40,000 forward images instead of 20,000).
    QUICK: ClassVar[dict[str, Any]] = {"seeds": 1, "fast.epochs": 1.5, "fast.tta": 1}


@dataclass(frozen=True)
class CifarFastResult:
    cfg: CifarFastConfig
    seeds: list[int]
    runs: list[FastResult]  # one per seed, in order
    source: str
    device: str
    contention: Contention  # whether other programs competed for the CPUs (then no seconds are shown)

    @property
    def accuracy(self) -> Sample:
        return Sample.of([r.test_accuracy for r in self.runs])

    @property
    def net(self) -> str:
        model = self.cfg.fast.model
        return f"{model.name} ({model.args})" if model.args else model.name


def _curves(r: CifarFastResult, page: Page) -> str:
    """Accuracy after each epoch for each seed: a figure from two points on (at the epochs actually reached: 1, 1.5
    for 1.5 epochs), a table for a single epoch (one x value is no curve)."""
    what = "training accuracy (%)" if r.cfg.fast.full_train else "validation accuracy (%, mirror TTA)"
    if min(len(run.curve) for run in r.runs) < 2:
        return table(["seed", f"last-epoch {what}"], [[s, f"{100 * run.curve[-1]:.2f}"] for s, run in
                                                      zip(r.seeds, r.runs)])
    reached = [min(i, r.runs[0].epochs) for i in range(1, len(r.runs[0].curve) + 1)]
    return page.figure("curves", plot_compare({f"seed {s}": [100 * v for v in run.curve] for s, run in
                                               zip(r.seeds, r.runs)}, what, r.net, x=reached), what)


def _per_seed(r: CifarFastResult) -> str:
    """Test accuracy per seed, with seconds and throughput only when they are this run's own."""
    timed = r.contention.quiet
    head = ["seed", "test accuracy %"] + (["train seconds", "images/s"] if timed else [])
    return table(head, [[s, f"{100 * run.test_accuracy:.2f}"]
                        + ([f"{run.train_seconds:.0f}", f"{run.images_per_second:.0f}"] if timed else [])
                        for s, run in zip(r.seeds, r.runs)])


def render(r: CifarFastResult) -> Page:
    fast, first, acc = r.cfg.fast, r.runs[0], r.accuracy
    seconds = sum(run.train_seconds for run in r.runs) / len(r.runs)
    timing = f" in {seconds:.0f} s of training per run" if r.contention.quiet else ""
    page = Page("cifar-fast", f"{r.net}: CIFAR-10 test accuracy (%) {mean_pm(acc)}{timing}",
                test={"accuracy": acc.mean})
    held_out = "training + validation images" if fast.full_train else "training images (validation held out)"
    page.add(f"{r.net} trained with the fast recipe on {first.train_images:,} {held_out} of {r.source}: "
             f"{epochs_text(first.epochs)} ({first.steps:,} steps, {first.images_seen:,} images seen per run), "
             f"learning rate {fast.lr:g}, TTA level {first.tta}, seeds {', '.join(map(str, r.seeds))}, on "
             f"{r.device} ({first.precision}).",
             _per_seed(r), f"**Test accuracy (%) {mean_pm(acc)}**{timing}.", r.contention.note(), _curves(r, page))
    page.findings.append(f"With the fast recipe, {r.net} reaches a CIFAR-10 test accuracy (%) of {mean_pm(acc)} after "
                         f"{epochs_text(first.epochs)} ({first.images_seen:,} images seen).")
    page.details.update(std=acc.std, seeds=r.seeds, train_images=first.train_images, images_seen=first.images_seen,
                        per_seed=[run.test_accuracy for run in r.runs],
                        seconds=seconds if r.contention.quiet else None)
    return page


@experiment("cifar-fast", CifarFastConfig, "fastnet (patch whitening, lookahead, TTA): CIFAR-10 accuracy per second",
            render, needs=("cifar10",), order=38, examples=[
                "neuralab run cifar-fast", "neuralab run cifar-fast --seeds 1",
                "neuralab run cifar-fast --model cnn --model-args 'depth=6 residual=true' --lr 1.5"])
def measure(cfg: CifarFastConfig, ctx: Context) -> CifarFastResult:
    """One fast-recipe run per seed, each a child run with its own checkpoint."""
    seeds, data = [cfg.seed + i for i in range(cfg.seeds)], load_dataset(cfg.dataset, ctx.settings)
    device = pick_device(ctx.settings.device)
    with CpuWatch() as watch:
        runs = [train_fast(data, cfg.fast, ctx.run.child(f"seed{s}"), device, seed=s, log=ctx.log) for s in seeds]
    return CifarFastResult(cfg, seeds, runs, data.source, str(device), watch.contention)
