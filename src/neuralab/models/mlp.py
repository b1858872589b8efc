"""A multilayer perceptron for any input shape: flatten, then Linear -> activation -> dropout blocks."""

from __future__ import annotations

import math

from torch import nn

from neuralab.errors import ConfigError
from neuralab.models.dropout import FastDropout
from neuralab.models.registry import register_model

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
               "leaky_relu": nn.LeakyReLU, "silu": nn.SiLU}


def activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(f"unknown activation {name!r}. Known: {sorted(ACTIVATIONS)}") from None


@register_model("mlp", ranges={"dropout": (0.0, 0.99)})
def mlp(input_shape: tuple[int, ...], num_outputs: int, *, hidden: list[int] | tuple[int, ...] = (256, 256),
        activation_name: str = "relu", dropout: float = 0.0, batch_norm: bool = False) -> nn.Sequential:
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1). Received: dropout={dropout}")
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for h in hidden:
        layers.append(nn.Linear(width, h))
        if batch_norm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(activation(activation_name))
        if dropout:
            layers.append(FastDropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_outputs))
    return nn.Sequential(*layers)
