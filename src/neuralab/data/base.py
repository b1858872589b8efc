"""What every dataset gives: train/val/test splits as NumPy arrays, class names, and normalization stats.

Arrays stay NumPy so that `neuralab.scratch` (NumPy only) and the torch code read the same objects; images are
uint8 `(N, C, H, W)` and are converted to float only batch by batch, on the device, by the loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuralab.errors import DataError


@dataclass
class Split:
    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise DataError(f"split has {len(self.x)} inputs but {len(self.y)} targets")

    def __len__(self) -> int:
        return len(self.x)

    def take(self, idx: np.ndarray) -> "Split":
        return Split(self.x[idx], self.y[idx])

    def concat(self, other: "Split") -> "Split":
        """This split followed by `other` (e.g. training + validation images for a final run)."""
        if self.x.shape[1:] != other.x.shape[1:]:
            raise DataError(f"cannot join splits of shapes {self.x.shape[1:]} and {other.x.shape[1:]}")
        return Split(np.concatenate([self.x, other.x]), np.concatenate([self.y, other.y]))

    def subset(self, n: int, seed: int = 0) -> "Split":
        """`n` examples drawn at random (kept in their order); all of them when n is 0 or too large.

        Not the first n: folder datasets are stored class by class, so a prefix would hold one or two classes.
        The seed is fixed apart from the training seed, so every training seed sees the same subset."""
        if not n or n >= len(self):
            return self
        return self.take(np.sort(np.random.default_rng(seed).permutation(len(self))[:n]))


@dataclass
class Dataset:
    name: str
    task: str  # "classification" or "regression"
    train: Split
    val: Split
    test: Split
    classes: list[str] = field(default_factory=list)
    mean: tuple[float, ...] = ()  # per channel (images, in [0, 1] units) or per feature (tabular)
    std: tuple[float, ...] = ()
    source: str = ""
    feature_names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def is_image(self) -> bool:
        return self.train.x.ndim == 4

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_outputs(self) -> int:
        """Width of a model's last layer: one per class, or one for regression."""
        return self.num_classes if self.task == "classification" else 1

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "task": self.task,
            "source": self.source,
            "input_shape": list(self.input_shape),
            "dtype": str(self.train.x.dtype),
            "sizes": {k: len(s) for k, s in self.splits().items()},
            "mean": [round(float(m), 4) for m in self.mean],
            "std": [round(float(s), 4) for s in self.std],
        }
        if self.classes:
            d["classes"] = self.classes
            d["class_counts"] = {k: np.bincount(s.y, minlength=len(self.classes)).tolist()
                                 for k, s in self.splits().items()}
        else:
            d["target"] = {"min": float(self.train.y.min()), "max": float(self.train.y.max()),
                           "mean": float(self.train.y.mean())}
        if self.feature_names:
            d["features"] = self.feature_names
        if self.notes:
            d["notes"] = self.notes
        return d


_SQUARES = (np.arange(256, dtype=np.uint32) ** 2).astype(np.uint16)


def channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std of uint8 images in [0, 1] units (or per-feature for 2-D arrays)."""
    if x.ndim == 4 and x.dtype == np.uint8:
        # Exact integer sums of the values and of their squares (a table: 255² fits 16 bits), chunked: no float
        # copy of 50,000 CIFAR images, and ~40% less time than float64 sums.
        xs = x.reshape(x.shape[0], x.shape[1], -1)
        s = np.zeros(x.shape[1], np.uint64); ss = np.zeros(x.shape[1], np.uint64)
        step = min(4096, max(1, (1 << 24) // xs[0].size))  # photo-sized images: chunks of ~16 MB, not gigabytes
        for i in range(0, len(xs), step):
            c = xs[i:i + step]
            s += c.sum(axis=(0, 2), dtype=np.uint64); ss += _SQUARES[c].sum(axis=(0, 2), dtype=np.uint64)
        n = xs.shape[0] * xs.shape[2]
        mean, mean_sq = s / n / 255.0, ss / n / 255.0**2
        std = np.sqrt(np.maximum(mean_sq - mean**2, 1e-12))
        return tuple(mean.tolist()), tuple(std.tolist())
    if x.ndim == 4:  # images of another dtype, taken as [0, 255] like uint8
        x = x.reshape(x.shape[0], x.shape[1], -1).transpose(0, 2, 1).reshape(-1, x.shape[1]) / 255.0
    mean = x.mean(axis=0, dtype=np.float64)
    std = x.std(axis=0, dtype=np.float64)
    std = np.where(std < 1e-12, 1.0, std)
    return tuple(mean.tolist()), tuple(std.tolist())


def split_off(x: np.ndarray, y: np.ndarray, fraction: float, seed: int,
              stratify: bool) -> tuple[Split, Split]:
    """Split (x, y) into (rest, held-out) with `fraction` held out, per class when `stratify`.

    The split seed is separate from the training seed, so every training seed sees the same validation set.
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"validation/test fraction must be in (0, 1). Received: {fraction}")
    rng = np.random.default_rng(seed)
    if stratify:
        held = []
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            rng.shuffle(idx)
            held.append(idx[: max(1, int(round(len(idx) * fraction)))])
        held_idx = np.sort(np.concatenate(held))
    else:
        perm = rng.permutation(len(x))
        held_idx = np.sort(perm[: max(1, int(round(len(x) * fraction)))])
    mask = np.ones(len(x), dtype=bool)
    mask[held_idx] = False
    return Split(x[mask], y[mask]), Split(x[held_idx], y[held_idx])


def make_dataset(name: str, task: str, train: Split, test: Split, val: Split | None = None,
                 val_fraction: float = 0.1, split_seed: int = 0, **kw: Any) -> Dataset:
    """Assemble a Dataset: carve val from train when the source has none, and compute stats on train only."""
    if val is None:
        train, val = split_off(train.x, train.y, val_fraction, split_seed, stratify=task == "classification")
    mean, std = channel_stats(train.x)
    return Dataset(name=name, task=task, train=train, val=val, test=test, mean=mean, std=std, **kw)


def short_path(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def index_split(n: int, test_fraction: float, val_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """Random (train, val, test) row indices for sources that come as one table."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_test = int(round(n * test_fraction))
    n_val = int(round((n - n_test) * val_fraction))
    return np.sort(perm[n_test + n_val:]), np.sort(perm[n_test:n_test + n_val]), np.sort(perm[:n_test])


def select_classes(d: Dataset, keep: list[str]) -> Dataset:
    """Only the named classes, relabelled 0..k-1 in the order given; an unknown name is an error."""
    unknown = [c for c in keep if c not in d.classes]
    if unknown:
        raise DataError(f"class(es) {unknown} not in {d.name}. Available: {d.classes}")
    old = np.asarray([d.classes.index(c) for c in keep])
    remap = np.full(len(d.classes), -1, dtype=np.int64)
    remap[old] = np.arange(len(keep))

    def part(s: Split) -> Split:
        m = np.isin(s.y, old)
        return Split(s.x[m], remap[s.y[m]])

    train = part(d.train)
    mean, std = channel_stats(train.x)
    return Dataset(d.name, d.task, train, part(d.val), part(d.test), classes=list(keep), mean=mean, std=std,
                   source=d.source, feature_names=d.feature_names, notes=d.notes + [f"classes kept: {keep}"])


def per_class_subset(s: Split, per_class: int, seed: int) -> Split:
    """The first `per_class` examples of each class after a seeded shuffle (all of a class if it has fewer)."""
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.permutation(np.flatnonzero(s.y == c))[:per_class] for c in np.unique(s.y)])
    return s.take(np.sort(idx))


def center_crop(x: np.ndarray, size: int) -> np.ndarray:
    """Centre crop of (N, C, H, W) images to size x size (no copy beyond the slice)."""
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    top, left = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(x[..., top:top + size, left:left + size])
