"""mnist (mini-project 1): a fully connected network (or a small CNN) on MNIST or Fashion-MNIST.

Look at the data (sample grid, class histogram), train, evaluate (accuracy, per-class precision/recall through
torchmetrics, confusion matrix, the most confidently wrong test images), then reload the saved model in a fresh
Python process and check that it scores exactly the same.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import numpy as np

from neuralab.config import option
from neuralab.errors import ConfigError
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.shared import evaluate_images
from neuralab.report.markdown import table
from neuralab.report.plots import image_grid, plt
from neuralab.train import TrainConfig, train

RECIPES = {"mlp": "hidden=1024,1024 dropout=0.2", "cnn": "depth=4 width=32 dropout=0.2"}


@dataclass
class MnistConfig(ExperimentConfig):
    dataset: str = option("mnist", "mnist or fashion-mnist (or any 28x28 grey dataset)")
    model: str = option("mlp", "mlp (fully connected) or cnn")
    epochs: int = option(8, "epochs")
    batch_size: int = option(128, "batch size")
    lr: float = option(1e-3, "peak learning rate (Adam, cosine)")


def class_histogram(y: np.ndarray, classes: list[str]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 3))
    counts = np.bincount(y, minlength=len(classes))
    ax.bar(range(len(classes)), counts)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set(ylabel="training images", title="class balance")
    fig.tight_layout()
    return fig


def fresh_process_accuracy(model_file: str) -> float:
    """Rebuild the model from its checkpoint in a new interpreter (no state shared with this one)."""
    out = subprocess.run([sys.executable, "-m", "neuralab.train.evaluate", model_file], capture_output=True,
                         text=True, check=True)
    return float(json.loads(out.stdout)["accuracy"])


@experiment("mnist", MnistConfig, "mini-project 1: MLP on MNIST / Fashion-MNIST, evaluated and reloaded",
            needs=("mnist",), order=20, examples=["neuralab run mnist", "neuralab run mnist --dataset fashion-mnist",
                                                  "neuralab run mnist --model cnn --epochs 12"])
def mnist(cfg: MnistConfig, ctx: Context) -> dict:
    from neuralab.device import pick_device

    if cfg.model not in RECIPES:
        raise ConfigError(f"--model must be one of {sorted(RECIPES)}. Received: {cfg.model!r}")
    tcfg = TrainConfig(dataset=cfg.dataset, model=cfg.model, model_args=RECIPES[cfg.model],
                       epochs=1 if cfg.quick else cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed,
                       limit_train=5000 if cfg.quick else 0, eval_batch_size=1000)
    run, summary, trainer = train(tcfg, ctx.settings, run=ctx.run.child("train"), log=ctx.log)
    data = trainer.data
    ctx.run.save_figure(image_grid(data.train.x[:32], [data.classes[c] for c in data.train.y[:32]], cols=8,
                                   title=f"{cfg.dataset}: training samples"), "samples")
    ctx.run.save_figure(class_histogram(data.train.y, data.classes), "classes")
    ev = evaluate_images(ctx.run, trainer.eval_model, data, pick_device(ctx.settings.device))
    model_file = str(run.checkpoints / "model.safetensors")
    reloaded = fresh_process_accuracy(model_file)
    same = abs(reloaded - ev["accuracy"]) < 0.5 / len(data.test)  # torchmetrics reports float32: compare counts
    rows = [[c, f"{100 * p:.1f}%", f"{100 * r:.1f}%"] for c, p, r in zip(data.classes, ev["precision"], ev["recall"])]
    worst = int(np.argmin(ev["recall"]))
    report = "\n\n".join([
        f"# mnist ({cfg.dataset}, {cfg.model})",
        f"Inputs normalized with the training set's mean {data.mean[0]:.4f} and std {data.std[0]:.4f}. "
        f"{len(trainer.train_loader.x):,} training, {len(data.val):,} validation, {len(data.test):,} test images.",
        "![samples](plots/samples.png)", "![class balance](plots/classes.png)",
        f"{cfg.model} ({summary['params']:,} parameters, `{RECIPES[cfg.model]}`), {summary['epochs_run']} epochs in "
        f"{summary['train_seconds']:.0f} s on {summary['device']}; model chosen on validation (epoch "
        f"{summary['best_epoch']}).",
        f"**Test accuracy {100 * ev['accuracy']:.2f}%.** Reloaded from `{model_file}` in a fresh process: "
        f"{100 * reloaded:.2f}% — " + ("identical." if same else "DIFFERENT: the saved model does not reproduce."),
        table(["class", "precision", "recall"], rows),
        f"The hardest class is {data.classes[worst]} (recall {100 * ev['recall'][worst]:.1f}%).",
        "![curves](train/plots/curves.png)", "![confusion matrix](plots/confusion.png)",
        "![most confident mistakes](plots/mistakes.png)"])
    ctx.run.write_report(report + "\n")
    return {"test": {"accuracy": ev["accuracy"]}, "reloaded_accuracy": reloaded, "reload_identical": same,
            "headline": f"{100 * ev['accuracy']:.2f}% test accuracy ({cfg.dataset}, {cfg.model})"}
