"""The two trainings of `neuralab run mnist`: the PyTorch engine's and the Keras twin's, each measured the same way
(curves, test evaluation, a reload of the saved model) into a `FrameworkRun` the page puts side by side.

The PyTorch model is reloaded in a fresh interpreter (`python -m neuralab eval FILE --json`): nothing of this
process can help it, so the score it gets is the saved file's own. The Keras model is reloaded with
`keras.saving.load_model` and must give the same test logits bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch

from neuralab.config import Settings, to_dict
from neuralab.data.base import Dataset
from neuralab.device import pick_device
from neuralab.errors import ConfigError, NeuralabError
from neuralab.experiments.evaluation import ClassEval, evaluate_classifier, evaluate_probs, evaluate_trainer
from neuralab.experiments.registry import Context
from neuralab.experiments.sweep import train_trial
from neuralab.frameworks import import_keras, keras_backend_missing, keras_unsupported
from neuralab.frameworks.keras_process import fit_twin_in_process
from neuralab.records import EpochRow

if TYPE_CHECKING:
    from neuralab.experiments.mnist import MnistConfig


@dataclass(frozen=True)
class FrameworkRun:
    """One framework's training of the network, in the terms the page needs."""

    name: str  # "torch" or "keras"
    label: str  # e.g. "Keras 3.15.1 (torch backend)"
    folder: str  # its child run, relative to the experiment's run
    params: int
    precision: str  # the compute dtype of training
    epochs_run: int
    best_epoch: int
    images_seen: int
    train_seconds: float  # the whole training loop, validation after every epoch included
    val_accuracy: float  # of the kept (best validation) epoch
    rows: list[EpochRow]  # its metrics.jsonl
    evaluation: ClassEval  # on the test split as trained (the run's test accuracy)
    correct: np.ndarray  # per test example, 1.0 when right: for a paired comparison on the same images
    reload: str  # how the saved model was reloaded, in words
    reloaded_accuracy: float
    reload_identical: bool

    @property
    def short(self) -> str:
        return self.label.split()[0]

    @property
    def accuracy(self) -> float:
        return self.evaluation.accuracy



def keras_problem(cfg: "MnistConfig") -> str:
    """Why the Keras twin cannot train this (settled) config the way the engine does ('' when it can)."""
    missing = keras_backend_missing(cfg.keras_backend)
    if missing:
        return missing
    unsupported = keras_unsupported(cfg.model.name, cfg.model.kwargs, cfg.data.augment)
    if unsupported:
        return unsupported
    o, s = cfg.optim, cfg.schedule
    if (o.optimizer, s.schedule) != ("adam", "cosine") or o.weight_decay or o.label_smoothing or o.grad_clip \
            or o.ema or s.warmup_epochs or s.early_stop:
        return ("the Keras twin trains with Adam and a cosine decay, without weight decay, label smoothing, "
                "gradient clipping, EMA, warm-up or early stopping; leave those at their defaults or use "
                "--framework torch")
    return ""


def check_frameworks(cfg: "MnistConfig") -> None:
    """Refuse, before anything runs, a config the requested frameworks cannot train alike."""
    if "keras" in cfg.frameworks:
        problem = keras_problem(cfg)
        if problem:
            raise ConfigError(f"--framework {cfg.framework}: {problem}")


def as_trained(data: Dataset, cfg: "MnistConfig") -> Dataset:
    """The splits the Trainer uses under --limit-train/--limit-eval (the same random subsets), for the Keras twin."""
    return dataclasses.replace(data, train=data.train.subset(cfg.data.limit_train),
                               val=data.val.subset(cfg.data.limit_eval), test=data.test.subset(cfg.data.limit_eval))


