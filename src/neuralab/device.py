"""Device and precision decided in one place (as nanoGPT builds its autocast context once)."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from neuralab.errors import ConfigError


def pick_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA, then Apple MPS, then CPU; an explicit name must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but CUDA is not available here. Use --device auto or cpu.")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {name!r} asked for, but Apple MPS is not available here.")
    return dev


def autocast(device: torch.device, enabled: bool = True) -> Any:
    """Mixed precision on GPUs only: bf16 where supported, else fp16; on CPU it is slower, so off."""
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)
