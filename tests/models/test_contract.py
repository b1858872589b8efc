"""Every registered model, the moment it registers (timm-style): shapes, a finite forward, a gradient on every
trainable parameter, and a checkpoint round trip with identical outputs."""

import pytest
import torch

from neuralab.models import MODELS, create_model
from neuralab.train.checkpoint import load_model, save_model

IMAGE = (3, 32, 32)


def shape_for(name: str) -> tuple[int, ...]:
    return (2,) if name == "mlp" else IMAGE


@pytest.mark.parametrize("name", MODELS.names())
def test_model_contract_on_8_random_inputs(name, tmp_path):
    torch.manual_seed(0)
    shape = shape_for(name)
    model = create_model(name, shape, 10)
    x = torch.randn(8, *shape)
    out = model(x)
    assert out.shape == (8, 10) and torch.isfinite(out).all()
    out.square().mean().backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(p.grad is not None and torch.isfinite(p.grad).all() for _, p in trainable)
    assert sum(p.numel() for p in model.parameters()) > 0
    save_model(tmp_path / "m.safetensors", model, {"model": name, "model_args": {}, "input_shape": list(shape),
                                                   "num_outputs": 10})
    loaded, _ = load_model(tmp_path / "m.safetensors")
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
