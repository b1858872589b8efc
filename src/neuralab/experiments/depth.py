"""depth: 2 to 10 conv layers, plain vs batch norm vs batch norm + residual, same epochs — accuracy over seeds,
parameters, FLOPs and time per epoch, and accuracy against depth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from neuralab.config import option, section
from neuralab.errors import ConfigError
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.sweep import Trial, samples, sweep
from neuralab.experiments.variant_report import (QUICK_RECIPE, check_variants, headline, recipe, versus, what_ran,
                                                 whole_ticks)
from neuralab.models.checkpoint import load_model
from neuralab.models.flops import count_flops
from neuralab.report.claims import Sample, best_claim, mean_pm
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.report.plots import plot_compare
from neuralab.runs import slug
from neuralab.train.config import DataConfig, ModelConfig, OptimConfig, ScheduleConfig, TrainConfig

KINDS = {"plain": ("plain", "batch_norm=false residual=false"),  # option name: (label, model args added)
         "batch-norm": ("batch norm", "batch_norm=true residual=false"),
         "residual": ("batch norm + residual", "batch_norm=true residual=true")}


@dataclass
class DepthConfig(ExperimentConfig):
    data: DataConfig = section(DataConfig("cifar10"))
    model: ModelConfig = section(ModelConfig("cnn", "width=32"), prefix="model")
    # Plain SGD (no momentum, no adaptive steps) keeps the optimizer from hiding what depth does to gradients.
    optim: OptimConfig = section(OptimConfig("sgd", lr=0.05))
    schedule: ScheduleConfig = section(ScheduleConfig(epochs=10))
    batch_size: int = option(128, "batch size", min=1, max=65536)
    depths: list[int] = option([2, 4, 6, 8, 10], "numbers of conv layers", min=1, max=64)
    kinds: list[str] = option(list(KINDS), f"kinds of net: {', '.join(KINDS)}")
    seeds: int = option(1, "seeds per variant (one seed: compared by a paired bootstrap over test images)", min=1,
                        max=100)
    # Quick: batch-norm nets of 3 and 6 layers, 4 epochs of the quick recipe, one seed (compared by a paired bootstrap
    # over the test images). Plain SGD would leave both near chance in so few steps.
    QUICK: ClassVar[dict[str, Any]] = {**QUICK_RECIPE, "schedule.epochs": 4, "depths": [3, 6], "kinds": ["batch-norm"]}

    def __post_init__(self) -> None:
        super().__post_init__()
        check_variants(self.kinds, list(KINDS))
        if not self.depths or len(set(self.depths)) < len(self.depths):
            raise ConfigError(f"depths takes distinct numbers of conv layers, e.g. --depths 2,6. Received: "
                              f"{self.depths}")

    def train_configs(self) -> dict[str, TrainConfig]:
        return {variant(kind, d): TrainConfig(data=self.data, model=self.model.replace(
                    args=f"{self.model.args} depth={d} {KINDS[kind][1]}"), optim=self.optim, schedule=self.schedule,
                    batch_size=self.batch_size, eval_batch_size=500)
                for kind in self.kinds for d in self.depths}


def variant(kind: str, depth: int) -> str:
    return f"{KINDS[kind][0]} d{depth}"


@dataclass(frozen=True)
class DepthResult:
    cfg: DepthConfig
    trials: dict[str, list[Trial]]  # variant(kind, depth) -> one Trial per seed
    flops: dict[str, int]  # variant -> forward FLOPs per image


def _depth_finding(r: DepthResult, acc: dict[str, Sample], kind: str) -> str:
    """Shallowest vs deepest of one kind: does depth pay at this budget?"""
    lo, hi = variant(kind, min(r.cfg.depths)), variant(kind, max(r.cfg.depths))
    c = versus(hi, lo, acc)
    return f"{KINDS[kind][0]}: " + c.sentence() + {
        hi: " Here the extra layers added capacity the training could use.",
        lo: " Here the extra layers made the net harder to train in the same epochs."}.get(c.winner or "", "")


def _kind_finding(r: DepthResult, acc: dict[str, Sample]) -> str:
    """At the greatest depth, plain vs the kinds that keep gradients healthy."""
    deep = max(r.cfg.depths)
    plain = variant("plain", deep)
    text = [f"At {deep} layers:"]
    for kind in (k for k in r.cfg.kinds if k != "plain"):
        c = versus(variant(kind, deep), plain, acc)
        text.append(c.sentence())
        if c.winner == variant(kind, deep):
            text.append("Gradients shrink (or explode) as they pass through many plain layers, so early layers "
                        "barely learn in the same number of steps; batch norm keeps each layer's inputs well "
                        "scaled" + (" and the residual connections give gradients an identity path." if
                                    kind == "residual" else "."))
    return " ".join(text)


def _findings(r: DepthResult, acc: dict[str, Sample]) -> list[str]:
    out = [_depth_finding(r, acc, kind) for kind in r.cfg.kinds if len(r.cfg.depths) > 1]
    if "plain" in r.cfg.kinds and len(r.cfg.kinds) > 1:
        out.append(_kind_finding(r, acc))
    return out or [s for s in [best_claim(acc)] if s]  # one depth and no plain net: rank what ran


def render(r: DepthResult) -> Page:
    acc = samples(r.trials)
    title, top = headline(r.trials, "depth variants")
    page = Page("depth", title, test={"accuracy": top})
    runs = next(iter(r.trials.values()))
    rows = [[KINDS[kind][0], d, mean_pm(acc[variant(kind, d)]), f"{r.trials[variant(kind, d)][0].params:,}",
             f"{r.flops[variant(kind, d)] / 1e6:.1f}",
             f"{sum(t.seconds / t.epochs_run for t in r.trials[variant(kind, d)]) / len(runs):.1f}"]
            for kind in r.cfg.kinds for d in r.cfg.depths]
    curves = {KINDS[k][0]: [100 * acc[variant(k, d)].mean for d in r.cfg.depths] for k in r.cfg.kinds}
    page.add(f"{recipe(r.cfg)}. What ran: {what_ran(r.trials)}",
             table(["variant", "conv layers", "test accuracy %", "parameters", "MFLOPs / image",
                    "s / epoch (wall, as measured)"], rows),
             _depth_plot(page, curves, r.cfg.depths))
    page.findings += _findings(r, acc)
    page.details.update(depths=list(r.cfg.depths), accuracy={KINDS[k][0]: [acc[variant(k, d)].mean for d in
                                                                           r.cfg.depths] for k in r.cfg.kinds},
                        flops=r.flops)
    return page


def _depth_plot(page: Page, curves: dict[str, list[float]], depths: list[int]) -> str:
    """Accuracy against depth; with one depth there is no axis to draw, and the table above says it all."""
    if len(depths) < 2:
        return ""
    fig = plot_compare(curves, "test accuracy (%)", "accuracy vs depth", x=depths, xlabel="conv layers")
    return page.figure("depth", whole_ticks(fig, depths), "accuracy vs depth")


@experiment("depth", DepthConfig, "2-10 conv layers, plain vs batch norm vs residual: accuracy, params, FLOPs, time",
            render, needs=("cifar10",), order=35,
            examples=["neuralab run depth", "neuralab run depth --depths 2,6,10", "neuralab run depth --quick"])
def measure(cfg: DepthConfig, ctx: Context) -> DepthResult:
    seeds = [cfg.seed + s for s in range(cfg.seeds)]
    trials = sweep(cfg.train_configs(), seeds, ctx)
    flops = {}
    for name in trials:  # from the first seed's saved model: the architecture exactly as it trained
        model, card = load_model(ctx.run.child(f"{slug(name)}-seed{seeds[0]}").checkpoints / "model.safetensors")
        flops[name] = count_flops(model, card.input_shape)
    return DepthResult(cfg, trials, flops)
