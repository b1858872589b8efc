"""fastnet's options: widths and depth (2 convs per block, or airbench96's 3 with a residual)."""

import pytest
import torch

from neuralab.errors import ConfigError
from neuralab.models import create_model
from neuralab.models.fastnet import Block


def params(model):
    return sum(p.numel() for p in model.parameters())


def test_default_fastnet_is_airbench94_sized_and_depth_3_adds_one_conv_per_block():
    base = create_model("fastnet", (3, 32, 32), 10)
    deep = create_model("fastnet", (3, 32, 32), 10, depth=3)
    convs = [m for m in deep.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 3 * 3 and len([m for m in base.modules() if isinstance(m, torch.nn.Conv2d)]) == 7
    # the third conv of each block is width x width x 3 x 3, and its BN adds one shift (and a frozen scale) per channel
    assert params(deep) - params(base) == sum(9 * w * w + 2 * w for w in (64, 256, 256))
    x = torch.randn(8, 3, 32, 32)
    out = deep(x)
    assert out.shape == (8, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in deep.parameters() if p.requires_grad)


def test_the_depth_3_block_adds_its_input_back():
    block = Block(4, 4, depth=3).eval()
    for conv in (block.conv2, block.conv3):
        torch.nn.init.zeros_(conv.weight)
    x = torch.randn(2, 4, 8, 8)
    inner = block.act(block.norm1(block.pool(block.conv1(x))))
    # conv2 and conv3 output zero, so BN3 gives its (zero) shift and the block is act(inner + 0)
    assert torch.allclose(block(x), block.act(inner + block.norm3(torch.zeros_like(inner))))


def test_widths_and_bad_depth():
    wide = create_model("fastnet", (3, 32, 32), 10, widths=[128, 384, 384])
    assert wide[-2].in_features == 384
    with pytest.raises(ConfigError, match="depth"):
        create_model("fastnet", (3, 32, 32), 10, depth=4)
