"""Checkpoints as safetensors: tensors only, never a pickle, so loading a file cannot run code.

`model.safetensors` holds the weights and the model's card (`records.ModelCard`: architecture and arguments, task,
classes, preprocessing, metrics), so the model can be rebuilt without the code that trained it; `model.json` beside
it is the same card for people. `last.safetensors` adds the training state (optimizer, schedule, random streams,
epoch) in the same single file, so one atomic rename makes a resumable checkpoint. Metadata is validated before
anything is allocated: a corrupt or hostile file is a one-line CheckpointError naming the file and the field.
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

from neuralab.errors import CheckpointError, ConfigError
from neuralab.files import atomic_write_bytes, atomic_write_json, dumps
from neuralab.models.registry import create_model
from neuralab.records import ModelCard

CARD_KEY = "neuralab"  # safetensors metadata key of the card
STATE_KEY = "neuralab.train_state"  # ... and of the training state's JSON skeleton (resumable checkpoints)
MAX_HEADER = 100 * 2**20  # a safetensors header larger than this is not a model neuralab wrote


def _write(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    return atomic_write_bytes(path, st_save(tensors, metadata=metadata))


def read_metadata(path: str | Path) -> dict[str, str]:
    """The safetensors header's metadata strings, read without loading a tensor."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 0 < n <= MAX_HEADER:
            raise CheckpointError(f"{path} is not a safetensors file (its header length is {n}); it may be truncated")
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{path} has a corrupt safetensors header ({e})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def read_card(path: str | Path) -> ModelCard:
    """The validated card of a neuralab checkpoint (before any tensor is read)."""
    raw = read_metadata(path).get(CARD_KEY)
    if raw is None:
        raise CheckpointError(f"{path} has no neuralab model card in its metadata; it was not written by neuralab "
                              f"(pretrained weights go to --weights PATH)")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: its model card is not valid JSON ({e})") from None
    return ModelCard.from_json(data, str(path))


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    try:
        return st_load(path.read_bytes())
    except (SafetensorError, ValueError, OSError) as e:
        raise CheckpointError(f"{path} is not a valid safetensors file ({e}); it may be truncated") from None


def save_model(path: str | Path, model: nn.Module, card: ModelCard) -> Path:
    """Weights + card in one file, and the card as JSON beside it (`model.json`)."""
    path = Path(path)
    _write(path, model.state_dict(), {CARD_KEY: dumps(card.to_json(), indent=None)})
    atomic_write_json(path.with_suffix(".json"), card.to_json())
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


def build(card: ModelCard) -> nn.Module:
    """A fresh (untrained) model of the card's architecture; the card's arguments are checked by the registry."""
    args = dict(card.args)
    if "pretrained" in args:  # every weight is in the checkpoint: never fetch the original pretrained ones again
        args["pretrained"] = "none"
    return create_model(card.architecture, card.input_shape, card.num_outputs, task=card.task, **args)


def load_model(ref: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelCard]:
    """Rebuild a model from its checkpoint alone (no code from the run) and load its weights."""
    path = resolve(ref)
    card = read_card(path)
    try:
        model = build(card)
    except ConfigError as e:  # the card names an unknown model, or arguments out of range: the file is at fault
        raise CheckpointError(f"{path}: its model card cannot be built ({e})") from None
    tensors = read_tensors(path)
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")} or tensors
    load_weights(model, weights, str(path))
    return model.to(device).eval(), card


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


def save_state(path: str | Path, model: nn.Module, card: ModelCard, state: dict[str, Any]) -> Path:
    """Model weights + arbitrary nested training state (optimizer, schedule, RNG), one atomic file."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    skeleton = _flatten("state", state, tensors)
    return _write(Path(path), tensors, {CARD_KEY: dumps(card.to_json(), indent=None),
                                        STATE_KEY: dumps(skeleton, indent=None)})


def load_state(path: str | Path, model: nn.Module) -> dict[str, Any]:
    """Load the model part of a resumable checkpoint into `model`; returns the training state."""
    raw = read_metadata(path).get(STATE_KEY)
    if raw is None:
        raise CheckpointError(f"{path} holds no training state; resume needs the run's checkpoints/last.safetensors")
    tensors = read_tensors(path)
    load_weights(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(path))
    try:
        return _unflatten(json.loads(raw), tensors)
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: its training state is corrupt ({e})") from None
