"""quickstart: the smallest end-to-end tour of the torch engine on data that ships with neuralab.

An MLP learns the two-moons points (with its decision boundary drawn) and scikit-learn's 8x8 digits; each is a
full training run (config, metrics, checkpoints, curves, report) nested in this experiment's run directory.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch

from neuralab.config import option, section
from neuralab.experiments.evaluation import ClassEval, class_sentence, evaluate_trainer, show_evaluation
from neuralab.experiments.points_2d import Boundary
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.sweep import Trial, train_trial
from neuralab.records import EpochRow
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.report.plots import plot_curves
from neuralab.runs import slug
from neuralab.train.config import DataConfig, ModelConfig, OptimConfig, ScheduleConfig, TrainConfig

MOONS_MODEL, MOONS_LR = ModelConfig("mlp", "hidden=64,64"), 1e-2  # the warm-up's own network and learning rate


@dataclass
class QuickstartConfig(ExperimentConfig):
    """The main run (8x8 digits by default) is the sections below; the two-moons warm-up before it keeps its own
    network and learning rate and shares the schedule, batch size and seed."""

    data: DataConfig = section(DataConfig("digits"))
    model: ModelConfig = section(ModelConfig("mlp", "hidden=128"), prefix="model")
    optim: OptimConfig = section(OptimConfig("adam", lr=3e-3))
    schedule: ScheduleConfig = section(ScheduleConfig(epochs=30))
    batch_size: int = option(64, "batch size", min=1, max=100_000)
    # Quick: 10 epochs of each (seconds); the MLP still passes 90% on digits and separates the moons.
    QUICK: ClassVar[dict[str, Any]] = {"schedule.epochs": 10}

    def train_config(self) -> TrainConfig:
        return TrainConfig(data=self.data, model=self.model, optim=self.optim, schedule=self.schedule,
                           batch_size=self.batch_size, seed=self.seed)

    def moons_config(self) -> TrainConfig:
        return replace(self.train_config(), data=DataConfig("moons"), model=MOONS_MODEL,
                       optim=replace(self.optim, lr=MOONS_LR))


@dataclass(frozen=True)
class Part:
    """One training run of the tour."""

    dataset: str
    model: str
    trial: Trial
    best_epoch: int
    rows: list[EpochRow]  # its metrics.jsonl
    evaluation: ClassEval


@dataclass(frozen=True)
class QuickstartResult:
    cfg: QuickstartConfig
    moons: Part
    main: Part
    boundary: Boundary  # the moons MLP over the moons test points


def _row(p: Part) -> list[Any]:
    t = p.trial
    return [p.dataset, p.model, f"{t.params:,}", t.epochs_run, f"{t.images_seen:,}", p.best_epoch,
            f"{100 * p.evaluation.accuracy:.1f}%", f"{t.seconds:.1f}"]


def render(r: QuickstartResult) -> Page:
    main, moons = r.main, r.moons
    acc = main.evaluation.accuracy
    epochs = main.trial.epochs_run
    page = Page("quickstart", f"{100 * acc:.1f}% test accuracy on {main.dataset} (MLP, {epochs} "
                              f"epoch{'s' if epochs > 1 else ''}); two moons {100 * moons.evaluation.accuracy:.1f}%",
                test={"accuracy": acc, "moons_accuracy": moons.evaluation.accuracy})
    page.add("A PyTorch MLP trained by neuralab's engine on two datasets that need no download: two moons first "
             f"(its decision boundary drawn over the test points), then {main.dataset}. Test accuracy is that of the "
             "weights of the best validation epoch.",
             table(["dataset", "model", "parameters", "epochs run", "images seen", "best epoch", "test accuracy",
                    "train seconds"], [_row(moons), _row(main)]),
             page.figure("moons_boundary", r.boundary.figure("MLP on two moons (test points)"),
                         "moons decision boundary"),
             f"## {main.dataset}",
             page.figure("curves", plot_curves(main.rows, f"{main.dataset}: training and validation"), "curves"),
             *show_evaluation(page, main.evaluation),
             "Each dataset's full run (curves, checkpoints, its own report) is under `runs/`.")
    page.findings.append(class_sentence(main.evaluation))
    page.details.update(moons=moons.evaluation.to_json(), evaluation=main.evaluation.to_json())
    return page


def train_part(cfg: TrainConfig, ctx: Context, name: str) -> tuple[Part, Any]:
    trial, trainer = train_trial(cfg, ctx, name, report=True)
    part = Part(cfg.data.dataset, f"{cfg.model.name} {cfg.model.args}".strip(), trial, trainer.best_epoch,
                trainer.run.metrics(), evaluate_trainer(trainer))
    return part, trainer


def moons_boundary(trainer: Any) -> Boundary:
    model = trainer.eval_model.eval()

    @torch.no_grad()
    def predict(points: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(points).to(trainer.device)).argmax(1).cpu().numpy()

    return Boundary.on_test(predict, trainer.data)


@experiment("quickstart", QuickstartConfig, "PyTorch MLP on two moons (decision boundary) and on 8x8 digits", render,
            order=5, demo=True, examples=["neuralab run quickstart", "neuralab run quickstart --epochs 5"])
def measure(cfg: QuickstartConfig, ctx: Context) -> QuickstartResult:
    moons, trainer = train_part(cfg.moons_config(), ctx, "moons")
    boundary = moons_boundary(trainer)
    name = slug(cfg.data.dataset.split(":")[0])
    main, _ = train_part(cfg.train_config(), ctx, name if name != "moons" else "moons-main")
    return QuickstartResult(cfg, moons, main, boundary)
