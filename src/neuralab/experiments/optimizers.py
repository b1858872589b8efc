"""optimizers: SGD, momentum, Nesterov, Adam, AdamW, RMSprop and Adagrad on the same MLP, data and epoch budget.

A comparison of optimizers is only fair when each gets its own learning rate: every optimizer is swept over a few
multiples of its usual learning rate, each (optimizer, learning rate) is trained with several seeds, and the
learning rate is chosen on mean validation accuracy (the test split only reports). The schedule is constant, so
what differs is the update rule alone. Measured: per-epoch training loss and validation accuracy, training wall
time (on a quiet machine), and test accuracy at the epoch chosen on validation, over seeds; which optimizer is
ahead is decided by `report.claims` (Welch's t over the seeds), and a lead inside the noise is called a tie.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from neuralab.config import option, section
from neuralab.errors import ConfigError, TrainingDiverged
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.sweep import Trial, train_trial
from neuralab.experiments.timing import Contention, CpuWatch
from neuralab.report.claims import Sample, best_claim, compare, mean_pm, rank
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.report.plots import plot_compare
from neuralab.train.config import DataConfig, ModelConfig, OptimConfig, ScheduleConfig, TrainConfig

# The usual learning rate of each optimizer for a small MLP on normalized inputs; the sweep multiplies it by
# --lr-factors. Momentum methods take about (1 - momentum) times plain SGD's step, adaptive methods far less.
BASE_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3,
           "adagrad": 1e-2}


@dataclass
class OptimizersConfig(ExperimentConfig):
    data: DataConfig = section(DataConfig("fashion-mnist", limit_train=10000))
    model: ModelConfig = section(ModelConfig("mlp", "hidden=256,256"), prefix="model")
    schedule: ScheduleConfig = section(ScheduleConfig(epochs=5, schedule="constant"))
    optimizers: list[str] = option(list(BASE_LR), f"optimizers to compare, from {', '.join(BASE_LR)}")
    lr_factors: list[float] = option([0.3, 1.0, 3.0, 10.0], "learning rates tried: multiples of each one's usual lr",
                                     above=0)
    seeds: int = option(3, "seeds per (optimizer, learning rate)", min=1, max=100)
    batch_size: int = option(128, "batch size", min=1, max=65536)
    momentum: float = option(0.9, "momentum of the momentum and nesterov optimizers", min=0, max=0.9999)
    adamw_weight_decay: float = option(0.01, "AdamW's decoupled weight decay (the others get none)", min=0)
    # Quick: four optimizers (plain, momentum, two adaptive), three learning rates, still three seeds (with two, the
    # t interval of a difference is so wide that hardly anything can be told), 2 epochs on the 10,000 training
    # images: 36 short runs, 75-82% Fashion-MNIST test accuracy, under a CPU-minute.
    QUICK: ClassVar[dict[str, Any]] = {"optimizers": ["sgd", "momentum", "adam", "rmsprop"],
                                       "lr_factors": [0.3, 1.0, 3.0], "schedule.epochs": 2}

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [o for o in self.optimizers if o not in BASE_LR]
        if unknown or not self.optimizers or not self.lr_factors or len(set(self.optimizers)) < len(self.optimizers):
            raise ConfigError(f"--optimizers takes distinct names from {list(BASE_LR)} and --lr-factors at least one "
                              f"value. Received: optimizers={self.optimizers}, lr_factors={self.lr_factors}")

    def learning_rates(self, optimizer: str) -> list[float]:
        return [float(f"{BASE_LR[optimizer] * f:.6g}") for f in sorted(self.lr_factors)]  # 0.3, not 0.300...04

    def train_config(self, optimizer: str, lr: float, seed: int) -> TrainConfig:
        optim = OptimConfig(optimizer, lr=lr, momentum=self.momentum,  # type: ignore[arg-type]
                            weight_decay=self.adamw_weight_decay if optimizer == "adamw" else 0.0)
        return TrainConfig(data=self.data, model=self.model, optim=optim, schedule=self.schedule,
                           batch_size=self.batch_size, eval_batch_size=2000, seed=seed)


@dataclass(frozen=True)
class LrRuns:
    """The runs of one (optimizer, learning rate): one Trial per seed that trained, and how many seeds diverged."""

    optimizer: str
    lr: float
    trials: list[Trial]
    diverged: int

    @property
    def best_val(self) -> np.ndarray:
        return np.array([max(t.val_acc) for t in self.trials])

    @property
    def test(self) -> Sample:
        return Sample.of([t.test for t in self.trials], [self.trials[0].correct] if self.trials else [])

    def score(self) -> tuple[int, float]:
        """Higher is better: no diverged seed first, then mean best validation accuracy."""
        return (-self.diverged, float(self.best_val.mean()) if self.trials else -1.0)


@dataclass(frozen=True)
class OptimizersResult:
    cfg: OptimizersConfig
    seeds: list[int]
    sweeps: dict[str, list[LrRuns]]  # optimizer -> its learning rates, low to high
    train_images: int
    contention: Contention  # whether other programs competed for the CPUs (then no seconds are shown)

    @property
    def chosen(self) -> dict[str, LrRuns]:
        """Each optimizer's learning rate chosen on validation (optimizers that diverged at every rate left out)."""
        return {o: max(v, key=LrRuns.score) for o, v in self.sweeps.items() if any(s.trials for s in v)}


