"""Seconds per MNIST-MLP epoch: neuralab's engine vs a plain pytorch/examples-style loop, same model, same run.

Baseline: `torchvision.datasets.MNIST` (the same idx bytes, extracted to a temp folder) with
`ToTensor()` + `Normalize((0.1307,), (0.3081,))`, a `DataLoader` (batch 64, shuffled, the examples' CPU settings),
and the usual `for data, target in loader: ... loss.backward(); optimizer.step()` loop.
Ours: `neuralab.train.Trainer` (in-memory uint8 tensor, normalization folded into one op per batch), batch 64.
Both: the MLP 784-1024-1024-10 (dropout 0.2), Adam 1e-3, one epoch from the same initial weights; test accuracy of
each is printed so the speed is compared at equal accuracy.

    python benchmarks/mnist_epoch.py [--dataset mnist|fashion-mnist] [--epochs 1]

Needs NEURALAB_DATA with MNIST/raw (or FashionMNIST/raw). Last line: `ratio: <baseline seconds / our seconds>`.
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
from torchvision import datasets, transforms

from neuralab.config import Settings
from neuralab.data import load_dataset
from neuralab.models import create_model
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


def baseline_epoch(model: torch.nn.Module, cls, root: Path, epochs: int) -> tuple[float, float]:
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train = torch.utils.data.DataLoader(cls(str(root), train=True, transform=tf), batch_size=64, shuffle=True)
    test = torch.utils.data.DataLoader(cls(str(root), train=False, transform=tf), batch_size=1000)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for data, target in train:
            opt.zero_grad()
            loss = F.cross_entropy(model(data), target)
            loss.backward()
            opt.step()
    seconds = (time.perf_counter() - t0) / epochs
    model.eval()
    with torch.no_grad():
        correct = sum((model(d).argmax(1) == t).sum().item() for d, t in test)
    return seconds, correct / len(test.dataset)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="mnist", choices=sorted(FOLDERS))
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(2)
    settings = Settings.resolve(download=False, runs_dir=tempfile.mkdtemp())
    data = load_dataset(args.dataset, settings)
    torch.manual_seed(0)
    init = create_model("mlp", (1, 28, 28), 10, hidden=[1024, 1024], dropout=0.2)
    base_model = copy.deepcopy(init)
    folder, cls = FOLDERS[args.dataset]
    root = torchvision_root(settings, folder)
    base_s, base_acc = baseline_epoch(base_model, cls, root, args.epochs)
    shutil.rmtree(root)
    cfg = TrainConfig(dataset=args.dataset, model="mlp", model_args="hidden=1024,1024 dropout=0.2",
                      epochs=args.epochs, batch_size=64, lr=1e-3, schedule="constant")
    run = Run.create(settings.runs_dir, "mnist-epoch")
    trainer = Trainer(copy.deepcopy(init), data, cfg, run, torch.device("cpu"), log=lambda m: None)
    summary = trainer.fit()
    # Our train split is 54,000 images (6,000 kept for validation): scale to the baseline's 60,000 per epoch.
    ours_s = sum(r["seconds"] for r in run.metrics("train")) / args.epochs * 60_000 / len(data.train)
    print(f"{args.dataset}, MLP 784-1024-1024-10, batch 64, Adam 1e-3, {args.epochs} epoch(s), 2 threads")
    print(f"pytorch/examples loop (DataLoader + ToTensor/Normalize): {base_s:7.2f} s/epoch  test accuracy {base_acc:.4f}")
    print(f"neuralab engine (in-memory loader):                      {ours_s:7.2f} s/epoch  test accuracy "
          f"{summary['test']['accuracy']:.4f}  (time scaled to 60,000 images; it trains on "
          f"{len(data.train):,}, {len(data.val):,} held out for validation)")
    print(f"ratio: {base_s / ours_s:.2f}")


if __name__ == "__main__":
    main()
