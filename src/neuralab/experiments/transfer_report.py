"""What transfer-cifar and transfer-compare share: checks that fail before any training, the three strategies at
several training-set sizes measured as `StrategyRun`s, and their table, claims and plots on a page.

Every "helps" and "best" sentence comes from `report.claims`: one seed per strategy, so the interval is a paired
bootstrap over the test images (each strategy is tested on the same images).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from neuralab.config import Settings
from neuralab.data.base import Dataset
from neuralab.data.preprocess import Preprocess
from neuralab.data.registry import DATASETS, parse_name, unavailable
from neuralab.errors import ConfigError, MissingDataError
from neuralab.experiments.registry import Context
from neuralab.experiments.timing import Contention
from neuralab.models.weights import find_imagenet
from neuralab.report.claims import Sample, best_claim, compare
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.report.plots import plot_compare
from neuralab.runs import Run
from neuralab.train.transfer import TransferOptions, TransferOutcome, prepare, resolve_pretrained, run_strategy

SCRATCH = "scratch"


# -- checks that fail before a run folder or any training exists ----------------------------------------------
def check_auto(opts: TransferOptions) -> None:
    """`--backbone auto` picks among ImageNet checkpoints: any other --weights is a contradiction, said at once."""
    if opts.backbone == "auto" and opts.weights != "imagenet":
        raise ConfigError(f"--backbone auto chooses among ImageNet weights; with --weights {opts.weights!r} name the "
                          f"backbone (e.g. --backbone resnet18)")


def check_data(name: str, settings: Settings) -> None:
    """The dataset is here, or can be downloaded (registered datasets only)."""
    why = unavailable(name, settings)
    if why and (DATASETS.get(parse_name(name)[0]).kind == "custom" or not settings.download):
        raise MissingDataError(why)


def check_weights(opts: TransferOptions, settings: Settings) -> None:
    """The backbone's weights (after `--backbone auto` was resolved) are a file here, or downloadable."""
    if opts.weights == "imagenet":
        if find_imagenet(opts.backbone, settings.weights_dir) is None and not settings.download:
            raise ConfigError(f"no ImageNet weights for {opts.backbone} here and downloads are off: place "
                              f"torchvision's file or a known checkpoint in {settings.weights_dir}/ "
                              f"(--weights-dir, $NEURALAB_WEIGHTS), or pass --weights PATH")
    elif opts.weights != "none" and not Path(opts.weights).expanduser().is_file():
        raise ConfigError(f"--weights {opts.weights}: no such file")


def resolve(opts: TransferOptions, settings: Settings) -> tuple[TransferOptions, str]:
    """The options that will run (`--backbone auto` resolved) and the sentence saying which weights; raises
    before anything trains when the weights cannot be had."""
    check_auto(opts)
    opts, about = resolve_pretrained(opts, settings)
    check_weights(opts, settings)
    return opts, about


# -- measuring ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StrategyRun:
    """One strategy at one training-set size, as it ran."""

    strategy: str
    per_class: int  # training images per class, as trained (0 asked = all: the largest class)
    accuracy: float
    correct: np.ndarray  # per test image: 1.0 right, 0.0 wrong (the same images for every strategy)
    seconds: float  # feature extraction and head warm-up included
    trainable: int
    train_images: int
    epochs_run: int  # of the main stage (the linear head for feature extraction)
    warmup_epochs: int  # fine-tune: epochs of the head-only warm-up before
    images_seen: int  # warm-up included
    val_acc: tuple[float, ...]  # per epoch of the main stage


def strategy_run(outcome: TransferOutcome, per_class: int, run: Run, y_test: np.ndarray) -> StrategyRun:
    """A StrategyRun from run_strategy's outcome and the run folder it wrote (the warm-up is a child run)."""
    r = outcome.result
    warmup = Run(run.path / "runs" / "head-warmup").metrics("train") if (run.path / "runs" / "head-warmup").is_dir() \
        else []
    outputs = outcome.test_outputs
    correct = (outputs.argmax(1) == y_test).astype(np.float64) if outputs is not None else np.zeros(0)
    return StrategyRun(outcome.strategy, per_class, outcome.accuracy, correct, outcome.seconds, outcome.trainable,
                       r.train_images, r.epochs_run, len(warmup), r.images_seen + len(warmup) * r.train_images,
                       tuple(row.metric("accuracy") for row in run.metrics("val")))


def measure_strategies(data: Dataset, pre: Preprocess, opts: TransferOptions, sizes: Sequence[int],
                       strategies: Sequence[str], seed: int, ctx: Context) -> list[StrategyRun]:
    """Every strategy at every size (images per class, 0 = all), each a child run `<strategy>-<size|all>`."""
    runs = []
    for size in sizes:
        prepared = prepare(data, pre, per_class=size, seed=seed)
        per_class = int(np.bincount(prepared.train.y).max())
        for strategy in strategies:
            run = ctx.run.child(f"{strategy}-{size or 'all'}")
            outcome, _ = run_strategy(strategy, prepared, opts, ctx.settings, run, pre, seed=seed, log=ctx.log)
            runs.append(strategy_run(outcome, per_class, run, prepared.test.y))
    return runs


