"""One training step of a 784-512-512-10 ReLU MLP (batch 128, float32, 2 threads): neuralab.scratch vs PyTorch.

A step is forward, loss (softmax cross-entropy), backward and the optimizer update, on both sides with the same
optimizer (Adam by default, or --optim sgd). Both run in this process, interleaved in rounds so that any load from
other programs hits both alike (step by step, alternating); each side reports the median of its timed steps after
warm-up.
The last line is `ratio: <NumPy time / PyTorch time>` (below 1 means NumPy is faster).

    python benchmarks/scratch_vs_torch.py [--steps 200] [--optim adam|sgd] [--threads 2]
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


def numpy_step(sizes, batch, optim, seed):
    from neuralab.scratch import SGD, Adam, SoftmaxCrossEntropy, mlp

    model = mlp(sizes[0], sizes[1:-1], sizes[-1], seed=seed)
    loss = SoftmaxCrossEntropy()
    opt = Adam(model, lr=1e-3) if optim == "adam" else SGD(model, lr=1e-2)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch)

    def step():
        loss.forward(model.forward(x), y)
        model.backward(loss.backward())
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200, help="timed steps per side")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--optim", choices=("adam", "sgd"), default="adam")
    p.add_argument("--threads", default="2")
    args = p.parse_args()
    sizes = [784, 512, 512, 10]
    steps = {"numpy": numpy_step(sizes, args.batch, args.optim, 0), "torch": torch_step(sizes, args.batch, args.optim, 0)}
    times: dict[str, list[float]] = {k: [] for k in steps}
    for fn in steps.values():
        for _ in range(args.warmup):
            fn()
    for _ in range(args.steps):  # alternate one step each, so a burst of outside load hits both sides alike
        for name, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    import torch

    print(f"784-512-512-10 ReLU MLP, batch {args.batch}, float32, {args.optim}, {args.threads} threads "
          f"(numpy {np.__version__}, torch {torch.__version__}, torch threads {torch.get_num_threads()})")
    med = {k: float(np.median(v)) for k, v in times.items()}
    for k, v in times.items():
        print(f"{k:6s} median {med[k] * 1e3:7.3f} ms/step  (p10 {np.percentile(v, 10) * 1e3:.3f}, "
              f"p90 {np.percentile(v, 90) * 1e3:.3f}, n={len(v)})")
    print(f"ratio: {med['numpy'] / med['torch']:.3f}")


if __name__ == "__main__":
    main()
