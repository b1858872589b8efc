"""Fast CIFAR-10 training: accuracy, wall time, images/s and achieved GFLOP/s against this machine's measured
matmul GFLOP/s (same run, same dtype as the training), plus the time per epoch of the same net fed by a standard
DataLoader + per-sample transforms.v2 pipeline.

    python benchmarks/cifar_speed.py [--epochs 9.9] [--seeds 1] [--first-seed 0] [--device auto|cpu|cuda]
                                     [--precision auto|float32|bfloat16] [--model-args 'widths=...']
                                     [--dataloader-batches 10] [--hold-out-val]

Trains on all 50,000 training images (airbench's protocol) unless --hold-out-val; tests once on the 10,000 test
images. `--precision auto` computes in bf16 on GPUs and on CPUs with Intel AMX (see neuralab.device), where the
ceiling is the bf16 matmul rate; both matmul rates are printed.

The loader comparison times `--dataloader-batches` training steps of each pipeline on the same net and dtype and
scales them to an epoch: (1) torch's DataLoader (2 workers) with per-sample transforms.v2 crop + flip + normalize,
(2) ours (`EpochBatches`: the normalized set on the device, batched flips and translations), and (3) where the
training dtype is not fp32, the textbook pipeline end to end: the DataLoader feeding the net in fp32.

`--profile-steps` (default 5) then prints where a step's CPU time goes, by part (convolutions, batch norm, GELU,
pooling, linear + loss, casts and copies, optimizer, other) and by phase (forward, backward, optimizer).

Needs CIFAR-10 (NEURALAB_DATA with cifar-10-batches-py/ or cifar10-jpeg/); without it, random images measure speed
only. Last line: `ratio: <achieved training GFLOP/s / measured matmul GFLOP/s in the training dtype>` (target >= 0.5).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from neuralab.config import Settings
from neuralab.data.base import Split, make_dataset
from neuralab.device import autocast, pick_device, resolve_precision
from neuralab.heap import retained_heap
from neuralab.models import create_model
from neuralab.models.flops import count_flops, matmul_gflops
from neuralab.runs import Run
from neuralab.train.config import parse_model_args
from neuralab.train.fast import EpochBatches, FastConfig, normalize, train_fast


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


def epoch_seconds(data, device: torch.device, dtype: torch.dtype, batches: int, model_args: dict) -> dict[str, float]:
    """Seconds per training epoch (extrapolated from `batches` steps after one warm-up step) of each pipeline."""
    from torch.utils.data import DataLoader
    from torchvision.transforms import v2

    tf = v2.Compose([v2.RandomCrop(32, padding=2, padding_mode="reflect"), v2.RandomHorizontalFlip(),
                     v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(data.mean), list(data.std))])

    class PerSample(torch.utils.data.Dataset):
        def __len__(self):
            return len(data.train)

        def __getitem__(self, i):
            return tf(torch.from_numpy(data.train.x[i])), int(data.train.y[i])

    steps_per_epoch = len(data.train) / 1024

    def timed(batch_iter, step_dtype: torch.dtype) -> float:
        model = create_model("fastnet", data.input_shape, 10, **model_args).to(device)
        model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.85, nesterov=True)

        def step(xb, yb):
            with autocast(device, dtype=step_dtype):
                out = model(xb.to(device).contiguous(memory_format=torch.channels_last))
            loss = torch.nn.functional.cross_entropy(out.float(), yb.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        with retained_heap():  # as train_fast runs: each step reuses the last one's memory
            step(*next(batch_iter))
            t0 = time.perf_counter()
            for _ in range(batches):
                step(*next(batch_iter))
            return (time.perf_counter() - t0) / batches * steps_per_epoch

    def dataloader():
        return iter(DataLoader(PerSample(), batch_size=1024, shuffle=True, num_workers=2, drop_last=True))

    x = normalize(data.train.x, data, device, dtype)
    ours = EpochBatches(x, torch.from_numpy(data.train.y).to(device), 1024, torch.Generator().manual_seed(0), 2)
    out = {"dataloader": timed(dataloader(), dtype), "ours": timed(ours.epoch(1), dtype)}
    if dtype != torch.float32:
        out["dataloader_fp32"] = timed(dataloader(), torch.float32)
    return out


PARTS = {  # op-name fragments -> the part of a training step they belong to (first match wins; the casts by their
    # whole aten name, as "to" alone would also match every torch::autograd wrapper)
    "convolutions": ("conv",), "batch norm": ("batch_norm",), "GELU": ("gelu",), "pooling": ("pool",),
    "linear + loss": ("addmm", "mm", "linear", "cross_entropy", "log_softmax", "nll_loss"),
    "casts and copies": ("aten::copy_", "aten::_to_copy", "aten::to", "aten::clone", "aten::contiguous"),
    "optimizer": ("_foreach", "sgd"),
}


def profile_parts(data, device: torch.device, dtype: torch.dtype, steps: int, model_args: dict) -> None:
    """Where a training step's CPU time goes, by part (self time of each op, summed): `steps` steps of the recipe's
    net, batch and dtype on our batches, after one warm-up step. Phases (forward, backward, optimizer) by region."""
    from torch.profiler import ProfilerActivity, profile, record_function

    model = create_model("fastnet", data.input_shape, 10, **model_args).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.85, nesterov=True)
    x = normalize(data.train.x[:1024 * (steps + 1)], data, device, dtype)
    y = torch.from_numpy(data.train.y[:len(x)]).to(device)
    batches = EpochBatches(x, y, 1024, torch.Generator().manual_seed(0), 2).epoch(1)

    def step(xb, yb):
        with record_function("forward"), autocast(device, dtype=dtype):
            out = model(xb)
        with record_function("backward"):
            loss = torch.nn.functional.cross_entropy(out.float(), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        with record_function("optimizer"):
            opt.step()

    with retained_heap():  # one block: the warm-up step's memory is what the profiled steps reuse
        step(*next(batches))
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            for _ in range(steps):
                step(*next(batches))
            wall = (time.perf_counter() - t0) / steps
    parts: dict[str, float] = {name: 0.0 for name in [*PARTS, "other"]}
    phases = {}
    for e in prof.key_averages():
        if e.key in ("forward", "backward", "optimizer"):
            phases[e.key] = e.cpu_time_total / steps / 1e3
            continue
        name = e.key.lower()
        part = next((p for p, keys in PARTS.items()
                     if any(name == k if k.startswith("aten::") else k in name for k in keys)), "other")
        parts[part] += e.self_cpu_time_total / steps / 1e3
    total = sum(parts.values())
    print(f"profile, {steps} steps of batch 1024, {str(dtype).removeprefix('torch.')}: {1e3 * wall:.0f} ms per step "
          f"(profiled); phases " + ", ".join(f"{k} {v:.0f} ms" for k, v in phases.items()))
    for name, ms in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"    {name:18s} {ms:7.1f} ms  {ms / total:5.1%}")


def peak_rss_gib() -> float:
    """Peak resident memory so far; measured before the DataLoader comparison, whose workers are extra processes."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=float, default=FastConfig().epochs)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run are first-seed .. first-seed + seeds - 1")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto", help="auto, float32 or bfloat16 (float16 on GPUs)")
    ap.add_argument("--model-args", default="", help="fastnet arguments, e.g. 'widths=128,384,384'")
    ap.add_argument("--lr", type=float, default=FastConfig().lr)
    ap.add_argument("--dataloader-batches", type=int, default=10, help="0 skips the loader comparison")
    ap.add_argument("--profile-steps", type=int, default=5, help="steps profiled by part (0 skips the profile)")
    ap.add_argument("--hold-out-val", action="store_true",
                    help="train on 45,000 images (5,000 held out) instead of airbench's all 50,000")
    ap.add_argument("--runs-dir", default="/tmp/neuralab-bench")
    args = ap.parse_args()
    device = pick_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(2)
    dtype = resolve_precision(args.precision, device)
    model_args = parse_model_args(args.model_args)
    data, what = cifar()
    peak32 = matmul_gflops(device)
    peak = matmul_gflops(device, dtype=dtype) if dtype != torch.float32 else peak32
    flops_per_image = 3 * count_flops(create_model("fastnet", data.input_shape, 10, **model_args), data.input_shape)
    name = str(dtype).removeprefix("torch.")
    print(f"device {device}; data {what}; training dtype {name}; measured matmul {peak32:.0f} GFLOP/s fp32"
          + (f", {peak:.0f} GFLOP/s {name}" if dtype != torch.float32 else "")
          + f"; fastnet {args.model_args or '(default)'} training ~{flops_per_image / 1e9:.2f} GFLOP per image")
    accs, secs, rates = [], [], []
    for s in range(args.first_seed, args.first_seed + args.seeds):
        run = Run.create(args.runs_dir, f"cifar-speed-seed{s}")
        cfg = FastConfig.of(model_args=args.model_args, lr=args.lr, epochs=args.epochs,
                            full_train=not args.hold_out_val, precision=args.precision)
        result = train_fast(data, cfg, run, device, seed=s, log=lambda m: None)
        accs.append(result.test_accuracy)
        secs.append(result.train_seconds)
        rates.append(result.images_per_second)
        print(f"seed {s}: test accuracy {100 * accs[-1]:.2f}%  wall {secs[-1]:.1f} s  {rates[-1]:.0f} images/s  "
              f"({result.train_images} training images, {args.epochs} epochs)", flush=True)
    achieved = np.mean(rates) * flops_per_image / 1e9
    print(f"mean test accuracy {100 * np.mean(accs):.2f} ± {100 * np.std(accs):.2f}% over {args.seeds} seed(s); "
          f"mean wall {np.mean(secs):.1f} s; achieved {achieved:.1f} GFLOP/s = {achieved / peak:.0%} of {name} "
          f"matmul ({achieved / peak32:.0%} of fp32 matmul)")
    print(f"peak memory (RSS) of this process: {peak_rss_gib():.2f} GiB (limit 4 GiB)")
    if args.dataloader_batches > 0:
        t = epoch_seconds(data, device, dtype, args.dataloader_batches, model_args)
        print(f"epoch time, same net, {name}: DataLoader + transforms.v2 {t['dataloader']:.1f} s vs ours "
              f"{t['ours']:.1f} s ({t['dataloader'] / t['ours']:.2f}x)")
        if "dataloader_fp32" in t:
            print(f"epoch time, textbook pipeline (DataLoader + transforms.v2, fp32) {t['dataloader_fp32']:.1f} s vs "
                  f"ours ({name}) {t['ours']:.1f} s ({t['dataloader_fp32'] / t['ours']:.2f}x)")
    if args.profile_steps > 0:
        profile_parts(data, device, dtype, args.profile_steps, model_args)
    print(f"ratio: {achieved / peak:.2f}")


if __name__ == "__main__":
    main()
