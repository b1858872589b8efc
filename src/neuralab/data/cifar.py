"""CIFAR-10 in torchvision's layout (`<data>/cifar-10-batches-py/`), with a fallback to a JPEG class-folder copy
(`<data>/cifar10-jpeg/{train,test}/<class>/`).

The python batches are pickles. We never unpickle untrusted files with the full unpickler: a restricted one
accepts only what CIFAR batches contain (dicts, lists, bytes and NumPy arrays) and refuses anything else.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from neuralab.data.base import Split, make_dataset
from neuralab.data.imagefolder import load_imagefolder
from neuralab.data.registry import DataOptions, missing_data, register
from neuralab.errors import DataError

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
MD5 = {"data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
       "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
       "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
       "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"}
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # type: ignore[override]
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of a CIFAR batch")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            d = _SafeUnpickler(f, encoding="bytes").load()
        data, labels = np.asarray(d[b"data"], dtype=np.uint8), np.asarray(d[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as e:
        raise DataError(f"{path}: not a valid CIFAR-10 batch ({e})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DataError(f"{path}: expected (N, 3072) pixels and N labels, got {data.shape} and {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def _batches_dir(opts: DataOptions) -> Path:
    return opts.data_dir / "cifar-10-batches-py"


def _download(opts: DataOptions) -> str:
    from torchvision import datasets

    try:
        datasets.CIFAR10(str(opts.data_dir), train=True, download=True)
    except Exception as e:  # noqa: BLE001 - any network/IO failure becomes the missing-data message
        return f"{type(e).__name__}: {e}"
    return ""


def _files(opts: DataOptions) -> list[Path]:
    """The python batches, or the JPEG copy's split folders when only that is present."""
    batches = [_batches_dir(opts) / n for n in TRAIN_FILES + ["test_batch"]]
    jpeg = [opts.data_dir / "cifar10-jpeg" / s for s in ("train", "test")]
    return jpeg if not all(p.exists() for p in batches) and all(p.is_dir() for p in jpeg) else batches


@register("cifar10", "CIFAR-10, 50,000 + 10,000 32x32 colour images, 10 classes", files=_files, md5=MD5)
def cifar10(opts: DataOptions):
    root = _batches_dir(opts)
    need = [root / n for n in TRAIN_FILES + ["test_batch"]]
    jpeg = opts.data_dir / "cifar10-jpeg"
    if not all(p.exists() for p in need) and (jpeg / "train").is_dir():
        return load_imagefolder(jpeg, "cifar10", opts, notes=[
            "read from the JPEG re-encoded copy (quality 75): accuracy runs a little below the original's"])
    cause = ""
    if not all(p.exists() for p in need) and opts.download:
        cause = _download(opts)
    if not all(p.exists() for p in need):
        raise missing_data("CIFAR-10", need, hint=f"Or a JPEG copy in class folders: {jpeg}/train/<class>/*.jpg "
                           f"and {jpeg}/test/<class>/*.jpg.", cause=cause)
    parts = [read_batch(p) for p in need[:-1]]
    xte, yte = read_batch(need[-1])
    xtr, ytr = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return make_dataset("cifar10", "classification", Split(xtr, ytr), Split(xte, yte),
                        val_fraction=opts.val_fraction, split_seed=opts.split_seed, classes=CLASSES, source=str(root))
