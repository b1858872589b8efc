"""scratch-single-layer: the first models, in NumPy: one layer of weights.

A perceptron and softmax regression on three linearly separable Gaussian blobs (both should separate them), the
same softmax regression on two moons (a straight line cannot), and softmax regression on 8x8 digits, whose learned
weight vectors are drawn as 8x8 templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from neuralab.config import option
from neuralab.data import load_dataset
from neuralab.experiments.points_2d import Boundary, scratch_rows
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.records import EpochRow
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.report.plots import plot_compare, plt
from neuralab.scratch import Adam, SoftmaxCrossEntropy
from neuralab.scratch.single_layer import Perceptron, softmax_regression
from neuralab.scratch.train import evaluate, fit, prepare

POINTS, IMAGES = ("blobs", "moons"), "digits"
PERCEPTRON_PASSES = 5  # the perceptron may pass over the data this many times the softmax epochs


@dataclass
class SingleLayerConfig(ExperimentConfig):
    epochs: int = option(40, "epochs of softmax regression (digits and points)", min=1, max=100_000)
    lr: float = option(0.05, "Adam learning rate", above=0)
    batch_size: int = option(32, "mini-batch size", min=1, max=100_000)
    blobs_std: float = option(0.5, "spread of each blob (small enough that a line separates them)", above=0)
    # Quick: a quarter of the epochs (10); one layer learns these in a few epochs, so the lesson shows.
    QUICK: ClassVar[dict[str, Any]] = {"epochs": lambda epochs: max(3, epochs // 4)}


@dataclass(frozen=True)
class SoftmaxFit:
    """Softmax regression on one dataset (scores of its best-validation weights)."""

    params: int
    epochs_run: int
    best_epoch: int
    train_acc: float
    test_acc: float
    test_loss: float
    rows: list[EpochRow]
    classes: list[str]
    weights: np.ndarray  # (inputs, classes): each column is a class's template
    boundary: Boundary | None  # 2-D data only


@dataclass(frozen=True)
class PerceptronFit:
    params: int
    mistakes: list[int]  # per pass over the training points; it stops after the first pass without one
    train_acc: float
    test_acc: float
    boundary: Boundary

    @property
    def converged(self) -> bool:
        return self.mistakes[-1] == 0


@dataclass(frozen=True)
class SingleLayerResult:
    cfg: SingleLayerConfig
    softmax: dict[str, SoftmaxFit]  # blobs, moons, digits
    perceptron: dict[str, PerceptronFit]  # blobs, moons


# -- render -------------------------------------------------------------------------------------------------------
def template_figure(W: np.ndarray, classes: list[str]) -> plt.Figure:
    fig, axes = plt.subplots(1, W.shape[1], figsize=(1.3 * W.shape[1], 1.6))
    for k, ax in enumerate(np.atleast_1d(axes)):
        w = W[:, k].reshape(8, 8)
        lim = np.abs(w).max()
        ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(classes[k], fontsize=8)
        ax.axis("off")
    fig.suptitle("softmax regression weights per class (red: pixel votes for the class)", fontsize=9)
    return fig


def findings(r: SingleLayerResult) -> list[str]:
    sm, pc = r.softmax, r.perceptron
    blobs, moons = pc["blobs"], pc["moons"]
    ran = f"{len(blobs.mistakes)} passes"
    outcome = f"converged (a pass with no mistake) after {ran}" if blobs.converged else \
        f"had no pass without a mistake in {ran}"
    lines = [f"On the separable blobs the perceptron {outcome} and reached {blobs.test_acc:.1%} test accuracy; "
             f"softmax regression reached {sm['blobs'].test_acc:.1%}.",
             f"On two moons a single layer can only draw a straight line: softmax regression fits "
             f"{sm['moons'].train_acc:.1%} of its own training points (blobs: {sm['blobs'].train_acc:.1%}) and "
             f"{sm['moons'].test_acc:.1%} of the test points; the perceptron "
             f"{'converged' if moons.converged else 'never had a pass without mistakes'} ({len(moons.mistakes)} "
             f"passes). The errors left are the ones a hidden layer removes (see `points-2d`).",
             f"On 8x8 digits, {sm[IMAGES].params:,} weights give {sm[IMAGES].test_acc:.1%} test accuracy."]
    return lines


def _figures(page: Page, r: SingleLayerResult) -> list[str]:
    blocks = []
    for name in POINTS:
        sm, pc = r.softmax[name], r.perceptron[name]
        blocks.append(page.figure(f"{name}_softmax_boundary", sm.boundary.figure(f"softmax regression on {name}"),
                                  f"{name} softmax") + " " +
                      page.figure(f"{name}_perceptron_boundary",
                                  pc.boundary.figure(f"perceptron on {name} ({len(pc.mistakes)} passes)"),
                                  f"{name} perceptron"))
    digits = r.softmax[IMAGES]
    blocks.append(page.figure("digits_weights", template_figure(digits.weights, digits.classes), "digit templates"))
    if max(f.epochs_run for f in r.softmax.values()) >= 2:  # a single epoch is a point, not a curve
        curves = {n: [row.metric("accuracy") for row in f.rows if row.split == "val"] for n, f in r.softmax.items()}
        blocks.append(page.figure("softmax_val_accuracy", plot_compare(curves, "validation accuracy",
                                                                       "softmax regression, per epoch"),
                                  "softmax regression validation accuracy"))
    if max(len(p.mistakes) for p in r.perceptron.values()) >= 2:
        mistakes = {n: p.mistakes for n, p in r.perceptron.items()}
        blocks.append(page.figure("perceptron_mistakes", plot_compare(mistakes, "mistakes (updates)",
                                                                      "perceptron mistakes per pass", xlabel="pass"),
                                  "perceptron mistakes per pass"))
    return blocks


def render(r: SingleLayerResult) -> Page:
    cfg, sm = r.cfg, r.softmax
    page = Page("scratch-single-layer", f"{sm[IMAGES].test_acc:.1%} test accuracy on 8x8 digits with softmax "
                                        f"regression; on two moons a straight line fits {sm['moons'].train_acc:.1%} "
                                        f"of the training points", test={"accuracy": sm[IMAGES].test_acc})
    rows = [["softmax regression", n, f.params, f.epochs_run, f"{f.train_acc:.1%}", f"{f.test_acc:.1%}"]
            for n, f in sm.items()]
    rows += [["perceptron", n, p.params, len(p.mistakes), f"{p.train_acc:.1%}", f"{p.test_acc:.1%}"]
             for n, p in r.perceptron.items()]
    page.add(__doc__.split("\n\n", 1)[1].strip(),
             f"Budget: {cfg.epochs} epochs of Adam (lr {cfg.lr}, batch {cfg.batch_size}) for softmax regression, its "
             f"best-validation weights kept; the perceptron passes over the training points until a pass without "
             f"mistakes (at most {PERCEPTRON_PASSES * cfg.epochs}); seed {cfg.seed}.",
             table(["model", "data", "parameters", "epochs (passes) run", "train accuracy", "test accuracy"], rows),
             *_figures(page, r),
             "Each softmax-regression run (metrics.jsonl, model.json + model.npz) is under `runs/`.")
    page.findings += findings(r)
    results = {f"softmax-{n}": {"train_accuracy": f.train_acc, "test_accuracy": f.test_acc, "test_loss": f.test_loss,
                                "best_epoch": f.best_epoch} for n, f in sm.items()}
    results |= {f"perceptron-{n}": {"train_accuracy": p.train_acc, "test_accuracy": p.test_acc,
                                    "epochs": len(p.mistakes), "converged": p.converged}
                for n, p in r.perceptron.items()}
    page.details.update(results=results)
    return page


# -- measure ------------------------------------------------------------------------------------------------------
def fit_softmax(name: str, cfg: SingleLayerConfig, ctx: Context) -> tuple[SoftmaxFit, Any, dict]:
    ds = load_dataset(name, ctx.settings, noise=cfg.blobs_std if name == "blobs" else None)
    data = prepare(ds)
    model, loss = softmax_regression(data["train"].x.shape[1], ds.num_classes, seed=cfg.seed), SoftmaxCrossEntropy()
    run = ctx.run.child(f"softmax-{name}")
    hist = fit(model, data, loss, Adam(model, lr=cfg.lr), epochs=cfg.epochs, batch_size=cfg.batch_size,
               seed=cfg.seed, run=run)
    model.save(run.checkpoints / "model")
    test_loss, test = evaluate(model, loss, data["test"])
    boundary = Boundary.on_test(lambda p: model.predict(p).argmax(1), ds) if name in POINTS else None
    result = SoftmaxFit(model.num_params(), len(hist.curve("val")), hist.best_epoch,
                        evaluate(model, loss, data["train"])[1]["accuracy"], test["accuracy"], test_loss,
                        scratch_rows(hist), list(ds.classes), model.layers[0].W.copy(), boundary)
    return result, ds, data


def fit_perceptron(ds: Any, data: dict, cfg: SingleLayerConfig) -> PerceptronFit:
    train, test = data["train"], data["test"]
    p = Perceptron(train.x.shape[1], ds.num_classes)
    mistakes = p.fit(train.x, train.y, epochs=PERCEPTRON_PASSES * cfg.epochs, seed=cfg.seed)
    return PerceptronFit(p.W.size + p.b.size, mistakes, float((p.predict(train.x) == train.y).mean()),
                         float((p.predict(test.x) == test.y).mean()), Boundary.on_test(p.predict, ds))


@experiment("scratch-single-layer", SingleLayerConfig,
            "NumPy single-layer models: perceptron and softmax regression on blobs, moons and digits", render,
            order=10, demo=True,
            examples=["neuralab run scratch-single-layer", "neuralab run scratch-single-layer --quick"])
def measure(cfg: SingleLayerConfig, ctx: Context) -> SingleLayerResult:
    softmax, perceptron = {}, {}
    for name in (*POINTS, IMAGES):
        softmax[name], ds, data = fit_softmax(name, cfg, ctx)
        if name in POINTS:
            perceptron[name] = fit_perceptron(ds, data, cfg)
        ctx.log(f"[scratch-single-layer] {name}: softmax regression test accuracy {softmax[name].test_acc:.4f}")
    return SingleLayerResult(cfg, softmax, perceptron)
