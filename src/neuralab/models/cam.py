"""Where a classifier looks: class activation maps (CAM), Grad-CAM, and a box from a map.

CAM (Zhou et al., 2016) is exact for a network that ends in global average pooling and one linear layer
(MobileNetV2, ResNets). With A the last feature maps (K channels of H x W):

    logit_c = b_c + sum_k w_ck * mean_xy A_k(x, y)    so    M_c(x, y) = sum_k w_ck * A_k(x, y),  logit_c = b_c + mean M_c

Grad-CAM (Selvaraju et al., 2017) works for any convolutional classifier:

    alpha_ck = mean_xy d logit_c / d A_k(x, y),    M_c(x, y) = ReLU(sum_k alpha_ck * A_k(x, y))

(on a CAM network alpha_ck = w_ck / (H W): Grad-CAM is the CAM, scaled and clipped at zero).

A box from a map follows the CAM paper's localisation protocol: upsample the map to the image, keep the pixels above
20% of its maximum, and box the largest connected region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from neuralab.errors import ConfigError
from neuralab.models.hooks import watch_forward

THRESHOLD = 0.2  # the CAM paper's: a box covers the largest region above 20% of the map's maximum


@dataclass(frozen=True)
class Probe:
    """What one forward pass shows about a classifier: the module whose output is the last spatial feature map
    (the one CAM and Grad-CAM read) and the last linear layer that ran."""

    layer: str
    linear: nn.Linear | None


def probe(model: nn.Module, x: torch.Tensor) -> Probe:
    """Find the last module to output a 4-D map larger than 1x1, and the last nn.Linear to run, in one pass."""
    seen: list[tuple[str, nn.Module, bool]] = []
    watch_forward(model, x, lambda name, m, o: seen.append(
        (name, m, isinstance(o, torch.Tensor) and o.dim() == 4 and o.shape[2] * o.shape[3] > 1)))
    spatial = [name for name, _, is_map in seen if is_map]
    if not spatial:
        raise ConfigError(f"{type(model).__name__} has no convolutional feature map larger than 1x1 for an input of "
                          f"{tuple(x.shape[1:])}: CAM and Grad-CAM need one")
    linears = [m for _, m, _ in seen if isinstance(m, nn.Linear)]
    return Probe(spatial[-1], linears[-1] if linears else None)


def _module(model: nn.Module, name: str) -> nn.Module:
    return dict(model.named_modules())[name]


def _forward(model: nn.Module, layer: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, the feature maps `layer` output) of one forward pass that keeps the maps' graph."""
    kept: list[torch.Tensor] = []
    hook = _module(model, layer).register_forward_hook(lambda m, i, o: kept.append(o))
    try:
        logits = model.eval()(x)
    finally:
        hook.remove()
    return logits, kept[-1]


@dataclass(frozen=True)
class Maps:
    """Per image, a map for each of its `classes` (N, K, h, w) at the feature maps' resolution."""

    maps: torch.Tensor
    classes: torch.Tensor  # (N, K) class indices, best first unless given
    logits: torch.Tensor  # (N, C)
    layer: str
    weights: torch.Tensor  # (N, K, channels): w_ck for CAM, alpha_ck for Grad-CAM


def _top(logits: torch.Tensor, classes: torch.Tensor | None, k: int) -> torch.Tensor:
    return classes if classes is not None else logits.topk(min(k, logits.shape[1]), dim=1).indices


def cam(model: nn.Module, x: torch.Tensor, classes: torch.Tensor | None = None, k: int = 1,
        layer: str | None = None) -> Maps:
    """Class activation maps of `classes` (default: the top k) for a batch x. Refused (with why) when the network
    does not end in global average pooling + one linear layer: its logits must equal b + mean(M)."""
    found = probe(model, x[:1])
    layer = layer or found.layer
    if found.linear is None:
        raise ConfigError(f"{type(model).__name__} has no final linear layer: CAM needs one; use Grad-CAM")
    with torch.no_grad():
        logits, a = _forward(model, layer, x)
        w, b = found.linear.weight, found.linear.bias
        if a.shape[1] != w.shape[1]:
            raise ConfigError(f"CAM needs the last linear layer to read the pooled maps of {layer!r} ({a.shape[1]} "
                              f"channels), but it takes {w.shape[1]} inputs; use Grad-CAM")
        all_maps = torch.einsum("ck,nkhw->nchw", w, a)
        again = all_maps.mean((2, 3)) + (b if b is not None else 0)
        gap = float((again - logits).abs().max())
        # relative to the logits' own scale (an untrained network's can be ~1e-9), with float32 rounding's floor
        if gap > 1e-3 * float(logits.abs().max()) + 1e-30:
            raise ConfigError(f"{type(model).__name__} does not end in global average pooling + one linear layer "
                              f"(its logits differ from the CAM's by {gap:.3g}); use Grad-CAM")
        top = _top(logits, classes, k)
        maps = all_maps.gather(1, top[:, :, None, None].expand(-1, -1, *a.shape[2:]))
    return Maps(maps, top, logits, layer, w[top])


def grad_cam(model: nn.Module, x: torch.Tensor, classes: torch.Tensor | None = None, k: int = 1,
             layer: str | None = None) -> Maps:
    """Grad-CAM maps of `classes` (default: the top k) for a batch x, at the last spatial feature map (or
    `layer`): one backward pass per rank."""
    layer = layer or probe(model, x[:1]).layer
    with torch.enable_grad():
        logits, a = _forward(model, layer, x)
        top = _top(logits.detach(), classes, k)
        alphas = []
        for r in range(top.shape[1]):
            (grad,) = torch.autograd.grad(logits.gather(1, top[:, r:r + 1]).sum(), a, retain_graph=r + 1 < top.shape[1])
            alphas.append(grad.mean((2, 3)))
    alpha = torch.stack(alphas, 1)  # (N, K, channels)
    maps = F.relu(torch.einsum("nrk,nkhw->nrhw", alpha, a.detach()))
    return Maps(maps, top, logits.detach(), layer, alpha)


def upsample(m: torch.Tensor | np.ndarray, height: int, width: int) -> np.ndarray:
    """A (h, w) map resized (bilinear) to (height, width), float32."""
    t = torch.as_tensor(np.asarray(m, dtype=np.float32))[None, None]
    return F.interpolate(t, size=(height, width), mode="bilinear", align_corners=False)[0, 0].numpy()


def box_from_map(m: np.ndarray, threshold: float = THRESHOLD) -> tuple[list[float], float] | None:
    """([x1, y1, x2, y2] around the largest connected region above `threshold` x the map's maximum, the region's
    share of the image), or None for a map with no positive value. m: a map at the image's size."""
    peak = float(np.max(m))
    if not peak > 0:
        return None
    regions, _ = ndimage.label(m >= threshold * peak)
    sizes = np.bincount(regions.ravel())[1:]
    ys, xs = np.nonzero(regions == 1 + int(np.argmax(sizes)))
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)], float(sizes.max() / m.size)
