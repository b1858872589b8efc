"""SSDLite on a MobileNet trunk, built from torchvision's SSD parts: MobileNetV2 (the SSDLite paper's trunk) and
MobileNetV3-Large (torchvision's `ssdlite320_mobilenet_v3_large`, the same modules and names, so its COCO weights
load).

    image -> MobileNet trunk -> 2 feature maps (stride 16: the expansion layer of the last stride-2 block;
             stride 32: the trunk's last layer) -> 4 extra blocks (stride 64..512)
          -> per map, per default box: class scores and box offsets (SSDLiteHead) -> NMS

Section 6.2 of the MobileNetV2 paper: SSDLite replaces SSD's 3x3 convolutions with depthwise-separable ones,
and attaches its first map to "the expansion of layer 15" (stride 16), its second to the last layer (stride 32).

The trunk is either pretrained (a classifier's state dict, shape-checked; its batch-norm statistics stay as the
checkpoint has them, as torchvision's Faster R-CNN freezes them — and they must for checkpoints whose batch norm is
folded into the convolution biases) or random (initialised as torchvision's SSDLite does, MobileNetV3 with the
reduced tail of its paper's Table 6). The input normalisation is the trunk's own: the model card stores it.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from typing import Callable

import torch
import torchvision
from torch import nn
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.ssd import SSD
from torchvision.models.detection.ssdlite import SSDLiteHead
from torchvision.ops.misc import Conv2dNormActivation

# torchvision's SSDLite: batch norm tuned for 600-epoch COCO runs, inputs scaled to [-1, 1] when the trunk is random
SSDLITE_NORM = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)
SSDLITE_MEAN, SSDLITE_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
TRUNKS = ("mobilenet_v2", "mobilenet_v3_large")


class FrozenStatsBatchNorm2d(nn.BatchNorm2d):
    """Batch norm that always normalises with its stored statistics and never updates them (its scale and shift
    still learn). Same parameters and names as nn.BatchNorm2d, so checkpoints are interchangeable."""

    def train(self, mode: bool = True) -> "FrozenStatsBatchNorm2d":
        return super().train(False)


def normal_init(module: nn.Module) -> None:
    """SSDLite's initialisation of the layers it adds (and of a random trunk): N(0, 0.03) weights, zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.03)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def extra_block(c_in: int, c_out: int, norm: Callable[..., nn.Module]) -> nn.Sequential:
    """Halve the resolution: 1x1 to c_out/2, 3x3 depthwise stride 2, 1x1 to c_out (ReLU6 after each)."""
    mid = c_out // 2
    return nn.Sequential(
        Conv2dNormActivation(c_in, mid, kernel_size=1, norm_layer=norm, activation_layer=nn.ReLU6),
        Conv2dNormActivation(mid, mid, kernel_size=3, stride=2, groups=mid, norm_layer=norm, activation_layer=nn.ReLU6),
        Conv2dNormActivation(mid, c_out, kernel_size=1, norm_layer=norm, activation_layer=nn.ReLU6))


class MobileNetFeatures(nn.Module):
    """The six SSDLite feature maps of a MobileNet's `features` (V2 or V3): the trunk is cut inside its last
    stride-2 block, after the expansion layer, so the first map has the expanded channels at stride 16."""

    def __init__(self, trunk: nn.Sequential, norm: Callable[..., nn.Module]) -> None:
        super().__init__()
        cut = [i for i, b in enumerate(trunk) if getattr(b, "_is_cn", False)][-1]
        layers = trunk[cut].conv if hasattr(trunk[cut], "conv") else trunk[cut].block  # V2: .conv, V3: .block
        self.features = nn.Sequential(nn.Sequential(*trunk[:cut], layers[0]),  # input .. expansion (stride 16)
                                      nn.Sequential(layers[1:], *trunk[cut + 1:]))  # depthwise .. last layer (32)
        self.extra = nn.ModuleList([extra_block(trunk[-1].out_channels, 512, norm), extra_block(512, 256, norm),
                                    extra_block(256, 256, norm), extra_block(256, 128, norm)])
        normal_init(self.extra)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = []
        for block in [*self.features, *self.extra]:
            x = block(x)
            maps.append(x)
        return OrderedDict((str(i), m) for i, m in enumerate(maps))


def _trunk(name: str, pretrained: bool, load: Callable[[nn.Module], None] | None) -> nn.Module:
    norm = partial(FrozenStatsBatchNorm2d, eps=0.001) if pretrained else SSDLITE_NORM
    if name == "mobilenet_v3_large":
        trunk = torchvision.models.mobilenet_v3_large(norm_layer=norm, reduced_tail=not pretrained)
    else:
        trunk = torchvision.models.mobilenet_v2(norm_layer=norm)
    if load is not None:
        load(trunk)
    elif not pretrained:
        normal_init(trunk)
    return trunk


def build_ssdlite(trunk: str, num_classes: int, load: Callable[[nn.Module], None] | None = None,
                  mean: tuple[float, ...] = SSDLITE_MEAN, std: tuple[float, ...] = SSDLITE_STD, size: int = 320,
                  pretrained: bool | None = None) -> SSD:
    """SSDLite with `num_classes` labels (background included) on a `trunk` MobileNet. `load(classifier)` puts
    pretrained weights into the trunk's classifier (shape-checked by the caller); `mean`/`std` are the trunk's input
    normalisation. `pretrained` (default: whether `load` is given) lays the trunk out as a pretrained one — frozen
    batch-norm statistics, MobileNetV3's full tail — as a saved detector with such a trunk is rebuilt."""
    if trunk not in TRUNKS:
        raise ValueError(f"SSDLite trunks: {', '.join(TRUNKS)}. Received: {trunk!r}")
    pretrained = load is not None if pretrained is None else pretrained
    features = MobileNetFeatures(_trunk(trunk, pretrained, load).features, SSDLITE_NORM)
    anchors = DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.2, max_ratio=0.95)
    with torch.no_grad():  # channels of each map, from a dummy forward pass (not hand-written)
        channels = [m.shape[1] for m in features.eval()(torch.zeros(1, 3, size, size)).values()]
    head = SSDLiteHead(channels, anchors.num_anchors_per_location(), num_classes, SSDLITE_NORM)
    return SSD(features.train(), anchors, (size, size), num_classes, head=head, score_thresh=0.001, nms_thresh=0.55,
               detections_per_img=300, topk_candidates=300, image_mean=list(mean), image_std=list(std))
