"""feature-maps: what a trained CNN looks at — its first-layer filters as an image grid, and the feature maps of
chosen layers for a few test images.

A grid of 3x3 filters is easy to over-read: noise can pass for "edges" to a hopeful eye (this page once said so of
filters that looked like noise). So the page says what the filters are only from a measurement: each filter's
*oriented-edge energy* (the share of its weights' energy along its best-matching edge pattern), and how many
filters have more of it than 95% of random filters of the same shape, against what chance gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from neuralab.config import option
from neuralab.data import load_dataset
from neuralab.data.loader import BatchLoader
from neuralab.errors import ConfigError, NeuralabError
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.models.checkpoint import load_model
from neuralab.models.hooks import watch_forward
from neuralab.report.page import Page
from neuralab.report.plots import plt
from neuralab.runs import find_run

CHANCE = 0.05  # a random filter beats the random filters' 95th percentile this often


@dataclass
class FeatureMapsConfig(ExperimentConfig):
    run: str = option("cifar10", "the trained run (directory, name, or the newest whose name contains this) whose "
                                 "model to look into; default: the newest cifar10 mini-project run")
    layers: list[str] = option([], "module names to show (default: every conv layer up to 4)")
    images: int = option(4, "test images to show feature maps for", min=1, max=32)
    channels: int = option(8, "feature maps per layer", min=1, max=64)
    random_inits: int = option(200, "random initialisations of the first layer to compare its filters with",
                               min=20, max=100_000)


@dataclass(frozen=True)
class EdgeEnergy:
    """Oriented-edge energy of the trained first-layer filters and of random ones of the same shape."""

    trained: np.ndarray  # per trained filter, in [0, 1]
    random_medians: np.ndarray  # per random initialisation: the median over its filters
    random_p95: float  # 95th percentile over all random filters

    @property
    def median(self) -> float:
        return float(np.median(self.trained))

    @property
    def beyond(self) -> int:
        """Trained filters above the random filters' 95th percentile (a random filter is, with chance CHANCE)."""
        return int(np.sum(self.trained > self.random_p95))

    @property
    def p_value(self) -> float:
        """The chance that random filters have at least `beyond` of this many above that percentile."""
        return chance_of_at_least(self.beyond, len(self.trained), CHANCE)

    @property
    def edges(self) -> bool:
        """Clearly beyond random: that many edge-like filters would happen by chance less than once in 1,000.
        Counted per filter, not by the median, as a layer can hold edges and colour blobs side by side (fastnet's
        whitening filters are half gradients, half flat colours)."""
        return self.p_value < 1e-3


def chance_of_at_least(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) >= k), summed in log space (no overflow for wide layers)."""
    def log_term(i: int) -> float:
        return math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(p) \
            + (n - i) * math.log1p(-p)

    return min(1.0, sum(math.exp(log_term(i)) for i in range(max(k, 0), n + 1)))


@dataclass(frozen=True)
class FeatureMapsResult:
    cfg: FeatureMapsConfig
    source: str  # the run looked into
    architecture: str
    first_layer: str  # module name of the first convolution
    filters: np.ndarray  # its weights (out, in, kh, kw), float32
    frozen: bool  # its weights were not trained by gradient descent (e.g. fastnet's patch whitening)
    edge: EdgeEnergy | None  # None for 1x1 filters (no spatial pattern)
    images: np.ndarray  # the test images, uint8 (N, C, H, W)
    maps: dict[str, np.ndarray]  # layer -> its first `channels` maps for those images (N, channels, h, w)
    shapes: dict[str, list[int]]  # layer -> (channels, height, width) of its whole output


def edge_patterns(kh: int, kw: int) -> np.ndarray:
    """Unit x- and y-derivatives of a Gaussian of the kernel's size (Sobel's shape for 3x3): every oriented edge
    pattern of that size is cos(angle) * first + sin(angle) * second."""
    ry, rx = np.arange(kh) - (kh - 1) / 2, np.arange(kw) - (kw - 1) / 2
    sy, sx = max(kh / 3.5, 0.5), max(kw / 3.5, 0.5)
    g = np.exp(-ry[:, None] ** 2 / (2 * sy**2) - rx[None, :] ** 2 / (2 * sx**2))
    dx, dy = rx[None, :] * g, ry[:, None] * g
    return np.stack([dx / np.linalg.norm(dx), dy / np.linalg.norm(dy)])


def edge_energy(weights: np.ndarray) -> np.ndarray:
    """Per filter (out, in, kh, kw): the largest share of its energy along one oriented edge pattern, each input
    channel with its own sign and strength (colour edges count). Scale-free, in [0, 1].

    The best angle has a closed form: with A[c] the projections of channel c on the two derivative patterns, the
    energy at angle t is u(t)' (A'A) u(t), whose maximum over unit u is the largest eigenvalue of A'A."""
    w = np.asarray(weights, dtype=np.float64)
    proj = np.einsum("ocij,pij->ocp", w, edge_patterns(*w.shape[2:]))
    best = np.linalg.eigvalsh(np.einsum("ocp,ocq->opq", proj, proj))[:, -1]
    return best / np.maximum((w**2).sum(axis=(1, 2, 3)), 1e-30)


