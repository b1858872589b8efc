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


PRECISIONS = ("auto", "float32", "bfloat16", "float16")


def cpu_has_amx() -> bool:
    """Intel AMX (Sapphire Rapids and later): oneDNN then runs bf16 convolutions and matmuls several times faster
    than fp32 (2.0 vs 0.28 TFLOP/s matmul on two such cores). Without it, bf16 on a CPU is emulated and slower."""
    check = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(check and check())


def bf16_inference_device() -> torch.device | None:
    """Where bf16 inference beats fp32: a GPU with bf16, else a CPU with AMX (ResNet-18 here: 12.8 against 28.6 ms
    per image); None where bf16 would be emulated, which is slower than fp32."""
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.device("cuda")
    return torch.device("cpu") if cpu_has_amx() else None


def resolve_precision(name: str, device: torch.device, convolutional: bool = True) -> torch.dtype:
    """The compute dtype of mixed-precision training: `auto` is bf16 (fp16 where bf16 is missing) on CUDA, bf16 on
    an AMX CPU for convolutional nets, fp32 elsewhere (MPS, older CPUs, small dense nets on a CPU, where casting
    costs more than the bf16 matmuls save). Weights, optimizer state and losses stay fp32 either way."""
    if name not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}. Received: {name!r}")
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if device.type == "cpu" and convolutional and cpu_has_amx() else torch.float32
    if name == "float16" and device.type == "cpu":
        raise ConfigError("precision float16 needs a GPU; on a CPU use bfloat16 (fast with AMX) or float32.")
    return getattr(torch, name)


def grad_scaler(device: torch.device, dtype: torch.dtype) -> torch.amp.GradScaler:
    """Loss scaling for fp16, whose 5 exponent bits flush small gradients to zero: the loss is multiplied before
    backward and the gradients divided before the step (steps with inf/NaN gradients are skipped and the scale
    lowered). bf16 has fp32's exponent range and needs none, so for every other dtype this is a pass-through."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def autocast(device: torch.device, enabled: bool = True, dtype: torch.dtype | None = None) -> Any:
    """Mixed precision in `dtype`; without one, on GPUs only (bf16 where supported, else fp16). float32 (or
    enabled=False) is a no-op context, so callers need no branch."""
    if dtype is None:
        if not enabled or device.type != "cuda":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if not enabled or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
