"""A small configurable CNN: conv blocks (optionally residual) with pooling, then global adaptive pooling and a
linear head, so no layer size is hand-computed from the input size."""

from __future__ import annotations

from torch import nn

from neuralab.errors import ConfigError
from neuralab.models.mlp import activation
from neuralab.models.registry import register_model

POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class ConvBlock(nn.Module):
    """conv -> [bn] -> act -> conv -> [bn] (+ skip when residual) -> act -> [pool]."""

    def __init__(self, c_in: int, c_out: int, batch_norm: bool, residual: bool, act: str, pool: nn.Module | None):
        super().__init__()
        norm = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
        self.body = nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm), norm(c_out),
                                  activation(act), nn.Conv2d(c_out, c_out, 3, padding=1, bias=not batch_norm),
                                  norm(c_out))
        self.skip = None
        if residual:
            self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1, bias=False)
        self.act = activation(act)
        self.pool = pool if pool is not None else nn.Identity()

    def forward(self, x):
        y = self.body(x)
        if self.skip is not None:
            y = y + self.skip(x)
        return self.pool(self.act(y))


@register_model("cnn")
def cnn(input_shape: tuple[int, ...], num_outputs: int, *, width: int = 32, depth: int = 2, pooling: str = "max",
        dropout: float = 0.0, batch_norm: bool = True, residual: bool = False,
        activation_name: str = "relu") -> nn.Sequential:
    """`depth` blocks; block i has width * 2**i channels and halves the resolution while it is above 2 pixels."""
    if depth < 1 or width < 1:
        raise ConfigError(f"depth and width must be >= 1. Received: depth={depth}, width={width}")
    if pooling not in POOLS:
        raise ConfigError(f"pooling must be one of {sorted(POOLS)}. Received: pooling={pooling!r}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1). Received: dropout={dropout}")
    if len(input_shape) != 3:
        raise ConfigError(f"cnn needs (C, H, W) inputs. Received: input_shape={tuple(input_shape)}")
    c, size = input_shape[0], min(input_shape[1:])
    blocks: list[nn.Module] = []
    for i in range(depth):
        out = width * 2 ** i
        pool = POOLS[pooling](2) if size > 2 else None
        size = size // 2 if pool is not None else size
        blocks.append(ConvBlock(c, out, batch_norm, residual, activation_name, pool))
        c = out
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if dropout:
        head.append(nn.Dropout(dropout))
    head.append(nn.Linear(c, num_outputs))
    return nn.Sequential(*blocks, *head)
