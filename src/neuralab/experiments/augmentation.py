"""augmentation: the same net and budget with each batch augmentation (none, flip, rotation, crop+translate,
flip+crop, +cutout), several seeds — validation curves, a final table, and a grid showing each augmentation on the
same images. All augmentation runs on whole batches (neuralab.data.augment)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neuralab.config import option
from neuralab.data.augment import build
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.shared import QUICK_EVAL, quick_note
from neuralab.report.markdown import table
from neuralab.report.plots import plot_compare, plt
from neuralab.train import TrainConfig, train

VARIANTS = {"none": "none", "flip": "flip", "rotation": "rotate", "crop+translate": "crop",
            "flip+crop": "flip,crop", "flip+crop+cutout": "flip,crop,cutout"}


@dataclass
class AugmentationConfig(ExperimentConfig):
    dataset: str = option("cifar10", "image dataset")
    model: str = option("cnn-basic", "the net every variant trains")
    epochs: int = option(15, "epochs per run")
    seeds: int = option(2, "seeds per variant")
    limit_train: int = option(0, "training images (0 = all)")


def augmentation_grid(images: np.ndarray, seed: int = 0) -> plt.Figure:
    """Rows: the same images; columns: each augmentation applied to them."""
    x = torch.from_numpy(images).float() / 255
    fig, axes = plt.subplots(len(x), len(VARIANTS), figsize=(1.5 * len(VARIANTS), 1.5 * len(x)), squeeze=False)
    for j, (name, spec) in enumerate(VARIANTS.items()):
        out = build(spec)(x, torch.Generator().manual_seed(seed)).clamp(0, 1)
        for i in range(len(x)):
            img = out[i].permute(1, 2, 0).numpy()
            axes[i, j].imshow(img if img.shape[2] == 3 else img[..., 0], cmap=None if img.shape[2] == 3 else "gray")
            axes[i, j].axis("off")
        axes[0, j].set_title(name, fontsize=8)
    fig.tight_layout()
    return fig


@experiment("augmentation", AugmentationConfig, "none vs flip vs rotation vs crop vs flip+crop vs +cutout, same budget",
            needs=("cifar10",), order=36, examples=["neuralab run augmentation", "neuralab run augmentation --quick"])
def augmentation(cfg: AugmentationConfig, ctx: Context) -> dict:
    epochs, seeds, limit = (1, 1, 2000) if cfg.quick else (cfg.epochs, cfg.seeds, cfg.limit_train)
    results: dict[str, list[dict]] = {}
    curves: dict[str, list[float]] = {}
    data = None
    for name, spec in VARIANTS.items():
        for s in range(seeds):
            tcfg = TrainConfig(dataset=cfg.dataset, model=cfg.model, epochs=epochs, batch_size=128, lr=1e-3,
                               augment=spec, seed=cfg.seed + s, limit_train=limit, eval_batch_size=500,
                               limit_eval=QUICK_EVAL if cfg.quick else 0)
            run, summary, trainer = train(tcfg, ctx.settings, run=ctx.run.child(f"{name}-seed{cfg.seed + s}"),
                                          log=ctx.log)
            data = trainer.data
            val = [r["metrics"]["accuracy"] for r in run.metrics("val")]
            train_acc = run.metrics("train")[-1]["metrics"]["accuracy"]
            results.setdefault(name, []).append({"test": summary["test"]["accuracy"], "val": val,
                                                 "gap": train_acc - val[-1]})
        curves[name] = list(np.mean([r["val"] for r in results[name]], axis=0) * 100)
    ctx.run.save_figure(plot_compare(curves, "validation accuracy (%)", "augmentation, mean over seeds"), "curves")
    if data is not None:
        ctx.run.save_figure(augmentation_grid(data.test.x[:4], cfg.seed), "examples")
    rows, means = [], {}
    for name, rs in results.items():
        t = np.array([r["test"] for r in rs]) * 100
        means[name] = float(t.mean())
        rows.append([name, VARIANTS[name], f"{t.mean():.2f} ± {t.std():.2f}",
                     f"{100 * np.mean([r['gap'] for r in rs]):.1f}"])
    best = max(means, key=means.get)
    report = "\n\n".join([
        "# augmentation", f"{cfg.model} on {cfg.dataset}, {epochs} epochs, {seeds} seed(s) per variant.{quick_note(cfg.quick)}",
        table(["variant", "ops", "test accuracy % (mean ± std)", "train−val gap (points)"], rows),
        f"Best: **{best}** ({means[best]:.2f}%), {means[best] - means['none']:+.2f} points over no augmentation. "
        + ("Augmentation narrows the train–validation gap: the net sees new variants of each image every epoch."
           if np.mean([r["gap"] for r in results[best]]) < np.mean([r["gap"] for r in results["none"]]) else
           "With this short budget augmentation did not narrow the train–validation gap."),
        "![validation curves](plots/curves.png)", "![augmentations](plots/examples.png)"])
    ctx.run.write_report(report + "\n")
    return {"test": {"accuracy": means[best] / 100}, "means": means, "best": best}
