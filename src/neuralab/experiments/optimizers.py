"""optimizers: SGD, momentum, Nesterov, Adam, AdamW, RMSprop and Adagrad on the same MLP, data and epoch budget.

A comparison of optimizers is only fair when each gets its own learning rate: every optimizer is swept over a few
multiples of its usual learning rate, each (optimizer, learning rate) is trained with several seeds, and the
learning rate is chosen on mean validation accuracy (the test split only reports). The schedule is constant, so
what differs is the update rule alone. Measured: per-epoch training loss and validation accuracy, training wall
time, and test accuracy at the epoch chosen on validation, as mean ± std over seeds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuralab.config import option
from neuralab.errors import ConfigError, TrainingDiverged
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.shared import train_curves
from neuralab.report.markdown import table
from neuralab.report.plots import plot_compare
from neuralab.train import TrainConfig

# The usual learning rate of each optimizer for a small MLP on normalized inputs; the sweep multiplies it by
# --lr-factors. Momentum methods take about (1 - momentum) times plain SGD's step, adaptive methods far less.
BASE_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3,
           "adagrad": 1e-2}


@dataclass
class OptimizersConfig(ExperimentConfig):
    dataset: str = option("fashion-mnist", "dataset (digits works offline)")
    optimizers: list[str] = option(list(BASE_LR), "optimizers to compare")
    lr_factors: list[float] = option([0.3, 1.0, 3.0, 10.0], "learning rates tried: multiples of each one's usual lr")
    seeds: int = option(3, "seeds per (optimizer, learning rate)")
    epochs: int = option(5, "epochs per run (the same budget for every optimizer)")
    batch_size: int = option(128, "batch size")
    model_args: str = option("hidden=256,256", "MLP arguments")
    limit_train: int = option(10000, "training images (0 = all)")
    momentum: float = option(0.9, "momentum of the momentum and nesterov optimizers")
    adamw_weight_decay: float = option(0.01, "AdamW's decoupled weight decay (the others get none)")


@dataclass
class Sweep:
    """The runs of one (optimizer, learning rate): one dict of curves per seed, or the divergence message."""

    optimizer: str
    lr: float
    runs: list[dict[str, Any]]
    diverged: list[str]

    @property
    def best_val(self) -> np.ndarray:
        return np.array([max(r["val_acc"]) for r in self.runs])

    @property
    def test(self) -> np.ndarray:
        return np.array([r["test"] for r in self.runs])

    def score(self) -> tuple[int, float]:
        """Higher is better: no diverged seed first, then mean best validation accuracy."""
        return (-len(self.diverged), float(self.best_val.mean()) if self.runs else -1.0)

    def curve(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        v = np.array([r[key] for r in self.runs], dtype=float)
        return v.mean(0), v.std(0)

    def wall(self) -> np.ndarray:
        """Mean cumulative training seconds at the end of each epoch."""
        return np.cumsum(np.mean([r["epoch_seconds"] for r in self.runs], axis=0))


def pm(values: np.ndarray, scale: float = 100.0) -> str:
    return f"{scale * values.mean():.2f} ± {scale * values.std():.2f}"


def train_one(cfg: OptimizersConfig, ctx: Context, sweep: Sweep, seed: int, epochs: int, limit: int) -> None:
    """One run of the sweep's (optimizer, learning rate) with this seed; a diverged run is recorded, not fatal."""
    quiet = dataclasses.replace(ctx, log=lambda msg: None)  # one line per run below, not one per epoch
    opt, lr = sweep.optimizer, sweep.lr
    tcfg = TrainConfig(dataset=cfg.dataset, model="mlp", model_args=cfg.model_args, epochs=epochs,
                       batch_size=cfg.batch_size, optimizer=opt, lr=lr, momentum=cfg.momentum,
                       weight_decay=cfg.adamw_weight_decay if opt == "adamw" else 0.0, schedule="constant",
                       seed=seed, limit_train=limit, eval_batch_size=2000)
    try:
        r = train_curves(tcfg, quiet, f"{opt}-lr{lr:g}-seed{seed}", report=False)
    except TrainingDiverged as e:
        sweep.diverged.append(str(e))
        ctx.log(f"[optimizers] {opt} lr {lr:g} seed {seed}: diverged")
        return
    r.pop("model")
    sweep.runs.append(r)
    ctx.log(f"[optimizers] {opt} lr {lr:g} seed {seed}: best val {100 * max(r['val_acc']):.2f}%, test "
            f"{100 * r['test']:.2f}% ({sum(r['epoch_seconds']):.1f} s)")


