"""cnn-basic: the classic small CIFAR-10 CNN (two conv blocks, max pooling, dropout, one hidden dense layer).

    [conv3x3-32, ReLU, conv3x3-32, ReLU, maxpool2, dropout .25] -> [same with 64] -> dense 512, ReLU,
    dropout .5 -> classes

The dense layer's input size is derived from a dummy forward pass, never hand-computed.
"""

from __future__ import annotations

import torch
from torch import nn

from neuralab.models.dropout import FastDropout
from neuralab.models.registry import register_model


def conv_block(cin: int, cout: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True),
                         nn.MaxPool2d(2), FastDropout(dropout))


@register_model("cnn-basic", ranges={"dropout": (0.0, 0.99)})
def cnn_basic(input_shape: tuple[int, ...], num_outputs: int, *, width: int = 32, hidden: int = 512,
              dropout: float = 0.25) -> nn.Sequential:
    features = nn.Sequential(conv_block(input_shape[0], width, dropout), conv_block(width, 2 * width, dropout))
    with torch.no_grad():
        n = features(torch.zeros(1, *input_shape)).numel()
    return nn.Sequential(features, nn.Flatten(), nn.Linear(n, hidden), nn.ReLU(inplace=True),
                         FastDropout(2 * dropout), nn.Linear(hidden, num_outputs))
