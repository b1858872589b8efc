"""Contract test for every registered model: output shape, backward, no NaN, a gradient on every parameter."""

from __future__ import annotations

import pytest
import torch

from neuralab.errors import ConfigError
from neuralab.models import MODELS, create_model

SHAPES = [(1, 28, 28), (3, 32, 32), (1, 8, 8)]


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("shape", SHAPES)
def test_model_contract(name, shape):
    torch.manual_seed(0)
    model = create_model(name, shape, 7)
    x = torch.randn(4, *shape)
    out = model(x)
    assert out.shape == (4, 7)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{name}: no gradient reaches {pname}"


@pytest.mark.parametrize("kw", [dict(residual=True, pooling="avg", depth=3, dropout=0.2),
                                dict(batch_norm=False, width=8, depth=1)])
def test_cnn_variants(kw):
    model = create_model("cnn", (1, 28, 28), 10, **kw)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_cnn_rejects_bad_args():
    with pytest.raises(ConfigError, match="pooling=.*'sum'"):
        create_model("cnn", (1, 28, 28), 10, pooling="sum")
