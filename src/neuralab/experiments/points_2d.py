"""points-2d: a NumPy MLP learns four 2-D point sets a straight line cannot separate.

Moons, circles, three spiral arms and XOR, each with the same network (two hidden ReLU layers by default) trained
with Adam, the model chosen on validation accuracy, the test split read once. Each dataset gets its decision
boundary drawn over the test points and its training curves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Literal, Sequence

import numpy as np

from neuralab.config import option
from neuralab.data import load_dataset
from neuralab.errors import ConfigError
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.records import EpochRow
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.report.plots import plot_curves, plot_decision_boundary, plt
from neuralab.scratch import Adam, SoftmaxCrossEntropy, mlp
from neuralab.scratch.train import evaluate, fit, prepare

DATASETS = ("moons", "circles", "spiral", "xor")
SPIRAL_TARGET = 0.98


@dataclass(frozen=True)
class Boundary:
    """What a decision-boundary picture needs: a classifier of raw 2-D points and the test points drawn over it
    (measured once, drawn by render)."""

    predict: Callable[[np.ndarray], np.ndarray]  # raw points (M, 2) -> class ids (M,)
    x: np.ndarray
    y: np.ndarray
    classes: list[str]

    @classmethod
    def on_test(cls, predict_standardized: Callable[[np.ndarray], np.ndarray], dataset: Any) -> "Boundary":
        """For a model trained on standardized points: it sees each raw point standardized like its training data."""
        mean, std = np.asarray(dataset.mean, np.float32), np.asarray(dataset.std, np.float32)
        return cls(lambda p: predict_standardized((p - mean) / std), dataset.test.x, dataset.test.y,
                   list(dataset.classes))

    def figure(self, title: str) -> plt.Figure:
        return plot_decision_boundary(self.predict, self.x, self.y, self.classes, title=title)


def require_choices(field: str, values: list[str], choices: Sequence[str]) -> None:
    """A list option's values must all be among `choices`, and not none of them (the CLI reads lists as text)."""
    unknown = [v for v in values if v not in choices]
    if unknown or not values:
        raise ConfigError(f"{field}: choose from {', '.join(choices)}. Received: {values}")


def scratch_rows(history: Any) -> list[EpochRow]:
    """A scratch `fit` history's metrics lines as the records every plot reads."""
    return [EpochRow.from_json(row) for row in history.rows]


@dataclass
class Points2dConfig(ExperimentConfig):
    datasets: list[str] = option(list(DATASETS), f"which 2-D datasets ({', '.join(DATASETS)}, blobs)")
    hidden: list[int] = option([64, 64], "hidden layer widths", min=1, max=4096)
    activation: Literal["relu", "leaky_relu", "gelu", "tanh", "sigmoid"] = option("relu", "hidden activation")
    epochs: int = option(300, "epochs (cosine learning-rate decay over them)", min=1, max=100_000)
    lr: float = option(3e-3, "Adam learning rate", above=0)
    batch_size: int = option(32, "mini-batch size", min=1, max=100_000)
    patience: int = option(100, "stop after this many epochs without a better validation score", min=1)
    # Quick: 40 epochs (cosine over them) instead of 300; every dataset still runs, each above 90% test accuracy.
    QUICK: ClassVar[dict[str, Any]] = {"epochs": 40}

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choices("datasets", self.datasets, (*DATASETS, "blobs"))


@dataclass(frozen=True)
class PointsFit:
    """One dataset: the MLP's scores (of its best-validation weights), its curves and its boundary."""

    n_train: int
    params: int
    epochs_run: int
    best_epoch: int
    seconds: float
    train_acc: float
    val_acc: float
    test_acc: float
    rows: list[EpochRow]
    boundary: Boundary


@dataclass(frozen=True)
class Points2dResult:
    cfg: Points2dConfig
    fits: dict[str, PointsFit]  # dataset -> its fit