def padded(trials: list[Trial], key: str) -> np.ndarray:
    """(seeds, epochs) of a per-epoch curve; runs that stopped early keep their last value."""
    curves = [list(getattr(t, key)) for t in trials]
    n = max(len(c) for c in curves)
    return np.array([c + [c[-1]] * (n - len(c)) for c in curves], dtype=float)


def sensitivity(runs: list[LrRuns]) -> str:
    """Points of mean best validation accuracy between the best and the worst learning rate that trained."""
    means = [100 * s.best_val.mean() for s in runs if s.trials]
    return f"{max(means) - min(means):.1f}" if len(means) > 1 else "—"


def result_table(r: OptimizersResult) -> str:
    chosen, timed = r.chosen, r.contention.quiet
    head = ["optimizer", "chosen lr", "best val accuracy %", "test accuracy %", "lr sensitivity (points)"]
    rows = [[o, f"{b.lr:g}", mean_pm(Sample.of(b.best_val)), mean_pm(b.test), sensitivity(r.sweeps[o])] +
            ([f"{np.mean([t.seconds / t.epochs_run for t in b.trials]):.2f}"] if timed else [])
            for o, b in sorted(chosen.items(), key=lambda kv: -kv[1].test.mean)]
    return table(head + (["s / epoch"] if timed else []), rows)


def sweep_table(r: OptimizersResult) -> str:
    chosen = r.chosen
    rows = [[o, f"{s.lr:g}" + (" (chosen)" if s is chosen.get(o) else ""),
             mean_pm(Sample.of(s.best_val)) if s.trials else "—", mean_pm(s.test) if s.trials else "—",
             f"{s.diverged}/{len(r.seeds)}"] for o, v in r.sweeps.items() for s in v]
    return table(["optimizer", "lr", "best val accuracy %", "test accuracy %", "diverged"], rows)


def reach_sentence(r: OptimizersResult) -> str:
    """When each optimizer's mean validation curve first reached the level every one of them reached."""
    curves = {o: padded(b.trials, "val_acc").mean(0) for o, b in r.chosen.items()}
    target = min(c.max() for c in curves.values())
    epoch = {o: int(np.argmax(c >= target)) for o, c in curves.items()}
    secs = {o: np.cumsum(padded(b.trials, "epoch_seconds").mean(0)) for o, b in r.chosen.items()}
    when = ", ".join(f"{o} epoch {epoch[o] + 1}" + (f" ({secs[o][epoch[o]]:.1f} s)" if r.contention.quiet else "")
                     for o in sorted(epoch, key=lambda o: (epoch[o], o)))
    return f"Every optimizer reached {100 * target:.1f}% mean validation accuracy; first at: {when}."


