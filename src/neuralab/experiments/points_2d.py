"""points-2d: a NumPy MLP learns four 2-D point sets a straight line cannot separate.

Moons, circles, three spiral arms and XOR, each with the same network (two hidden ReLU layers) trained with Adam,
the model chosen on validation accuracy, the test split read once. Each dataset gets its decision boundary drawn
over the test points and its training curves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuralab.config import option
from neuralab.data import load_dataset
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.report.markdown import table
from neuralab.report.plots import plot_curves, plot_decision_boundary
from neuralab.scratch import Adam, SoftmaxCrossEntropy, mlp
from neuralab.scratch.train import evaluate, fit, prepare

DATASETS = ("moons", "circles", "spiral", "xor")


@dataclass
class Points2dConfig(ExperimentConfig):
    datasets: list[str] = option(list(DATASETS), "which 2-D datasets")
    hidden: list[int] = option([64, 64], "hidden layer widths")
    activation: str = option("relu", "hidden activation (relu, leaky_relu, tanh, sigmoid, gelu)")
    epochs: int = option(300, "epochs (cosine learning-rate decay over them)")
    lr: float = option(3e-3, "Adam learning rate")
    batch_size: int = option(32, "mini-batch size")
    patience: int = option(100, "stop after this many epochs without a better validation score")


def train_points(name: str, cfg: Points2dConfig, epochs: int, ctx: Context) -> dict:
    ds = load_dataset(name, ctx.settings)
    data = prepare(ds)
    model = mlp(2, cfg.hidden, ds.num_classes, activation=cfg.activation, seed=cfg.seed)
    loss = SoftmaxCrossEntropy()
    run = ctx.run.child(name)
    schedule = lambda e: cfg.lr * 0.5 * (1 + np.cos(np.pi * (e - 1) / epochs))  # noqa: E731
    hist = fit(model, data, loss, Adam(model, lr=cfg.lr), epochs=epochs, batch_size=cfg.batch_size, seed=cfg.seed,
               patience=cfg.patience, run=run, lr_schedule=schedule)
    model.save(run.checkpoints / "model")
    run.save_figure(plot_curves(hist.rows, title=f"{name}: NumPy MLP"), "curves")
    ctx.run.save_figure(plot_curves(hist.rows, title=f"{name}: NumPy MLP"), f"{name}_curves")
    mean, std = np.asarray(ds.mean, np.float32), np.asarray(ds.std, np.float32)
    test_loss, test = evaluate(model, loss, data["test"])
    fig = plot_decision_boundary(lambda p: model.predict((p - mean) / std).argmax(1), ds.test.x, ds.test.y,
                                 ds.classes, title=f"{name}: test accuracy {test['accuracy']:.1%}",
                                 resolution=120 if cfg.quick else 300)
    ctx.run.save_figure(fig, f"{name}_boundary")
    val = [r for r in hist.rows if r["split"] == "val" and r["epoch"] == hist.best_epoch][0]
    return {"train_accuracy": evaluate(model, loss, data["train"])[1]["accuracy"],
            "val_accuracy": val["metrics"]["accuracy"], "test_accuracy": test["accuracy"], "test_loss": test_loss,
            "best_epoch": hist.best_epoch, "epochs_run": max(r["epoch"] for r in hist.rows),
            "seconds": hist.seconds, "params": model.num_params(), "n_train": len(data["train"])}


@experiment("points-2d", Points2dConfig, "NumPy MLP on moons, circles, spiral and XOR: decision boundaries and curves",
            order=11, demo=True, examples=["neuralab run points-2d", "neuralab run points-2d --datasets spiral --epochs 500"])
def points_2d(cfg: Points2dConfig, ctx: Context) -> dict:
    epochs = min(cfg.epochs, 40) if cfg.quick else cfg.epochs
    results = {}
    for name in cfg.datasets:
        results[name] = train_points(name, cfg, epochs, ctx)
        ctx.log(f"[points-2d] {name}: test accuracy {results[name]['test_accuracy']:.4f}")
    rows = [[n, r["n_train"], r["epochs_run"], r["best_epoch"], r["train_accuracy"], r["val_accuracy"],
             r["test_accuracy"], round(r["seconds"], 1)] for n, r in results.items()]
    worst = min(results, key=lambda n: results[n]["test_accuracy"])
    gaps = {n: r["train_accuracy"] - r["test_accuracy"] for n, r in results.items()}
    conclusion = [
        f"Test accuracy ranges from {results[worst]['test_accuracy']:.1%} ({worst}) to "
        f"{max(r['test_accuracy'] for r in results.values()):.1%}; every model has "
        f"{next(iter(results.values()))['params']:,} parameters ({'-'.join(map(str, [2, *cfg.hidden]))}-k, "
        f"{cfg.activation}).",
        "Train minus test accuracy: " + ", ".join(f"{n} {g:+.1%}" for n, g in gaps.items()) +
        " (a large positive gap is overfitting; near zero means the noise, not the model, limits accuracy).",
    ]
    if "spiral" in results:
        s = results["spiral"]
        conclusion.append(f"Spiral (3 arms): {s['test_accuracy']:.1%} test accuracy "
                          f"({'meets' if s['test_accuracy'] >= 0.98 else 'misses'} the 98% target).")
    report = "\n\n".join([
        "# points-2d", __doc__.split("\n\n", 1)[1].strip(),
        f"Budget: up to {epochs} epochs, Adam lr {cfg.lr} with cosine decay, batch {cfg.batch_size}, early stopping "
        f"after {cfg.patience} epochs without a better validation accuracy.{' Quick mode.' if cfg.quick else ''}",
        table(["data", "train points", "epochs run", "best epoch", "train acc", "val acc", "test acc", "seconds"],
              rows),
        "## What the numbers show", "\n".join(f"- {c}" for c in conclusion),
        "\n".join(f"![{n} boundary](plots/{n}_boundary.png) ![{n} curves](plots/{n}_curves.png)" for n in results),
    ])
    ctx.run.write_report(report + "\n")
    return {"epochs": epochs, "results": results}
