"""Seconds per MNIST-MLP epoch: neuralab's engine vs a plain pytorch/examples-style loop, same model, same run.

Model: the mini-project's MLP (`neuralab.experiments.mnist.recipe_for(dataset, "mlp")`: 784-512-512-10, dropout
0.2), both loops starting from the same initial weights; the baseline's dropout is `nn.Dropout`, ours `FastDropout`.
Baseline: `torchvision.datasets.MNIST` (the same idx bytes, extracted to a temp folder) with
`ToTensor()` + `Normalize((0.1307,), (0.3081,))`, a `DataLoader` (batch 64, shuffled, the examples' CPU settings),
the usual `for data, target in loader: ... loss.backward(); optimizer.step()` loop, Adam 1e-3 with the examples'
`StepLR(step_size=1, gamma=0.7)`; it trains on all 60,000 images.
Ours: the Trainer with the mini-project's recipe (in-memory uint8 tensors normalized per batch, batch 512, Adam with
a cosine decay from 3e-3, batched 2-pixel shifts on MNIST as `neuralab run mnist` does); it trains on 54,000
images (6,000 held out for validation), and its seconds are scaled to 60,000. One more epoch of ours at batch 64
shows how much comes from the data path alone.
Both train for `--epochs` (default: the recipe's 16) and print their test accuracy: the speed is compared at the
final accuracy each reaches, which should be equal.

    python benchmarks/mnist_epoch.py [--dataset mnist|fashion-mnist] [--epochs 16]

Needs NEURALAB_DATA with MNIST/raw (or FashionMNIST/raw). Last line: `ratio: <baseline seconds / our seconds>`,
per epoch.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import shutil
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
from neuralab.models.dropout import FastDropout
from neuralab.runs import Run
from neuralab.train import TrainConfig, Trainer

FOLDERS = {"mnist": ("MNIST", datasets.MNIST), "fashion-mnist": ("FashionMNIST", datasets.FashionMNIST)}


def torchvision_root(settings: Settings, folder: str) -> Path:
    """torchvision reads uncompressed raw files: extract ours to a temp root (the shared folder is read-only)."""
    root = Path(tempfile.mkdtemp())
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for f in (settings.data_dir / folder / "raw").iterdir():
        if f.suffix == ".gz":
            with gzip.open(f) as src, open(raw / f.stem, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return root


def stock_dropout(model: nn.Module) -> nn.Module:
    """The same model with torch's own nn.Dropout, as a plain PyTorch program would have it."""
    for name, child in model.named_children():
        if isinstance(child, FastDropout):
            setattr(model, name, nn.Dropout(child.p))
        else:
            stock_dropout(child)
    return model


def baseline(model: nn.Module, cls, root: Path, epochs: int) -> tuple[float, float]:
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train = torch.utils.data.DataLoader(cls(str(root), train=True, transform=tf), batch_size=64, shuffle=True)
    test = torch.utils.data.DataLoader(cls(str(root), train=False, transform=tf), batch_size=1000)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    seconds = 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        for data, target in train:
            opt.zero_grad()
            loss = F.cross_entropy(model(data), target)
            loss.backward()
            opt.step()
        schedule.step()
        seconds += time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        correct = sum((model(d).argmax(1) == t).sum().item() for d, t in test)
    return seconds / epochs, correct / len(test.dataset)


def ours(init: nn.Module, data, settings: Settings, cfg: TrainConfig) -> tuple[float, float]:
    """Seconds per epoch (scaled to 60,000 images) and test accuracy of the engine on `cfg`."""
    run = Run.create(settings.runs_dir, f"mnist-epoch-b{cfg.batch_size}")
    summary = Trainer(copy.deepcopy(init), data, cfg, run, torch.device("cpu"), log=lambda m: None,
                      report=False).fit()
    seconds = sum(r["seconds"] for r in run.metrics("train")) / cfg.epochs * 60_000 / len(data.train)
    return seconds, summary["test"]["accuracy"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="mnist", choices=sorted(FOLDERS))
    ap.add_argument("--epochs", type=int, default=0, help="default: the recipe's")
    args = ap.parse_args()
    recipe = recipe_for(args.dataset, "mlp")
    args.epochs = args.epochs or recipe.epochs
    torch.set_num_threads(2)
    settings = Settings.resolve(download=False, runs_dir=tempfile.mkdtemp())
    data = load_dataset(args.dataset, settings)
    torch.manual_seed(0)
    init = create_model("mlp", (1, 28, 28), 10, **TrainConfig(model_args=recipe.model_args).model_kwargs)
    folder, cls = FOLDERS[args.dataset]
    root = torchvision_root(settings, folder)
    base_s, base_acc = baseline(stock_dropout(copy.deepcopy(init)), cls, root, args.epochs)
    shutil.rmtree(root)
    augment = recipe.augment
    cfg = TrainConfig(dataset=args.dataset, model="mlp", model_args=recipe.model_args, epochs=args.epochs,
                      batch_size=recipe.batch_size, lr=recipe.lr, schedule="cosine", augment=augment)
    ours_s, ours_acc = ours(init, data, settings, cfg)
    small_s, _ = ours(init, data, settings, TrainConfig(dataset=args.dataset, model="mlp", epochs=1, batch_size=64,
                                                        model_args=recipe.model_args, lr=1e-3, schedule="constant"))
    print(f"{args.dataset}, MLP 784-512-512-10 (dropout 0.2), {args.epochs} epoch(s), 2 threads")
    print(f"pytorch/examples loop (DataLoader + ToTensor/Normalize, batch 64, Adam 1e-3, StepLR): "
          f"{base_s:6.2f} s/epoch  test accuracy {base_acc:.4f}")
    print(f"neuralab engine, the recipe (in-memory tensors, batch {recipe.batch_size}, Adam {recipe.lr:g} cosine, "
          f"augment {augment}): {ours_s:6.2f} s/epoch  test accuracy {ours_acc:.4f}")
    print(f"neuralab engine at batch 64, Adam 1e-3, no augmentation (1 epoch: the data path alone): {small_s:6.2f} "
          f"s/epoch -> {base_s / small_s:.2f}x")
    print(f"(our seconds are scaled to 60,000 images; we train on {len(data.train):,}, {len(data.val):,} held out "
          f"for validation)")
    print(f"final accuracy, ours - baseline: {100 * (ours_acc - base_acc):+.2f} points")
    print(f"ratio: {base_s / ours_s:.2f}")


if __name__ == "__main__":
    main()
