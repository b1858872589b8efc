"""FastDropout: the statistics of nn.Dropout, its gradient, its interface, and a reproducible mask."""

import pytest
import torch
from torch import nn

from neuralab.models.dropout import FastDropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5, 0.9])
def test_drop_rate_and_scale_match_the_probability(p):
    torch.manual_seed(0)
    m = keep_mask(torch.Size([1000, 1001]), p, torch.float32)  # an element count not divisible by 4
    dropped = (m == 0).float().mean().item()
    assert dropped == pytest.approx(p, abs=0.003)  # 1e6 draws: std of the rate is under 5e-4
    kept = m[m != 0]
    assert torch.all(kept == kept[0]) and kept[0].item() == pytest.approx(1 / (1 - p), rel=1e-4)
    assert m.mean().item() == pytest.approx(1.0, abs=0.006)  # expectation preserved


def test_lanes_of_one_word_are_independent():
    """Four neighbours share a 64-bit word: their drops must still be independent (P(all 4 kept) = 0.8**4)."""
    torch.manual_seed(1)
    m = keep_mask(torch.Size([400_000]), 0.2, torch.float32).view(-1, 4) != 0
    assert m.all(1).float().mean().item() == pytest.approx(0.8 ** 4, abs=0.005)
    corr = torch.corrcoef(m.float().T)
    assert (corr - torch.eye(4)).abs().max().item() < 0.01


def test_gradient_is_the_mask_and_eval_is_identity():
    torch.manual_seed(2)
    layer = FastDropout(0.3)
    x = torch.randn(64, 33, requires_grad=True)
    y = layer(x)
    y.sum().backward()
    mask = torch.where(y != 0, y / x.detach(), torch.zeros(()))
    torch.testing.assert_close(x.grad, mask)
    values = torch.unique(x.grad)
    assert len(values) == 2 and values[0] == 0 and values[1].item() == pytest.approx(1 / 0.7, rel=1e-4)
    layer.eval()
    assert torch.equal(layer(x), x)


def test_same_seed_same_mask_and_interface_of_nn_dropout():
    layer = FastDropout(0.2)
    x = torch.ones(8, 100)
    torch.manual_seed(3)
    a = layer(x)
    torch.manual_seed(3)
    assert torch.equal(layer(x), a) and not torch.equal(layer(x), a)  # seeded: repeats; unseeded: moves on
    assert isinstance(layer, nn.Dropout) and layer.state_dict() == nn.Dropout(0.2).state_dict()
    assert FastDropout(0.0)(x) is not None and torch.equal(FastDropout(0.0).train()(x), x)
