"""One training step of a 784-512-512-10 ReLU MLP (batch 128, float32, 2 threads): neuralab.scratch vs PyTorch.

A step is forward, loss (softmax cross-entropy), backward and the optimizer update, on every side with the same
optimizer (Adam by default, or --optim sgd). The sides: scratch's plain version (the chapter as a learner reads
it), its fast version (`neuralab.scratch.fast`) and PyTorch. All run in this process, interleaved step by step so
that any load from other programs hits them alike; each reports the median of its timed steps after warm-up.
`--tricks` adds the fast version's tricks one at a time on top of the plain one (what each buys).
The last line is `ratio: <fast NumPy time / PyTorch time>` (below 1 means NumPy is faster).

    python benchmarks/scratch_vs_torch.py [--steps 200] [--optim adam|sgd] [--threads 2] [--tricks]
"""

from __future__ import annotations

import argparse
import os
import sys

THREADS = "2"
for i, a in enumerate(sys.argv):
    if a == "--threads" and i + 1 < len(sys.argv):
        THREADS = sys.argv[i + 1]
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = THREADS  # before NumPy loads its BLAS

import time  # noqa: E402

import numpy as np  # noqa: E402


# name: (fast layers and loss: buffers and in-place backward, skip the first layer's dL/dx, FastAdam)
VARIANTS = {"plain": (False, False, False), "+buffers": (True, False, False), "+no dx1": (True, True, False),
            "fast": (True, True, True)}


def numpy_step(sizes, batch, optim, seed, variant="fast"):
    from neuralab.scratch import SGD, Adam, SoftmaxCrossEntropy, mlp
    from neuralab.scratch.fast import FastAdam, FastSoftmaxCrossEntropy, fast_mlp

    fast_layers, skip_dx, fast_adam = VARIANTS[variant]
    model = (fast_mlp if fast_layers else mlp)(sizes[0], sizes[1:-1], sizes[-1], seed=seed)
    loss = FastSoftmaxCrossEntropy() if fast_layers else SoftmaxCrossEntropy()
    opt = (FastAdam if fast_adam else Adam)(model, lr=1e-3) if optim == "adam" else SGD(model, lr=1e-2)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch)
    backward = (lambda dy: model.backward(dy, input_grad=not skip_dx)) if fast_layers else model.backward

    def step():
        loss.forward(model.forward(x), y)
        backward(loss.backward())
        opt.step()

    return step


def torch_step(sizes, batch, optim, seed):
    import torch

    torch.set_num_threads(int(THREADS))
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3) if optim == "adam" else torch.optim.SGD(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, sizes[0], generator=g)
    y = torch.randint(0, sizes[-1], (batch,), generator=g)
    lossf = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        lossf(model(x), y).backward()
        opt.step()

    return step


def interleaved(steps, warmup, rounds):
    """Step times per side, one step of each side per round, so that a burst of outside load hits all alike."""
    times = {name: [] for name in steps}
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    for _ in range(rounds):
        for name, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def show(times, against):
    """One line per side: median and spread, and the median as a share of side `against`'s."""
    med = {k: float(np.median(v)) for k, v in times.items()}
    for k, v in times.items():
        print(f"{k:8s} median {med[k] * 1e3:7.3f} ms/step  (p10 {np.percentile(v, 10) * 1e3:.3f}, "
              f"p90 {np.percentile(v, 90) * 1e3:.3f}, n={len(v)})  {med[k] / med[against]:.0%} of {against}")
    return med


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200, help="timed steps per side")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--optim", choices=("adam", "sgd"), default="adam")
    p.add_argument("--threads", default="2")
    p.add_argument("--tricks", action="store_true", help="also time the fast version's tricks one at a time")
    args = p.parse_args()
    sizes = [784, 512, 512, 10]
    import torch

    print(f"784-512-512-10 ReLU MLP, batch {args.batch}, float32, {args.optim}, {args.threads} threads "
          f"(numpy {np.__version__}, torch {torch.__version__}, torch threads {torch.get_num_threads()})")
    # The scratch versions among themselves, then fast against torch: torch's idle threads keep a core busy for a
    # while after each step, so each side's time depends on what it alternates with; the ratio always comes from
    # the same pairing.
    names = list(VARIANTS) if args.tricks else ["plain", "fast"]
    show(interleaved({n: numpy_step(sizes, args.batch, args.optim, 0, n) for n in names}, args.warmup, args.steps),
         "plain")
    steps = {"fast": numpy_step(sizes, args.batch, args.optim, 0), "torch": torch_step(sizes, args.batch, args.optim, 0)}
    med = show(interleaved(steps, args.warmup, args.steps), "torch")
    print(f"ratio: {med['fast'] / med['torch']:.3f}")


if __name__ == "__main__":
    main()
