"""MNIST and Fashion-MNIST in their original idx format, in torchvision's layout: `<data>/MNIST/raw/*-ubyte[.gz]`.

The idx header states the array's dimensions, so a truncated or padded file is caught by comparing the header
with the file size; gzip's CRC catches corruption of the compressed files.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from neuralab.data.base import Split, make_dataset
from neuralab.data.registry import DataOptions, missing_data, register
from neuralab.errors import DataError

FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
# torchvision's published md5s of the .gz files (a re-compressed copy differs here but can still be valid).
MNIST_MD5 = {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
             "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
             "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
             "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}
FASHION_MD5 = {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
               "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
               "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
               "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Parse one idx file (plain or .gz) and check its header against its size."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a valid gzip file ({e}); the download is probably truncated") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an idx file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: the file ends inside its idx header; it is truncated")
    dims = tuple(int(d) for d in np.frombuffer(data[4:header], dtype=">u4"))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(f"{path}: header says shape {dims} ({expected} bytes) but the file holds "
                        f"{len(data) - header} bytes; it is truncated or corrupt")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def _raw_dir(opts: DataOptions, folder: str) -> Path:
    return opts.data_dir / folder / "raw"


def _find(raw: Path, stem: str) -> Path | None:
    for p in (raw / stem, raw / f"{stem}.gz"):
        if p.exists():
            return p
    return None


def _download(folder: str, opts: DataOptions) -> str:
    """torchvision's own downloader (it writes the same raw/ layout); returns '' or the failure reason."""
    from torchvision import datasets

    cls = {"MNIST": datasets.MNIST, "FashionMNIST": datasets.FashionMNIST}[folder]
    try:
        for train in (True, False):
            cls(str(opts.data_dir), train=train, download=True)
    except Exception as e:  # noqa: BLE001 - any network/IO failure becomes the missing-data message
        return f"{type(e).__name__}: {e}"
    return ""


def load_idx_dataset(name: str, folder: str, classes: list[str], opts: DataOptions):
    raw = _raw_dir(opts, folder)
    paths = [_find(raw, s) for s in FILES]
    if any(p is None for p in paths):
        cause = _download(folder, opts) if opts.download else ""
        paths = [_find(raw, s) for s in FILES]
        if any(p is None for p in paths):
            raise missing_data(name, [raw / f"{s}.gz" for s in FILES],
                               hint="Uncompressed files (without .gz) are read too.", cause=cause)
    xtr, ytr, xte, yte = (read_idx(p) for p in paths)  # type: ignore[arg-type]
    for (x, y, split), (xp, yp) in zip(((xtr, ytr, "train"), (xte, yte, "t10k")), (paths[:2], paths[2:])):
        _check_pair(x, y, split, xp, yp, len(classes))
    return make_dataset(name, "classification", Split(xtr[:, None].copy(), ytr.astype(np.int64)),
                        Split(xte[:, None].copy(), yte.astype(np.int64)), val_fraction=opts.val_fraction,
                        split_seed=opts.split_seed, classes=classes, source=str(raw))


def _check_pair(x: np.ndarray, y: np.ndarray, split: str, xp: Path, yp: Path, k: int) -> None:
    """Images (N, H, W) of bytes and N labels in 0..k-1: what training assumes, checked when loading."""
    if x.ndim != 3 or x.dtype != np.uint8:
        raise DataError(f"{xp}: expected (N, H, W) bytes of images; the file holds {x.dtype} of shape {x.shape}")
    if y.ndim != 1:
        raise DataError(f"{yp}: expected one label per image; the file holds shape {y.shape}")
    if len(x) != len(y):
        raise DataError(f"{xp.parent}: {split} images ({len(x)}) and labels ({len(y)}) differ in count")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= k):
        raise DataError(f"{yp}: labels must be 0..{k - 1}; the file holds {int(y.min())}..{int(y.max())}")


def _files(folder: str):
    return lambda o: [_find(_raw_dir(o, folder), s) or _raw_dir(o, folder) / f"{s}.gz" for s in FILES]


@register("mnist", "MNIST handwritten digits, 60,000 + 10,000 28x28 grey", files=_files("MNIST"), md5=MNIST_MD5)
def mnist(opts: DataOptions):
    return load_idx_dataset("mnist", "MNIST", [str(i) for i in range(10)], opts)


@register("fashion-mnist", "Zalando Fashion-MNIST, 60,000 + 10,000 28x28 grey, 10 clothing classes",
          files=_files("FashionMNIST"), md5=FASHION_MD5)
def fashion_mnist(opts: DataOptions):
    return load_idx_dataset("fashion-mnist", "FashionMNIST", FASHION_CLASSES, opts)