def random_reference(trained: np.ndarray, shape: tuple[int, ...], inits: int, seed: int) -> EdgeEnergy:
    """The trained filters' edge energy next to `inits` random initialisations of the same shape. PyTorch's
    default init draws weights independently and uniformly; the energy share is scale-free, so U(-1, 1) stands
    for any such init."""
    rng = np.random.default_rng(seed)
    random = np.stack([edge_energy(rng.uniform(-1, 1, size=shape)) for _ in range(inits)])
    return EdgeEnergy(trained, np.median(random, axis=1), float(np.quantile(random, 1 - CHANCE)))


def filter_grid(weight: np.ndarray) -> plt.Figure:
    """First-layer filters (out, in, k, k) as small images, each scaled to its own range; RGB when they read 3
    channels, else their first channel in grey."""
    w = np.asarray(weight, dtype=np.float32)
    low, high = w.min(axis=(1, 2, 3), keepdims=True), w.max(axis=(1, 2, 3), keepdims=True)
    w = (w - low) / (high - low + 1e-8)
    cols = min(8, len(w))
    rows = -(-len(w) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, f in zip(axes.flat, w):
        rgb = f.shape[0] == 3
        ax.imshow(f.transpose(1, 2, 0) if rgb else f[0], cmap=None if rgb else "gray", interpolation="nearest")
    fig.suptitle(f"first-layer filters {tuple(weight.shape)}")
    fig.tight_layout()
    return fig


def map_grid(images: np.ndarray, maps: dict[str, np.ndarray]) -> plt.Figure:
    """Rows: test images; columns: the image, then the maps of each layer."""
    names = list(maps)
    channels = min(m.shape[1] for m in maps.values())
    cols = 1 + channels * len(names)
    fig, axes = plt.subplots(len(images), cols, figsize=(cols * 0.8, len(images) * 0.9), squeeze=False)
    for i, img in enumerate(images):
        rgb = img.shape[0] == 3
        axes[i, 0].imshow(img.transpose(1, 2, 0) if rgb else img[0], cmap=None if rgb else "gray")
        for j, name in enumerate(names):
            for c in range(channels):
                ax = axes[i, 1 + j * channels + c]
                ax.imshow(maps[name][i, c], cmap="viridis")
                if i == 0:
                    ax.set_title(f"{name}:{c}", fontsize=5)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def edge_sentences(r: FeatureMapsResult) -> list[str]:
    """What the filter grid shows, only as far as the edge-energy measurement supports it: (measurement, verdict)."""
    e, n = r.edge, len(r.filters)
    if e is None:
        return ["The first layer's filters are 1x1: they mix colours and have no spatial pattern to show."]
    lo, hi = np.quantile(e.random_medians, [0.01, 0.99])
    measured = (f"Oriented-edge energy of the first-layer filters (the share of a filter's energy along its "
                f"best-matching edge pattern): median {e.median:.2f}, against {lo:.2f} to {hi:.2f} (1st to 99th "
                f"percentile of the median) over {len(e.random_medians)} random initialisations of the same shape. "
                f"{e.beyond} of {n} filters exceed 95% of random filters, where chance gives {CHANCE * n:.1f} on "
                f"average (probability of {e.beyond} or more by chance: {e.p_value:.2g}).")
    if e.edges:
        verdict = (f"{e.beyond} of {n} first-layer filters respond to oriented edges: far more than random weights "
                   f"would.")
    else:
        verdict = (f"Only {e.beyond} of {n} filters are clearer edges than 95% of random ones, about what chance "
                   f"gives: by this measure the first-layer filters still look like their random initialisation.")
    return [measured, verdict]


def render(r: FeatureMapsResult) -> Page:
    e, n = r.edge, len(r.filters)
    if e is None:
        page = Page("feature-maps", f"{r.architecture}: 1x1 first-layer filters", test={"first_layer_filters": n})
    else:
        page = Page("feature-maps", f"{r.architecture}: {e.beyond} of {n} first-layer filters are oriented edges "
                    + ("(beyond chance)" if e.edges else "(no more than random weights give)"),
                    test={"edge_like_share": e.beyond / n, "edge_energy": e.median})
    frozen = (f" `{r.first_layer}` is frozen: gradient descent did not set its filters (fastnet, for one, fits its "
              f"first layer to the training images' patch statistics).") if r.frozen else ""
    page.add(f"Model {r.architecture} from run `{r.source}`; first layer `{r.first_layer}`: "
             f"{tuple(r.filters.shape)} filters.{frozen}",
             *edge_sentences(r),
             page.figure("filters", filter_grid(r.filters), "first-layer filters"),
             "Feature maps (channels, height, width) per layer: "
             + ", ".join(f"`{layer}` {shape}" for layer, shape in r.shapes.items())
             + ". Each column is one channel of a layer's output for the image on the left of its row.",
             page.figure("maps", map_grid(r.images, r.maps), "feature maps"))
    page.findings += edge_sentences(r)[1:]
    page.details.update(layers=r.shapes, source=r.source,
                        random_edge_energy={"median": float(np.median(e.random_medians)), "p95": e.random_p95}
                        if e else {})
    return page


def _checkpoint(ref: str, runs_dir: Path) -> tuple[str, Path]:
    """(the run's name, its model file): the newest run matching `ref`, with a message saying what to do if none."""
    try:
        source = find_run(ref, runs_dir)
    except NeuralabError as e:
        raise ConfigError(f"{e}. Train a CNN first (`neuralab run cifar10`) or name one with --run RUN") from None
    ckpt = next(iter(sorted(source.path.rglob("model.safetensors"))), None)
    if ckpt is None:
        raise ConfigError(f"{source.path} has no checkpoints/model.safetensors")
    return source.name, ckpt


def _feature_maps(model: nn.Module, layers: list[str], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The outputs of the named modules for a batch (hooked during one forward pass)."""
    maps: dict[str, torch.Tensor] = {}
    watch_forward(model, x, lambda n, m, o: maps.__setitem__(n, o.detach().float().cpu()), layers)
    return maps


@experiment("feature-maps", FeatureMapsConfig, "first-layer filters and feature maps of a trained CNN run",
            render, needs=("cifar10",), order=32,
            examples=["neuralab run feature-maps", "neuralab run feature-maps --run RUN --layers 0.0.0,0.1.0"])
def measure(cfg: FeatureMapsConfig, ctx: Context) -> FeatureMapsResult:
    if not cfg.run:
        raise ConfigError("feature-maps needs --run RUN (a trained CNN run)")
    source, ckpt = _checkpoint(cfg.run, ctx.settings.runs_dir)
    model, card = load_model(ckpt)
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ConfigError(f"{card.architecture} has no convolution layers to show")
    layers = list(cfg.layers) or [n for n, _ in convs[:4]]
    unknown = [n for n in layers if n not in dict(model.named_modules())]
    if unknown:
        raise ConfigError(f"no layer(s) {unknown} in {card.architecture}. Conv layers: {[n for n, _ in convs]}")
    name, first = convs[0]
    weights = first.weight.detach().float().cpu().numpy()
    spatial = weights.shape[2] * weights.shape[3] > 1
    edge = random_reference(edge_energy(weights), weights.shape, cfg.random_inits, cfg.seed) if spatial else None
    data = load_dataset(card.dataset, ctx.settings)
    test = data.test.take(np.arange(min(cfg.images, len(data.test))))
    xb, _ = next(iter(BatchLoader(test, len(test), mean=card.preprocess.mean, std=card.preprocess.std)))
    maps = _feature_maps(model, layers, xb)
    return FeatureMapsResult(cfg, source, card.architecture, name, weights, not first.weight.requires_grad, edge,
                             test.x, {n: m[:, :cfg.channels].numpy() for n, m in maps.items()},
                             {n: list(m.shape[1:]) for n, m in maps.items()})
