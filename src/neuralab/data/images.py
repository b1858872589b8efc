"""Image files -> arrays: the one decoder every entry point uses (`open_image`), and whole folders decoded into
one uint8 `(N, C, H, W)` array, once, and cached.

Decoding tens of thousands of files is the slow part of every image dataset, so it happens in parallel processes
and the result is cached as `.npz` in neuralab's cache folder (never next to data neuralab did not download).
A corrupt or truncated file is skipped with a warning naming it; the caller gets the count.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from neuralab.errors import DataError
from neuralab.files import atomic_write_bytes

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
CACHE_VERSION = 1


def is_image_file(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


DEFAULT_MAX_PIXELS = 40_000_000  # width x height; a 12000x12000 PNG of a few hundred KB would decode to 430 MB


class ImageTooLarge(DataError):
    """An image whose header announces more pixels than the limit: refused before it is decoded."""


def open_image(source: str | Path | bytes, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "") -> Image.Image:
    """The one image decoder behind every entry point (image folders, predict, detect, the service).

    It checks the pixel count from the header before decoding (ImageTooLarge), decodes the first frame of an
    animation, and applies the EXIF orientation, so a photo means the same thing to every command as to a viewer.
    Anything unreadable (missing, empty, truncated, not an image) is a DataError naming the file.
    """
    label = name or (f"{len(source)}-byte upload" if isinstance(source, bytes) else str(source))
    if isinstance(source, bytes) and not source:
        raise DataError(f"{label}: empty, not an image")
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise ImageTooLarge(f"{label} is {w}x{h} = {w * h:,} pixels, more than the limit of {max_pixels:,}")
            im.seek(0)
            im.load()
            return ImageOps.exif_transpose(im) or im.copy()
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{label} does not exist (or is a broken link)") from None
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(f"{label} was refused as a decompression bomb ({e})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as e:
        kind = "is truncated" if "truncated" in str(e).lower() else "is not an image neuralab can read"
        raise DataError(f"{label} {kind} ({type(e).__name__}: {e})") from None


def _eight_bit(im: Image.Image) -> Image.Image:
    """16-bit and float images scaled to 8 bits by their range (Pillow's convert would clip 16-bit values at 255)."""
    a = np.asarray(im, dtype=np.float64)
    if im.mode == "F":
        a = a * 255.0 if np.nanmax(a, initial=0.0) <= 1.0 else a
    elif im.mode.startswith("I;16") or np.nanmax(a, initial=0.0) > 255:
        a = a / 257.0  # 0..65535 -> 0..255
    return Image.fromarray(np.clip(np.nan_to_num(a), 0, 255).round().astype(np.uint8), "L")


def to_mode(im: Image.Image, mode: str) -> Image.Image:
    """Any Pillow image as RGB or L: alpha composited on white, CMYK/Lab/YCbCr/HSV through RGB, 16-bit scaled."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        im = _eight_bit(im)
    if mode == "RGB" and im.mode in ("P", "PA", "RGBA", "LA", "La", "RGBa"):
        # Palette and alpha images: composite on white so transparent areas do not turn black.
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    if im.mode not in ("1", "L", "RGB", "RGBA", "P", "LA"):
        im = im.convert("RGB")  # CMYK, Lab, YCbCr, HSV...
    return im.convert(mode)


def to_array(im: Image.Image, size: int | tuple[int, int] | None, mode: str) -> np.ndarray:
    """PIL image -> (C, H, W) uint8. An int `size` resizes the shorter side and centre-crops a square;
    a (H, W) tuple does the same to that exact shape (aspect kept, centre crop)."""
    im = to_mode(im, mode)
    if size is not None:
        th, tw = (size, size) if isinstance(size, int) else size
        if (im.height, im.width) != (th, tw):
            scale = max(th / im.height, tw / im.width)
            nh, nw = max(th, round(im.height * scale)), max(tw, round(im.width * scale))
            im = im.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=3.0)
            top, left = (nh - th) // 2, (nw - tw) // 2
            im = im.crop((left, top, left + tw, top + th))
    a = np.array(im, dtype=np.uint8)  # a writable copy (torch warns about read-only arrays)
    return a[None] if a.ndim == 2 else np.ascontiguousarray(a.transpose(2, 0, 1))


def _decode(args: tuple[str, int | tuple[int, int] | None, str]) -> np.ndarray | str:
    path, size, mode = args
    try:
        return np.ascontiguousarray(to_array(open_image(path), size, mode))
    except DataError as e:  # the file is unusable: skipped, with the reason
        return str(e)


@dataclass
class Decoded:
    x: np.ndarray
    keep: np.ndarray  # indices (into the file list) that decoded
    skipped: list[str] = field(default_factory=list)  # one line per file: its path and why


def probe(files: Sequence[str | Path], n: int = 50) -> tuple[set[tuple[int, int]], set[str]]:
    """Sizes (H, W) and modes of up to n files, from headers only."""
    sizes, modes = set(), set()
    step = max(1, len(files) // n)
    for p in files[::step][:n]:
        try:
            with Image.open(p) as im:
                sizes.add((im.height, im.width))
                modes.add(im.mode)
        except Exception:  # noqa: BLE001 - a corrupt file is reported by the full decode
            continue
    return sizes, modes


def warn_skipped(skipped: list[str]) -> None:
    """One warning naming every unreadable file (the first ten, and how many more)."""
    shown = "\n  ".join(skipped[:10]) + (f"\n  ... and {len(skipped) - 10} more" if len(skipped) > 10 else "")
    warnings.warn(f"skipped {len(skipped)} unreadable image file(s):\n  {shown}", stacklevel=3)


def decode_files(files: Sequence[str | Path], size: int | tuple[int, int] | None, mode: str, workers: int | None = None,
                 warn: bool = True) -> Decoded:
    """Decode every file to (C, H, W) uint8 at one shape; unreadable files are skipped (with a warning unless the
    caller reports them itself)."""
    if not files:
        raise DataError("no image files to decode")
    jobs = [(str(p), size, mode) for p in files]
    workers = workers or min(4, os.cpu_count() or 1)
    if workers > 1 and len(files) > 2000:
        with ProcessPoolExecutor(workers) as pool:
            out = list(pool.map(_decode, jobs, chunksize=512))
    else:
        out = [_decode(j) for j in jobs]
    keep = [i for i, a in enumerate(out) if not isinstance(a, str)]
    skipped = [a for a in out if isinstance(a, str)]  # each names its file
    if skipped and warn:
        warn_skipped(skipped)
    if not keep:
        raise DataError(f"none of the {len(files)} image files could be decoded; first error: {skipped[0]}")
    shapes = {out[i].shape for i in keep}  # type: ignore[union-attr]
    if len(shapes) > 1:
        raise DataError(f"images decoded to different shapes {sorted(shapes)[:4]}; pass an image size to resize them")
    return Decoded(np.stack([out[i] for i in keep]), np.asarray(keep, dtype=np.int64), skipped)  # type: ignore[misc]


def cache_key(files: Sequence[str | Path], *parts: object) -> str:
    """A key that changes when any file is added, removed, resized or touched, or when decoding options change."""
    h = hashlib.sha1(f"v{CACHE_VERSION}|{parts}".encode())
    for p in files:
        try:
            st = os.stat(p)
            h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        except OSError:  # a dangling link or a vanished file: decoding reports it; the key still changes with it
            h.update(f"{p}|missing\n".encode())
    return h.hexdigest()[:20]


def load_cached(cache_dir: Path, name: str, key: str) -> dict[str, np.ndarray] | None:
    path = cache_dir / f"{name}-{key}.npz"
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception:  # noqa: BLE001 - a broken cache is rebuilt, never trusted
        path.unlink(missing_ok=True)
        return None


def save_cached(cache_dir: Path, name: str, key: str, **arrays: np.ndarray) -> Path | None:
    """Atomic .npz write; a read-only or full cache folder only costs speed, so it warns and goes on."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    try:
        return atomic_write_bytes(cache_dir / f"{name}-{key}.npz", buf.getvalue())
    except OSError as e:
        warnings.warn(f"could not write the decoded-image cache in {cache_dir} ({e}); set NEURALAB_CACHE",
                      stacklevel=2)
        return None
