"""Loading pretrained weights into a backbone: ImageNet through torchvision's weights API, or a local file.

`--weights imagenet` downloads and caches like torchvision does (and checks the file's hash); offline, the error
says which file to place where. `--weights PATH` reads a safetensors file (ours, from `neuralab pretrain` or any
run) or a torchvision `.pth` state dict with `torch.load(weights_only=True)` — never a full unpickle. The new head
is never loaded; every other tensor must match by name and shape, or the error lists what differs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuralab.config import Settings
from neuralab.data.preprocess import Preprocess
from neuralab.errors import CheckpointError
from neuralab.models.backbone_specs import BACKBONES, BackboneSpec
from neuralab.models.checkpoint import CARD_KEY, read_card, read_metadata, read_tensors
from neuralab.records import ModelCard


def imagenet_cache_file(spec: BackboneSpec) -> tuple[Path, str]:
    from torchvision.models import get_model_weights

    url = get_model_weights(spec.name).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1], url


def imagenet_state(spec: BackboneSpec) -> dict[str, torch.Tensor]:
    if not spec.torchvision:
        raise CheckpointError(f"there are no ImageNet weights for {spec.name}; pretrain it with `neuralab pretrain` "
                              f"and pass --weights PATH")
    from torchvision.models import get_model_weights

    path, url = imagenet_cache_file(spec)
    local = Settings.resolve().weights_dir / path.name
    if not path.is_file() and local.is_file():
        return read_weights_file(local)[0]
    try:
        return get_model_weights(spec.name).DEFAULT.get_state_dict(progress=False, check_hash=True)
    except Exception as e:  # noqa: BLE001 - offline, blocked, or a corrupt cached file
        raise CheckpointError(
            f"ImageNet weights for {spec.name} are not available here ({type(e).__name__}: {e}).\n"
            f"Place the file {path.name} in {path.parent}/ or in the weights folder (--weights-dir, "
            f"$NEURALAB_WEIGHTS; download it from {url} on a machine with internet), or pass --weights PATH to a "
            f"local .pth or .safetensors file.") from None


@dataclass(frozen=True)
class KnownCheckpoint:
    """An ImageNet checkpoint that is not torchvision's own, recognised by its file name in the weights folder."""

    file: str
    backbone: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    about: str


KNOWN_CHECKPOINTS = (
    # Google's TFLite MobileNetV2 (int8), dequantized into torchvision's layout: BN folded into conv biases, and
    # inputs scaled to [-1, 1] as TensorFlow's MobileNets expect.
    KnownCheckpoint("mobilenet_v2_imagenet_tflite_dequant.pth", "mobilenet_v2", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5),
                    "Google's TFLite MobileNetV2 ImageNet weights, dequantized to float32"),
)
# `--backbone auto` takes the first of these with ImageNet weights on this machine.
AUTO_BACKBONES = ("resnet18", "resnet34", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
                  "efficientnet_b0")


@dataclass(frozen=True)
class Pretrained:
    """Where a backbone's ImageNet weights are on this machine, and the input scaling they want."""

    backbone: str
    weights: str  # 'imagenet' (torch's cache, read by torchvision's API) or a file path
    mean: tuple[float, ...]  # empty: the architecture's usual ImageNet mean/std
    std: tuple[float, ...]
    about: str


def find_imagenet(backbone: str, weights_dir: Path) -> Pretrained | None:
    """ImageNet weights for `backbone` that need no download: torchvision's own file in torch's cache or in the
    weights folder (same name), else a known checkpoint for that architecture in the weights folder."""
    spec = BACKBONES.get(backbone)
    if spec.torchvision:
        cached, _ = imagenet_cache_file(spec)
        if cached.is_file():
            return Pretrained(backbone, "imagenet", (), (), f"torchvision's ImageNet weights ({cached})")
        if (weights_dir / cached.name).is_file():
            return Pretrained(backbone, str(weights_dir / cached.name), (), (),
                              f"torchvision's ImageNet weights ({weights_dir / cached.name})")
    for known in KNOWN_CHECKPOINTS:
        if known.backbone == backbone and (weights_dir / known.file).is_file():
            return Pretrained(backbone, str(weights_dir / known.file), known.mean, known.std,
                              f"{known.about} ({weights_dir / known.file})")
    return None


def find_any_imagenet(weights_dir: Path, prefer: tuple[str, ...] = AUTO_BACKBONES) -> Pretrained | None:
    return next((p for p in (find_imagenet(b, weights_dir) for b in prefer) if p), None)


