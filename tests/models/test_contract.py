"""Every registered model, the moment it registers (timm-style): shapes, a finite forward, a gradient on every
trainable parameter, and a checkpoint round trip with identical outputs."""

import pytest
import torch

from neuralab.data.preprocess import Preprocess
from neuralab.models import MODELS, create_model
from neuralab.models.checkpoint import load_model, save_model
from neuralab.records import ModelCard

SHAPES = [(3, 32, 32), (1, 28, 28)]
DENSE = [name for name, entry in MODELS.items() if "classification" in entry.tasks]


def card(name, shape, outputs=10):
    pre = Preprocess(shape, (0.5,) * shape[0], (0.25,) * shape[0], 255.0 if len(shape) == 3 else 1.0)
    return ModelCard(name, "classification", shape, outputs, pre)


def test_every_model_is_registered_for_a_task():
    assert DENSE and all(MODELS.get(n).tasks for n in MODELS.names())
    assert "ssdlite320_mobilenet_v3_large" in MODELS and "ssdlite320_mobilenet_v3_large" not in DENSE


@pytest.mark.parametrize("name", DENSE)
@pytest.mark.parametrize("image", SHAPES, ids=["rgb32", "grey28"])
def test_model_contract_on_8_random_inputs(name, image, tmp_path):
    torch.manual_seed(0)
    shape = (2,) if name == "mlp" else image
    model = create_model(name, shape, 10)
    x = torch.randn(8, *shape)
    out = model(x)
    assert out.shape == (8, 10) and torch.isfinite(out).all()
    out.square().mean().backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    for pname, p in trainable:
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{name}: no gradient reaches {pname}"
    assert sum(p.numel() for p in model.parameters()) > 0
    save_model(tmp_path / "m.safetensors", model, card(name, shape))
    loaded, _ = load_model(tmp_path / "m.safetensors")
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