def conclusions(best: dict[str, Sweep], sweeps: dict[str, list[Sweep]], seeds: int) -> tuple[list[str], dict]:
    """Plain-words findings, every number taken from the runs."""
    ranked = sorted(best, key=lambda o: -best[o].test.mean())
    win, second, last = ranked[0], ranked[1] if len(ranked) > 1 else None, ranked[-1]
    w = best[win]
    lines, facts = [], {"winner": win, "ranking": ranked}
    if second:
        s = best[second]
        gap = 100 * (w.test.mean() - s.test.mean())
        noise = 100 * (w.test.std() + s.test.std())
        facts["margin_points"] = gap
        lines.append(f"{win} wins with {pm(w.test)}% test accuracy (lr {w.lr:g}), {gap:.2f} points ahead of {second} "
                     f"({pm(s.test)}%, lr {s.lr:g}); "
                     + ("that is more than their seed-to-seed standard deviations combined "
                        f"({noise:.2f}), so the lead is clear at this budget." if gap > noise else
                        f"that is within their seed-to-seed standard deviations combined ({noise:.2f}): "
                        f"over {seeds} seeds the two are not distinguishable."))
    if last not in (win, second):
        lines.append(f"Last: {last} with {pm(best[last].test)}%, {100 * (w.test.mean() - best[last].test.mean()):.2f} "
                     f"points behind {win}.")
    target = min(best[o].curve("val_acc")[0].max() for o in best)
    reach = {o: float(b.wall()[np.argmax(b.curve("val_acc")[0] >= target)]) for o, b in best.items()}
    fast, slow = min(reach, key=reach.get), max(reach, key=reach.get)
    lines.append(f"Every optimizer reached {100 * target:.1f}% mean validation accuracy; {fast} got there first, after "
                 f"{reach[fast]:.2f} s of training, {slow} last, after {reach[slow]:.2f} s.")
    if "adam" in best and "adamw" in best:
        d = 100 * (best["adamw"].test.mean() - best["adam"].test.mean())
        lines.append(f"AdamW is Adam plus decoupled weight decay: {d:+.2f} points against Adam here"
                     + (": the decay made no measurable difference in this budget." if abs(d) < 0.05 else "."))
    means = {o: [s.best_val.mean() for s in v if s.runs] for o, v in sweeps.items()}
    spread = {o: 100 * (max(m) - min(m)) for o, m in means.items() if len(m) > 1}
    if spread:
        hi, lo = max(spread, key=spread.get), min(spread, key=spread.get)
        lines.append(f"Most sensitive to the learning rate: {hi} ({spread[hi]:.1f} points between its best and worst "
                     f"learning rate); least: {lo} ({spread[lo]:.1f} points).")
        edge = [o for o, v in sweeps.items() if len(v) > 1 and best[o].lr in (v[0].lr, v[-1].lr)]
        if edge:
            lines.append("The chosen learning rate sits at the edge of the sweep for " + ", ".join(edge) +
                         ": the best may lie outside it (widen --lr-factors).")
    diverged = [f"{s.optimizer} lr {s.lr:g} ({len(s.diverged)}/{seeds})" for v in sweeps.values() for s in v
                if s.diverged]
    if diverged:
        lines.append("Diverged (loss became inf/NaN): " + ", ".join(diverged) + ".")
    return lines, facts


@experiment("optimizers", OptimizersConfig,
            "SGD, momentum, Nesterov, Adam, AdamW, RMSprop, Adagrad: each with its own lr sweep, over seeds",
            needs=("fashion-mnist",), order=22,
            examples=["neuralab run optimizers", "neuralab run optimizers --dataset digits --quick",
                      "neuralab run optimizers --optimizers sgd,momentum,adam --lr-factors 0.1,0.3,1,3,10"])
