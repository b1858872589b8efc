"""Pretrained-style backbones by name, each with a fresh head for N classes.

A `BackboneSpec` records what transfer learning needs to know about an architecture (timm's pretrained config):
where its final Linear lives, its stages from input to output (for "unfreeze the last N stages"), and the
preprocessing its ImageNet weights expect (resize, crop, mean, std), so the CLI, transfer learning and the server
read normalization from one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuralab.models.registry import register_model
from neuralab.registry import Registry


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    head: str  # dotted path of the classifier's final nn.Linear
    stages: tuple[str, ...]  # module prefixes, input -> output (the head excluded)
    torchvision: bool = True
    resize: int = 256
    crop: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)


BACKBONES: Registry[BackboneSpec] = Registry("backbone")

_RESNET_STAGES = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")
_FEATURE_STAGES = tuple(f"features.{i}" for i in range(19))
for spec in (
    BackboneSpec("resnet18", "fc", _RESNET_STAGES),
    BackboneSpec("resnet34", "fc", _RESNET_STAGES),
    BackboneSpec("resnet50", "fc", _RESNET_STAGES, resize=232),
    BackboneSpec("mobilenet_v2", "classifier.1", _FEATURE_STAGES, resize=232),
    BackboneSpec("mobilenet_v3_small", "classifier.3", _FEATURE_STAGES[:13]),
    BackboneSpec("mobilenet_v3_large", "classifier.3", _FEATURE_STAGES[:17], resize=232),
    BackboneSpec("efficientnet_b0", "classifier.1", _FEATURE_STAGES[:9]),
):
    BACKBONES.register(spec.name)(spec)


def get_module(model: nn.Module, path: str) -> nn.Module:
    for part in path.split("."):
        model = model[int(part)] if part.isdigit() else getattr(model, part)  # type: ignore[index]
    return model


def set_module(model: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    owner = get_module(model, parent) if parent else model
    if leaf.isdigit():
        owner[int(leaf)] = new  # type: ignore[index]
    else:
        setattr(owner, leaf, new)


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
    import torchvision

    from neuralab.models.weights import load_backbone_weights

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


def spec_of(model_name: str) -> BackboneSpec:
    return BACKBONES.get(model_name)


def describe(spec: BackboneSpec) -> dict[str, Any]:
    return {"resize": spec.resize, "crop": spec.crop, "mean": list(spec.mean), "std": list(spec.std)}
