"""Helpers that write small image datasets in standard layouts (shared by data and experiment tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image_folder(root: Path, classes=("cat", "dog"), per_class=6, size=(12, 10), splits=("train", "test"),
                       mode="RGB", seed=0) -> Path:
    """root/<split>/<class>/<i>.png with a class-dependent mean colour, so a model can learn them."""
    rng = np.random.default_rng(seed)
    for split in splits:
        for c, name in enumerate(classes):
            d = root / split / name if split else root / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                base = 60 + 120 * c
                a = np.clip(rng.normal(base, 20, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
                Image.fromarray(a).convert(mode).save(d / f"{i}.png")
    return root
