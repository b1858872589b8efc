"""activations: the same deep NumPy MLP and budget with each activation function, over several seeds.

A deliberately deep, narrow network (several hidden layers) on the three-arm spiral, plain SGD with momentum, so
the activation is the only thing that changes. Measured per activation and seed: final losses and accuracies, the
gradient norm of every layer's weights (vanishing gradients: a saturating activation can leave the layers nearest
the input a tiny share), and dead ReLUs (hidden units never active on any training point).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from neuralab.config import option
from neuralab.data import load_dataset
from neuralab.experiments.points_2d import require_choices
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.report.claims import Sample, best_claim, compare, rank
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.report.plots import plot_compare
from neuralab.scratch import SGD, Dense, LeakyReLU, SoftmaxCrossEntropy, mlp
from neuralab.scratch.activations import ACTIVATIONS
from neuralab.scratch.train import Arrays, evaluate, fit, prepare

GATED = ("relu", "leaky_relu")  # units whose output (or slope) is cut where the input is <= 0


@dataclass
class ActivationsConfig(ExperimentConfig):
    activations: list[str] = option(["relu", "leaky_relu", "gelu", "tanh", "sigmoid"],
                                    f"activations to compare ({', '.join(ACTIVATIONS)})")
    seeds: int = option(3, "seeds per activation (seed, seed+1, ...)", min=1, max=100)
    depth: int = option(6, "hidden layers", min=1, max=50)
    width: int = option(32, "units per hidden layer", min=1, max=4096)
    epochs: int = option(60, "epochs per run", min=1, max=10_000)
    lr: float = option(0.05, "SGD learning rate", above=0)
    momentum: float = option(0.9, "SGD momentum", min=0, max=0.9999)
    batch_size: int = option(32, "mini-batch size", min=1, max=100_000)
    # Quick: every activation still runs (the comparison is the lesson), on fewer epochs; three seeds stay, since
    # the claims need a spread to call a winner, and a run here costs about a second.
    QUICK: ClassVar[dict[str, Any]] = {"epochs": 15}

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choices("activations", self.activations, list(ACTIVATIONS))


@dataclass(frozen=True)
class SeedRun:
    """One activation trained from one seed: its scores, and its gradients before and after training."""

    seed: int
    epochs_run: int
    diverged: bool  # the training loss became inf/NaN (the weights kept are the best ones before that)
    train_loss: float  # of the kept (best-validation) weights, like every number here
    val_loss: float
    val_acc: float
    test_acc: float
    test_correct: np.ndarray  # per test point: 1.0 right, 0.0 wrong (for paired comparisons)
    val_curve: list[float]  # validation loss per epoch run
    norms_init: list[float]  # ‖dL/dW‖ per Dense layer, input side first, on a fixed batch
    norms_end: list[float]
    dead_init: list[float]  # per hidden layer: share of units never active on any training point
    dead_end: list[float]


@dataclass(frozen=True)
class ActivationsResult:
    cfg: ActivationsConfig
    num_classes: int
    n_train: int
    runs: dict[str, list[SeedRun]]  # activation -> one SeedRun per seed


def grad_norms(model: Any, loss: Any, x: np.ndarray, y: np.ndarray) -> list[float]:
    """‖dL/dW‖ of every Dense layer, input side first, on one fixed batch."""
    loss.forward(model.forward(x, train=False), y)
    model.backward(loss.backward())
    return [float(np.linalg.norm(layer.grads["W"])) for layer in model.layers if isinstance(layer, Dense)]


def never_active(model: Any, x: np.ndarray) -> list[float]:
    """Per hidden layer: the fraction of units whose pre-activation is ≤ 0 for every point in x (a dead ReLU gets
    no gradient from any example, so it can never recover)."""
    fractions, h = [], np.asarray(x, dtype=model.dtype)
    for layer in model.layers:
        h = layer.forward(h, train=False)
        if isinstance(layer, Dense) and layer is not model.layers[-1]:
            fractions.append(float((~(h > 0).any(axis=0)).mean()))
    return fractions


# -- render -------------------------------------------------------------------------------------------------------
def _pm(values: list[float], scale: float = 1.0, spec: str = ".3g") -> str:
    """Mean ± sample std over seeds; the mean alone for one seed (a ± needs a spread to mean anything)."""
    v = scale * np.asarray(values, dtype=float)
    return f"{v.mean():{spec}}" + (f" ± {v.std(ddof=1):{spec}}" if len(v) > 1 else "")


def _epochs(runs: list[SeedRun]) -> str:
    low, high = min(r.epochs_run for r in runs), max(r.epochs_run for r in runs)
    return str(low) if low == high else f"{low}–{high}"


def init_ratio(runs: list[SeedRun]) -> float:
    """The first layer's gradient norm over the last layer's at initialization (norms averaged over seeds)."""
    init = np.mean([r.norms_init for r in runs], axis=0)
    return float(init[0] / init[-1])


def never_active_share(runs: list[SeedRun], when: str) -> float:
    """Never-active hidden units ("init" or "end"), averaged over layers and seeds."""
    return float(np.mean([np.mean(getattr(r, f"dead_{when}")) for r in runs]))


def accuracy_samples(r: ActivationsResult) -> dict[str, Sample]:
    """Test accuracy per activation over its seeds (and the first seed's per-point outcomes), for the claims."""
    return {a: Sample.of([s.test_acc for s in runs], [runs[0].test_correct]) for a, runs in r.runs.items()}


def numbers(r: ActivationsResult) -> dict[str, dict[str, Any]]:
    """Per activation, the numbers summary.json keeps."""
    return {a: {"test_accuracy": [s.test_acc for s in runs], "val_accuracy": [s.val_acc for s in runs],
                "test_accuracy_mean": float(np.mean([s.test_acc for s in runs])),
                "val_accuracy_mean": float(np.mean([s.val_acc for s in runs])),
                "train_loss_mean": float(np.mean([s.train_loss for s in runs])),
                "val_loss_mean": float(np.mean([s.val_loss for s in runs])),
                "grad_ratio_first_last_init": init_ratio(runs),
                "grad_norms_init": np.mean([s.norms_init for s in runs], axis=0).tolist(),
                "never_active_init": never_active_share(runs, "init"),
                "never_active_end": never_active_share(runs, "end"),
                "epochs_run": [s.epochs_run for s in runs], "diverged_runs": sum(s.diverged for s in runs)}
            for a, runs in r.runs.items()}


def _table(r: ActivationsResult) -> str:
    rows = []
    for a, runs in r.runs.items():
        gated = a in GATED
        rows.append([a, _epochs(runs), _pm([s.train_loss for s in runs]), _pm([s.val_loss for s in runs]),
                     _pm([s.val_acc for s in runs], 100, ".1f"), _pm([s.test_acc for s in runs], 100, ".1f"),
                     f"{init_ratio(runs):.2e}", f"{never_active_share(runs, 'init'):.1%}" if gated else "—",
                     f"{never_active_share(runs, 'end'):.1%}" if gated else "—",
                     f"{sum(s.diverged for s in runs)}/{len(runs)}"])
    return table(["activation", "epochs run", "train loss", "val loss", "val accuracy (%)", "test accuracy (%)",
                  "‖dW₁‖/‖dW_last‖ at init", "never-active units (init)", "never-active units (end)", "diverged"],
                 rows)


def ranking_findings(r: ActivationsResult) -> list[str]:
    """Best against runner-up, then highest against lowest mean: each called only beyond the seed-to-seed noise."""
    samples = accuracy_samples(r)
    order, _ = rank(samples)
    lines = [best_claim(samples, "test accuracy")] if len(order) > 1 else []
    if len(order) > 2:
        lines.append("Highest against lowest mean: " + compare(order[0], samples[order[0]], order[-1],
                                                                samples[order[-1]]).sentence("test accuracy"))
    lines.append(f"Chance is {100 / r.num_classes:.1f}% ({r.num_classes} classes).")
    return lines


def gradient_finding(r: ActivationsResult) -> str:
    ratios = {a: init_ratio(runs) for a, runs in r.runs.items()}
    vanishing = [a for a, v in ratios.items() if v < 0.1]
    measured = ", ".join(f"{a} {v:.1e}" for a, v in ratios.items())
    if vanishing:
        verdict = (f"below a tenth with {', '.join(vanishing)}: the vanishing-gradient picture — layers near the "
                   f"input barely learn.")
    else:
        verdict = "no activation gives the first layer less than a tenth of the last layer's at this depth."
    return f"At initialization the first layer's gradient norm over the last layer's is {measured}; {verdict}"


def other_findings(r: ActivationsResult) -> list[str]:
    lines = []
    diverged = {a: sum(s.diverged for s in runs) for a, runs in r.runs.items()}
    if any(diverged.values()):
        lines.append("Runs whose loss became inf/NaN (training stopped there; the best weights before it are the "
                     "ones measured): " + ", ".join(f"{a} {n}/{len(r.runs[a])}" for a, n in diverged.items() if n)
                     + ".")
    if "relu" in r.runs:
        relu = r.runs["relu"]
        leaky = "" if "leaky_relu" not in r.runs else (
            f"; leaky ReLU's never-positive share ends at {never_active_share(r.runs['leaky_relu'], 'end'):.1%}, but "
            f"its units still pass a gradient (slope {LeakyReLU().alpha})")
        lines.append(f"Dead ReLUs (units never active on any training point): {never_active_share(relu, 'init'):.1%} "
                     f"at initialization, {never_active_share(relu, 'end'):.1%} after training{leaky}.")
    return lines


def _figures(page: Page, r: ActivationsResult) -> list[str]:
    cfg, blocks = r.cfg, []
    if max(s.epochs_run for runs in r.runs.values() for s in runs) >= 2:  # one epoch is a point, not a curve
        padded = {a: [s.val_curve + [np.nan] * (max(t.epochs_run for t in runs) - s.epochs_run) for s in runs]
                  for a, runs in r.runs.items()}
        spread = f"mean ± std, {cfg.seeds} seeds" if cfg.seeds > 1 else "one seed"
        fig = plot_compare({a: np.nanmean(c, axis=0) for a, c in padded.items()}, "validation loss",
                           f"{cfg.depth}x{cfg.width} MLP on spiral ({spread})",
                           bands={a: np.nanstd(c, axis=0) for a, c in padded.items()} if cfg.seeds > 1 else None)
        blocks.append(page.figure("val_loss", fig, "validation loss"))
    layers = np.arange(1, cfg.depth + 2)
    for when, words in (("init", "at initialization"), ("end", "after training")):
        fig = plot_compare({a: np.mean([getattr(s, f"norms_{when}") for s in runs], axis=0)
                            for a, runs in r.runs.items()}, "‖dL/dW‖ (log scale)",
                           f"gradient norm per layer, {words}", x=layers, xlabel="layer (1 = next to the input)")
        fig.axes[0].set_yscale("log")
        blocks.append(page.figure(f"grad_norms_{when}", fig, f"gradient norms {words}"))
    return blocks


def render(r: ActivationsResult) -> Page:
    cfg, samples = r.cfg, accuracy_samples(r)
    top = rank(samples)[0][0]
    seeds = [s.seed for s in r.runs[top]]
    among = f", the highest mean of {len(r.runs)} activations" if len(r.runs) > 1 else ""
    page = Page("activations", f"{top}: {100 * samples[top].mean:.1f}% spiral test accuracy{among} ({len(seeds)} "
                               f"seed{'s' if len(seeds) > 1 else ''}, {cfg.depth}x{cfg.width} NumPy MLP)",
                test={"accuracy": samples[top].mean})
    page.add(__doc__.split("\n\n", 1)[1].strip(),
             f"Network 2-{'-'.join([str(cfg.width)] * cfg.depth)}-{r.num_classes}, trained on {r.n_train:,} "
             f"points with SGD (lr {cfg.lr}, momentum {cfg.momentum}, batch {cfg.batch_size}) for up to {cfg.epochs} "
             f"epoch{'s' if cfg.epochs > 1 else ''} (epochs actually run in the table); seeds {seeds}; He init for "
             f"ReLU-like activations, Xavier for sigmoid/tanh. Every score is that of the weights with the best "
             f"validation score.",
             _table(r),
             "Never-active: hidden units whose input is ≤ 0 on every training point (shown for ReLU and leaky ReLU, "
             "the activations for which that means a zero or tiny gradient).",
             *_figures(page, r))
    page.findings += ranking_findings(r) + [gradient_finding(r)] + other_findings(r)
    page.details.update(seeds=seeds, results=numbers(r))
    return page


# -- measure ------------------------------------------------------------------------------------------------------
def train_one(cfg: ActivationsConfig, act: str, seed: int, data: dict[str, Arrays], num_classes: int,
              ctx: Context) -> SeedRun:
    """One activation from one seed; gradients and never-active units are probed at initialization and again on the
    weights training kept, so the two can be set side by side."""
    model = mlp(2, [cfg.width] * cfg.depth, num_classes, activation=act, seed=seed)
    loss, train, test = SoftmaxCrossEntropy(), data["train"], data["test"]
    probe_x, probe_y = train.x[:256], train.y[:256]
    norms_init, dead_init = grad_norms(model, loss, probe_x, probe_y), never_active(model, train.x)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is recorded, not warned about
        hist = fit(model, data, loss, SGD(model, lr=cfg.lr, momentum=cfg.momentum), epochs=cfg.epochs,
                   batch_size=cfg.batch_size, seed=seed, run=ctx.run.child(f"{act}-seed{seed}"))
    val_loss, val = evaluate(model, loss, data["val"])
    correct = (model.predict(test.x).argmax(1) == test.y).astype(np.float64)
    return SeedRun(seed, len(hist.curve("val")), hist.stopped.startswith("diverged"),
                   evaluate(model, loss, train)[0], val_loss, val["accuracy"], float(correct.mean()), correct,
                   hist.curve("val"), norms_init, grad_norms(model, loss, probe_x, probe_y), dead_init,
                   never_active(model, train.x))


@experiment("activations", ActivationsConfig,
            "NumPy deep MLP with each activation: accuracy over seeds, vanishing gradients, dead ReLUs",
            render, order=12, demo=True,
            examples=["neuralab run activations", "neuralab run activations --depth 10 --seeds 5"])
def measure(cfg: ActivationsConfig, ctx: Context) -> ActivationsResult:
    ds = load_dataset("spiral", ctx.settings)
    data = prepare(ds)
    runs: dict[str, list[SeedRun]] = {}
    for act in cfg.activations:
        runs[act] = [train_one(cfg, act, cfg.seed + i, data, ds.num_classes, ctx) for i in range(cfg.seeds)]
        ctx.log(f"[activations] {act}: test accuracy " + ", ".join(f"{r.test_acc:.3f}" for r in runs[act]))
    return ActivationsResult(cfg, ds.num_classes, len(data["train"]), runs)
