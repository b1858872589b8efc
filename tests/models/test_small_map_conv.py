"""SmallMapConv2d: the same convolution and the same gradients as nn.Conv2d, by another route on tiny maps."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neuralab.models.small_map_conv import SmallMapConv2d, weight_grad


def twins(cin=5, cout=7):
    torch.manual_seed(0)
    fast = SmallMapConv2d(cin, cout)
    plain = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    plain.load_state_dict(fast.state_dict())  # same parameters, same names: checkpoints are interchangeable
    return fast, plain


def grads(conv, x):
    x = x.clone().requires_grad_()
    out = conv(x)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    g = conv.weight.grad.clone(), x.grad.clone()
    conv.weight.grad = None
    return out.detach(), *g


@pytest.mark.parametrize("size", [1, 2, 3, 4])
@pytest.mark.parametrize("channels_last", [False, True])
def test_output_and_both_gradients_match_conv2d_on_small_maps(size, channels_last):
    fast, plain = twins()
    x = torch.randn(6, 5, size, size, dtype=torch.float64)
    fast, plain = fast.double(), plain.double()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    for a, b in zip(grads(fast, x), grads(plain, x)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_weight_grad_against_autograd_of_conv2d():
    x, g = torch.randn(4, 3, 3, 3, dtype=torch.float64), torch.randn(4, 8, 3, 3, dtype=torch.float64)
    w = torch.randn(8, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    (F.conv2d(x, w, padding=1) * g).sum().backward()
    torch.testing.assert_close(weight_grad(g, x), w.grad)


def test_under_bf16_autocast_it_computes_in_bf16_and_matches_conv2d():
    fast, plain = twins(16, 16)
    x = torch.randn(32, 16, 3, 3).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_fast, w_fast, x_fast = grads(fast, x)
        out_plain, w_plain, x_plain = grads(plain, x)
    assert out_fast.dtype == torch.bfloat16 and fast.weight.grad is None and w_fast.dtype == torch.float32
    torch.testing.assert_close(out_fast, out_plain)
    torch.testing.assert_close(w_fast, w_plain, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(x_fast, x_plain, rtol=2e-2, atol=2e-2)


def test_large_maps_and_frozen_weights_take_the_plain_path():
    fast, _ = twins()
    assert type(fast(torch.randn(2, 5, 8, 8, requires_grad=True)).grad_fn).__name__.startswith("Convolution")
    assert type(fast(torch.randn(2, 5, 3, 3, requires_grad=True)).grad_fn).__name__ == "_Conv3x3Backward"
    fast.weight.requires_grad_(False)
    assert type(fast(torch.randn(2, 5, 3, 3, requires_grad=True)).grad_fn).__name__.startswith("Convolution")
