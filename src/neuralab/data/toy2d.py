"""Generated 2-D point datasets: the first things a network learns to separate, and easy to plot.

Each generator takes `n_samples` (all splits together) and `noise`, and is deterministic in `split_seed`.
Splits: 70% train, 15% validation, 15% test.
"""

from __future__ import annotations

import numpy as np
from sklearn import datasets as skd

from neuralab.data.base import Split, make_dataset, split_off
from neuralab.data.registry import DataOptions, register


def spiral_points(n: int, arms: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`arms` interleaved spirals (the CS231n classic): radius grows linearly with the angle."""
    per = np.full(arms, n // arms)
    per[: n % arms] += 1
    xs, ys = [], []
    for k, m in enumerate(per):
        r = np.linspace(0.05, 1.0, m)
        t = np.linspace(k * 2 * np.pi / arms, k * 2 * np.pi / arms + 1.75 * np.pi, m) + rng.normal(0, noise, m)
        xs.append(np.c_[r * np.sin(t), r * np.cos(t)])
        ys.append(np.full(m, k))
    return np.concatenate(xs), np.concatenate(ys)


def xor_points(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points in [-1, 1]^2, label = sign(x) XOR sign(y); noise jitters points after labelling."""
    x = rng.uniform(-1, 1, size=(n, 2))
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)
    return x + rng.normal(0, noise, x.shape), y


def _points(name: str, x: np.ndarray, y: np.ndarray, opts: DataOptions, classes: list[str], note: str):
    x = x.astype(np.float32)
    y = y.astype(np.int64)
    rest, test = split_off(x, y, 0.15, opts.split_seed, stratify=True)
    train, val = split_off(rest.x, rest.y, 0.15 / 0.85, opts.split_seed + 1, stratify=True)
    return make_dataset(name, "classification", train, test, val=val, classes=classes,
                        source=f"generated ({note})", feature_names=["x1", "x2"])


def _n(opts: DataOptions, default: int = 1000) -> int:
    return int(opts.n_samples or default)


def _noise(opts: DataOptions, default: float) -> float:
    return float(default if opts.noise is None else opts.noise)


@register("moons", "two interleaved half-moons (2 classes)", kind="generated")
def moons(opts: DataOptions):
    n, noise = _n(opts), _noise(opts, 0.2)
    x, y = skd.make_moons(n, noise=noise, random_state=opts.split_seed)
    return _points("moons", x, y, opts, ["upper", "lower"], f"n={n}, noise={noise}")


@register("circles", "a ring around a disc (2 classes)", kind="generated")
def circles(opts: DataOptions):
    n, noise = _n(opts), _noise(opts, 0.1)
    x, y = skd.make_circles(n, noise=noise, factor=0.5, random_state=opts.split_seed)
    return _points("circles", x, y, opts, ["outer", "inner"], f"n={n}, noise={noise}")


@register("spiral", "three interleaved spiral arms (3 classes)", kind="generated")
def spiral(opts: DataOptions):
    n, noise = _n(opts, 1500), _noise(opts, 0.2)
    x, y = spiral_points(n, 3, noise, np.random.default_rng(opts.split_seed))
    return _points("spiral", x, y, opts, ["arm0", "arm1", "arm2"], f"n={n}, noise={noise}")


@register("xor", "the XOR quadrants (2 classes, not linearly separable)", kind="generated")
def xor(opts: DataOptions):
    n, noise = _n(opts), _noise(opts, 0.05)
    x, y = xor_points(n, noise, np.random.default_rng(opts.split_seed))
    return _points("xor", x, y, opts, ["same-sign", "opposite-sign"], f"n={n}, noise={noise}")


@register("blobs", "three Gaussian blobs (3 classes, linearly separable)", kind="generated")
def blobs(opts: DataOptions):
    n, noise = _n(opts), _noise(opts, 1.0)
    x, y = skd.make_blobs(n, centers=3, cluster_std=noise, random_state=opts.split_seed)
    return _points("blobs", x, y, opts, ["blob0", "blob1", "blob2"], f"n={n}, std={noise}")
