"""Fast CIFAR-10 training: accuracy, wall time, images/s and achieved GFLOP/s against this machine's measured
matmul GFLOP/s (same run), plus the time per epoch of the same net fed by a standard DataLoader + per-sample
transforms.v2 pipeline.

    python benchmarks/cifar_speed.py [--epochs 10] [--seeds 1] [--first-seed 0] [--device auto|cpu|cuda] [--dataloader-batches 20]
                                     [--hold-out-val]

Trains on all 50,000 training images (airbench's protocol) unless --hold-out-val; tests once on the 10,000 test images.

Needs CIFAR-10 (NEURALAB_DATA with cifar-10-batches-py/ or cifar10-jpeg/); without it, random images measure speed
only. Last line: `ratio: <achieved training GFLOP/s / measured matmul GFLOP/s>` (target >= 0.5).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from neuralab.config import Settings
from neuralab.data.base import Split, make_dataset
from neuralab.device import pick_device
from neuralab.models import create_model
from neuralab.models.flops import count_flops, matmul_gflops
from neuralab.runs import Run
from neuralab.train.fast import FastConfig, train_fast


def cifar():
    try:
        from neuralab.data import load_dataset

        return load_dataset("cifar10", Settings.resolve(download=False)), "CIFAR-10"
    except Exception as e:  # noqa: BLE001
        rng = np.random.default_rng(0)
        x, y = rng.integers(0, 256, (50_000, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 50_000)
        d = make_dataset("random", "classification", Split(x, y), Split(x[:10_000], y[:10_000]),
                         classes=[str(i) for i in range(10)])
        return d, f"random images (no CIFAR-10: {type(e).__name__}); accuracy is meaningless"


def dataloader_epoch_seconds(data, device: torch.device, batches: int) -> tuple[float, float]:
    """(seconds per epoch extrapolated from `batches` steps, the same for our in-memory path)."""
    from torch.utils.data import DataLoader
    from torchvision.transforms import v2

    tf = v2.Compose([v2.RandomCrop(32, padding=2, padding_mode="reflect"), v2.RandomHorizontalFlip(),
                     v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(data.mean), list(data.std))])

    class PerSample(torch.utils.data.Dataset):
        def __len__(self):
            return len(data.train)

        def __getitem__(self, i):
            return tf(torch.from_numpy(data.train.x[i])), int(data.train.y[i])

    model = create_model("fastnet", data.input_shape, 10).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.85, nesterov=True)
    steps_per_epoch = len(data.train) // 1024

    def step(xb, yb):
        loss = torch.nn.functional.cross_entropy(model(xb.to(device).contiguous(memory_format=torch.channels_last)),
                                                 yb.to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()

    loader = iter(DataLoader(PerSample(), batch_size=1024, shuffle=True, num_workers=2, drop_last=True))
    step(*next(loader))
    t0 = time.perf_counter()
    for _ in range(batches):
        step(*next(loader))
    theirs = (time.perf_counter() - t0) / batches * steps_per_epoch
    from neuralab.data.augment import build
    from neuralab.data.loader import BatchLoader

    ours_loader = iter(BatchLoader(data.train, 1024, shuffle=True, augment=build("flip,crop"), mean=data.mean,
                                   std=data.std, device=device))
    step(*next(ours_loader))
    t0 = time.perf_counter()
    for _ in range(batches):
        step(*next(ours_loader))
    return theirs, (time.perf_counter() - t0) / batches * steps_per_epoch


def peak_rss_gib() -> float:
    """Peak resident memory so far; measured before the DataLoader comparison, whose workers are extra processes."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=float, default=10.0)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run are first-seed .. first-seed + seeds - 1")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dataloader-batches", type=int, default=20, help="0 skips the DataLoader comparison")
    ap.add_argument("--hold-out-val", action="store_true",
                    help="train on 45,000 images (5,000 held out) instead of airbench's all 50,000")
    ap.add_argument("--runs-dir", default="/tmp/neuralab-bench")
    args = ap.parse_args()
    device = pick_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(2)
    data, what = cifar()
    peak = matmul_gflops(device)
    flops_per_image = 3 * count_flops(create_model("fastnet", data.input_shape, 10), data.input_shape)
    print(f"device {device}; data {what}; measured matmul {peak:.0f} GFLOP/s; "
          f"fastnet training ~{flops_per_image / 1e9:.2f} GFLOP per image")
    accs, secs, rates = [], [], []
    for s in range(args.first_seed, args.first_seed + args.seeds):
        run = Run.create(args.runs_dir, f"cifar-speed-seed{s}")
        summary = train_fast(create_model("fastnet", data.input_shape, 10), data,
                             FastConfig(epochs=args.epochs, seed=s, full_train=not args.hold_out_val), run, device,
                             log=lambda m: None)
        accs.append(summary["test"]["accuracy"])
        secs.append(summary["train_seconds"])
        rates.append(summary["images_per_second"])
        print(f"seed {s}: test accuracy {100 * accs[-1]:.2f}%  wall {secs[-1]:.1f} s  {rates[-1]:.0f} images/s  "
              f"({summary['train_images']} training images)")
    achieved = np.mean(rates) * flops_per_image / 1e9
    print(f"mean test accuracy {100 * np.mean(accs):.2f} ± {100 * np.std(accs):.2f}% over {args.seeds} seed(s); "
          f"mean wall {np.mean(secs):.1f} s; achieved {achieved:.1f} GFLOP/s = {achieved / peak:.0%} of matmul")
    print(f"peak memory (RSS) of this process: {peak_rss_gib():.2f} GiB (limit 4 GiB)")
    if args.dataloader_batches > 0:
        theirs, ours = dataloader_epoch_seconds(data, device, args.dataloader_batches)
        print(f"epoch time, same net: DataLoader + transforms.v2 {theirs:.1f} s vs in-memory loader {ours:.1f} s "
              f"({theirs / ours:.2f}x)")
    print(f"ratio: {achieved / peak:.2f}")


if __name__ == "__main__":
    main()
