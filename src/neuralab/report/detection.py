"""The pictures and the report.md of a detection run: mAP curves and predictions beside the ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuralab.data.detection import DetDataset, DetSplit
from neuralab.records import EpochRow
from neuralab.report.markdown import table
from neuralab.report.plots import plt
from neuralab.runs import Run


def prediction_grid(split: DetSplit, preds: list[dict[str, Any]], classes: list[str], n: int = 8,
                    score: float = 0.5) -> plt.Figure:
    """Ground truth (green, dashed) and predictions above `score` (red, with class and score) on n images."""
    n = min(n, len(split))
    cols = min(4, n)
    rows = max(1, (n + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in zip(range(n), axes.flat):
        ax.imshow(np.asarray(split.images[i]).transpose(1, 2, 0))
        for (x1, y1, x2, y2), lab in zip(split.boxes[i], split.labels[i]):
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="lime", lw=1.5, ls="--"))
        p = preds[i]
        for (x1, y1, x2, y2), lab, s in zip(p["boxes"].tolist(), p["labels"].tolist(), p["scores"].tolist()):
            if s < score:
                continue
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="red", lw=1.2))
            name = classes[lab - 1] if 0 < lab <= len(classes) else str(lab)
            ax.text(x1, y1, f"{name} {s:.2f}", color="white", fontsize=7, va="bottom",
                    bbox={"facecolor": "red", "alpha": 0.6, "pad": 1, "lw": 0})
    fig.suptitle(f"predictions (red, score >= {score}) vs ground truth (green dashed)")
    return fig


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """(H, W, 3) uint8: a (3, H, W) uint8 image under a heat map (H, W; its maximum drawn red, 0 and below blue)."""
    top = float(heat.max())
    colours = plt.get_cmap("jet")(np.clip(heat / top, 0, 1) if top > 0 else np.zeros_like(heat))[..., :3]
    mixed = (1 - alpha) * image.transpose(1, 2, 0) / 255.0 + alpha * colours
    return (np.clip(mixed, 0, 1) * 255).round().astype(np.uint8)


def cam_grid(images: list[np.ndarray], heats: list[np.ndarray], boxes: list[list[float] | None],
             titles: list[str], cols: int = 4, title: str = "") -> plt.Figure:
    """Photos under their class activation maps, each with the box from its map (white) and a caption."""
    n = len(images)
    cols = max(1, min(cols, n))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, heat, box, caption in zip(axes.flat, images, heats, boxes, titles):
        ax.imshow(overlay(image, heat))
        if box is not None:
            x1, y1, x2, y2 = box
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="white", lw=1.5))
        ax.set_title(caption, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def map_curves(rows: list[EpochRow]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ep = [r.epoch for r in rows]
    for key, label in (("map50", "mAP@0.5"), ("map", "mAP@[.5:.95]")):
        ax.plot(ep, [r.metric(key) for r in rows], marker="o", label=label)
    ax.set_xlabel("epoch"), ax.set_ylabel("validation mAP"), ax.set_ylim(0, 1), ax.grid(alpha=0.3), ax.legend()
    return fig


def write_detection_report(run: Run, cfg: Any, data: DetDataset, summary: dict[str, Any],
                           preds: list[dict[str, Any]]) -> None:
    run.save_figure(prediction_grid(data.test, preds, data.classes), "predictions")
    run.save_figure(map_curves(run.metrics("val")), "map")
    t = summary["test"]
    rows = [[r.epoch, f"{r.metric('map'):.3f}", f"{r.metric('map50'):.3f}"] for r in run.metrics("val")]
    skipped = ", ".join(f"{n} {k}" for k, n in data.skipped.items()) or "none"
    collapse = summary.get("collapse", {})
    verdict = f"**{collapse['sentence']}**" if collapse.get("collapsed") else collapse.get("sentence", "")
    run.write_report("\n\n".join([
        f"# Detection: {cfg.model} on {data.name}",
        f"{data.source}; classes {', '.join(data.classes)}; {len(data.train)} training, {len(data.val)} validation, "
        f"{len(data.test)} test images at {cfg.image_size}x{cfg.image_size}. Weights: {cfg.weights}, trunk: "
        f"{summary.get('trunk', cfg.weights_backbone)}. Annotations skipped: {skipped}.",
        verdict,
        f"**Test mAP@0.5 {t['map50']:.3f}**, COCO mAP {t['map']:.3f} (best validation epoch's weights; the test "
        f"split was read once). Training: {summary['epochs']} epoch(s), {summary['images_seen']:,} training images "
        f"seen in {summary['train_seconds']:.0f} s ({summary['train_images_per_s']:.1f} images/s, stopped by "
        f"{summary['stopped_by']}); inference {summary['infer_images_per_s']:.1f} images/s.",
        table(["epoch", "val mAP", "val mAP@0.5"], rows),
        "![validation mAP](plots/map.png)",
        f"![{'predictions (collapsed: not a result)' if collapse.get('collapsed') else 'predictions vs ground truth'}]"
        f"(plots/predictions.png)",
        "The model is `checkpoints/model.safetensors`: `neuralab detect --model RUN IMAGES`.",
    ]) + "\n")
