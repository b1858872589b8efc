"""pooling: max vs average pooling, and dropout / weight decay / no regularization, on the same CNN and budget —
test accuracy over seeds, and the train–validation gap (overfitting) of each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from neuralab.config import option, section
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.sweep import Trial, samples, sweep
from neuralab.experiments.variant_report import (GAP_WHAT, QUICK_RECIPE, check_variants, clean_train, curves_block,
                                                 final_gap, gap_curves, gap_how, headline, mean_curves, narrower_gap,
                                                 recipe, versus, what_ran)
from neuralab.report.claims import Sample, best_claim, mean_pm
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.train.config import DataConfig, ModelConfig, OptimConfig, ScheduleConfig, TrainConfig

VARIANTS = {  # option name: (label, model args added, weight decay)
    "max": ("max pool, no regularization", "pool=max", 0.0),
    "avg": ("avg pool, no regularization", "pool=avg", 0.0),
    "dropout": ("max pool + dropout 0.3", "pool=max dropout=0.3", 0.0),
    "weight-decay": ("max pool + weight decay 5e-4", "pool=max", 5e-4),
}
BASE = VARIANTS["max"][0]  # every other variant changes one thing from this one


@dataclass
class PoolingConfig(ExperimentConfig):
    # 10,000 training images rather than all: a smaller set shows overfitting (and what regularization does) sooner.
    data: DataConfig = section(DataConfig("cifar10", limit_train=10000))
    model: ModelConfig = section(ModelConfig("cnn", "depth=4 width=32"), prefix="model")
    optim: OptimConfig = section(OptimConfig("adamw", lr=2e-3))
    schedule: ScheduleConfig = section(ScheduleConfig(epochs=15))
    batch_size: int = option(128, "batch size", min=1, max=65536)
    variants: list[str] = option(list(VARIANTS), f"variants to train: {', '.join(VARIANTS)}")
    seeds: int = option(1, "seeds per variant (one seed: compared by a paired bootstrap over test images)", min=1,
                        max=100)
    # Quick: the pooling pair only, 4 epochs of the quick recipe, one seed (compared by a paired bootstrap over the
    # test images).
    QUICK: ClassVar[dict[str, Any]] = {**QUICK_RECIPE, "schedule.epochs": 4, "variants": ["max", "avg"]}

    def __post_init__(self) -> None:
        super().__post_init__()
        check_variants(self.variants, list(VARIANTS))

    def train_configs(self) -> dict[str, TrainConfig]:
        """label -> the TrainConfig of that variant (the model section plus the variant's one change)."""
        out = {}
        for key in self.variants:
            label, args, weight_decay = VARIANTS[key]
            out[label] = TrainConfig(data=self.data, model=self.model.replace(args=f"{self.model.args} {args}"),
                                     optim=self.optim.replace(weight_decay=weight_decay), schedule=self.schedule,
                                     batch_size=self.batch_size, eval_batch_size=500)
        return out


@dataclass(frozen=True)
class PoolingResult:
    cfg: PoolingConfig
    trials: dict[str, list[Trial]]  # label -> one Trial per seed


def _pooling_finding(acc: dict[str, Sample]) -> str:
    avg = VARIANTS["avg"][0]
    c = versus(BASE, avg, acc)
    why = {BASE: " Max pooling passes on the strongest response in each window (is the feature there at all?); "
                 "averaging dilutes it with its weaker neighbours.",
           avg: " Averaging keeps something of every position in the window, which paid off here."}
    return "Pooling: " + c.sentence() + why.get(c.winner or "", "")


def _regularization_finding(r: PoolingResult, acc: dict[str, Sample], label: str) -> str:
    accuracy, gap = versus(label, BASE, acc), narrower_gap(r.trials, label, BASE)
    text = f"Regularization: {accuracy.sentence()} {gap.sentence(GAP_WHAT)}"
    if gap.winner == label:
        text += (" The regularizer keeps the net from fitting the training images as closely"
                 + (", and it generalizes better for it." if accuracy.winner == label else
                    ", at no measurable cost in test accuracy." if accuracy.winner is None else
                    ", and at this budget that costs test accuracy."))
    return text


def _findings(r: PoolingResult) -> list[str]:
    acc = samples(r.trials)
    # With two variants one of which is the baseline, the pairwise sentences below say it all.
    out = [best_claim(acc)] if len(acc) > 2 or (len(acc) == 2 and BASE not in acc) else []
    if BASE in acc and VARIANTS["avg"][0] in acc:
        out.append(_pooling_finding(acc))
    out += [_regularization_finding(r, acc, VARIANTS[k][0]) for k in ("dropout", "weight-decay")
            if BASE in acc and VARIANTS[k][0] in acc]
    return [s for s in out if s]


def render(r: PoolingResult) -> Page:
    acc = samples(r.trials)
    title, top = headline(r.trials, "pooling/regularization variants")
    page = Page("pooling", title, test={"accuracy": top})
    rows = [[label, mean_pm(acc[label]), f"{100 * clean_train(ts):.1f}", f"{100 * final_gap(ts):.1f}"]
            for label, ts in r.trials.items()]
    page.add(f"{recipe(r.cfg)}. What ran: {what_ran(r.trials)}",
             table(["variant", "test accuracy %", "train accuracy %", "train−test gap (points)"], rows),
             gap_how(r.trials),
             "The curves below follow the gap during training, from the running training accuracy (dropout on, "
             "where the variant has it) minus validation accuracy each epoch.",
             curves_block(page, "gap", gap_curves(r.trials), "train − val accuracy (points)", "overfitting gap per "
                          "epoch (running train − validation accuracy)"),
             curves_block(page, "val", mean_curves(r.trials, "val_acc"), "validation accuracy (%)",
                          "validation accuracy"))
    page.findings += _findings(r)
    page.details.update(test_by_variant={k: s.mean for k, s in acc.items()},
                        gap={k: final_gap(ts) for k, ts in r.trials.items()})
    return page


@experiment("pooling", PoolingConfig, "max vs average pooling; dropout vs weight decay vs none: the overfitting gap",
            render, needs=("cifar10",), order=34, examples=["neuralab run pooling", "neuralab run pooling --quick",
                                                            "neuralab run pooling --variants max,dropout --seeds 3"])
def measure(cfg: PoolingConfig, ctx: Context) -> PoolingResult:
    return PoolingResult(cfg, sweep(cfg.train_configs(), [cfg.seed + s for s in range(cfg.seeds)], ctx, probe=True))
