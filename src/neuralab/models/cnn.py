"""cnn: a configurable CNN for controlled comparisons — depth, width, max vs average pooling, dropout, batch
norm on/off, residual connections on/off — with everything else held fixed.

`depth` 3x3 convolutions are spread over up to three stages (width doubling per stage, pooling after each). With
`residual`, every conv after a stage's first adds its input back (x + f(x)), the identity path that lets deep nets
train. A global average pool feeds the classifier, so no size is hand-computed.
"""

from __future__ import annotations

import torch
from torch import nn

from neuralab.errors import ConfigError
from neuralab.models.dropout import FastDropout
from neuralab.models.registry import register_model


def stage_sizes(depth: int) -> list[int]:
    """Convs per stage: depth spread over min(depth, 3) stages, earlier stages taking the remainder."""
    stages = min(depth, 3)
    return [depth // stages + (1 if i < depth % stages else 0) for i in range(stages)]


class ConvLayer(nn.Module):
    def __init__(self, cin: int, cout: int, batch_norm: bool, residual: bool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(cout) if batch_norm else nn.Identity()
        self.residual = residual and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(x))
        return torch.relu(out + x if self.residual else out)


@register_model("cnn", ranges={"dropout": (0.0, 0.99)})
def cnn(input_shape: tuple[int, ...], num_outputs: int, *, depth: int = 4, width: int = 32, pool: str = "max",
        dropout: float = 0.0, batch_norm: bool = True, residual: bool = False) -> nn.Sequential:
    if depth < 1:
        raise ConfigError(f"depth must be >= 1. Received: depth={depth}")
    if pool not in ("max", "avg"):
        raise ConfigError(f"pool must be 'max' or 'avg'. Received: pool={pool!r}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1). Received: dropout={dropout}")
    layers: list[nn.Module] = []
    cin = input_shape[0]
    for s, n in enumerate(stage_sizes(depth)):
        cout = width * 2**s
        for _ in range(n):
            layers.append(ConvLayer(cin, cout, batch_norm, residual))
            cin = cout
        layers.append(nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2))
        if dropout:
            layers.append(FastDropout(dropout))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_outputs)]
    return nn.Sequential(*layers)
