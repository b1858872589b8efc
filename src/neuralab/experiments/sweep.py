"""Training variants over seeds, for the many experiments that compare things: `sweep(variants, seeds, ctx)`.

Each (variant, seed) trains as a child run of the experiment (`runs/<variant>-seed<N>/`); its outcome is a `Trial`
with the curves, the test metric, and the per-example test outcomes that a paired comparison needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import torch

from neuralab.experiments.registry import Context
from neuralab.report.claims import Sample
from neuralab.runs import slug
from neuralab.train.config import TrainConfig
from neuralab.train.trainer import train

TRAIN_PROBE = 10000  # training images that measure clean training accuracy (a sample: the full set costs a pass)


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
    # per training image of a fixed probe (the same images for every variant and seed): 1.0 right, 0.0 wrong, from
    # the final model in eval mode on clean images; empty when not measured (not classification)
    train_correct: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def seconds(self) -> float:
        return float(sum(self.epoch_seconds))

    @property
    def clean_train(self) -> float:
        return float(np.mean(self.train_correct))

    @property
    def gap(self) -> float:
        """The overfitting gap: clean training accuracy minus test accuracy, both of the final model. Not the running
        training accuracy of the last epoch: that is measured on augmented images, with dropout on and weights that
        change under it, so it would count a harder augmentation or a regularizer as less overfitting. Without a
        clean measurement (not classification), the running training minus validation accuracy."""
        if len(self.train_correct):
            return self.clean_train - self.test
        return self.train_acc[-1] - self.val_acc[-1]


def _correct(outputs: torch.Tensor | None, y: np.ndarray) -> np.ndarray:
    """1.0 where the top class is the label; empty when the outputs are not class scores."""
    if outputs is None or outputs.ndim != 2:
        return np.zeros(0)
    return (outputs.argmax(1).numpy() == y).astype(np.float64)


def train_probe(trainer: Any) -> np.ndarray:
    """Per-example outcomes of the final model on up to TRAIN_PROBE of the images it trained on, clean."""
    probe = trainer.data.train.subset(trainer.cfg.data.limit_train).subset(TRAIN_PROBE)
    return _correct(trainer.predict(probe), probe.y)


def train_trial(cfg: TrainConfig, ctx: Context, name: str, report: bool = False,
                probe: bool = False) -> tuple[Trial, Any]:
    """Train `cfg` as the child run `name`; (its Trial, the trainer) — the trainer for experiments that look
    further at the model. `probe`: also measure clean training accuracy (see `Trial.gap`), for pages about
    overfitting; it costs a forward pass over up to TRAIN_PROBE images."""
    run, result, trainer = train(cfg, ctx.settings, run=ctx.run.child(name), log=ctx.log, report=report)
    tr, va = run.metrics("train"), run.metrics("val")
    correct = _correct(trainer.test_outputs, trainer.data.test.y)
    metric = "accuracy" if "accuracy" in result.test else next(iter(result.test), "loss")
    trial = Trial(name, cfg.seed, float(result.test[metric]), correct, result.params, result.epochs_run,
                  result.images_seen, [r.metric("accuracy") for r in tr], [r.metric("accuracy") for r in va],
                  [r.loss or np.nan for r in tr], [r.loss or np.nan for r in va], [r.seconds or 0.0 for r in tr],
                  train_probe(trainer) if probe and len(correct) else np.zeros(0))
    return trial, trainer


def sweep(variants: dict[str, TrainConfig], seeds: list[int], ctx: Context,
          on_trial: Callable[[Trial], None] | None = None, probe: bool = False) -> dict[str, list[Trial]]:
    """Every variant for every seed (seed-major, so a busy spell of a shared machine slows all variants alike);
    `probe` as in `train_trial`."""
    out: dict[str, list[Trial]] = {name: [] for name in variants}
    for seed in seeds:
        for name, cfg in variants.items():
            trial, _ = train_trial(replace(cfg, seed=seed), ctx, f"{slug(name)}-seed{seed}", probe=probe)
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