def findings(r: OptimizersResult) -> list[str]:
    """Plain-words conclusions; every comparison through report.claims."""
    chosen = r.chosen
    samples = {o: b.test for o, b in chosen.items()}
    order, _ = rank(samples)
    lines = [best_claim(samples, "test accuracy")] if len(order) > 1 else []
    if len(order) > 2:
        lines.append("Top against bottom: " + compare(order[0], samples[order[0]], order[-1],
                                                      samples[order[-1]]).sentence("test accuracy"))
    if "adam" in chosen and "adamw" in chosen:
        lines.append("AdamW is Adam plus decoupled weight decay: " +
                     compare("adamw", samples["adamw"], "adam", samples["adam"]).sentence("test accuracy"))
    lines.append(reach_sentence(r))
    edge = [o for o, b in chosen.items() if len(r.sweeps[o]) > 1 and b.lr in (r.sweeps[o][0].lr, r.sweeps[o][-1].lr)]
    if edge:
        lines.append("The chosen learning rate sits at the edge of the sweep for " + ", ".join(edge) +
                     ": the best may lie outside it (widen --lr-factors).")
    diverged = [f"{s.optimizer} lr {s.lr:g} ({s.diverged}/{len(r.seeds)})" for v in r.sweeps.values() for s in v
                if s.diverged]
    if diverged:
        lines.append("Diverged (loss became inf/NaN): " + ", ".join(diverged) + ".")
    return lines


def pct(sample: Sample) -> str:
    """'90.25 ± 2.36%' over seeds, '90.25%' for one seed (never a ± for a single run)."""
    spread = f" ± {100 * sample.std:.2f}" if len(sample.values) > 1 else ""
    return f"{100 * sample.mean:.2f}{spread}%"


def headline(r: OptimizersResult) -> str:
    samples = {o: b.test for o, b in r.chosen.items()}
    order, c = rank(samples)
    where = f"{r.cfg.data.dataset}, {len(r.seeds)} seeds" if len(r.seeds) > 1 else f"{r.cfg.data.dataset}, one seed"
    if c is None:
        return f"{order[0]}: {pct(samples[order[0]])} test accuracy ({where})"
    if c.significant:
        return f"{order[0]} best: {pct(samples[order[0]])} test accuracy ({where}; {100 * c.diff:.2f} points ahead " \
               f"of {order[1]})"
    return f"no measurable difference at the top: {order[0]} {pct(samples[order[0]])} vs {order[1]} " \
           f"{pct(samples[order[1]])} test accuracy ({where})"


def figures(page: Page, r: OptimizersResult) -> list[str]:
    """Curves of each optimizer at its chosen rate (mean ± std over seeds; against seconds only on a quiet
    machine) when there are two epochs or more, and the sweep when there are two rates or more."""
    chosen, out = r.chosen, []
    epochs = max(t.epochs_run for b in chosen.values() for t in b.trials)
    for key, label, name in (("train_loss", "training loss", "train_loss"),
                             ("val_acc", "validation accuracy", "val_accuracy")):
        if epochs < 2:
            break
        mean = {o: padded(b.trials, key).mean(0) for o, b in chosen.items()}
        std = {o: padded(b.trials, key).std(0) for o, b in chosen.items()}
        out.append(page.figure(f"{name}_epoch", plot_compare(mean, label, f"{label} vs epoch ({len(r.seeds)} seeds, "
                                                                          f"chosen lr)", bands=std), label))
        if r.contention.quiet:
            wall = {o: np.cumsum(padded(b.trials, "epoch_seconds").mean(0)) for o, b in chosen.items()}
            out.append(page.figure(f"{name}_time", plot_compare(mean, label, f"{label} vs training time", x=wall,
                                                                xlabel="training seconds (mean over seeds)",
                                                                bands=std), f"{label} vs time"))
    if len(r.cfg.lr_factors) > 1:
        fig = plot_compare({o: [100 * s.best_val.mean() if s.trials else np.nan for s in v]
                            for o, v in r.sweeps.items()}, "best validation accuracy (%)", "learning-rate sweep",
                           x={o: [s.lr for s in v] for o, v in r.sweeps.items()}, xlabel="learning rate (log scale)")
        fig.axes[0].set_xscale("log")
        out.append(page.figure("lr_sweep", fig, "learning-rate sweep"))
    return out


