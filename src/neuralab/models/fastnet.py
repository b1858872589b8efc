"""fastnet: a CIFAR network built for accuracy per second, after the ideas of David Page's ResNet-9 and Keller
Jordan's airbench94.

- A frozen 2x2 *patch-whitening* convolution first: its filters are the eigenvectors of the training images'
  patch covariance, scaled to unit variance (and their negatives), so the net starts from decorrelated inputs.
- Three blocks of conv -> max-pool -> BN -> GELU -> conv -> BN -> GELU, widths 64/256/256; BN scales are frozen
  at 1 (only shifts learn). `depth=3` adds a third conv -> BN per block with a residual connection around the last
  two (airbench96's block): more accuracy per epoch for more compute per image.
- Global max pool and a bias-free linear layer whose logits are scaled down (x 1/9), which stabilizes training.
The training recipe that goes with it (label smoothing, lookahead, alternating flips, flip-TTA) is in
`neuralab.train.fast`.
"""

from __future__ import annotations

import torch
from torch import nn

from neuralab.errors import ConfigError
from neuralab.models.registry import register_model
from neuralab.models.small_map_conv import SmallMapConv2d


class PatchWhitening(nn.Conv2d):
    def __init__(self, channels: int, kernel: int = 2):
        super().__init__(channels, 2 * channels * kernel * kernel, kernel, padding=0, bias=True)
        self.weight.requires_grad = False
        nn.init.zeros_(self.bias)

    @torch.no_grad()
    def fit(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the filters from (normalized) training images: W = [V/sqrt(l+eps), -V/sqrt(l+eps)]."""
        c, (kh, kw) = images.shape[1], self.kernel_size
        patches = images.float().unfold(2, kh, 1).unfold(3, kw, 1)  # N, C, H', W', kh, kw
        flat = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * kh * kw)
        cov = flat.T @ flat / len(flat)
        eigval, eigvec = torch.linalg.eigh(cov)
        filters = (eigvec.T / torch.sqrt(eigval + eps)[:, None]).reshape(-1, c, kh, kw).flip(0)
        self.weight.copy_(torch.cat([filters, -filters]))


class FrozenScaleBN(nn.BatchNorm2d):
    """BatchNorm whose scale stays 1: only the shift learns (fewer degrees of freedom, faster to train)."""

    def __init__(self, n: int, momentum: float = 0.4):
        super().__init__(n, eps=1e-12, momentum=momentum)
        self.weight.requires_grad = False


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, depth: int = 2):
        super().__init__()
        self.conv1 = SmallMapConv2d(cin, cout)  # an nn.Conv2d(3x3, padding 1) with a faster gradient on tiny maps
        self.pool = nn.MaxPool2d(2)
        self.norm1 = FrozenScaleBN(cout)
        self.conv2 = SmallMapConv2d(cout, cout)
        self.norm2 = FrozenScaleBN(cout)
        self.conv3 = SmallMapConv2d(cout, cout) if depth == 3 else None
        self.norm3 = FrozenScaleBN(cout) if depth == 3 else None
        self.act = nn.GELU()
        for conv in (self.conv1, self.conv2, self.conv3):  # start near identity on channels that pass straight through
            if conv is not None:
                nn.init.dirac_(conv.weight[: min(conv.in_channels, conv.out_channels)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        if self.conv3 is None:
            return self.act(self.norm2(self.conv2(x)))
        out = self.act(self.norm2(self.conv2(x)))
        return self.act(self.norm3(self.conv3(out)) + x)


class Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


@register_model("fastnet", ranges={"scale": (1e-6, 1e3)})
def fastnet(input_shape: tuple[int, ...], num_outputs: int, *, widths: list[int] | tuple[int, ...] = (64, 256, 256),
            depth: int = 2, scale: float = 1 / 9) -> nn.Sequential:
    if depth not in (2, 3):
        raise ConfigError(f"fastnet depth (convs per block) must be 2 or 3. Received: depth={depth}")
    whiten = PatchWhitening(input_shape[0])
    layers: list[nn.Module] = [whiten, nn.GELU()]
    cin = whiten.out_channels
    for w in widths:
        layers.append(Block(cin, w, depth))
        cin = w
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(cin, num_outputs, bias=False), Scale(scale)]
    return nn.Sequential(*layers)
