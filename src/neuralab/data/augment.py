"""Augmentation on whole batches: one tensor op per batch, no per-sample Python (the airbench way).

Every function takes a float batch `(N, C, H, W)` and a `torch.Generator`, and returns a new batch of the same
shape; labels are never touched. Random choices are drawn per sample from the generator, so a seeded run repeats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from neuralab.errors import ConfigError
from neuralab.registry import Registry

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
AUGMENTS: Registry[Callable[..., Augment]] = Registry("augmentation")


def _rand(n: int, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=g, device=g.device).to(device)


def flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Mirror left-right with probability 1/2 per image."""
    do = _rand(len(x), g, x.device) < 0.5
    return torch.where(do[:, None, None, None], x.flip(-1), x)


def translate(x: torch.Tensor, g: torch.Generator, pad: int = 4, mode: str = "reflect") -> torch.Tensor:
    """Random crop of the padded image back to the original size (= random translation by up to `pad` px).

    Two gathers on the padded batch pick each image's rows then columns: no loop over images.
    """
    n, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), mode=mode)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g, device=g.device).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g, device=g.device).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None].expand(n, c, h, w + 2 * pad)
    xp = xp.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :].expand(n, c, h, w)
    return xp.gather(3, cols)


def rotate(x: torch.Tensor, g: torch.Generator, degrees: float = 15.0) -> torch.Tensor:
    """Rotate each image by a random angle in [-degrees, degrees] (bilinear, zero fill), via one affine grid."""
    theta = (_rand(len(x), g, x.device) * 2 - 1) * math.radians(degrees)
    cos, sin = theta.cos(), theta.sin()
    zero = torch.zeros_like(cos)
    mat = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(mat.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def cutout(x: torch.Tensor, g: torch.Generator, size: int = 8) -> torch.Tensor:
    """Zero one random `size` x `size` square per image (DeVries & Taylor, 2017); the square may cross edges."""
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n,), generator=g, device=g.device).to(x.device)
    cx = torch.randint(0, w, (n,), generator=g, device=g.device).to(x.device)
    dy = torch.arange(h, device=x.device)[None, :] - (cy[:, None] - size // 2)
    dx = torch.arange(w, device=x.device)[None, :] - (cx[:, None] - size // 2)
    in_y = ((dy >= 0) & (dy < size))[:, :, None]
    in_x = ((dx >= 0) & (dx < size))[:, None, :]
    return x * ~(in_y & in_x)[:, None]


@dataclass
class Compose:
    """Apply augmentations in order; an empty list is the identity."""

    steps: list[Augment]

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        for step in self.steps:
            x = step(x, g)
        return x


RANGES = {"crop": (1, 64), "rotate": (0.0, 180.0), "cutout": (1, 512)}  # pixels, degrees, pixels
AUGMENTS.register("flip")(lambda: flip)
AUGMENTS.register("crop")(lambda pad=4: lambda x, g: translate(x, g, pad))
AUGMENTS.register("rotate")(lambda degrees=15.0: lambda x, g: rotate(x, g, degrees))
AUGMENTS.register("cutout")(lambda size=8: lambda x, g: cutout(x, g, size))


def parse(spec: str | list[str] | None) -> list[tuple[str, int | float | None]]:
    """'flip,crop=2' or ['flip', 'crop=2'] -> [('flip', None), ('crop', 2)]; 'none' or empty -> []. `name=N` sets an
    augmentation's one number: crop=2 (pixels of translation; 28x28 digits want 2, 32x32 CIFAR 4), rotate=10
    (degrees), cutout=12 (square side). Unknown names and bad numbers are ConfigErrors."""
    names = spec.split(",") if isinstance(spec, str) else list(spec or [])
    out: list[tuple[str, int | float | None]] = []
    for item in (n.strip() for n in names):
        if not item or item == "none":
            continue
        name, _, value = item.partition("=")
        AUGMENTS.get(name)  # unknown name: the registry's error
        if not value:
            out.append((name, None))
            continue
        if name == "flip":
            raise ConfigError(f"flip takes no value. Received: {item!r}")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name} takes a number, e.g. {name}=2. Received: {item!r}") from None
        low, high = RANGES[name]
        whole = name in ("crop", "cutout")
        if not (low <= number <= high) or (whole and number != int(number)):
            raise ConfigError(f"{name} takes {'a whole number' if whole else 'a number'} from {low:g} to {high:g}. "
                              f"Received: {item!r}")
        out.append((name, int(number) if whole else number))
    return out


def build(spec: str | list[str] | None) -> Compose:
    """A spec (see `parse`) -> one Compose of batched augmentations; 'none' or empty -> identity."""
    return Compose([AUGMENTS.get(name)() if value is None else AUGMENTS.get(name)(value)
                    for name, value in parse(spec)])
