"""A small CIFAR-style ResNet (3x3 stem, four stages of basic blocks) that trains on a CPU in minutes.

It is the backbone of our own pretraining (`neuralab pretrain`): where no downloadable weights exist, pretrain this
on a source dataset and transfer it like any torchvision backbone.
"""

from __future__ import annotations

import torch
from torch import nn

from neuralab.models.backbone_specs import BACKBONES, BackboneSpec
from neuralab.models.registry import register_model
from neuralab.models.weights import load_backbone_weights


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus a shortcut (1x1 conv when the shape changes), then ReLU (He et al., 2016)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetSmall(nn.Module):
    def __init__(self, in_channels: int, num_outputs: int, width: int = 16, blocks: int = 1):
        super().__init__()
        w = [width, 2 * width, 4 * width, 8 * width]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, w[0], 3, 1, 1, bias=False), nn.BatchNorm2d(w[0]),
                                  nn.ReLU(inplace=True))
        stages, cin = [], w[0]
        for i, cout in enumerate(w):
            layers = [BasicBlock(cin if j == 0 else cout, cout, 1 if (i == 0 or j > 0) else 2) for j in range(blocks)]
            stages.append(nn.Sequential(*layers))
            cin = cout
        self.stage1, self.stage2, self.stage3, self.stage4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w[-1], num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage4(self.stage3(self.stage2(self.stage1(self.stem(x)))))
        return self.fc(torch.flatten(self.pool(x), 1))


BACKBONES.register("resnet_small")(BackboneSpec("resnet_small", "fc", ("stem", "stage1", "stage2", "stage3",
                                                                       "stage4"), torchvision=False, resize=32,
                                                crop=32, mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26)))


@register_model("resnet_small")
def resnet_small(input_shape: tuple[int, ...], num_outputs: int, *, width: int = 16, blocks: int = 1,
                 pretrained: str = "none") -> nn.Module:
    model = ResNetSmall(input_shape[0], num_outputs, width, blocks)
    if pretrained != "none":
        load_backbone_weights(model, BACKBONES.get("resnet_small"), pretrained)
    return model
