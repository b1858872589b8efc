"""Request bytes -> validated model input, through the model card's `Preprocess` (the one training used) and the
one image reader (`data.images.open_image`): size limits (bytes and pixels), decode errors, feature shapes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neuralab.data.images import DEFAULT_MAX_PIXELS, ImageTooLarge, open_image
from neuralab.data.preprocess import Preprocess
from neuralab.errors import DataError


class InputError(ValueError):
    """Bad client input; `status` is the HTTP status the service answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = DEFAULT_MAX_PIXELS


def image_input(pre: Preprocess, data: bytes, limits: Limits = Limits()) -> np.ndarray:
    """Image file bytes -> (C, H, W) float32, as the model was trained; InputError says what was wrong."""
    if not pre.is_image:
        raise InputError(f"this model takes features {list(pre.input_shape)}, not an image; "
                         f'send JSON {{"inputs": [[...], ...]}}')
    if len(data) > limits.max_bytes:
        raise InputError(f"image is {len(data)} bytes, larger than the limit of {limits.max_bytes}", 413)
    try:
        return pre.images([open_image(data, limits.max_pixels, name="upload")])[0]
    except ImageTooLarge as e:
        raise InputError(str(e), 413) from None
    except DataError as e:
        raise InputError(str(e)) from None


def feature_input(pre: Preprocess, payload: Any) -> np.ndarray:
    """JSON {"inputs": [[f1, f2, ...], ...]} -> (N, F) float32, normalized."""
    if pre.is_image:
        raise InputError(f"this model takes an image {list(pre.input_shape)}: send it as multipart 'file'")
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise InputError(f'expected a JSON object {{"inputs": [[...], ...]}}; received {str(payload)[:80]}', 422)
    try:
        return pre.features(payload["inputs"])
    except DataError as e:
        raise InputError(f"'inputs': {e}", 422) from None
