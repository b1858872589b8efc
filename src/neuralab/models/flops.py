"""Counting floating-point operations of a forward pass (multiply-adds x 2) for conv and linear layers."""

from __future__ import annotations

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
