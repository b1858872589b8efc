"""MobileNet object detectors by name — SSDLite on MobileNetV2 (the SSDLite paper's) or MobileNetV3, and
torchvision's Faster R-CNN on MobileNetV3 — with the same `--weights` rules as backbones.

`--weights coco` reads torchvision's COCO weights from the weights folder (`--weights-dir`, $NEURALAB_WEIGHTS), else
through its weights API (downloaded once, hash-checked, cached in `~/.cache/torch/hub/checkpoints/`; offline, the
error names the file and both folders); `--weights PATH` reads a local `.safetensors` (ours: a `train-detector`
checkpoint) or `.pth` with `weights_only=True`; `--weights none` starts from random weights.
`--weights-backbone imagenet|PATH|none` initialises only the MobileNet trunk, exactly as `--weights` does for a
backbone: `imagenet` is torchvision's file (hub cache or weights folder) or a known checkpoint in the weights folder
with its own preprocessing (the TFLite MobileNetV2 wants [-1, 1]), which the detector's input normalisation then
follows; PATH is a classifier's state dict for the trunk. Loading is shape-checked: every tensor must match by name
and shape except the class-dependent head when the class count differs.

Labels: torchvision detectors reserve class 0 for background, so a dataset's class k is model label k + 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuralab.data.preprocess import Preprocess
from neuralab.config import Settings
from neuralab.errors import CheckpointError, ConfigError
from neuralab.models.backbone_specs import BACKBONES
from neuralab.models.checkpoint import load_model
from neuralab.models.registry import register_model
from neuralab.models.ssdlite import FrozenStatsBatchNorm2d, build_ssdlite
from neuralab.models.weights import Pretrained, load_backbone_weights, load_matching, read_weights_file, \
    resolve_pretrained
from neuralab.records import ModelCard
from neuralab.registry import Registry


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    weights_enum: str  # torchvision COCO weights class name ('' where torchvision publishes none)
    class_heads: tuple[str, ...]  # module prefixes whose shapes depend on the class count
    image_size: int  # the size the COCO weights were trained at (shorter side / fixed square)
    coco_map: float | None  # torchvision's reference box mAP on COCO val2017 (None: no published weights)
    trunk: str = "mobilenet_v3_large"  # the classifier whose `features` carry the detector
    builder: str = "torchvision"  # "ssdlite": neuralab's SSDLite (models/ssdlite.py); else torchvision's function


_SSD_HEAD = ("head.classification_head",)
_RCNN_HEADS = ("roi_heads.box_predictor.cls_score", "roi_heads.box_predictor.bbox_pred")
DETECTORS: Registry[DetectorSpec] = Registry("detector")
for _spec in (
    DetectorSpec("ssdlite320_mobilenet_v2", "", _SSD_HEAD, 320, None, "mobilenet_v2", "ssdlite"),
    DetectorSpec("ssdlite320_mobilenet_v3_large", "SSDLite320_MobileNet_V3_Large_Weights", _SSD_HEAD, 320, 21.3,
                 builder="ssdlite"),
    DetectorSpec("fasterrcnn_mobilenet_v3_large_320_fpn", "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights",
                 _RCNN_HEADS, 320, 22.8),
    DetectorSpec("fasterrcnn_mobilenet_v3_large_fpn", "FasterRCNN_MobileNet_V3_Large_FPN_Weights", _RCNN_HEADS,
                 800, 32.8),
):
    DETECTORS.register(_spec.name)(_spec)


def _weights_enum(spec: DetectorSpec) -> Any:
    import torchvision.models.detection as D

    if not spec.weights_enum:
        raise ConfigError(f"torchvision publishes no COCO weights for {spec.name} (its COCO detectors have "
                          f"MobileNetV3 trunks): train it on your boxes (`neuralab train-detector --model {spec.name} "
                          f"--weights-backbone imagenet`), or pass --weights PATH to a local file")
    return getattr(D, spec.weights_enum).COCO_V1


def coco_categories() -> list[str]:
    """The 91 label names of the COCO label space (index = model label; '__background__' and 'N/A' included)."""
    from torchvision.models.detection import SSDLite320_MobileNet_V3_Large_Weights

    return list(SSDLite320_MobileNet_V3_Large_Weights.COCO_V1.meta["categories"])


def _download_error(what: str, url: str, e: Exception, alternative: str) -> CheckpointError:
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    return CheckpointError(
        f"{what} are not available here ({type(e).__name__}: {e}).\n"
        f"Place the file {path.name} in the weights folder (--weights-dir, $NEURALAB_WEIGHTS) or in {path.parent}/ "
        f"(download it from {url} on a machine with internet), {alternative}")


def coco_state(spec: DetectorSpec, weights_dir: Path) -> dict[str, torch.Tensor]:
    """COCO weights: the weights folder first, then torch's hub cache or a download (weights API, hash-checked)."""
    w = _weights_enum(spec)
    local = weights_dir / w.url.rsplit("/", 1)[-1]
    if local.is_file():
        return read_weights_file(local)[0]
    try:
        return w.get_state_dict(progress=False, check_hash=True)
    except Exception as e:  # noqa: BLE001 - offline, blocked, or a corrupt cached file
        raise _download_error(f"COCO weights for {spec.name}", w.url, e,
                              "or pass --weights PATH to a local .pth or .safetensors file.") from None


