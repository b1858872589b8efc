"""Counting floating-point operations of a forward pass (multiply-adds x 2) for conv and linear layers, and the
machine's measured matmul rate they are compared against."""

from __future__ import annotations

import time

import torch
from torch import nn


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass of one input, from hooks on Conv2d and Linear layers (the bulk of the work)."""
    total = 0

    def conv(m: nn.Conv2d, _i: tuple, out: torch.Tensor) -> None:
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total += 2 * k * out.numel()

    def linear(m: nn.Linear, _i: tuple, out: torch.Tensor) -> None:
        nonlocal total
        total += 2 * m.in_features * out.numel()

    hooks = [m.register_forward_hook(conv) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear) for m in model.modules() if isinstance(m, nn.Linear)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total


def matmul_gflops(device: torch.device, n: int = 2048, reps: int = 10, trials: int = 7,
                  dtype: torch.dtype = torch.float32) -> float:
    """This machine's matmul rate (GFLOP/s) in `dtype` at the current thread count: the practical ceiling a
    convolution engine in that dtype approaches, measured in the same run as the figures compared with it.
    The best of `trials` timings: one timing of a fraction of a second swung from 1,181 to 2,040 GFLOP/s (bf16)
    on the same idle machine, and a ceiling measured low flatters every ratio against it."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(trials):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9)
    return best
