import numpy as np
import pytest
import torch

from neuralab.scratch import Dense, Dropout, Flatten
from neuralab.scratch.fast import FastDense
from neuralab.scratch.layers import LAYERS, build_layer, he, xavier

from .helpers import helper_test_op


@pytest.mark.parametrize("cls", [Dense, FastDense])
@pytest.mark.parametrize("init", ["he", "xavier"])
def test_dense_matches_torch(init, cls):
    helper_test_op([(5, 4)], lambda x, W, b: x @ W + b, cls(4, 3, init=init, seed=1))


def test_dropout_matches_torch_with_the_same_mask():
    layer = Dropout(0.4, seed=3)
    y = layer.forward(np.ones((200, 50)))
    mask = y / 1.0  # ones in, so the output is the scaled mask
    assert set(np.unique(mask).round(6)) == {0.0, round(1 / 0.6, 6)}
    assert abs((mask == 0).mean() - 0.4) < 0.02
    layer = Dropout(0.4, seed=5)
    mask = layer.forward(np.ones((20, 10))).copy()
    layer = Dropout(0.4, seed=5)  # the same seed draws the same mask again
    helper_test_op([(20, 10)], lambda x: x * torch.tensor(mask), layer)


def test_dropout_is_identity_in_evaluation():
    x = np.random.default_rng(0).standard_normal((4, 5))
    assert np.array_equal(Dropout(0.5).forward(x, train=False), x)


def test_flatten_round_trips_shape():
    helper_test_op([(3, 1, 4, 4)], lambda x: x.reshape(3, -1), Flatten())


def test_initializer_scales():
    rng = np.random.default_rng(0)
    assert abs(he(1000, 1000, rng).std() - np.sqrt(2 / 1000)) < 1e-3
    w = xavier(300, 500, rng)
    a = np.sqrt(6 / 800)
    assert w.max() <= a and w.min() >= -a and abs(w.std() - a / np.sqrt(3)) < 1e-3


@pytest.mark.parametrize("name", LAYERS.names())
def test_every_registered_layer_round_trips_its_config(name):
    cls = LAYERS.get(name)
    layer = cls(3, 2) if name == "dense" else cls()
    again = build_layer({"type": name, **layer.config()})
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    assert type(again) is cls and again.config() == layer.config()
    np.testing.assert_array_equal(again.forward(x.copy(), train=False), layer.forward(x.copy(), train=False))


def test_errors_show_the_value_received():
    with pytest.raises(ValueError, match="Received: p=1.5"):
        Dropout(1.5)
    with pytest.raises(ValueError, match="'bogus'"):
        Dense(2, 2, init="bogus")
