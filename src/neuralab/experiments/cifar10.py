"""cifar10 (mini-project 2): a CNN on CIFAR-10 — curves, test accuracy, confusion matrix, per-class accuracy and
a grid of sample predictions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neuralab.config import option
from neuralab.data.loader import BatchLoader
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.shared import QUICK_EVAL, evaluate_images, quick_note
from neuralab.report.markdown import table
from neuralab.report.plots import image_grid, plot_curves
from neuralab.train import TrainConfig, train


@dataclass
class Cifar10Config(ExperimentConfig):
    dataset: str = option("cifar10", "cifar10, or an image folder with the same classes")
    model: str = option("cnn-basic", "model (cnn-basic: 2 conv blocks with pooling and dropout)")
    model_args: str = option("", "model keyword arguments")
    epochs: int = option(30, "epochs")
    batch_size: int = option(128, "batch size")
    lr: float = option(1e-3, "peak learning rate (Adam, cosine)")
    augment: str = option("flip,crop", "batch augmentation")


@experiment("cifar10", Cifar10Config, "mini-project 2: a CNN on CIFAR-10 with curves, confusion matrix and samples",
            needs=("cifar10",), order=30, examples=["neuralab run cifar10", "neuralab run cifar10 --epochs 5",
                                                    "neuralab run cifar10 --dataset imagefolder:./my-cifar"])
def cifar10(cfg: Cifar10Config, ctx: Context) -> dict:
    from neuralab.device import pick_device

    tcfg = TrainConfig(dataset=cfg.dataset, model=cfg.model, model_args=cfg.model_args,
                       epochs=1 if cfg.quick else cfg.epochs, batch_size=cfg.batch_size, optimizer="adam",
                       lr=cfg.lr, schedule="cosine", augment=cfg.augment, seed=cfg.seed,
                       limit_train=5000 if cfg.quick else 0, eval_batch_size=500,
                       limit_eval=QUICK_EVAL if cfg.quick else 0)
    run, summary, trainer = train(tcfg, ctx.settings, run=ctx.run.child("train"), log=ctx.log)
    data = trainer.data
    ev = evaluate_images(ctx.run, trainer.eval_model, data, pick_device(ctx.settings.device))
    cm = np.asarray(ev["confusion"])
    per_class = cm.diagonal() / np.maximum(cm.sum(1), 1)
    ctx.run.save_figure(plot_curves(run.metrics(), "training and validation"), "curves")
    rng = np.random.default_rng(cfg.seed)
    pick = rng.choice(len(data.test), size=min(24, len(data.test)), replace=False)
    model = trainer.eval_model.eval()
    with torch.no_grad():
        xb, _ = next(iter(BatchLoader(data.test.take(pick), len(pick), device=pick_device(ctx.settings.device),
                                      mean=data.mean, std=data.std)))
        pred = model(xb).argmax(1).cpu().numpy()
    labels = [f"{data.classes[p]}{'' if p == t else ' (' + data.classes[t] + ')'}"
              for p, t in zip(pred, data.test.y[pick])]
    ctx.run.save_figure(image_grid(data.test.x[pick], labels, cols=8, title="predictions (true class if wrong)"),
                        "samples")
    worst, best = int(per_class.argmin()), int(per_class.argmax())
    report = "\n\n".join([
        "# cifar10",
        f"{cfg.model} ({summary['params']:,} parameters) trained {summary['epochs_run']} epochs on "
        f"{len(trainer.train_loader.x)} images of {data.source} with augmentation `{cfg.augment}` in "
        f"{summary['train_seconds']:.0f} s on {summary['device']}.{quick_note(cfg.quick)}",
        f"**Test accuracy {100 * ev['accuracy']:.2f}%** (best validation epoch {summary['best_epoch']}).",
        "![curves](plots/curves.png)",
        table(["class", "test accuracy"], [[c, f"{100 * a:.1f}%"] for c, a in zip(data.classes, per_class)]),
        f"Easiest class: {data.classes[best]} ({100 * per_class[best]:.1f}%); hardest: {data.classes[worst]} "
        f"({100 * per_class[worst]:.1f}%), most often taken for "
        f"{data.classes[int(np.argsort(cm[worst])[-2])]}.",
        "![confusion matrix](plots/confusion.png)", "![sample predictions](plots/samples.png)",
        "![most confident mistakes](plots/mistakes.png)",
    ])
    ctx.run.write_report(report + "\n")
    return {"test": {"accuracy": ev["accuracy"]}, "per_class": per_class.tolist(), "train": summary}
