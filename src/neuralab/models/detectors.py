"""MobileNetV3 object detectors from torchvision, by name, with the same `--weights` rules as backbones.

`--weights coco` loads torchvision's COCO weights through its weights API (downloaded once, hash-checked, cached in
`~/.cache/torch/hub/checkpoints/`; offline, the error names the file to place there), `--weights PATH` reads a local
`.safetensors` (ours: a `train-detector` checkpoint) or `.pth` with `weights_only=True`, `--weights none` starts from
random weights. `--weights-backbone imagenet|none` initialises only the MobileNetV3 trunk. Loading is shape-checked:
every tensor must match by name and shape except the class-dependent head when the class count differs.

Labels: torchvision detectors reserve class 0 for background, so a dataset's class k is model label k + 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuralab.data.preprocess import Preprocess
from neuralab.errors import CheckpointError, ConfigError
from neuralab.models.checkpoint import load_model
from neuralab.models.registry import register_model
from neuralab.models.weights import load_matching, read_weights_file
from neuralab.records import ModelCard
from neuralab.registry import Registry


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    weights_enum: str  # torchvision weights class name
    class_heads: tuple[str, ...]  # module prefixes whose shapes depend on the class count
    image_size: int  # the size the COCO weights were trained at (shorter side / fixed square)
    coco_map: float  # torchvision's reference box mAP on COCO val2017
    head: str = ""  # prefix skipped by load_matching (set per call)


DETECTORS: Registry[DetectorSpec] = Registry("detector")
for _spec in (
    DetectorSpec("ssdlite320_mobilenet_v3_large", "SSDLite320_MobileNet_V3_Large_Weights",
                 ("head.classification_head",), 320, 21.3),
    DetectorSpec("fasterrcnn_mobilenet_v3_large_320_fpn", "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights",
                 ("roi_heads.box_predictor.cls_score", "roi_heads.box_predictor.bbox_pred"), 320, 22.8),
    DetectorSpec("fasterrcnn_mobilenet_v3_large_fpn", "FasterRCNN_MobileNet_V3_Large_FPN_Weights",
                 ("roi_heads.box_predictor.cls_score", "roi_heads.box_predictor.bbox_pred"), 800, 32.8),
):
    DETECTORS.register(_spec.name)(_spec)


def _weights_enum(spec: DetectorSpec) -> Any:
    import torchvision.models.detection as D

    return getattr(D, spec.weights_enum).COCO_V1


def coco_categories(spec: DetectorSpec) -> list[str]:
    """The 91 label names of the COCO weights (index = model label; '__background__' and 'N/A' included)."""
    return list(_weights_enum(spec).meta["categories"])


def _download_error(what: str, url: str, e: Exception, alternative: str) -> CheckpointError:
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    return CheckpointError(
        f"{what} are not available here ({type(e).__name__}: {e}).\n"
        f"Place the file {path.name} in {path.parent}/ (download it from {url} on a machine with internet), "
        f"{alternative}")


def coco_state(spec: DetectorSpec) -> dict[str, torch.Tensor]:
    w = _weights_enum(spec)
    try:
        return w.get_state_dict(progress=False, check_hash=True)
    except Exception as e:  # noqa: BLE001 - offline, blocked, or a corrupt cached file
        raise _download_error(f"COCO weights for {spec.name}", w.url, e,
                              "or pass --weights PATH to a local .pth or .safetensors file.") from None


def _backbone_weights(spec: DetectorSpec, source: str) -> Any:
    if source == "none":
        return None
    if source != "imagenet":
        raise ConfigError(f"--weights-backbone must be 'imagenet' or 'none'. Received: {source!r}")
    from torchvision.models import MobileNet_V3_Large_Weights

    w = MobileNet_V3_Large_Weights.IMAGENET1K_V1
    try:  # fetch (or find in the cache) before building, so the offline message is ours
        w.get_state_dict(progress=False, check_hash=True)
    except Exception as e:  # noqa: BLE001
        raise _download_error(f"ImageNet weights for the MobileNetV3 trunk of {spec.name}", w.url, e,
                              "or pass --weights-backbone none.") from None
    return w


def build_detector(name: str, num_classes: int, weights: str = "none", weights_backbone: str = "none",
                   image_size: int | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """(model, info). `num_classes` counts object classes (background excluded); 0 means 'what the weights have'.
    info: {"categories": model-label names or None}."""
    import torchvision.models.detection as D

    spec = DETECTORS.get(name)
    info: dict[str, Any] = {"categories": None}
    state: dict[str, torch.Tensor] | None = None
    source = weights
    if weights == "coco":
        state = coco_state(spec)
        info["categories"] = coco_categories(spec)
        source = f"COCO weights for {name}"
    elif weights != "none":
        state, card = read_weights_file(Path(weights).expanduser())
        if card is not None and card.classes:
            info["categories"] = ["__background__", *card.classes]
    have = _state_classes(spec, state) if state is not None else None
    if num_classes <= 0:
        if have is None:
            raise ConfigError(f"{name}: give the number of classes or weights that have them")
        num_classes = have - 1
        if info["categories"] is None and have == 91:
            info["categories"] = coco_categories(spec)
    kwargs: dict[str, Any] = {"weights": None, "num_classes": num_classes + 1,
                              "weights_backbone": _backbone_weights(spec, weights_backbone) if state is None else None}
    model = getattr(D, name)(**kwargs)
    if state is not None:
        _load(model, spec, state, source, keep_head=have == num_classes + 1)
    if image_size:
        set_image_size(model, image_size)
    return model, info


def _state_classes(spec: DetectorSpec, state: dict[str, torch.Tensor]) -> int | None:
    """Model labels (background included) of a state dict, read from its class head's shape."""
    if spec.name.startswith("fasterrcnn"):
        w = state.get("roi_heads.box_predictor.cls_score.weight")
        return int(w.shape[0]) if w is not None else None
    w = state.get("head.classification_head.module_list.0.1.weight")
    anchors = 6  # SSDLite: 6 default boxes per location on the first feature map
    return int(w.shape[0]) // anchors if w is not None else None


