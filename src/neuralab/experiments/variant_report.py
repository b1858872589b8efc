"""What the CIFAR comparison experiments (pooling, depth, augmentation) say about the variants `sweep` trained:
what actually ran, per-epoch curves, and the comparisons — the last only through `report.claims`, so no page calls a
winner from a gap that seed-to-seed noise could make."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from neuralab.errors import ConfigError
from neuralab.experiments.evaluation import QUICK_EVAL
from neuralab.experiments.sweep import Trial, mean_curve, samples
from neuralab.report.claims import Comparison, Sample, compare
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.report.plots import plot_compare

# The quick tour's short recipe, shared by the three comparisons so that their quick pages read alike: 10,000 of the
# training images, AdamW with a one-cycle schedule (of the recipes tried, what learned fastest in a few epochs; with
# it a CIFAR-10 `cnn` of 3 to 6 layers reached 57-65% test accuracy after 30,000-40,000 images seen), evaluated on
# QUICK_EVAL images.
QUICK_RECIPE: dict[str, Any] = {"data.limit_train": 10000, "data.limit_eval": QUICK_EVAL, "optim.optimizer": "adamw",
                                "optim.lr": 4e-3, "schedule.schedule": "onecycle"}


def check_variants(chosen: Sequence[str], known: Sequence[str]) -> None:
    """Refuse unknown or no variants when the config is built, before any data is loaded."""
    unknown = [v for v in chosen if v not in known]
    if unknown or not chosen:
        raise ConfigError(f"variants must be some of {', '.join(known)}. Received: {', '.join(chosen) or 'none'}")


def recipe(cfg: Any) -> str:
    """The shared training recipe of a comparison config (its data, model, optim and schedule sections)."""
    args = f" ({cfg.model.args.strip()})" if cfg.model.args.strip() else ""
    return (f"{cfg.model.name}{args} on {cfg.data.dataset}, {cfg.optim.optimizer} lr {cfg.optim.lr:g} with a "
            f"{cfg.schedule.schedule} schedule, batch {cfg.batch_size}")


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def versus(a: str, b: str, by_name: dict[str, Sample]) -> Comparison:
    """`report.claims.compare` with the higher mean first, so that its interval reads as the winner's margin."""
    hi, lo = (a, b) if by_name[a].mean >= by_name[b].mean else (b, a)
    return compare(hi, by_name[hi], lo, by_name[lo])


def _span(values: Sequence[int]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"


def what_ran(trials: dict[str, list[Trial]]) -> str:
    """The runs as they happened: variants, seeds, epochs run, images per epoch and seen, test images."""
    runs = [t for ts in trials.values() for t in ts]
    seeds = sorted({t.seed for t in runs})
    epochs = [t.epochs_run for t in runs]
    seen = [t.images_seen for t in runs]
    per_epoch = [t.images_seen // max(1, t.epochs_run) for t in runs]
    tested = len(runs[0].correct)
    return (f"{plural(len(trials), 'variant')} × {plural(len(seeds), 'seed')} ({', '.join(map(str, seeds))}): "
            f"each run trained {_span(epochs)} epoch{'s' if max(epochs) > 1 else ''} "
            f"on {_span(per_epoch)} training images ({_span(seen)} images seen)"
            + (f" and was tested on {tested:,} test images." if tested else "."))


def headline(trials: dict[str, list[Trial]], what: str) -> tuple[str, float]:
    """The page's key number: the highest mean test accuracy, with which variant and what ran — never "best" (a
    claim that only `report.claims` may make)."""
    acc = samples(trials)
    top = max(acc, key=lambda n: acc[n].mean)
    runs = trials[top]
    return (f"{100 * acc[top].mean:.1f}% test accuracy, the highest mean of {len(acc)} {what} ({top}; "
            f"{plural(len(runs), 'seed')}, {plural(max(t.epochs_run for t in runs), 'epoch')})", acc[top].mean)


def mean_curves(trials: dict[str, list[Trial]], key: str, scale: float = 100.0) -> dict[str, list[float]]:
    return {name: list(scale * mean_curve(ts, key)) for name, ts in trials.items()}


def gap_curves(trials: dict[str, list[Trial]]) -> dict[str, list[float]]:
    """Per epoch, training minus validation accuracy (points), mean over seeds."""
    return {name: list(100 * (mean_curve(ts, "train_acc") - mean_curve(ts, "val_acc"))) for name, ts in trials.items()}


def whole_ticks(fig: Any, xs: Sequence[int]) -> Any:
    """Ticks at the x values that ran (epochs, depths) when there are few: no 'epoch 1.5' between two points."""
    if len(xs) <= 12:
        fig.axes[0].set_xticks(list(xs))
    return fig


def curves_block(page: Page, name: str, curves: dict[str, list[float]], ylabel: str, title: str) -> str:
    """A figure of per-epoch curves; with a single epoch, a table instead (one point per line is no curve)."""
    epochs = max(len(c) for c in curves.values())
    if epochs < 2:
        return f"{title} (one epoch ran, so a table rather than a plot):\n\n" + table(
            ["variant", ylabel], [[n, f"{c[-1]:.1f}"] for n, c in curves.items()])
    return page.figure(name, whole_ticks(plot_compare(curves, ylabel, title), range(1, epochs + 1)), title)


def minus_gaps(trials: list[Trial]) -> Sample:
    """The negated gaps of a variant's seeds (a narrower gap is the better side); with one seed that measured clean
    training accuracy, its per-example outcomes too: the test examples and the negated training probe, resampled
    apart in a paired bootstrap."""
    t = trials[0]
    if len(trials) == 1 and len(t.train_correct) and len(t.correct):
        return Sample.of([-t.gap], [t.correct, -t.train_correct], sets=("test", "training"))
    return Sample.of([-t.gap for t in trials])


def narrower_gap(trials: dict[str, list[Trial]], a: str, b: str) -> Comparison:
    """Is a's train−test gap narrower than b's (over seeds, or over the examples with one seed)? The gaps go to
    `report.claims` negated, so that its winner is the variant with the narrower gap (a wide gap is no win)."""
    return versus(a, b, {name: minus_gaps(trials[name]) for name in (a, b)})


GAP_WHAT = "narrowness of the train−test gap"


def gap_how(trials: dict[str, list[Trial]]) -> str:
    """How the table's train accuracy and gap were measured, in words."""
    probe = len(next(iter(trials.values()))[0].train_correct)
    if not probe:
        return ("Train accuracy is the running mean over the last epoch's batches; the gap is it minus validation "
                "accuracy at the last epoch.")
    return (f"Train accuracy is measured once training ends, like test accuracy: the final model in eval mode on "
            f"{probe:,} of its training images, clean (no augmentation, no dropout); the gap is it minus test "
            f"accuracy. A running mean over each epoch's augmented batches would count harder training images as "
            f"less overfitting.")


def final_gap(trials: list[Trial]) -> float:
    return float(np.mean([t.gap for t in trials]))


def clean_train(trials: list[Trial]) -> float:
    """Mean clean training accuracy over seeds (nan when not measured)."""
    return float(np.mean([t.clean_train for t in trials])) if all(len(t.train_correct) for t in trials) else np.nan