def optimizers(cfg: OptimizersConfig, ctx: Context) -> dict:
    unknown = [o for o in cfg.optimizers if o not in BASE_LR]
    if unknown or not cfg.optimizers or not cfg.lr_factors:
        raise ConfigError(f"--optimizers takes names from {list(BASE_LR)} and --lr-factors at least one value. "
                          f"Received: optimizers={cfg.optimizers}, lr_factors={cfg.lr_factors}")
    epochs, limit = (2, 2000) if cfg.quick else (cfg.epochs, cfg.limit_train)
    seeds = [cfg.seed + i for i in range(min(cfg.seeds, 2) if cfg.quick else cfg.seeds)]
    factors = sorted(cfg.lr_factors)
    lrs = {o: [float(f"{BASE_LR[o] * f:.6g}") for f in factors] for o in cfg.optimizers}  # 0.3, not 0.300...04
    sweeps = {o: [Sweep(o, lr, [], []) for lr in lrs[o]] for o in cfg.optimizers}
    for seed in seeds:  # seed-major order: a busy spell of a shared machine slows every optimizer alike
        for v in sweeps.values():
            for one in v:
                train_one(cfg, ctx, one, seed, epochs, limit)
    best = {o: max(v, key=Sweep.score) for o, v in sweeps.items()}
    dead = [o for o, b in best.items() if not b.runs]
    if dead:
        raise TrainingDiverged(f"every learning rate diverged for {dead}: lower --lr-factors")

    # -- plots: the chosen learning rate of each optimizer, mean ± std over seeds ------------------------------
    for key, label, name in (("train_loss", "training loss", "train_loss"),
                             ("val_acc", "validation accuracy", "val_accuracy")):
        mean = {o: b.curve(key)[0] for o, b in best.items()}
        std = {o: b.curve(key)[1] for o, b in best.items()}
        ctx.run.save_figure(plot_compare(mean, label, f"{label} vs epoch ({len(seeds)} seeds, best lr)",
                                         bands=std), f"{name}_epoch")
        ctx.run.save_figure(plot_compare(mean, label, f"{label} vs training time", x={o: b.wall() for o, b in
                                                                                       best.items()},
                                         xlabel="training seconds (mean over seeds)", bands=std), f"{name}_time")
    fig = plot_compare({o: [100 * s.best_val.mean() if s.runs else np.nan for s in v] for o, v in sweeps.items()},
                       "best validation accuracy (%)", "learning-rate sweep", x={o: [s.lr for s in v] for o, v in
                                                                                 sweeps.items()},
                       xlabel="learning rate (log scale)")
    fig.axes[0].set_xscale("log")
    ctx.run.save_figure(fig, "lr_sweep")

    # -- tables and findings -----------------------------------------------------------------------------------
    rows = [[o, f"{b.lr:g}", pm(b.best_val), pm(b.test), f"{np.mean([r['epoch_seconds'] for r in b.runs]):.2f}"]
            for o, b in sorted(best.items(), key=lambda kv: -kv[1].test.mean())]
    sweep_rows = [[o, f"{s.lr:g}" + (" (chosen)" if s is best[o] else ""), pm(s.best_val) if s.runs else "—",
                   pm(s.test) if s.runs else "—", f"{len(s.diverged)}/{len(seeds)}"] for o, v in sweeps.items()
                  for s in v]
    lines, facts = conclusions(best, sweeps, len(seeds))
    report = "\n\n".join([
        "# optimizers", __doc__.split("\n\n", 1)[1].strip(),
        f"MLP `{cfg.model_args}` on {cfg.dataset}" + (f" (first {limit:,} training images)" if limit else "") +
        f", {epochs} epochs, batch {cfg.batch_size}, constant learning rate; momentum {cfg.momentum} for momentum and "
        f"Nesterov; AdamW weight decay {cfg.adamw_weight_decay}; seeds {seeds}; learning rates "
        f"{', '.join(f'{f:g}' for f in factors)} × each optimizer's usual one.{' Quick mode.' if cfg.quick else ''}",
        "## Result", table(["optimizer", "best lr", "best val accuracy %", "test accuracy %", "s / epoch"], rows),
        "Accuracies are mean ± std over seeds; the test accuracy is measured at each run's best validation epoch. "
        "Seconds are this machine's training time (validation excluded), with whatever else it was running: the "
        "runs go seed by seed through every optimizer, so a busy spell slows them alike.",
        "## What the numbers show", "\n".join(f"- {x}" for x in lines),
        "![training loss vs epoch](plots/train_loss_epoch.png) ![validation accuracy vs epoch]"
        "(plots/val_accuracy_epoch.png)",
        "![training loss vs time](plots/train_loss_time.png) ![validation accuracy vs time]"
        "(plots/val_accuracy_time.png)",
        "## The learning-rate sweep", "![learning-rate sweep](plots/lr_sweep.png)",
        table(["optimizer", "lr", "best val accuracy %", "test accuracy %", "diverged"], sweep_rows)])
    ctx.run.write_report(report + "\n")
    w = best[facts["winner"]]
    margin = f", +{facts['margin_points']:.2f} points" if "margin_points" in facts else ""
    return {"dataset": cfg.dataset, "epochs": epochs, "seeds": seeds, **facts, "findings": lines,
            "test": {"accuracy": float(w.test.mean())},
            "headline": f"{facts['winner']} wins: {pm(w.test)}% test accuracy ({cfg.dataset}{margin})",
            "results": {o: {"best_lr": b.lr, "val_mean": float(b.best_val.mean()), "val_std": float(b.best_val.std()),
                            "test_mean": float(b.test.mean()), "test_std": float(b.test.std()),
                            "sweep": {f"{s.lr:g}": {"val_mean": float(s.best_val.mean()) if s.runs else None,
                                                    "diverged": len(s.diverged)} for s in sweeps[o]}}
                        for o, b in best.items()}}
