import pytest
import torch

from neuralab.errors import ConfigError
from neuralab.models import MODELS, create_model
from neuralab.models.cnn import stage_sizes
from neuralab.models.flops import count_flops

def test_stage_sizes_spread_depth():
    assert [stage_sizes(d) for d in (1, 2, 4, 6, 10)] == [[1], [1, 1], [2, 1, 1], [2, 2, 2], [4, 3, 3]]


@pytest.mark.parametrize("depth", [2, 4, 6, 8, 10])
def test_cnn_depth_counts_conv_layers(depth):
    model = create_model("cnn", (3, 32, 32), 10, depth=depth)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) == depth


def test_cnn_options_change_the_network():
    plain = create_model("cnn", (3, 32, 32), 10, batch_norm=False, pool="avg")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    assert any(isinstance(m, torch.nn.AvgPool2d) for m in plain.modules())
    assert any(isinstance(m, torch.nn.Dropout) for m in create_model("cnn", (3, 32, 32), 10, dropout=0.3).modules())
    with pytest.raises(ConfigError, match="pool must be 'max' or 'avg'. Received: pool='min'"):
        create_model("cnn", (3, 32, 32), 10, pool="min")


def test_residual_layers_add_their_input():
    model = create_model("cnn", (3, 8, 8), 2, depth=2, residual=True, width=3, batch_norm=False)
    layer = model[0]  # first conv of the first stage: 3 -> 3 channels, so the identity path applies
    torch.nn.init.zeros_(layer.conv.weight)
    torch.nn.init.zeros_(layer.conv.bias)
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(layer(x), x)


def test_flops_of_a_linear_layer():
    assert count_flops(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 4)), (1, 2, 3)) == 48
