"""What transfer learning needs to know about each backbone architecture, by name (timm's pretrained config):
where its final Linear lives, its stages from input to output (for "unfreeze the last N stages"), and the
preprocessing its ImageNet weights expect (resize, crop, mean, std).
"""

from __future__ import annotations

from dataclasses import dataclass
from torch import nn

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


def spec_of(model_name: str) -> BackboneSpec:
    return BACKBONES.get(model_name)
