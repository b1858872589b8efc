"""Box-safe augmentation for detection batches: every transform moves the boxes exactly as it moves the pixels.

Images are float tensors `(3, H, W)`, boxes `(n, 4)` `[x1, y1, x2, y2]` in pixels (x2/y2 exclusive edges), so
a horizontal flip maps x to W - x and swaps the two x edges; flipping twice is the identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def hflip(image: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror left-right: x' = W - x, so [x1, x2] becomes [W - x2, W - x1]."""
    w = image.shape[-1]
    flipped = boxes.clone()
    flipped[:, 0], flipped[:, 2] = w - boxes[:, 2], w - boxes[:, 0]
    return image.flip(-1), flipped


def zoom_out(image: torch.Tensor, boxes: torch.Tensor, scale: float, gen: torch.Generator | None = None,
             fill: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Shrink the picture by `scale` (<= 1) onto a `fill` canvas of the same size at a random place: objects get
    smaller, which teaches the small-object anchors; boxes are scaled and shifted with the pixels."""
    _, h, w = image.shape
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = F.interpolate(image[None], size=(nh, nw), mode="bilinear", align_corners=False)[0]
    top = int(torch.randint(0, h - nh + 1, (1,), generator=gen))
    left = int(torch.randint(0, w - nw + 1, (1,), generator=gen))
    canvas = torch.full_like(image, fill)
    canvas[:, top:top + nh, left:left + nw] = small
    sx, sy = nw / w, nh / h
    moved = boxes * torch.tensor([sx, sy, sx, sy], dtype=boxes.dtype) + torch.tensor([left, top, left, top],
                                                                                    dtype=boxes.dtype)
    return canvas, moved


def augment(image: torch.Tensor, boxes: torch.Tensor, gen: torch.Generator, flip: bool = True,
            min_scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random horizontal flip (p=0.5) and, when min_scale < 1, a random zoom-out (p=0.5) to [min_scale, 1]."""
    if flip and torch.rand(1, generator=gen).item() < 0.5:
        image, boxes = hflip(image, boxes)
    if min_scale < 1 and torch.rand(1, generator=gen).item() < 0.5:
        s = min_scale + (1 - min_scale) * torch.rand(1, generator=gen).item()
        image, boxes = zoom_out(image, boxes, s, gen, fill=float(image.mean()))
    return image, boxes