def _rcnn_trunk(spec: DetectorSpec, trunk: Pretrained | None) -> Any:
    """torchvision's Faster R-CNN takes its trunk's ImageNet weights through the weights API only."""
    if trunk is None:
        return None
    if trunk.weights != "imagenet":
        raise ConfigError(f"{spec.name} takes --weights-backbone imagenet (torchvision's weights API) or none; a "
                          f"trunk file ({trunk.weights}) loads into the SSDLite detectors. Received: {trunk.weights}")
    from torchvision.models import MobileNet_V3_Large_Weights

    w = MobileNet_V3_Large_Weights.IMAGENET1K_V1
    try:  # fetch (or find in the cache) before building, so the offline message is ours
        w.get_state_dict(progress=False, check_hash=True)
    except Exception as e:  # noqa: BLE001
        raise _download_error(f"ImageNet weights for the MobileNetV3 trunk of {spec.name}", w.url, e,
                              "or pass --weights-backbone none.") from None
    return w


def _construct(spec: DetectorSpec, labels: int, trunk: Pretrained | None = None, mean: tuple[float, ...] = (),
               std: tuple[float, ...] = (), pretrained_trunk: bool = False) -> nn.Module:
    """The architecture with `labels` outputs (background included). `trunk`: weights to load into the MobileNet
    trunk, whose preprocessing then sets the input normalisation; `mean`/`std`/`pretrained_trunk` rebuild a saved
    detector as it was (its normalisation, and a trunk laid out as a pretrained one)."""
    import torchvision.models.detection as D

    if spec.builder != "ssdlite":
        model = getattr(D, spec.name)(weights=None, num_classes=labels, weights_backbone=_rcnn_trunk(spec, trunk))
    elif trunk is None:
        model = build_ssdlite(spec.trunk, labels, pretrained=pretrained_trunk)
    else:
        bspec = BACKBONES.get(spec.trunk)
        return build_ssdlite(spec.trunk, labels, load=lambda m: load_backbone_weights(m, bspec, trunk.weights),
                             mean=trunk.mean or bspec.mean, std=trunk.std or bspec.std)
    if mean and std:
        model.transform.image_mean, model.transform.image_std = list(mean), list(std)  # type: ignore[union-attr]
    return model


