"""Transfer learning on a CPU: feature extraction (once, cached) vs fine-tuning, images per second.

Features of N images at 224x224 (default 10,000: CIFAR-10's test split upscaled when NEURALAB_DATA has it, else
random images) are computed by a frozen ResNet-18 and cached; a second request reads the cache; a linear head then
trains on the cached features. Fine-tuning is timed on training steps of the whole network at the same size.

    python benchmarks/transfer_speed.py [--images 10000] [--backbone resnet18] [--finetune-batches 10]

Last line: `ratio: <seconds to compute features / seconds to reuse them from the cache>`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from neuralab.data.base import Dataset, Split, channel_stats
from neuralab.models import create_model
from neuralab.models.backbone_specs import spec_of
from neuralab.train.transfer import extract_features, resize_images


def images(n: int) -> tuple[np.ndarray, np.ndarray, str]:
    try:
        from neuralab.config import Settings
        from neuralab.data import load_dataset

        d = load_dataset("cifar10", Settings.resolve(download=False))
        x, y = d.test.x[:n], d.test.y[:n]
        return resize_images(x, 224), y, f"CIFAR-10 test images upscaled to 224 ({d.source})"
    except Exception as e:  # noqa: BLE001 - no CIFAR here: random images of the same size
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (n, 3, 224, 224), dtype=np.uint8), rng.integers(0, 10, n), \
            f"random 224x224 images (no CIFAR-10: {type(e).__name__})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--finetune-batches", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(2)
    x, y, what = images(args.images)
    print(f"data: {args.images} images, {what}; backbone {args.backbone} (random init: speed only); 2 threads")
    split = Split(x, y.astype(np.int64))
    mean, std = channel_stats(x[:500])
    data = Dataset("bench", "classification", split, split.take(slice(0, 2)), split.take(slice(0, 2)),
                   classes=[str(i) for i in range(10)], mean=mean, std=std)
    model = create_model(args.backbone, (3, 224, 224), 10)
    spec = spec_of(args.backbone)
    dev = torch.device("cpu")
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        feats = extract_features(model, spec, data, dev, Path(cache), "bench", log=lambda s: None)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        extract_features(model, spec, data, dev, Path(cache), "bench", log=lambda s: None)
        again = time.perf_counter() - t0
    head = torch.nn.Linear(feats.train.x.shape[1], 10)
    opt = torch.optim.AdamW(head.parameters(), 1e-3)
    fx, fy = torch.from_numpy(feats.train.x), torch.from_numpy(feats.train.y)
    t0 = time.perf_counter()
    for _ in range(10):  # 10 epochs of a linear head, batch 256
        for i in range(0, len(fx), 256):
            loss = torch.nn.functional.cross_entropy(head(fx[i:i + 256]), fy[i:i + 256])
            opt.zero_grad()
            loss.backward()
            opt.step()
    head_s = time.perf_counter() - t0
    model.train()
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    xb = (torch.from_numpy(x[:32]).float() / 255 - 0.45) / 0.25
    yb = torch.from_numpy(y[:32].astype(np.int64))
    t0 = time.perf_counter()
    for _ in range(args.finetune_batches):
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ft_rate = 32 * args.finetune_batches / (time.perf_counter() - t0)
    n = args.images + 4
    print(f"feature extraction (frozen, eval): {n / first:8.1f} images/s   ({first:.1f} s for {n} images)")
    print(f"features again, from the cache:    {again:8.2f} s")
    print(f"linear head, 10 epochs on cached features: {head_s:.2f} s")
    print(f"fine-tuning (train steps, batch 32): {ft_rate:8.1f} images/s  (one epoch of {args.images} images "
          f"~ {args.images / ft_rate:.0f} s)")
    print(f"ratio: {first / max(again, 1e-9):.1f}")


if __name__ == "__main__":
    main()
