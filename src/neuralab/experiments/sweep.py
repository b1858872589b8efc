"""Training variants over seeds, for the many experiments that compare things: `sweep(variants, seeds, ctx)`.

Each (variant, seed) trains as a child run of the experiment (`runs/<variant>-seed<N>/`); its outcome is a `Trial`
with the curves, the test metric, and the per-example test outcomes that a paired comparison needs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from neuralab.experiments.registry import Context
from neuralab.report.claims import Sample
from neuralab.runs import slug
from neuralab.train.config import TrainConfig
from neuralab.train.trainer import train


@dataclass(frozen=True)
class Trial:
    variant: str
    seed: int
    test: float  # test accuracy (or the task's first metric)
    correct: np.ndarray  # per test example: 1.0 right, 0.0 wrong (classification); empty otherwise
    params: int
    epochs_run: int
    images_seen: int
    train_acc: list[float]
    val_acc: list[float]
    train_loss: list[float]
    val_loss: list[float]
    epoch_seconds: list[float]

    @property
    def seconds(self) -> float:
        return float(sum(self.epoch_seconds))

    @property
    def gap(self) -> float:
        """Training minus validation accuracy at the last epoch: the overfitting gap."""
        return self.train_acc[-1] - self.val_acc[-1]


def train_trial(cfg: TrainConfig, ctx: Context, name: str, report: bool = False) -> tuple[Trial, Any]:
    """Train `cfg` as the child run `name`; (its Trial, the trainer) — the trainer for experiments that look
    further at the model."""
    run, result, trainer = train(cfg, ctx.settings, run=ctx.run.child(name), log=ctx.log, report=report)
    tr, va = run.metrics("train"), run.metrics("val")
    y = trainer.data.test.y
    outputs = trainer.test_outputs
    correct = (outputs.argmax(1).numpy() == y).astype(np.float64) if outputs is not None and outputs.ndim == 2 \
        else np.zeros(0)
    metric = "accuracy" if "accuracy" in result.test else next(iter(result.test), "loss")
    trial = Trial(name, cfg.seed, float(result.test[metric]), correct, result.params, result.epochs_run,
                  result.images_seen, [r.metric("accuracy") for r in tr], [r.metric("accuracy") for r in va],
                  [r.loss or np.nan for r in tr], [r.loss or np.nan for r in va], [r.seconds or 0.0 for r in tr])
    return trial, trainer


def sweep(variants: dict[str, TrainConfig], seeds: list[int], ctx: Context,
          on_trial: Callable[[Trial], None] | None = None) -> dict[str, list[Trial]]:
    """Every variant for every seed (seed-major, so a busy spell of a shared machine slows all variants alike)."""
    out: dict[str, list[Trial]] = {name: [] for name in variants}
    for seed in seeds:
        for name, cfg in variants.items():
            trial, _ = train_trial(replace(cfg, seed=seed), ctx, f"{slug(name)}-seed{seed}")
            out[name].append(trial)
            if on_trial:
                on_trial(trial)
    return out


def samples(trials: dict[str, list[Trial]]) -> dict[str, Sample]:
    """Per variant, its test metric over seeds (and its first seed's per-example outcomes), for `report.claims`."""
    return {name: Sample.of([t.test for t in ts], [ts[0].correct] if len(ts[0].correct) else [])
            for name, ts in trials.items()}


def mean_curve(trials: list[Trial], key: str) -> np.ndarray:
    """The mean over seeds of a per-epoch curve (runs that stopped early are padded with their last value)."""
    curves = [getattr(t, key) for t in trials]
    n = max(len(c) for c in curves)
    return np.mean([list(c) + [c[-1]] * (n - len(c)) for c in curves], axis=0)
