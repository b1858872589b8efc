"""pooling: max vs average pooling, and dropout / weight decay / no regularization, on the same CNN and budget —
a table and curves of the train–validation gap (overfitting) for each."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuralab.config import option
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.shared import QUICK_EVAL, mean_std, quick_note, train_variants
from neuralab.report.markdown import table
from neuralab.report.plots import plot_compare
from neuralab.train import TrainConfig


@dataclass
class PoolingConfig(ExperimentConfig):
    dataset: str = option("cifar10", "image dataset")
    epochs: int = option(15, "epochs per run")
    seeds: int = option(1, "seeds per variant")
    limit_train: int = option(10000, "training images (0 = all); a smaller set shows overfitting sooner")


VARIANTS = {  # name: (model args, weight decay)
    "max pool, no regularization": ("pool=max", 0.0),
    "avg pool, no regularization": ("pool=avg", 0.0),
    "max pool + dropout 0.3": ("pool=max dropout=0.3", 0.0),
    "max pool + weight decay 5e-4": ("pool=max", 5e-4),
}


@experiment("pooling", PoolingConfig, "max vs average pooling; dropout vs weight decay vs none: the overfitting gap",
            needs=("cifar10",), order=34, examples=["neuralab run pooling", "neuralab run pooling --quick"])
def pooling(cfg: PoolingConfig, ctx: Context) -> dict:
    epochs, seeds, limit = (1, 1, 1000) if cfg.quick else (cfg.epochs, cfg.seeds, cfg.limit_train)
    variants = {name: TrainConfig(dataset=cfg.dataset, model="cnn", model_args=f"depth=4 width=32 {args}",
                                  epochs=epochs, batch_size=128, optimizer="adamw", lr=2e-3, weight_decay=wd,
                                  seed=cfg.seed, limit_train=limit, eval_batch_size=500,
                                  limit_eval=QUICK_EVAL if cfg.quick else 0)
                for name, (args, wd) in VARIANTS.items()}
    res = train_variants(variants, ctx, seeds)
    gap = {n: float(np.mean([r["train_acc"][-1] - r["val_acc"][-1] for r in rs])) for n, rs in res.items()}
    curves = {f"{n} (train-val)": list(100 * (np.mean([r["train_acc"] for r in rs], 0) -
                                             np.mean([r["val_acc"] for r in rs], 0))) for n, rs in res.items()}
    ctx.run.save_figure(plot_compare(curves, "train − val accuracy (points)", "overfitting gap per epoch"), "gap")
    ctx.run.save_figure(plot_compare({n: list(100 * np.mean([r["val_acc"] for r in rs], 0)) for n, rs in res.items()},
                                     "validation accuracy (%)", "validation accuracy"), "val")
    rows = [[n, mean_std([r["test"] for r in rs]), f"{100 * np.mean([r['train_acc'][-1] for r in rs]):.1f}",
             f"{100 * gap[n]:.1f}"] for n, rs in res.items()]
    test = {n: float(np.mean([r["test"] for r in rs])) for n, rs in res.items()}
    base = "max pool, no regularization"
    least = min(gap, key=gap.get)
    lines = [f"- Max vs average pooling: {100 * test[base]:.1f}% vs {100 * test['avg pool, no regularization']:.1f}% "
             f"test accuracy.",
             f"- The smallest train–validation gap is **{least}** ({100 * gap[least]:.1f} points, against "
             f"{100 * gap[base]:.1f} without regularization)" + (": regularization trades training fit for "
                                                                 "generalization." if least != base else "."),
             f"- Best test accuracy: {max(test, key=test.get)} ({100 * max(test.values()):.1f}%)."]
    ctx.run.write_report("\n\n".join([
        "# pooling", f"cnn (4 conv layers, width 32, batch norm) on {cfg.dataset}: {epochs} epochs, "
        f"{limit or 'all'} training images, {seeds} seed(s).{quick_note(cfg.quick)}",
        table(["variant", "test accuracy %", "final train accuracy %", "train−val gap (points)"], rows),
        "## What the numbers show", "\n".join(lines), "![gap](plots/gap.png)", "![val](plots/val.png)"]) + "\n")
    return {"test": {"accuracy": max(test.values())}, "test_by_variant": test, "gap": gap}
