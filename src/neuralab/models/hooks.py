"""Watching a network's layers during one forward pass (feature maps, CAM probes), with the hooks always removed."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
from torch import nn


def watch_forward(model: nn.Module, x: torch.Tensor, seen: Callable[[str, nn.Module, Any], None],
                  names: Iterable[str] | None = None) -> torch.Tensor:
    """Run model (eval mode, no gradients) on x, calling seen(name, module, output) for each named module (default:
    all of them) as it runs; the hooks go even when the pass fails. Returns the model's output."""
    modules = dict(model.named_modules())
    wanted = [n for n in modules if n] if names is None else list(names)
    hooks = [modules[n].register_forward_hook(lambda m, i, o, n=n: seen(n, m, o)) for n in wanted]
    try:
        with torch.no_grad():
            return model.eval()(x)
    finally:
        for h in hooks:
            h.remove()
