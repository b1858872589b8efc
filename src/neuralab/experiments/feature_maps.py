"""feature-maps: what a trained CNN looks at — its first-layer filters as an image grid, and the feature maps of
chosen layers for a few test images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from neuralab.config import option
from neuralab.errors import ConfigError, NeuralabError
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.report.plots import plt


@dataclass
class FeatureMapsConfig(ExperimentConfig):
    run: str = option("cifar10", "the trained run (directory, name, or the newest whose name contains this) whose "
                                 "model to look into; default: the newest cifar10 mini-project run")
    layers: list[str] = option([], "module names to show (default: every conv layer up to 4)")
    images: int = option(4, "test images to show feature maps for")
    channels: int = option(8, "feature maps per layer")


def filter_grid(weight: torch.Tensor) -> plt.Figure:
    """First-layer filters (out, in, k, k) as small images; RGB when they read 3 channels."""
    w = weight.detach().float().cpu()
    w = (w - w.amin(dim=(1, 2, 3), keepdim=True)) / (w.amax(dim=(1, 2, 3), keepdim=True)
                                                      - w.amin(dim=(1, 2, 3), keepdim=True) + 1e-8)
    n = len(w)
    cols = min(8, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, f in zip(axes.flat, w):
        ax.imshow(f.permute(1, 2, 0).numpy() if f.shape[0] == 3 else f[0].numpy(), cmap=None if f.shape[0] == 3 else "gray",
                  interpolation="nearest")
    fig.suptitle(f"first-layer filters ({tuple(weight.shape)})")
    fig.tight_layout()
    return fig


def map_grid(images: np.ndarray, maps: dict[str, torch.Tensor], channels: int) -> plt.Figure:
    """Rows: test images; columns: the image, then `channels` maps of each layer."""
    names = list(maps)
    cols = 1 + channels * len(names)
    fig, axes = plt.subplots(len(images), cols, figsize=(cols * 0.8, len(images) * 0.9), squeeze=False)
    for i, img in enumerate(images):
        axes[i, 0].imshow(img.transpose(1, 2, 0) if img.shape[0] == 3 else img[0], cmap=None if img.shape[0] == 3 else "gray")
        for j, name in enumerate(names):
            for c in range(channels):
                ax = axes[i, 1 + j * channels + c]
                ax.imshow(maps[name][i, c].numpy(), cmap="viridis")
                if i == 0:
                    ax.set_title(f"{name}:{c}", fontsize=5)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


@experiment("feature-maps", FeatureMapsConfig, "first-layer filters and feature maps of a trained CNN run",
            needs=("cifar10",), order=32, examples=["neuralab run feature-maps",
                                             "neuralab run feature-maps --run RUN --layers 0.0.0,0.1.0"])
def feature_maps(cfg: FeatureMapsConfig, ctx: Context) -> dict:
    from neuralab.data import load_dataset
    from neuralab.data.loader import BatchLoader
    from neuralab.runs import find_run
    from neuralab.train.checkpoint import load_model

    if not cfg.run:
        raise ConfigError("feature-maps needs --run RUN (a trained CNN run)")
    try:
        source = find_run(cfg.run, ctx.settings.runs_dir)
    except NeuralabError as e:
        raise ConfigError(f"{e}. Train a CNN first (`neuralab run cifar10`) or name one with --run RUN") from None
    ckpt = next(iter(sorted(source.path.rglob("model.safetensors"))), None)
    if ckpt is None:
        raise ConfigError(f"{source.path} has no checkpoints/model.safetensors")
    model, meta = load_model(ckpt)
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ConfigError(f"{meta['model']} has no convolution layers to show")
    ctx.run.save_figure(filter_grid(convs[0][1].weight), "filters")
    modules = dict(model.named_modules())
    layers = list(cfg.layers) or [n for n, _ in convs[:4]]
    unknown = [n for n in layers if n not in modules]
    if unknown:
        raise ConfigError(f"no layer(s) {unknown} in {meta['model']}. Conv layers: {[n for n, _ in convs]}")
    data = load_dataset(meta["dataset"], ctx.settings)
    test = data.test.take(np.arange(min(cfg.images, len(data.test))))
    maps: dict[str, torch.Tensor] = {}
    hooks = [modules[n].register_forward_hook(lambda m, i, o, n=n: maps.__setitem__(n, o.detach().cpu()))
             for n in layers]
    with torch.no_grad():
        xb, _ = next(iter(BatchLoader(test, len(test), mean=meta["mean"], std=meta["std"])))
        model(xb)
    for h in hooks:
        h.remove()
    ctx.run.save_figure(map_grid(test.x, maps, min(cfg.channels, min(m.shape[1] for m in maps.values()))), "maps")
    shapes = {n: list(m.shape[1:]) for n, m in maps.items()}
    ctx.run.write_report("\n\n".join([
        "# feature-maps", f"Model {meta['model']} from run `{source.name}`.",
        f"First layer: {tuple(convs[0][1].weight.shape)} filters — early filters respond to edges and colour "
        f"blobs.", "![filters](plots/filters.png)",
        "Feature maps (channels, height, width) per layer: " + ", ".join(f"`{n}` {s}" for n, s in shapes.items())
        + ". Deeper maps are smaller and respond to larger, more abstract patterns.",
        "![feature maps](plots/maps.png)"]) + "\n")
    return {"layers": shapes, "source": source.name}
