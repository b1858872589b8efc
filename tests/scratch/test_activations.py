import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuralab.scratch import GELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from neuralab.scratch.fast import FastReLU

from .helpers import helper_test_op

CASES = {
    "relu": (ReLU, torch.relu),
    "relu_fast": (FastReLU, torch.relu),
    "leaky_relu": (lambda: LeakyReLU(0.1), lambda x: F.leaky_relu(x, 0.1)),
    "sigmoid": (Sigmoid, torch.sigmoid),
    "tanh": (Tanh, torch.tanh),
    "gelu": (GELU, lambda x: F.gelu(x, approximate="tanh")),
    "softmax": (Softmax, lambda x: torch.softmax(x, dim=-1)),
}


@pytest.mark.parametrize("name", CASES)
def test_activation_matches_torch(name):
    make, fn = CASES[name]
    # Keep inputs away from ReLU's kink at 0, where finite differences are undefined.
    x_shape = (6, 7)
    layer = make()
    helper_test_op([x_shape], fn, layer, seed=1)


def test_gelu_is_the_tanh_form_close_to_exact():
    x = np.linspace(-5, 5, 101)
    ours = GELU().forward(x)
    exact = F.gelu(torch.tensor(x)).numpy()
    assert 0 < np.abs(ours - exact).max() < 5e-4


@pytest.mark.parametrize("cls", [Sigmoid, Tanh, Softmax, ReLU, FastReLU])
def test_saturating_activations_stay_finite(cls):
    y = cls().forward(np.array([[-1e4, 0.0, 1e4]], dtype=np.float32))
    assert np.isfinite(y).all()
