"""cifar10 (mini-project 2): a CNN on CIFAR-10 — curves, test accuracy, confusion matrix, per-class accuracy and
a grid of sample predictions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from neuralab.config import option, section
from neuralab.data.loader import BatchLoader
from neuralab.device import pick_device
from neuralab.experiments.evaluation import QUICK_EVAL, ClassEval, class_sentence, evaluate_trainer, show_evaluation
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.sweep import Trial, train_trial
from neuralab.records import EpochRow
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.report.plots import image_grid, plot_curves
from neuralab.train.config import DataConfig, ModelConfig, OptimConfig, ScheduleConfig, TrainConfig


@dataclass
class Cifar10Config(ExperimentConfig):
    data: DataConfig = section(DataConfig("cifar10", augment="flip,crop"))
    model: ModelConfig = section(ModelConfig("cnn-basic"), prefix="model")
    optim: OptimConfig = section(OptimConfig("adam", lr=1e-3))
    schedule: ScheduleConfig = section(ScheduleConfig(epochs=30, schedule="cosine"))
    batch_size: int = option(128, "batch size", min=1)
    # Quick: all 45,000 training images for 3 epochs in bf16, one cycle peaking at 3e-3 (measured: 69.0% test
    # accuracy on 2,000 images, ~130 CPU-seconds; 2 epochs of the cosine default gave 56%), evaluated on 2,000.
    QUICK: ClassVar[dict[str, Any]] = {"schedule.epochs": 3, "schedule.schedule": "onecycle", "optim.lr": 3e-3,
                                       "data.limit_eval": QUICK_EVAL}

    def train_config(self) -> TrainConfig:
        return TrainConfig(data=self.data, model=self.model, optim=self.optim, schedule=self.schedule,
                           batch_size=self.batch_size, eval_batch_size=500, seed=self.seed)


@dataclass(frozen=True)
class Cifar10Result:
    cfg: Cifar10Config
    trial: Trial
    rows: list[EpochRow]  # the training run's metrics.jsonl
    train_images: int
    source: str
    device: str
    precision: str
    train_seconds: float
    best_epoch: int
    evaluation: ClassEval
    samples: np.ndarray  # 24 random test images, uint8
    sample_labels: list[str]  # predicted class, and the true one when wrong


def _samples(model: torch.nn.Module, data: Any, device: torch.device, seed: int) -> tuple[np.ndarray, list[str]]:
    pick = np.random.default_rng(seed).choice(len(data.test), size=min(24, len(data.test)), replace=False)
    with torch.no_grad():
        xb, _ = next(iter(BatchLoader(data.test.take(pick), len(pick), device=device, mean=data.mean, std=data.std)))
        pred = model.eval()(xb).argmax(1).cpu().numpy()
    labels = [f"{data.classes[p]}{'' if p == t else ' (' + data.classes[t] + ')'}"
              for p, t in zip(pred, data.test.y[pick])]
    return data.test.x[pick], labels


def epochs_text(n: float) -> str:
    return f"{n:g} epoch" if n == 1 else f"{n:g} epochs"


def render(r: Cifar10Result) -> Page:
    ev, cfg = r.evaluation, r.cfg
    page = Page("cifar10", f"{100 * ev.accuracy:.1f}% CIFAR-10 test accuracy ({cfg.model.name}, "
                           f"{epochs_text(r.trial.epochs_run)})", test={"accuracy": ev.accuracy})
    page.add(f"{cfg.model.name} ({r.trial.params:,} parameters) trained {epochs_text(r.trial.epochs_run)} on "
             f"{r.train_images:,} images of {r.source} ({r.trial.images_seen:,} images seen) with augmentation "
             f"`{cfg.data.augment}` in {r.train_seconds:.0f} s on {r.device} ({r.precision}); tested on "
             f"{int(ev.confusion.sum()):,} test images.",
             f"**Test accuracy {100 * ev.accuracy:.2f}%** (weights of the best validation epoch, {r.best_epoch}).",
             page.figure("curves", plot_curves(r.rows, "training and validation"), "curves"),
             table(["class", "test accuracy"], [[c, f"{100 * a:.1f}%"] for c, a in zip(ev.classes, ev.recall)]),
             *show_evaluation(page, ev),
             page.figure("samples", image_grid(r.samples, r.sample_labels, cols=8,
                                               title="predictions (true class if wrong)"), "sample predictions"))
    page.findings.append(class_sentence(ev))
    page.details.update(per_class=ev.recall.tolist(), evaluation=ev.to_json(), train_seconds=r.train_seconds)
    return page


@experiment("cifar10", Cifar10Config, "mini-project 2: a CNN on CIFAR-10 with curves, confusion matrix and samples",
            render, needs=("cifar10",), order=30,
            examples=["neuralab run cifar10", "neuralab run cifar10 --epochs 5",
                      "neuralab run cifar10 --dataset imagefolder:./my-cifar"])
def measure(cfg: Cifar10Config, ctx: Context) -> Cifar10Result:
    trial, trainer = train_trial(cfg.train_config(), ctx, "train", report=True)
    device = pick_device(ctx.settings.device)
    samples, labels = _samples(trainer.eval_model, trainer.data, device, cfg.seed)
    return Cifar10Result(cfg, trial, trainer.run.metrics(), trainer.train_loader.num_samples,
                         trainer.data.source, str(device), str(trainer.dtype).removeprefix("torch."),
                         trial.seconds, trainer.best_epoch, evaluate_trainer(trainer), samples, labels)