# -- rendering ------------------------------------------------------------------------------------------------
def sample(r: StrategyRun) -> Sample:
    return Sample.of([r.accuracy], [r.correct] if len(r.correct) else [])


def by_size(runs: Sequence[StrategyRun]) -> dict[int, dict[str, StrategyRun]]:
    out: dict[int, dict[str, StrategyRun]] = {}
    for r in runs:
        out.setdefault(r.per_class, {})[r.strategy] = r
    return dict(sorted(out.items()))


def top(runs: Sequence[StrategyRun]) -> StrategyRun:
    """The highest measured accuracy at the middle size that ran (for the headline; claims say if it is a win)."""
    sizes = by_size(runs)
    mid = list(sizes)[len(sizes) // 2]
    return max(sizes[mid].values(), key=lambda r: r.accuracy)


def epochs_text(r: StrategyRun) -> str:
    return f"{r.warmup_epochs} + {r.epochs_run}" if r.warmup_epochs else str(r.epochs_run)


def strategy_table(runs: Sequence[StrategyRun], timed: bool) -> str:
    """One row per strategy and size; seconds only when the machine was quiet (else they measure other work)."""
    header = ["images per class", "strategy", "test accuracy", "epochs", "images seen", "trainable parameters"]
    rows = [[r.per_class, r.strategy, f"{100 * r.accuracy:.1f}%", epochs_text(r), f"{r.images_seen:,}",
             f"{r.trainable:,}"] for r in runs]
    if timed:
        header.insert(5, "seconds")
        for row, r in zip(rows, runs):
            row.insert(5, f"{r.seconds:.1f}")
    return table(header, rows)


def claims(runs: Sequence[StrategyRun]) -> list[str]:
    """Per size: the best strategy (only when it beats the runner-up beyond the noise), and each pretrained
    strategy against scratch."""
    lines = []
    for n, at in by_size(runs).items():
        where = f"{n} images per class"
        if len(at) > 1:
            lines.append(f"With {where}: {best_claim({s: sample(r) for s, r in at.items()}, 'test accuracy')}")
        if SCRATCH in at:
            base = sample(at[SCRATCH])
            for s, r in at.items():
                if s != SCRATCH:
                    lines.append(f"With {where}, pretrained against random weights: "
                                 f"{compare(s, sample(r), SCRATCH, base).sentence('test accuracy')}")
    return lines


def gain_sentence(runs: Sequence[StrategyRun]) -> str:
    """How the gain of the pretrained strategies over scratch moves with the data (measured numbers, each with its
    interval in the claims above; no trend is called from two points)."""
    parts = []
    for n, at in by_size(runs).items():
        if SCRATCH in at and len(at) > 1:
            best = max((r for s, r in at.items() if s != SCRATCH), key=lambda r: r.accuracy)
            parts.append(f"{100 * (best.accuracy - at[SCRATCH].accuracy):+.1f} points at {n} per class "
                         f"({best.strategy})")
    return "Gain of the better pretrained strategy over scratch: " + ", ".join(parts) + "." if len(parts) > 1 else ""


def show_strategies(page: Page, runs: Sequence[StrategyRun], contention: Contention) -> None:
    """Table, claims, accuracy-vs-size (when more than one size ran) and learning curves of the middle size."""
    page.add(strategy_table(runs, contention.quiet), contention.note())
    page.findings += claims(runs)
    page.findings += [s for s in [gain_sentence(runs)] if s]
    page.add(*figures(page, by_size(runs)))
    page.details["results"] = [{"strategy": r.strategy, "per_class": r.per_class, "accuracy": r.accuracy,
                                "seconds": r.seconds, "trainable": r.trainable, "epochs_run": r.epochs_run,
                                "warmup_epochs": r.warmup_epochs, "images_seen": r.images_seen} for r in runs]
    page.details["timing_measured"] = contention.quiet


def figures(page: Page, sizes: dict[int, dict[str, StrategyRun]]) -> list[str]:
    """Accuracy against size (several sizes ran) and validation curves (some strategy ran two epochs or more)."""
    blocks = []
    if len(sizes) > 1:
        strategies = list(dict.fromkeys(s for at in sizes.values() for s in at))
        curves = {s: [100 * at[s].accuracy for at in sizes.values() if s in at] for s in strategies}
        fig = plot_compare(curves, "test accuracy (%)", "accuracy vs training-set size", x=list(sizes),
                           xlabel="training images per class")
        blocks.append(page.figure("accuracy_vs_size", fig, "accuracy vs size"))
    else:
        blocks.append(f"One training-set size ran ({next(iter(sizes))} images per class): no accuracy-vs-size curve.")
    mid = list(sizes)[len(sizes) // 2]
    curves = {s: [100 * a for a in r.val_acc] for s, r in sizes[mid].items() if r.val_acc}
    if curves and max(len(c) for c in curves.values()) > 1:
        fig = plot_compare(curves, "validation accuracy (%)", f"learning curves, {mid} images per class",
                           xlabel="epoch (of each strategy's main stage)")
        blocks.append(page.figure("learning_curves", fig, "learning curves"))
    return blocks