def resolve_pretrained(backbone: str, source: str, weights_dir: Path) -> Pretrained | None:
    """`--weights none|imagenet|PATH` for `backbone` as a Pretrained (None for 'none'): 'imagenet' is what
    find_imagenet finds here, else torchvision's download (read later, with the offline error); a PATH keeps the
    preprocessing of a known checkpoint (by file name) or of our file's model card, else the architecture's."""
    if source == "none":
        return None
    if source == "imagenet":
        return find_imagenet(backbone, weights_dir) or Pretrained(backbone, "imagenet", (), (),
                                                                  "torchvision's ImageNet weights (weights API)")
    path = Path(source).expanduser()
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist (--weights takes 'imagenet', 'none' or a file)")
    known = next((k for k in KNOWN_CHECKPOINTS if k.file == path.name and k.backbone == backbone), None)
    if known is not None:
        return Pretrained(backbone, str(path), known.mean, known.std, f"{known.about} ({path})")
    pre = preprocessing(BACKBONES.get(backbone), str(path))
    return Pretrained(backbone, str(path), pre.mean, pre.std, str(path))


def read_weights_file(path: Path) -> tuple[dict[str, torch.Tensor], ModelCard | None]:
    """(state dict, the file's model card if neuralab wrote it) from .safetensors or .pth/.pt; prefixes from
    wrappers are removed."""
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist")
    card = None
    if path.suffix == ".safetensors":
        if CARD_KEY in read_metadata(path):
            card = read_card(path)
        state = read_tensors(path)
        if any(k.startswith("model.") for k in state):  # a resumable state file: keep the model part
            state = {k[6:]: v for k, v in state.items() if k.startswith("model.")}
    elif path.suffix in (".pth", ".pt", ".bin"):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - anything that is not a plain tensor dict is refused
            raise CheckpointError(f"{path} cannot be read as a plain state dict with weights_only=True ({e})") from None
        for key in ("state_dict", "model"):
            if isinstance(obj, dict) and isinstance(obj.get(key), dict):
                obj = obj[key]
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise CheckpointError(f"{path} does not hold a state dict of tensors")
        state = obj
    else:
        raise CheckpointError(f"{path}: weights must be .safetensors or .pth/.pt. Received: {path.suffix!r}")
    clean = {}
    for k, v in state.items():
        for prefix in ("module.", "body.", "_orig_mod."):
            k = k[len(prefix):] if k.startswith(prefix) else k
        clean[k] = v
    return clean, card


def load_matching(model: nn.Module, name: str, state: dict[str, torch.Tensor], source: str, skip: str = "") -> None:
    """Load every tensor of `state` into `model` (architecture `name`) but those under the prefix `skip` (a head
    that is replaced); any other name or shape difference is an error listing them."""
    is_head = lambda k: bool(skip) and k.startswith(skip + ".")  # noqa: E731
    want = {k: v for k, v in model.state_dict().items() if not is_head(k)}
    have = {k: v for k, v in state.items() if not is_head(k)}
    problems = [f"  {k}: file {tuple(have[k].shape) if k in have else 'missing'} vs model {tuple(v.shape)}"
                for k, v in want.items() if k not in have or have[k].shape != v.shape]
    problems += [f"  {k}: in the file but not in {name}" for k in have if k not in want]
    if problems:
        raise CheckpointError(f"{source} does not fit {name} ({len(problems)} difference(s)); was it saved from "
                              f"another architecture?\n" + "\n".join(problems[:10]))
    model.load_state_dict(have, strict=False)


def load_backbone_weights(model: nn.Module, spec: BackboneSpec, source: str) -> None:
    """Load `source` ('imagenet' or a path) into `model`."""
    if source == "imagenet":
        load_matching(model, spec.name, imagenet_state(spec), f"ImageNet weights for {spec.name}", spec.head)
        return
    state, _ = read_weights_file(Path(source).expanduser())
    load_matching(model, spec.name, state, source, spec.head)


def preprocessing(spec: BackboneSpec, source: str, mean: tuple[float, ...] = (), std: tuple[float, ...] = ()
                  ) -> Preprocess:
    """The weights' own preprocessing: from our file's model card when it has one, else the architecture's; a
    given mean/std overrides it (e.g. the [-1, 1] scaling of TensorFlow's MobileNets)."""
    pre = Preprocess((3, spec.crop, spec.crop), spec.mean, spec.std, 255.0, spec.resize)
    path = Path(source).expanduser()
    if source not in ("none", "imagenet") and path.suffix == ".safetensors" and path.is_file():
        _, card = read_weights_file(path)
        if card is not None and card.is_image and card.input_shape[0] == 3:
            size = card.input_shape[-1]
            pre = replace(card.preprocess, resize=size)
    if mean or std:
        pre = replace(pre, mean=tuple(mean or pre.mean), std=tuple(std or pre.std))
    return pre
