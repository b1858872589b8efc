"""Request bytes -> validated model input: image size limits (bytes and pixels), decode errors, tabular shapes."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from neuralab.data.images import to_array


class InputError(ValueError):
    """Bad client input; `status` is the HTTP status the service answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000


@dataclass(frozen=True)
class Preprocess:
    """Everything between a request and the model, read from the checkpoint metadata."""
    input_shape: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_scale: float

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> "Preprocess":
        return cls(tuple(meta["input_shape"]), tuple(meta.get("mean") or [0.0]), tuple(meta.get("std") or [1.0]),
                   float(meta.get("input_scale", 1.0)))

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    def normalize(self, x: np.ndarray) -> np.ndarray:
        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
        if self.is_image:
            mean, std = mean.reshape(-1, 1, 1), std.reshape(-1, 1, 1)
        return ((x.astype(np.float32) / self.input_scale) - mean) / std

    def image(self, data: bytes, limits: Limits = Limits()) -> np.ndarray:
        """Image file bytes -> (C, H, W) float32, normalized; InputError says what was wrong."""
        if not self.is_image:
            raise InputError(f"this model takes features {list(self.input_shape)}, not an image; "
                             f'send JSON {{"inputs": [[...], ...]}}')
        if len(data) > limits.max_bytes:
            raise InputError(f"image is {len(data)} bytes, larger than the limit of {limits.max_bytes}", 413)
        if not data:
            raise InputError("empty upload: expected an image file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im = Image.open(io.BytesIO(data))
                w, h = im.size
                if w * h > limits.max_pixels:
                    raise InputError(f"image is {w}x{h} = {w * h} pixels, larger than the limit of "
                                     f"{limits.max_pixels}", 413)
                im.load()
        except InputError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise InputError(f"image rejected as a decompression bomb: {e}", 413) from None
        except OSError as e:
            msg = str(e)
            kind = "truncated image" if "truncated" in msg.lower() or "broken" in msg.lower() else "not an image"
            raise InputError(f"{kind}: could not decode the upload ({msg})") from None
        c, hh, ww = self.input_shape
        return self.normalize(to_array(im, (hh, ww), "L" if c == 1 else "RGB"))

    def features(self, payload: Any) -> np.ndarray:
        """JSON {"inputs": [[f1, f2, ...], ...]} -> (N, F) float32, normalized."""
        if self.is_image:
            raise InputError(f"this model takes an image {list(self.input_shape)}: send it as multipart 'file'")
        if not isinstance(payload, dict) or "inputs" not in payload:
            raise InputError(f'expected a JSON object {{"inputs": [[...], ...]}}; received {str(payload)[:80]}', 422)
        try:
            x = np.asarray(payload["inputs"], dtype=np.float32)
        except (ValueError, TypeError):
            raise InputError("'inputs' must be a list of equal-length lists of numbers", 422) from None
        if x.ndim == 1:
            x = x[None]
        want = int(np.prod(self.input_shape))
        if x.ndim != 2 or x.shape[1] != want or x.shape[0] == 0:
            raise InputError(f"'inputs' must have shape (N, {want}); received shape {list(x.shape)}", 422)
        if not np.isfinite(x).all():
            raise InputError("'inputs' contains NaN or infinity", 422)
        return self.normalize(x).reshape(len(x), *self.input_shape)
