"""A 3x3 convolution whose weight gradient on small feature maps is one matmul over im2col columns.

Why: on a CPU, oneDNN's weight gradient for a 3x3 convolution over a tiny map is slow: for fastnet's last
convolution (256 -> 256 channels on 3x3 maps, batch 1024, bf16) it took 52 ms here, ~200 GFLOP/s, where the
forward pass and the input gradient run at ~1,700 GFLOP/s. Written out, that gradient is a single matrix product,
dW = grad_out^T @ columns (columns: each output position's 3x3 input neighbourhood, 9 x C_in values), and for a
3x3 map the columns are small (42 MB at batch 1024), so building them and multiplying took 13 ms: 4x faster. On a
7x7 map the columns are 5x larger and oneDNN wins again (89 against 101 ms), hence the size limit. Forward pass
and input gradient stay oneDNN's. Parameters and state dict are `nn.Conv2d`'s: checkpoints do not change.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MAX_MAP_PIXELS = 16  # 3x3 and 4x4 maps take the matmul path (measured a win at 3x3, a loss at 7x7)


def weight_grad(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dL/dW of a 3x3, stride-1, padding-1 convolution: grad_out (N, C_out, H, W) against input x (N, C_in, H, W),
    as one matmul over the columns of x's 3x3 neighbourhoods; returned (C_out, C_in, 3, 3)."""
    n, c, h, w = x.shape
    padded = F.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1)  # N, H+2, W+2, C: a view for channels-last input
    columns = torch.stack([padded[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], dim=3)
    g = grad.permute(0, 2, 3, 1).reshape(n * h * w, -1)
    return (g.t().contiguous() @ columns.reshape(n * h * w, 9 * c)).view(-1, 3, 3, c).permute(0, 3, 1, 2)


class _Conv3x3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        return F.conv2d(x, weight, padding=1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(grad, x, weight, None, [1, 1], [1, 1], [1, 1], False,
                                                         [0, 0], 1, [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            grad_w = weight_grad(grad, x)
        return grad_x, grad_w


class SmallMapConv2d(nn.Conv2d):
    """`nn.Conv2d(cin, cout, 3, padding=1, bias=False)` that trains faster on maps of <= 16 pixels on a CPU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        small = x.shape[-2] * x.shape[-1] <= MAX_MAP_PIXELS
        if not (small and x.device.type == "cpu" and torch.is_grad_enabled() and self.weight.requires_grad):
            return super().forward(x)
        if not torch.is_autocast_enabled("cpu"):
            return _Conv3x3.apply(x, self.weight)
        dtype = torch.get_autocast_dtype("cpu")  # a custom Function is not autocast: cast as F.conv2d would be
        with torch.autocast("cpu", enabled=False):
            return _Conv3x3.apply(x.to(dtype), self.weight.to(dtype))