# -- render -------------------------------------------------------------------------------------------------------
def findings(r: Points2dResult) -> list[str]:
    fits, cfg = r.fits, r.cfg
    gaps = ", ".join(f"{n} {100 * (f.train_acc - f.test_acc):+.1f}" for n, f in fits.items())
    params = sorted({f.params for f in fits.values()})
    size = f"{params[0]:,}" if len(params) == 1 else f"{params[0]:,} to {params[-1]:,}"
    lines = ["Test accuracy: " + ", ".join(f"{n} {f.test_acc:.1%}" for n, f in fits.items()) + f"; every network "
             f"is {'-'.join(map(str, [2, *cfg.hidden]))}-k ({cfg.activation}, k classes: {size} parameters).",
             f"Train minus test accuracy (percentage points): {gaps} (a large positive gap is overfitting; near zero "
             f"means the noise in the points, not the model, limits accuracy)."]
    if "spiral" in fits:
        s = fits["spiral"].test_acc
        lines.append(f"Spiral (3 arms): {s:.1%} test accuracy ({'meets' if s >= SPIRAL_TARGET else 'misses'} the "
                     f"{SPIRAL_TARGET:.0%} target).")
    return lines


def render(r: Points2dResult) -> Page:
    cfg, fits = r.cfg, r.fits
    mean = float(np.mean([f.test_acc for f in fits.values()]))
    lowest = min(fits, key=lambda n: fits[n].test_acc)
    page = Page("points-2d", f"{mean:.1%} mean test accuracy over {', '.join(fits)} (NumPy MLP; lowest: {lowest} "
                             f"{fits[lowest].test_acc:.1%})",
                test={"accuracy": mean, **{f"{n}_accuracy": f.test_acc for n, f in fits.items()}})
    rows = [[n, f.n_train, f.epochs_run, f.best_epoch, f"{f.train_acc:.1%}", f"{f.val_acc:.1%}", f"{f.test_acc:.1%}",
             round(f.seconds, 1)] for n, f in fits.items()]
    page.add(__doc__.split("\n\n", 1)[1].strip(),
             f"Budget: up to {cfg.epochs} epochs, Adam lr {cfg.lr} with cosine decay, batch {cfg.batch_size}, early "
             f"stopping after {cfg.patience} epochs without a better validation accuracy; seed {cfg.seed}.",
             table(["data", "train points", "epochs run", "best epoch", "train acc", "val acc", "test acc",
                    "seconds"], rows))
    for n, f in fits.items():
        page.add(page.figure(f"{n}_boundary", f.boundary.figure(f"{n}: test accuracy {f.test_acc:.1%}"),
                             f"{n} boundary") + " " +
                 page.figure(f"{n}_curves", plot_curves(f.rows, f"{n}: NumPy MLP"), f"{n} curves"))
    page.findings += findings(r)
    page.details.update(results={n: {"train_accuracy": f.train_acc, "val_accuracy": f.val_acc,
                                     "test_accuracy": f.test_acc, "best_epoch": f.best_epoch,
                                     "epochs_run": f.epochs_run, "params": f.params} for n, f in fits.items()})
    return page


# -- measure ------------------------------------------------------------------------------------------------------
def train_points(name: str, cfg: Points2dConfig, ctx: Context) -> PointsFit:
    ds = load_dataset(name, ctx.settings)
    data = prepare(ds)
    model = mlp(2, cfg.hidden, ds.num_classes, activation=cfg.activation, seed=cfg.seed)
    loss = SoftmaxCrossEntropy()
    run = ctx.run.child(name)
    schedule = lambda e: cfg.lr * 0.5 * (1 + np.cos(np.pi * (e - 1) / cfg.epochs))  # noqa: E731
    hist = fit(model, data, loss, Adam(model, lr=cfg.lr), epochs=cfg.epochs, batch_size=cfg.batch_size, seed=cfg.seed,
               patience=cfg.patience, run=run, lr_schedule=schedule)
    model.save(run.checkpoints / "model")
    accuracy = {split: evaluate(model, loss, data[split])[1]["accuracy"] for split in ("train", "val", "test")}
    ctx.log(f"[points-2d] {name}: test accuracy {accuracy['test']:.4f}")
    return PointsFit(len(data["train"]), model.num_params(), len(hist.curve("val")), hist.best_epoch, hist.seconds,
                     accuracy["train"], accuracy["val"], accuracy["test"], scratch_rows(hist),
                     Boundary.on_test(lambda p: model.predict(p).argmax(1), ds))


@experiment("points-2d", Points2dConfig, "NumPy MLP on moons, circles, spiral and XOR: decision boundaries and curves",
            render, order=11, demo=True,
            examples=["neuralab run points-2d", "neuralab run points-2d --datasets spiral --epochs 500"])
def measure(cfg: Points2dConfig, ctx: Context) -> Points2dResult:
    return Points2dResult(cfg, {name: train_points(name, cfg, ctx) for name in cfg.datasets})