def build_detector(name: str, num_classes: int, weights: str = "none", weights_backbone: str = "none",
                   image_size: int | None = None, weights_dir: Path | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """(model, info). `num_classes` counts object classes (background excluded); 0 means 'what the weights have'.
    info: {"categories": model-label names or None, "trunk": where the trunk's weights came from}."""
    spec = DETECTORS.get(name)
    weights_dir = weights_dir if weights_dir is not None else Settings.resolve().weights_dir
    info: dict[str, Any] = {"categories": None, "trunk": "random"}
    state: dict[str, torch.Tensor] | None = None
    source, mean, std, layout = weights, (), (), False
    if weights == "coco":
        state = coco_state(spec, weights_dir)
        info["categories"], info["trunk"] = coco_categories(), "COCO detector weights"
        source = f"COCO weights for {name}"
    elif weights != "none":
        state, card = read_weights_file(Path(weights).expanduser())
        info["trunk"] = f"detector weights {weights}"
        if card is not None and card.classes:
            info["categories"] = ["__background__", *card.classes]
        if card is not None:
            mean, std = tuple(card.args.get("image_mean", ())), tuple(card.args.get("image_std", ()))
        layout = bool(card.args.get("pretrained_trunk")) if card is not None else _full_tail(spec, state)
    have = _state_classes(spec, state) if state is not None else None
    if num_classes <= 0:
        if have is None:
            raise ConfigError(f"{name}: give the number of classes or weights that have them")
        num_classes = have - 1
        if info["categories"] is None and have == 91:
            info["categories"] = coco_categories()
    trunk = resolve_pretrained(spec.trunk, weights_backbone, weights_dir) if state is None else None
    if trunk is not None:
        info["trunk"] = trunk.about
    model = _construct(spec, num_classes + 1, trunk, mean, std, layout)
    if state is not None:
        _load(model, spec, state, source, keep_head=have == num_classes + 1)
    if image_size:
        set_image_size(model, image_size)
    return model, info


def _full_tail(spec: DetectorSpec, state: dict[str, torch.Tensor]) -> bool:
    """Whether a SSDLite/MobileNetV3 state dict has an ImageNet trunk's full tail (a random trunk's is halved: the
    projection after the cut has 80 channels, not 160)."""
    w = state.get("backbone.features.1.0.3.0.weight")
    return spec.builder == "ssdlite" and spec.trunk == "mobilenet_v3_large" and w is not None and w.shape[0] == 160


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
    if not keep_head:
        in_head = lambda k: any(k.startswith(h + ".") for h in spec.class_heads)  # noqa: E731
        fresh = {k: v for k, v in model.state_dict().items() if in_head(k)}
        state = {**{k: v for k, v in state.items() if not in_head(k)}, **fresh}
    load_matching(model, spec.name, state, source)


def set_image_size(model: nn.Module, size: int) -> None:
    """Make the model resize every input to `size` (SSD: a fixed square; Faster R-CNN: shorter side, capped)."""
    t = model.transform  # type: ignore[attr-defined]
    t.min_size, t.max_size = (size,), size
    if getattr(t, "fixed_size", None):
        t.fixed_size = (size, size)


def detector_args(model: nn.Module, image_size: int) -> dict[str, Any]:
    """What rebuilds a detector as it was: its size, its input normalisation (the trunk's) and, for SSDLite, whether
    its trunk is laid out as a pretrained one (frozen batch-norm statistics; MobileNetV3's full tail)."""
    t = model.transform  # type: ignore[attr-defined]
    return {"image_size": image_size, "image_mean": [float(v) for v in t.image_mean],
            "image_std": [float(v) for v in t.image_std],
            "pretrained_trunk": any(isinstance(m, FrozenStatsBatchNorm2d) for m in model.modules())}


def detector_card(name: str, classes: list[str], image_size: int, dataset: str = "",
                  metrics: dict[str, Any] | None = None, model: nn.Module | None = None, **extra: Any) -> ModelCard:
    """The card of a detector trained on `classes`: [0, 1] RGB images of any size go in (the model resizes them to
    `image_size` and normalises them itself, as `detector_args(model)` records), labels are class index + 1 (0 is
    background)."""
    pre = Preprocess((3, image_size, image_size), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 255.0, crop=False)
    args = detector_args(model, image_size) if model is not None else {"image_size": image_size}
    return ModelCard(name, "detection", pre.input_shape, len(classes) + 1, pre, args, tuple(classes), dataset,
                     metrics or {}, extra)


def _register(spec: DetectorSpec) -> None:
    def builder(input_shape: tuple[int, ...], num_outputs: int, *, image_size: int = spec.image_size,
                image_mean: list[float] | None = None, image_std: list[float] | None = None,
                pretrained_trunk: bool = False) -> nn.Module:
        model = _construct(spec, num_outputs, None, tuple(image_mean or ()), tuple(image_std or ()), pretrained_trunk)
        set_image_size(model, image_size)
        return model

    builder.__name__ = spec.name
    register_model(spec.name, tasks=("detection",), ranges={"image_size": (32, 2048), "image_mean": (-10.0, 10.0),
                                                            "image_std": (1e-6, 1e3)})(builder)


for _name in DETECTORS.names():
    _register(DETECTORS.get(_name))


def load_detector(ref: str | Path, weights: str = "none", weights_backbone: str = "none", num_classes: int = 0,
                  weights_dir: Path | None = None) -> tuple[nn.Module, dict[str, Any]]:
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
    model, info = build_detector(str(ref), num_classes, weights, weights_backbone, weights_dir=weights_dir)
    if weights == "none" and num_classes == 90:
        info["categories"] = coco_categories()
    cats = info["categories"] or ["__background__", *[f"class{i}" for i in range(1, 1000)]]
    return model.eval(), {"model": str(ref), "categories": cats, "image_size": None, "weights": weights}
