"""Prediction from a checkpoint alone: image files -> the model's input tensor -> top-k classes.

`preprocess` is the one place an arbitrary image (any size, any mode) becomes a model input, using only the
checkpoint's metadata (input shape, input scale, mean, std); the CLI and the HTTP server both call it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from neuralab.data.images import to_array
from neuralab.errors import DataError


def preprocess(images: Sequence[Image.Image], meta: dict[str, Any]) -> torch.Tensor:
    """PIL images -> float (N, C, H, W), resized/centre-cropped to the model's input, normalized as in training."""
    c, h, w = meta["input_shape"]
    mode = "L" if c == 1 else "RGB"
    x = np.stack([to_array(im, (h, w), mode) for im in images]).astype(np.float32)
    x /= float(meta.get("input_scale", 255.0))
    mean = np.asarray(meta["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(meta["std"], np.float32).reshape(1, -1, 1, 1)
    return torch.from_numpy((x - mean) / std)


def open_image(path: str | Path) -> Image.Image:
    """A decoded image, or a DataError naming the file that is not one."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{path} is not an image neuralab can read ({type(e).__name__}: {e})") from None


@torch.no_grad()
def top_k(model: torch.nn.Module, meta: dict[str, Any], images: Sequence[Image.Image],
          k: int = 3) -> list[list[tuple[str, float]]]:
    """For each image, the k most probable (class name, probability) pairs."""
    if len(meta["input_shape"]) != 3:
        raise DataError(f"this model takes inputs of shape {meta['input_shape']}, not images")
    device = next(model.parameters()).device
    probs = torch.softmax(model(preprocess(images, meta).to(device)).float(), dim=1).cpu()
    classes = meta.get("classes") or [str(i) for i in range(probs.shape[1])]
    k = max(1, min(k, probs.shape[1]))
    values, idx = probs.topk(k, dim=1)
    return [[(classes[j], float(v)) for v, j in zip(vs.tolist(), ix.tolist())] for vs, ix in zip(values, idx)]
