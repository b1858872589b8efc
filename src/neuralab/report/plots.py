"""Figures every run and experiment shares. Each function returns a matplotlib Figure; `Run.save_figure` writes it.

The Agg backend is forced before pyplot loads, so plotting works on headless machines and in CI.
"""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neuralab.records import EpochRow  # noqa: E402


def plot_curves(rows: Sequence[EpochRow], title: str = "") -> plt.Figure:
    """Loss and the first metric per epoch, train vs validation, in one figure (the overfitting picture)."""
    metric_names = [k for r in rows for k in r.metrics]
    metric = metric_names[0] if metric_names else None
    fig, axes = plt.subplots(1, 2 if metric else 1, figsize=(10 if metric else 5, 3.6), squeeze=False)
    for split, style in (("train", "-"), ("val", "--"), ("test", ":")):
        sr = [r for r in rows if r.split == split]
        if not sr:
            continue
        ep = [r.epoch for r in sr]
        axes[0, 0].plot(ep, [r.loss if r.loss is not None else np.nan for r in sr], style, marker="o", ms=3,
                        label=split)
        if metric:
            axes[0, 1].plot(ep, [r.metric(metric) for r in sr], style, marker="o", ms=3, label=split)
    axes[0, 0].set(xlabel="epoch", ylabel="loss", title="loss")
    if metric:
        axes[0, 1].set(xlabel="epoch", ylabel=metric, title=metric)
    for ax in axes.flat:
        _epoch_axis(ax, rows)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _epoch_axis(ax: Any, rows: Sequence[EpochRow]) -> None:
    """Whole epochs on the x axis, and a sensible span when there is a single epoch (not 0.96 to 1.04)."""
    epochs = sorted({r.epoch for r in rows})
    if epochs:
        ax.set_xticks(epochs if len(epochs) <= 12 else ax.get_xticks())
        if len(epochs) == 1:
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)


def plot_compare(curves: dict[str, Sequence[float]], ylabel: str, title: str = "",
                 x: Sequence[float] | dict[str, Sequence[float]] | None = None, xlabel: str = "epoch",
                 bands: dict[str, Sequence[float]] | None = None) -> plt.Figure:
    """Several named curves on one axis (variants of an experiment); optional ±std bands. `x` is shared, or one
    per curve (a dict by name) when the curves have their own x values (wall time, learning rates)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, ys in curves.items():
        xs = x.get(name) if isinstance(x, dict) else x
        xs = xs if xs is not None else np.arange(1, len(ys) + 1)
        ax.plot(xs, ys, label=name, marker="o" if len(ys) < 12 else None, ms=4)
        if bands and name in bands:
            ys_, sd = np.asarray(ys, dtype=float), np.asarray(bands[name], dtype=float)
            ax.fill_between(xs, ys_ - sd, ys_ + sd, alpha=0.15)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_confusion(cm: np.ndarray, classes: Sequence[str], title: str = "confusion matrix") -> plt.Figure:
    """Rows are true classes, columns predictions; cells show counts, colour the row-normalized rate."""
    cm = np.asarray(cm)
    rates = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * k, 1 + 0.5 * k))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    fig.tight_layout()
    return fig


def image_grid(images: np.ndarray, labels: Sequence[str], cols: int = 8, title: str = "",
               mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> plt.Figure:
    """A grid of (N, C, H, W) images (uint8, or normalized floats with mean/std to undo) with a caption each."""
    imgs = np.asarray(images, dtype=np.float32)
    if imgs.max() > 1.5 and mean is None:
        imgs = imgs / 255.0
    if mean is not None and std is not None:
        imgs = imgs * np.asarray(std, dtype=np.float32)[:, None, None] + np.asarray(mean, dtype=np.float32)[:, None, None]
    imgs = np.clip(imgs, 0, 1)
    n = len(imgs)
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.55 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, lab in zip(axes.flat, imgs, labels):
        if img.shape[0] == 1:
            ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(img.transpose(1, 2, 0))
        ax.set_title(lab, fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_decision_boundary(predict: Any, x: np.ndarray, y: np.ndarray, classes: Sequence[str] = (),
                           title: str = "", resolution: int = 300) -> plt.Figure:
    """Colour the plane by `predict(points (M, 2)) -> class ids (M,)`, with the data points on top."""
    pad = 0.1 * (x.max(0) - x.min(0))
    lo, hi = x.min(0) - pad, x.max(0) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.c_[gx.ravel(), gy.ravel()].astype(np.float32)
    zz = np.asarray(predict(grid)).reshape(gx.shape)
    k = int(max(y.max(), zz.max())) + 1
    cmap = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(5, 4.4))
    ax.contourf(gx, gy, zz, levels=np.arange(k + 1) - 0.5, colors=[cmap(i) for i in range(k)], alpha=0.25)
    for c in range(k):
        m = y == c
        ax.scatter(x[m, 0], x[m, 1], s=9, color=cmap(c), edgecolors="k", linewidths=0.2,
                   label=classes[c] if c < len(classes) else str(c))
    ax.set(xlabel="x1", ylabel="x2", title=title)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def degenerate(fig: plt.Figure) -> list[str]:
    """What makes a figure show nothing: axes drawn with no data, or a line of fewer than 3 points without markers
    (a lone point is invisible, two make a bare segment). Empty list: it draws. Tests run every saved figure
    through this, so no page ships an empty or degenerate plot.

    Axes switched off (the spare cells of an image grid) are not data axes and are not judged."""
    problems = []
    for i, ax in enumerate(fig.axes):
        if not ax.axison or not ax.get_visible() or getattr(ax, "_colorbar", None) is not None:
            continue
        name = ax.get_title() or f"axes {i}"
        lines = [ln for ln in ax.get_lines() if len(np.atleast_1d(ln.get_xdata())) > 0]
        shown = [_points(ln) for ln in lines]
        if ax.images or ax.patches or ax.collections or ax.containers or any(n >= 3 or m for n, m in shown):
            continue  # data is drawn; short marker-less lines beside it are references (y = x, a zero line)
        if not lines:
            problems.append(f"{name}: no data drawn")
        problems += [f"{name}: line {ln.get_label()!r} has {n} point(s) and no marker"
                     for ln, (n, _) in zip(lines, shown)]
    return problems


def _points(line: Any) -> tuple[int, bool]:
    """(finite points, whether they are drawn with markers) of a Line2D."""
    n = int(np.isfinite(np.asarray(line.get_ydata(), dtype=float)).sum())
    return n, line.get_marker() not in (None, "None", "", " ")
