"""Batches per second: neuralab's in-memory loader vs torch DataLoader + per-sample transforms.v2.

Both produce the same thing: shuffled, normalized float32 batches of CIFAR-10-sized images (3x32x32) with random
horizontal flip and random crop (4 px reflect padding). Ours indexes one uint8 tensor and augments whole batches;
the baseline is the standard recipe: a map-style Dataset whose __getitem__ runs a transforms.v2 pipeline per image,
with num_workers=2. Real CIFAR-10 is used when NEURALAB_DATA has it, else random images of the same size.

    python benchmarks/loader.py [--batches 200] [--batch-size 256]

Last line: `ratio: <ours batches/s / DataLoader batches/s>`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from neuralab.data.augment import build
from neuralab.data.base import Split
from neuralab.data.loader import BatchLoader


def cifar_or_random() -> tuple[Split, tuple, tuple, str]:
    try:
        from neuralab.config import Settings
        from neuralab.data import load_dataset

        d = load_dataset("cifar10", Settings.resolve(download=False))
        return d.train, d.mean, d.std, f"CIFAR-10 train split ({d.source})"
    except Exception as e:  # noqa: BLE001 - any missing/unreadable data: fall back to random images
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (50_000, 3, 32, 32), dtype=np.uint8)
        return Split(x, rng.integers(0, 10, 50_000)), (0.49, 0.48, 0.45), (0.25, 0.24, 0.26), \
            f"random uint8 images, 50,000 x 3x32x32 (no CIFAR-10: {type(e).__name__})"


class PerSample(torch.utils.data.Dataset):
    def __init__(self, split: Split, mean, std):
        self.x, self.y = torch.from_numpy(split.x), torch.from_numpy(split.y)
        self.tf = v2.Compose([v2.RandomCrop(32, padding=4, padding_mode="reflect"), v2.RandomHorizontalFlip(),
                              v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.tf(self.x[i]), self.y[i]


def rate(batches, n: int) -> float:
    it = iter(batches)
    next(it)  # warm-up (worker start, first allocation)
    t0 = time.perf_counter()
    for _ in range(n):
        x, y = next(it)
        assert x.dtype == torch.float32 and x.shape[1:] == (3, 32, 32)
    return n / (time.perf_counter() - t0)


def endless(loader):
    while True:
        yield from loader


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(2)
    split, mean, std, what = cifar_or_random()
    print(f"data: {what}; batch size {args.batch_size}; {args.batches} batches each; torch threads 2")
    ours = BatchLoader(split, args.batch_size, shuffle=True, augment=build("flip,crop"), mean=mean, std=std, seed=0)
    r_ours = rate(endless(ours), args.batches)
    base = DataLoader(PerSample(split, mean, std), batch_size=args.batch_size, shuffle=True, num_workers=2,
                      persistent_workers=True, drop_last=True)
    r_base = rate(endless(base), args.batches)
    print(f"neuralab BatchLoader (batched flip+crop):       {r_ours:8.1f} batches/s  "
          f"({r_ours * args.batch_size:,.0f} images/s)")
    print(f"DataLoader + transforms.v2 (2 workers):          {r_base:8.1f} batches/s  "
          f"({r_base * args.batch_size:,.0f} images/s)")
    print(f"ratio: {r_ours / r_base:.2f}")


if __name__ == "__main__":
    main()