def fresh_process_accuracy(model_file: str, settings: Settings) -> float:
    """Test accuracy of a saved checkpoint, rebuilt in a new interpreter (no state shared with this one)."""
    cmd = [sys.executable, "-m", "neuralab", "eval", model_file, "--json", "--no-download", "--data-dir",
           str(settings.data_dir)]
    env = {**os.environ, "NEURALAB_CACHE": str(settings.cache_dir)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise NeuralabError(f"reloading {model_file} in a fresh process failed ({' '.join(cmd[1:])}):\n"
                            f"{out.stderr[-2000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["accuracy"])


def run_torch(cfg: "MnistConfig", ctx: Context, data: Dataset) -> FrameworkRun:
    """The engine's training; its saved model is then scored by a fresh process on the full test split and
    compared with this process's float32 score of the same weights on the same split."""
    trial, trainer = train_trial(cfg.train_config(), ctx, "train")
    model_file = str(trainer.run.checkpoints / "model.safetensors")
    here = evaluate_classifier(trainer.eval_model, data, pick_device(ctx.settings.device), max_wrong=0).accuracy
    reloaded = fresh_process_accuracy(model_file, ctx.settings)
    same = abs(reloaded - here) < 0.5 / len(data.test)  # the eval command reports float32: compare counts
    dtype = str(trainer.dtype).removeprefix("torch.")
    verdict = ("identical to this process's float32 score of the same weights" if same else
               f"but {100 * here:.2f}% here in float32: the saved model does NOT reproduce") + \
        ("." if dtype == "float32" else f" (the test accuracy above ran in {dtype}, as the model trained).")
    reload = (f"Reloaded from `runs/train/checkpoints/model.safetensors` in a fresh process (`neuralab eval`): "
              f"{100 * reloaded:.2f}% on the {len(data.test):,} test images, {verdict}")
    return FrameworkRun("torch", f"PyTorch {torch.__version__.split('+')[0]}", "runs/train", trial.params, dtype,
                        trial.epochs_run, trainer.best_epoch, trial.images_seen, trial.seconds,
                        trial.val_acc[trainer.best_epoch - 1], trainer.run.metrics(), evaluate_trainer(trainer),
                        trial.correct, reload, reloaded, same)


def run_keras(cfg: "MnistConfig", ctx: Context, data: Dataset) -> FrameworkRun:
    """The Keras twin, trained on the same splits with the same recipe: on the torch backend in this process (Keras
    was imported by `measure`), on TensorFlow in a process of its own (`frameworks.keras_process`)."""
    run = ctx.run.child("keras", {"framework": "keras", "keras_backend": cfg.keras_backend, "config": to_dict(cfg)})
    view = as_trained(data, cfg)
    recipe = {"model": cfg.model.name, "kwargs": cfg.model.kwargs, "augment": cfg.data.augment,
              "epochs": cfg.schedule.epochs, "batch_size": cfg.batch_size, "lr": cfg.optim.lr, "seed": cfg.seed}
    if cfg.keras_backend == "torch":
        from neuralab.frameworks.keras_train import fit_twin  # loads Keras: only when a Keras run is asked for

        fit = fit_twin(view, run, log=ctx.log, **recipe)
    else:
        fit = fit_twin_in_process(view, run, cfg.keras_backend, log=ctx.log, **recipe)
    reload = (f"Reloaded from `runs/keras/checkpoints/model.keras` with `keras.saving.load_model`: "
              f"{100 * fit.reloaded_accuracy:.2f}%, "
              + ("identical predictions, bit for bit." if fit.reload_identical else
                 "DIFFERENT predictions: the saved model does not reproduce."))
    return FrameworkRun("keras", f"Keras {fit.keras_version} ({fit.backend} backend)", "runs/keras", fit.params,
                        "float32", fit.epochs_run, fit.best_epoch, fit.images_seen, fit.train_seconds,
                        fit.val_accuracy, run.metrics(), evaluate_probs(fit.probs, view),
                        (fit.probs.argmax(1) == view.test.y).astype(np.float64), reload, fit.reloaded_accuracy,
                        fit.reload_identical)


def load_keras(cfg: "MnistConfig") -> None:
    """Keras on the torch backend first, when this process will train it: TensorBoard (--tensorboard on the
    PyTorch run) imports TensorFlow, which would load Keras on its own default backend and leave this process unable
    to choose. (A TensorFlow twin trains in its own process.)"""
    if "keras" in cfg.frameworks and cfg.keras_backend == "torch":
        import_keras(cfg.keras_backend)


FRAMEWORKS: dict[str, Callable[[Any, Context, Dataset], FrameworkRun]] = {"torch": run_torch, "keras": run_keras}
