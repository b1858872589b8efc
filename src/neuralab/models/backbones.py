"""Pretrained-style backbones by name (torchvision architectures), each with a fresh head for N classes.

Their specs (head, stages, the weights' preprocessing) live in `backbone_specs`; pretrained weights load through
`weights`, so the CLI, transfer learning and the server read normalization from one place.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from neuralab.models.backbone_specs import BACKBONES, BackboneSpec, get_module, set_module
from neuralab.models.registry import register_model
from neuralab.models.weights import load_backbone_weights


class GreyToRGB(nn.Module):
    """Repeat a single grey channel three times, so RGB backbones (and their weights) take grey images."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)


def build_backbone(name: str, input_shape: tuple[int, ...], num_outputs: int, pretrained: str = "none",
                   stem: str = "imagenet", dropout: float = 0.0) -> nn.Module:
    """torchvision architecture `name` with `pretrained` weights ('none', 'imagenet' or a file) and a new head."""
    spec = BACKBONES.get(name)
    model = torchvision.models.get_model(name, weights=None)
    if stem == "cifar" and name.startswith("resnet"):
        # Small images: a 3x3 stride-1 stem and no max-pool keep 32x32 inputs from collapsing to 1x1.
        model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    old = get_module(model, spec.head)
    set_module(model, spec.head, nn.Sequential(nn.Dropout(dropout), nn.Linear(old.in_features, num_outputs))
               if dropout else nn.Linear(old.in_features, num_outputs))
    if pretrained != "none":
        load_backbone_weights(model, spec, pretrained)
    return GreyToRGB(model) if input_shape[0] == 1 else model


def _register(name: str) -> None:
    def builder(input_shape: tuple[int, ...], num_outputs: int, *, pretrained: str = "none",
                stem: str = "imagenet", dropout: float = 0.0) -> nn.Module:
        return build_backbone(name, input_shape, num_outputs, pretrained, stem, dropout)

    builder.__name__ = name
    register_model(name, ranges={"dropout": (0.0, 0.99)})(builder)


for _name in BACKBONES.names():
    _register(_name)


def unwrap(model: nn.Module) -> nn.Module:
    return model.body if isinstance(model, GreyToRGB) else model

