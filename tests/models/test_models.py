"""cnn variants through the registry (the per-model contract for every registered model is test_contract.py)."""

from __future__ import annotations

import pytest
import torch

from neuralab.errors import ConfigError
from neuralab.models import create_model


@pytest.mark.parametrize("kw", [dict(residual=True, pool="avg", depth=3, dropout=0.2),
                                dict(batch_norm=False, width=8, depth=1)])
def test_cnn_variants_on_grey_digits(kw):
    model = create_model("cnn", (1, 28, 28), 10, **kw)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_cnn_rejects_bad_args():
    with pytest.raises(ConfigError, match="pool must be 'max' or 'avg'. Received: pool='sum'"):
        create_model("cnn", (1, 28, 28), 10, pool="sum")
    with pytest.raises(ConfigError, match="takes no argument"):
        create_model("cnn", (1, 28, 28), 10, pooling="max")
