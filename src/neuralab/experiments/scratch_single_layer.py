"""scratch-single-layer: the first models, in NumPy: one layer of weights.

A perceptron and softmax regression on three linearly separable Gaussian blobs (both should separate them), the
same softmax regression on two moons (a straight line cannot), and softmax regression on 8x8 digits, whose learned
weight vectors are drawn as 8x8 templates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuralab.config import option
from neuralab.data import load_dataset
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.report.markdown import table
from neuralab.report.plots import plot_curves, plot_decision_boundary
from neuralab.scratch import Adam, SoftmaxCrossEntropy
from neuralab.scratch.single_layer import Perceptron, softmax_regression
from neuralab.scratch.train import evaluate, fit, prepare


@dataclass
class SingleLayerConfig(ExperimentConfig):
    epochs: int = option(40, "epochs of softmax regression (digits and points)")
    lr: float = option(0.05, "Adam learning rate")
    batch_size: int = option(32, "mini-batch size")
    blobs_std: float = option(0.5, "spread of each blob (small enough that a line separates them)")


def standardized_predict(predict, dataset):
    mean, std = np.asarray(dataset.mean, np.float32), np.asarray(dataset.std, np.float32)
    return lambda pts: predict((pts - mean) / std)


def template_figure(W: np.ndarray, classes: list[str]):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, W.shape[1], figsize=(1.3 * W.shape[1], 1.6))
    for k, ax in enumerate(axes):
        w = W[:, k].reshape(8, 8)
        lim = np.abs(w).max()
        ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(classes[k], fontsize=8)
        ax.axis("off")
    fig.suptitle("softmax regression weights per class (red: pixel votes for the class)", fontsize=9)
    return fig


@experiment("scratch-single-layer", SingleLayerConfig,
            "NumPy single-layer models: perceptron and softmax regression on blobs, moons and digits",
            order=10, demo=True, examples=["neuralab run scratch-single-layer", "neuralab run scratch-single-layer --quick"])
def single_layer(cfg: SingleLayerConfig, ctx: Context) -> dict:
    epochs = max(3, cfg.epochs // 4) if cfg.quick else cfg.epochs
    rows, results = [], {}
    for name in ("blobs", "moons", "digits"):
        ds = load_dataset(name, ctx.settings, noise=cfg.blobs_std if name == "blobs" else None)
        data = prepare(ds)
        n_in, k = data["train"].x.shape[1], ds.num_classes
        model = softmax_regression(n_in, k, seed=cfg.seed)
        loss = SoftmaxCrossEntropy()
        run = ctx.run.child(f"softmax-{name}")
        hist = fit(model, data, loss, Adam(model, lr=cfg.lr), epochs=epochs, batch_size=cfg.batch_size,
                   seed=cfg.seed, run=run)
        run.save_figure(plot_curves(hist.rows, title=f"softmax regression on {name}"), "curves")
        model.save(run.checkpoints / "model")
        train_acc = evaluate(model, loss, data["train"])[1]["accuracy"]
        test_loss, test = evaluate(model, loss, data["test"])
        results[f"softmax-{name}"] = {"train_accuracy": train_acc, "test_accuracy": test["accuracy"],
                                      "test_loss": test_loss, "best_epoch": hist.best_epoch}
        rows.append(["softmax regression", name, model.num_params(), train_acc, test["accuracy"]])
        if name in ("blobs", "moons"):
            p = Perceptron(n_in, k)
            mistakes = p.fit(data["train"].x, data["train"].y, epochs=epochs * 5, seed=cfg.seed)
            p_train = float((p.predict(data["train"].x) == data["train"].y).mean())
            p_test = float((p.predict(data["test"].x) == data["test"].y).mean())
            results[f"perceptron-{name}"] = {"train_accuracy": p_train, "test_accuracy": p_test,
                                             "epochs": len(mistakes), "converged": mistakes[-1] == 0}
            rows.append(["perceptron", name, p.W.size + p.b.size, p_train, p_test])
            fig = plot_decision_boundary(standardized_predict(lambda z: model.predict(z).argmax(1), ds),
                                         ds.test.x, ds.test.y, ds.classes, title=f"softmax regression on {name}")
            ctx.run.save_figure(fig, f"{name}_softmax_boundary")
            fig = plot_decision_boundary(standardized_predict(p.predict, ds), ds.test.x, ds.test.y, ds.classes,
                                         title=f"perceptron on {name} ({len(mistakes)} epochs)")
            ctx.run.save_figure(fig, f"{name}_perceptron_boundary")
        else:
            ctx.run.save_figure(template_figure(model.layers[0].W, ds.classes), "digits_weights")

    r = results
    pc = r["perceptron-blobs"]
    conclusion = [
        f"On the separable blobs the perceptron {'converged (an epoch with no mistake) after ' + str(pc['epochs']) + ' epochs' if pc['converged'] else 'did not reach an epoch without mistakes in ' + str(pc['epochs']) + ' epochs'}"
        f" and reached {pc['test_accuracy']:.1%} test accuracy; softmax regression reached "
        f"{r['softmax-blobs']['test_accuracy']:.1%}.",
        f"On two moons a single layer can only draw a straight line: softmax regression fits "
        f"{r['softmax-moons']['train_accuracy']:.1%} of its own training points (blobs: "
        f"{r['softmax-blobs']['train_accuracy']:.1%}) and {r['softmax-moons']['test_accuracy']:.1%} of the test "
        f"points; the perceptron {'converged' if r['perceptron-moons']['converged'] else 'never had an epoch without mistakes'}"
        f" ({r['perceptron-moons']['epochs']} epochs). The errors left are the ones a hidden layer removes "
        f"(see `points-2d`).",
        f"On 8x8 digits, 650 weights give {r['softmax-digits']['test_accuracy']:.1%} test accuracy.",
    ]
    report = "\n\n".join([
        "# scratch-single-layer", __doc__.split("\n\n", 1)[1].strip(),
        f"Budget: {epochs} epochs of Adam (lr {cfg.lr}, batch {cfg.batch_size}) for softmax regression; the "
        f"perceptron passes until an epoch without mistakes (at most {epochs * 5}).{' Quick mode.' if cfg.quick else ''}",
        table(["model", "data", "parameters", "train accuracy", "test accuracy"], rows),
        "## What the numbers show", "\n".join(f"- {c}" for c in conclusion),
        "![blobs softmax](plots/blobs_softmax_boundary.png) ![blobs perceptron](plots/blobs_perceptron_boundary.png)",
        "![moons softmax](plots/moons_softmax_boundary.png) ![moons perceptron](plots/moons_perceptron_boundary.png)",
        "![digit templates](plots/digits_weights.png)",
        "Each softmax-regression run (metrics.jsonl, curves, model.json + model.npz) is under `runs/`.",
    ])
    ctx.run.write_report(report + "\n")
    return {"epochs": epochs, "results": results}