def _load(model: nn.Module, spec: DetectorSpec, state: dict[str, torch.Tensor], source: str, keep_head: bool) -> None:
    """Shape-checked load; with keep_head=False the class-dependent layers stay freshly initialised."""
    if keep_head:
        load_matching(model, DetectorSpec(spec.name, "", (), 0, 0, head="\0"), state, source)  # type: ignore[arg-type]
        return
    in_head = lambda k: any(k.startswith(h + ".") for h in spec.class_heads)  # noqa: E731
    fresh = {k: v for k, v in model.state_dict().items() if in_head(k)}
    state = {**{k: v for k, v in state.items() if not in_head(k)}, **fresh}
    load_matching(model, DetectorSpec(spec.name, "", (), 0, 0, head="\0"), state, source)  # type: ignore[arg-type]


def set_image_size(model: nn.Module, size: int) -> None:
    """Make the model resize every input to `size` (SSD: a fixed square; Faster R-CNN: shorter side, capped)."""
    t = model.transform  # type: ignore[attr-defined]
    t.min_size, t.max_size = (size,), size
    if getattr(t, "fixed_size", None):
        t.fixed_size = (size, size)


def detector_card(name: str, classes: list[str], image_size: int, dataset: str = "",
                  metrics: dict[str, Any] | None = None, **extra: Any) -> ModelCard:
    """The card of a detector trained on `classes`: [0, 1] RGB images of any size go in (the model resizes them to
    `image_size` itself), labels are class index + 1 (0 is background)."""
    pre = Preprocess((3, image_size, image_size), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 255.0, crop=False)
    return ModelCard(name, "detection", pre.input_shape, len(classes) + 1, pre, {"image_size": image_size},
                     tuple(classes), dataset, metrics or {}, extra)


def _register(spec: DetectorSpec) -> None:
    def builder(input_shape: tuple[int, ...], num_outputs: int, *, image_size: int = spec.image_size) -> nn.Module:
        return build_detector(spec.name, num_outputs - 1, image_size=image_size)[0]

    builder.__name__ = spec.name
    register_model(spec.name, tasks=("detection",), ranges={"image_size": (32, 2048)})(builder)


for _name in DETECTORS.names():
    _register(DETECTORS.get(_name))


def load_detector(ref: str | Path, weights: str = "none", weights_backbone: str = "none",
                  num_classes: int = 0) -> tuple[nn.Module, dict[str, Any]]:
    """A detector by name (with `weights`), or from a `train-detector` run / checkpoint file.
    Returns (model in eval mode, meta) where meta has "model", "categories" (index = model label), "image_size"."""
    path = Path(ref).expanduser()
    if path.is_dir() or path.suffix == ".safetensors":
        model, card = load_model(path)
        if card.task != "detection":
            raise CheckpointError(f"{ref} holds a {card.task} model ({card.architecture}), not a detector")
        return model, {"model": card.architecture, "categories": ["__background__", *card.classes],
                       "image_size": card.args.get("image_size"), "weights": "run", "card": card}
    if str(ref) not in DETECTORS:
        DETECTORS.get(str(ref))  # raises the "unknown detector ... did you mean" error
    if weights == "none" and num_classes <= 0:  # random weights: COCO's label space, for trying the pipeline
        num_classes = 90
    model, info = build_detector(str(ref), num_classes, weights, weights_backbone)
    if weights == "none" and num_classes == 90:
        info["categories"] = coco_categories(DETECTORS.get(str(ref)))
    cats = info["categories"] or ["__background__", *[f"class{i}" for i in range(1, 1000)]]
    return model.eval(), {"model": str(ref), "categories": cats, "image_size": None, "weights": weights}
