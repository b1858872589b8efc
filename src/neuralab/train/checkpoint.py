"""Checkpoints as safetensors: tensors only, never a pickle, so loading a file cannot run code.

`model.safetensors` (+ `model.json`, the same metadata for people) holds the weights and everything needed to
rebuild the model without the code that trained it: registered model name, constructor arguments, input shape,
class names, normalization, metrics. `last.safetensors` adds the training state (optimizer, schedule, random
streams, epoch) in the same single file, so one atomic rename makes a resumable checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from neuralab.errors import CheckpointError
from neuralab.runs import atomic_write_bytes, atomic_write_json, dumps

META_KEY = "neuralab"


def _write(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    return atomic_write_bytes(path, st_save(tensors, metadata={META_KEY: dumps(meta)}))


def read(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, metadata) of a neuralab safetensors file; anything else is a clear CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    data = path.read_bytes()
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + header_len])
    except (SafetensorError, ValueError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} is not a valid safetensors file ({e}); it may be truncated") from None
    meta = json.loads(header.get("__metadata__", {}).get(META_KEY, "{}"))
    return tensors, meta


def save_model(path: str | Path, model: nn.Module, meta: dict[str, Any]) -> Path:
    """Weights + metadata in one file, and a JSON copy of the metadata beside it (`model.json`)."""
    path = Path(path)
    _write(path, model.state_dict(), meta)
    atomic_write_json(path.with_suffix(".json"), meta)
    return path


def check_shapes(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """A mismatch names every differing tensor, instead of PyTorch's wall of size-mismatch text."""
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    problems = [f"  {k}: checkpoint {got.get(k)} vs model {want.get(k)}"
                for k in sorted(set(want) | set(got)) if want.get(k) != got.get(k)]
    if problems:
        raise CheckpointError(f"{source} does not match the model ({len(problems)} tensor(s) differ):\n"
                              + "\n".join(problems[:12]))


def load_weights(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> nn.Module:
    check_shapes(model, tensors, source)
    model.load_state_dict(tensors, strict=True)
    return model


def resolve(ref: str | Path) -> Path:
    """A run directory, its checkpoints/ folder, or a .safetensors file -> the model file."""
    p = Path(ref)
    for cand in (p, p / "model.safetensors", p / "checkpoints" / "model.safetensors",
                 p / "checkpoints" / "last.safetensors"):
        if cand.is_file():
            return cand
    raise CheckpointError(f"no checkpoint at {p}: expected a .safetensors file or a run directory with "
                          f"checkpoints/model.safetensors")


def load_model(ref: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from its checkpoint alone (no code from the run) and load its weights."""
    from neuralab.models import create_model

    path = resolve(ref)
    tensors, meta = read(path)
    try:
        args = dict(meta.get("model_args", {}))
        if "pretrained" in args:  # every weight is in this file: never fetch the original pretrained ones again
            args["pretrained"] = "none"
        model = create_model(meta["model"], meta["input_shape"], meta["num_outputs"], **args)
    except KeyError as e:
        raise CheckpointError(f"{path} has no {e} in its metadata; it was not written by neuralab") from None
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")} or tensors
    load_weights(model, weights, str(path))
    return model.to(device).eval(), meta


def _flatten(prefix: str, state: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Move every tensor of a nested state dict into `tensors` and leave a reference in the JSON skeleton."""
    if isinstance(state, torch.Tensor):
        tensors[prefix] = state
        return {"__tensor__": prefix}
    if isinstance(state, dict):
        return {"__dict__": [[_key(k), _flatten(f"{prefix}.{k}", v, tensors)] for k, v in state.items()]}
    if isinstance(state, (list, tuple)):
        return [_flatten(f"{prefix}.{i}", v, tensors) for i, v in enumerate(state)]
    return state


def _key(k: Any) -> Any:
    return {"__int__": k} if isinstance(k, int) else k


def _unflatten(skel: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(skel, dict) and "__tensor__" in skel:
        return tensors[skel["__tensor__"]]
    if isinstance(skel, dict) and "__dict__" in skel:
        return {(k["__int__"] if isinstance(k, dict) else k): _unflatten(v, tensors) for k, v in skel["__dict__"]}
    if isinstance(skel, list):
        return [_unflatten(v, tensors) for v in skel]
    return skel


def save_state(path: str | Path, model: nn.Module, meta: dict[str, Any], state: dict[str, Any]) -> Path:
    """Model weights + arbitrary nested training state (optimizer, schedule, RNG), one atomic file."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    skeleton = _flatten("state", state, tensors)
    return _write(Path(path), tensors, {**meta, "train_state": skeleton})


def load_state(path: str | Path, model: nn.Module) -> tuple[dict[str, Any], dict[str, Any]]:
    tensors, meta = read(path)
    load_weights(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(path))
    state = _unflatten(meta.pop("train_state", {}), tensors)
    return state, meta
