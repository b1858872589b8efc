"""`Preprocess`: how a raw input becomes the model's input, defined once and stored with the model.

Training computes the statistics, the model card stores this object, and `predict`, the HTTP service, `detect`,
export parity checks and evaluation all apply the same one (timm keeps mean, std and input size in the model's
pretrained config for the same reason): a photo given to any command goes through exactly what training did.

    raw pixels (uint8, any size, any mode) --resize/crop--> (C, H, W) uint8 --/scale, -mean, /std--> float32
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from PIL import Image

from neuralab.data.images import to_array, to_mode
from neuralab.errors import DataError

MAX_SIDE = 16384  # the largest input side a card may declare (more is a corrupt or hostile file, not a model)
MAX_FEATURES = 1_000_000


@dataclass(frozen=True)
class Preprocess:
    """Resize, crop, scale and normalize; `input_shape` is (C, H, W) for images, (F,) for feature vectors."""

    input_shape: tuple[int, ...]
    mean: tuple[float, ...]  # per channel (images, after scaling to [0, 1]) or per feature
    std: tuple[float, ...]
    scale: float = 255.0  # the raw value that becomes 1.0: 255 for 8-bit pixels, 1 for features
    resize: int | None = None  # images: shorter side resized to this, then centre-cropped to (H, W); None: the
    # image is resized just enough to cover (H, W), then centre-cropped
    crop: bool = True  # False: images keep their own size (detectors resize inside the model)

    def __post_init__(self) -> None:
        shape = tuple(self.input_shape)
        object.__setattr__(self, "input_shape", shape)
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if len(shape) not in (1, 3) or not all(isinstance(d, int) and d > 0 for d in shape):
            raise DataError(f"input_shape must be (C, H, W) or (F,) of positive integers. Received: {list(shape)}")
        if len(shape) == 3 and (shape[0] not in (1, 3) or max(shape[1:]) > MAX_SIDE):
            raise DataError(f"image input_shape must have 1 or 3 channels and sides <= {MAX_SIDE}. "
                            f"Received: {list(shape)}")
        if len(shape) == 1 and shape[0] > MAX_FEATURES:
            raise DataError(f"input_shape declares {shape[0]:,} features, more than {MAX_FEATURES:,}")
        width = shape[0]
        if len(self.mean) != width or len(self.std) != width:
            raise DataError(f"mean and std need {width} values (one per {'channel' if self.is_image else 'feature'}). "
                            f"Received: mean={list(self.mean)}, std={list(self.std)}")
        if not all(math.isfinite(m) for m in self.mean) or not all(math.isfinite(s) and s > 0 for s in self.std):
            raise DataError(f"mean must be finite and std finite and > 0. Received: mean={list(self.mean)}, "
                            f"std={list(self.std)}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise DataError(f"scale must be finite and > 0. Received: scale={self.scale}")
        if self.resize is not None and not (self.is_image and min(shape[1:]) <= self.resize <= MAX_SIDE):
            raise DataError(f"resize must be between the crop size and {MAX_SIDE} for an image model. "
                            f"Received: resize={self.resize}, input_shape={list(shape)}")

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    @property
    def mode(self) -> str:
        """The Pillow mode images are converted to: 'L' for one channel, 'RGB' for three."""
        return "L" if self.input_shape[0] == 1 else "RGB"

    # -- JSON -------------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"input_shape": list(self.input_shape), "mean": list(self.mean), "std": list(self.std),
                "scale": self.scale, "resize": self.resize, "crop": self.crop}

    @classmethod
    def from_json(cls, d: Any) -> "Preprocess":
        if not isinstance(d, dict):
            raise DataError(f"preprocess must be a JSON object. Received: {type(d).__name__}")
        unknown = sorted(set(d) - {"input_shape", "mean", "std", "scale", "resize", "crop"})
        if unknown:
            raise DataError(f"preprocess has unknown field(s) {unknown}")
        try:
            return cls(tuple(d["input_shape"]), tuple(d["mean"]), tuple(d["std"]), float(d.get("scale", 255.0)),
                       d.get("resize"), bool(d.get("crop", True)))
        except KeyError as e:
            raise DataError(f"preprocess has no {e.args[0]!r}") from None
        except (TypeError, ValueError) as e:
            raise DataError(f"preprocess has a field of the wrong type ({e})") from None

    # -- applying it ------------------------------------------------------------------------------------------
    def pixels(self, im: Image.Image) -> np.ndarray:
        """(C, H, W) uint8: the image converted to the model's mode, resized and centre-cropped as in training
        (with crop=False: converted only, at its own size)."""
        if not self.is_image:
            raise DataError(f"this model takes {self.input_shape[0]} features, not an image")
        if not self.crop:
            return to_array(im, None, self.mode)
        _, h, w = self.input_shape
        if self.resize is None:
            return to_array(im, (h, w), self.mode)
        im = to_mode(im, self.mode)  # shorter side to `resize`, then the centre (h, w): as transfer learning trains
        scale = self.resize / min(im.size)
        if scale != 1:
            im = im.resize((max(w, round(im.width * scale)), max(h, round(im.height * scale))),
                           Image.Resampling.BILINEAR, reducing_gap=3.0)
        left, top = (im.width - w) // 2, (im.height - h) // 2
        return to_array(im.crop((left, top, left + w, top + h)), None, self.mode)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Raw values (N, C, H, W) or (N, F) -> float32 model input: x / scale, minus mean, over std."""
        x = np.asarray(x)
        shape = (1, -1, 1, 1) if self.is_image else (1, -1)
        mean = np.asarray(self.mean, np.float32).reshape(shape)
        std = np.asarray(self.std, np.float32).reshape(shape)
        return ((x.astype(np.float32) / np.float32(self.scale)) - mean) / std

    def images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Decoded images -> (N, C, H, W) float32 model input (same size required: crop=True)."""
        return self.normalize(np.stack([self.pixels(im) for im in images]))

    def features(self, rows: Any) -> np.ndarray:
        """Rows of numbers -> (N, F) float32 model input; shape, type and finiteness are checked."""
        if self.is_image:
            raise DataError(f"this model takes an image {list(self.input_shape)}, not a list of features")
        try:
            x = np.asarray(rows, dtype=np.float32)
        except (ValueError, TypeError, OverflowError):
            raise DataError("inputs must be a list of equal-length lists of numbers") from None
        x = x[None] if x.ndim == 1 else x
        want = self.input_shape[0]
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] != want:
            raise DataError(f"inputs must have shape (N, {want}) with N >= 1. Received: shape {list(x.shape)}")
        if not np.isfinite(x).all():
            raise DataError("inputs contain NaN or infinity")
        return self.normalize(x)