def render(r: OptimizersResult) -> Page:
    cfg, chosen = r.cfg, r.chosen
    best = max(chosen.values(), key=lambda b: b.test.mean)
    page = Page("optimizers", headline(r), test={"accuracy": best.test.mean})
    runs = [t for b in chosen.values() for t in b.trials]
    epochs, seen = sorted({t.epochs_run for t in runs}), sorted({t.images_seen for t in runs})
    ran = (f"{epochs[0]} epochs ({seen[0]:,} images seen per run)" if len(epochs) == 1 else
           f"{epochs[0]} to {epochs[-1]} epochs (early stopping; {seen[0]:,} to {seen[-1]:,} images seen per run)")
    page.add(__doc__.split("\n\n", 1)[1].strip(),
             f"MLP `{cfg.model.args}` on {cfg.data.dataset} ({r.train_images:,} training images), {ran}, batch {cfg.batch_size}, {cfg.schedule.schedule} learning rate; momentum {cfg.momentum} for "
             f"momentum and Nesterov; AdamW weight decay {cfg.adamw_weight_decay}; seeds {r.seeds}; learning rates "
             f"{', '.join(f'{f:g}' for f in sorted(cfg.lr_factors))} × each optimizer's usual one.",
             "## Result", result_table(r),
             ("Accuracies are mean ± std over seeds" if len(r.seeds) > 1 else "Accuracies are of one seed") +
             "; the test accuracy is measured at each run's best validation epoch. Lr sensitivity: points of mean best validation accuracy between the best and the worst "
             "learning rate of the sweep.", r.contention.note(), *figures(page, r),
             "## The learning-rate sweep", sweep_table(r))
    page.findings += findings(r)
    order, c = rank({o: b.test for o, b in chosen.items()})
    page.details.update(
        dataset=cfg.data.dataset, epochs=epochs[-1], seeds=r.seeds, ranking=order, leader=order[0],
        winner=c.winner if c is not None else order[0], timing_measured=r.contention.quiet,
        results={o: {"best_lr": b.lr, "val_mean": float(b.best_val.mean()), "val_std": float(b.best_val.std()),
                     "test_mean": b.test.mean, "test_std": b.test.std,
                     "sweep": {f"{s.lr:g}": {"val_mean": float(s.best_val.mean()) if s.trials else None,
                                             "diverged": s.diverged} for s in r.sweeps[o]}}
                 for o, b in chosen.items()})
    return page


def train_one(cfg: OptimizersConfig, ctx: Context, optimizer: str, lr: float, seed: int) -> Trial | None:
    """One run of the sweep; a diverged run is recorded (None), not fatal."""
    quiet = dataclasses.replace(ctx, log=lambda msg: None)  # one line per run below, not one per epoch
    try:
        trial, _ = train_trial(cfg.train_config(optimizer, lr, seed), quiet, f"{optimizer}-lr{lr:g}-seed{seed}")
    except TrainingDiverged:
        ctx.log(f"[optimizers] {optimizer} lr {lr:g} seed {seed}: diverged")
        return None
    ctx.log(f"[optimizers] {optimizer} lr {lr:g} seed {seed}: best val {100 * max(trial.val_acc):.2f}%, test "
            f"{100 * trial.test:.2f}%")
    return trial


@experiment("optimizers", OptimizersConfig,
            "SGD, momentum, Nesterov, Adam, AdamW, RMSprop, Adagrad: each with its own lr sweep, over seeds",
            render, needs=("fashion-mnist",), order=22,
            examples=["neuralab run optimizers", "neuralab run optimizers --dataset digits --quick",
                      "neuralab run optimizers --optimizers sgd,momentum,adam --lr-factors 0.1,0.3,1,3,10"])
def measure(cfg: OptimizersConfig, ctx: Context) -> OptimizersResult:
    seeds = [cfg.seed + i for i in range(cfg.seeds)]
    trials: dict[tuple[str, float], list[Trial]] = defaultdict(list)
    diverged: dict[tuple[str, float], int] = defaultdict(int)
    with CpuWatch() as watch:
        for seed in seeds:  # seed-major order: a busy spell of a shared machine slows every optimizer alike
            for opt in cfg.optimizers:
                for lr in cfg.learning_rates(opt):
                    trial = train_one(cfg, ctx, opt, lr, seed)
                    if trial is None:
                        diverged[opt, lr] += 1
                    else:
                        trials[opt, lr].append(trial)
    if not trials:
        raise TrainingDiverged("every optimizer diverged at every learning rate: lower --lr-factors")
    sweeps = {o: [LrRuns(o, lr, trials[o, lr], diverged[o, lr]) for lr in cfg.learning_rates(o)]
              for o in cfg.optimizers}
    first = next(iter(trials.values()))[0]
    return OptimizersResult(cfg, seeds, sweeps, first.images_seen // max(1, first.epochs_run), watch.contention)
