"""Localisation with a classifier: heat maps of where it looks (CAM, Grad-CAM) and boxes from them.

A classifier is an ImageNet backbone by name (`mobilenet_v2`: its weights as `--weights imagenet` finds them — the
weights folder's known checkpoints included, with their own preprocessing), a classifier's weights file (`.pth`;
the architecture from the file's name when it is a known checkpoint, else `arch`), or a run of ours. Each photo is
stretched whole to the network's input size (so the map covers all of it), normalised as the weights want, and its
maps are upsampled back to the photo's own size. `neuralab explain` writes the overlays; `neuralab detect --method
cam` writes the boxes (the CAM paper's protocol: the largest region above 20% of the map's peak) as the detectors'
JSON and drawn PNGs.

ImageNet class names come from a labels file next to the weights or in the weights folder (`imagenet_labels.txt`,
one name a line; a leading 'background' line, as TensorFlow's 1001-class files have, is dropped for a 1000-output
network), else from torchvision's list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torchvision
from PIL import Image, ImageDraw
from torch import nn

from neuralab.data.images import to_mode
from neuralab.errors import ConfigError
from neuralab.files import atomic_write_json
from neuralab.models.backbone_specs import BACKBONES
from neuralab.models.cam import THRESHOLD, Maps, box_from_map, cam, grad_cam, upsample
from neuralab.models.checkpoint import load_model
from neuralab.models.weights import (KNOWN_CHECKPOINTS, imagenet_state, load_matching, read_weights_file,
                                     resolve_pretrained)
from neuralab.report.detection import overlay
from neuralab.tasks.detection import output_stems, read_rgb, write_detections

LABELS_FILE = "imagenet_labels.txt"
METHODS = ("auto", "cam", "gradcam")
# ImageNet-1k class indices (0-based, 1000 classes) of the dog breeds and the domestic cats; checked by name
PET_CLASSES = {"dog": range(151, 269), "cat": range(281, 286)}
_PET_ENDS = {151: "Chihuahua", 268: "Mexican hairless", 269: "timber wolf", 280: "grey fox", 281: "tabby",
             285: "Egyptian cat", 286: "cougar"}


@dataclass(frozen=True)
class Classifier:
    """A classifier and how its input is made: RGB or grey, stretched to `size`, normalised with mean/std."""

    model: nn.Module
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    size: tuple[int, int]  # (height, width)
    mode: str
    name: str  # what it is, for reports and JSON

    def inputs(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """(3, H, W) uint8 photos of any sizes -> the (N, C, h, w) float batch the network takes."""
        h, w = self.size
        batch = [np.asarray(to_mode(Image.fromarray(im.transpose(1, 2, 0)), self.mode)
                            .resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32) for im in images]
        x = torch.from_numpy(np.stack(batch)).reshape(len(batch), h, w, -1).permute(0, 3, 1, 2) / 255.0
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        return (x - mean) / torch.tensor(self.std).view(1, -1, 1, 1)


def imagenet_classes(n: int, arch: str, folders: Sequence[Path]) -> list[str]:
    """Names of a network's n ImageNet outputs: a labels file in `folders`, else torchvision's list."""
    for folder in folders:
        f = folder / LABELS_FILE
        if not f.is_file():
            continue
        lines = [line.strip() for line in f.read_text().splitlines() if line.strip()]
        if len(lines) == n + 1 and lines[0].lower() == "background":
            return lines[1:]
        if len(lines) == n:
            return lines
        raise ConfigError(f"{f} has {len(lines)} names for a network with {n} outputs (a file with a first "
                          f"'background' line may have one more)")
    names = list(torchvision.models.get_model_weights(arch).DEFAULT.meta["categories"])
    return names if len(names) == n else [f"class{i}" for i in range(n)]


def pet_species(classes: Sequence[str]) -> dict[int, str]:
    """ImageNet class index -> 'dog' or 'cat' for the dog breeds (151-268) and domestic cats (281-285), after
    checking by name that `classes` is ImageNet's 1000 in the usual order."""
    wrong = {i: want for i, want in _PET_ENDS.items() if i >= len(classes) or not classes[i].startswith(want)}
    if wrong:
        raise ConfigError(f"these are not ImageNet's 1000 classes in order: expected {wrong} at those indices")
    return {i: species for species, r in PET_CLASSES.items() for i in r}


def _backbone_classifier(arch: str, source: str, weights_dir: Path) -> Classifier:
    spec = BACKBONES.get(arch)
    found = resolve_pretrained(arch, source, weights_dir)
    assert found is not None
    state = imagenet_state(spec) if found.weights == "imagenet" else read_weights_file(Path(found.weights))[0]
    head = state.get(f"{spec.head}.weight")
    if head is None:
        raise ConfigError(f"{found.weights} has no {spec.head}.weight: not a whole {arch} classifier")
    model = torchvision.models.get_model(arch, weights=None, num_classes=int(head.shape[0]))
    load_matching(model, arch, state, found.about)  # the whole classifier, its ImageNet head included
    folders = [Path(found.weights).parent] if found.weights != "imagenet" else []
    classes = imagenet_classes(int(head.shape[0]), arch, [*folders, weights_dir])
    return Classifier(model.eval(), classes, found.mean or spec.mean, found.std or spec.std, (spec.crop, spec.crop),
                      "RGB", f"{arch}, {found.about}")


def load_classifier(ref: str | Path, weights_dir: Path, arch: str = "") -> Classifier:
    """An ImageNet backbone by name, a classifier's .pth file (architecture from its known name or `arch`), or a
    classification run / .safetensors checkpoint."""
    path = Path(ref).expanduser()
    if str(ref) in BACKBONES and not path.exists():
        return _backbone_classifier(str(ref), "imagenet", weights_dir)
    if path.suffix in (".pth", ".pt", ".bin"):
        known = next((k.backbone for k in KNOWN_CHECKPOINTS if k.file == path.name), "")
        if not (arch or known):
            raise ConfigError(f"{path.name}: say which architecture its weights are for (--arch, one of "
                              f"{', '.join(BACKBONES.names())})")
        return _backbone_classifier(arch or known, str(path), weights_dir)
    model, card = load_model(path)
    if card.task != "classification" or not card.preprocess.is_image:
        raise ConfigError(f"{ref} holds a {card.task} model of {list(card.input_shape)} inputs: explaining needs an "
                          f"image classifier")
    pre = card.preprocess
    return Classifier(model, list(card.classes), pre.mean, pre.std, pre.input_shape[1:], pre.mode,
                      f"{card.architecture} run {path}")


def class_maps(clf: Classifier, x: torch.Tensor, k: int, method: str = "auto") -> tuple[Maps, str]:
    """(the top-k classes' maps, the method used): 'auto' is CAM where the network allows it, else Grad-CAM."""
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}. Received: {method!r}")
    if method == "gradcam":
        return grad_cam(clf.model, x, k=k), "gradcam"
    try:
        return cam(clf.model, x, k=k), "cam"
    except ConfigError:
        if method == "cam":
            raise
        return grad_cam(clf.model, x, k=k), "gradcam"


@dataclass(frozen=True)
class Found:
    """One class's evidence in one photo: its probability, its map at the photo's size, the box from the map."""

    label_id: int
    label: str
    probability: float
    heat: np.ndarray
    box: list[float] | None

    def record(self) -> dict[str, Any]:
        return {"label": self.label, "label_id": self.label_id, "score": round(self.probability, 4),
                "box": [round(v, 2) for v in self.box] if self.box else None}


def localize(clf: Classifier, images: Sequence[np.ndarray], k: int = 1, method: str = "auto",
             threshold: float = THRESHOLD) -> tuple[list[list[Found]], str]:
    """Per photo, the top-k classes with their maps and boxes; and the method used."""
    maps, used = class_maps(clf, clf.inputs(images), k, method)
    probs = maps.logits.softmax(1)
    out = []
    for i, im in enumerate(images):
        h, w = im.shape[1:]
        found = []
        for r, c in enumerate(maps.classes[i].tolist()):
            heat = upsample(maps.maps[i, r], h, w)
            box = box_from_map(heat, threshold)
            found.append(Found(c, clf.classes[c] if c < len(clf.classes) else str(c), float(probs[i, c]), heat,
                               box[0] if box else None))
        out.append(found)
    return out, used


def explain_files(clf: Classifier, files: Sequence[Path], out_dir: Path, k: int = 1, method: str = "auto",
                  max_pixels: int | None = None) -> list[dict[str, Any]]:
    """Write <name>-<rank>.png (the photo under the rank-th class's map, its box drawn) and explain.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    records, used = [], method
    for path, stem in zip(files, output_stems(files)):
        image = read_rgb(path, max_pixels)
        (found,), used = localize(clf, [image], k, method)
        overlays = []
        for r, f in enumerate(found, start=1):
            overlays.append(str(out_dir / f"{stem}-{r}.png"))
            drawn = Image.fromarray(overlay(image, f.heat))
            if f.box:
                ImageDraw.Draw(drawn).rectangle(f.box, outline=(255, 255, 255), width=max(1, max(drawn.size) // 200))
            drawn.save(overlays[-1])
        records.append({"image": str(path), "width": image.shape[2], "height": image.shape[1],
                        "classes": [f.record() for f in found], "overlays": overlays})
    atomic_write_json(out_dir / "explain.json", {"model": clf.name, "method": used, "images": records})
    return records


def cam_detect_files(clf: Classifier, files: Sequence[Path], score: float = 0.0, out_dir: Path | None = None,
                     k: int = 1, method: str = "auto", max_pixels: int | None = None) -> list[dict[str, Any]]:
    """Boxes from the top-k classes' maps (scored by the class probability, kept at `score` or more), written as
    the detectors' JSON and drawn PNGs."""
    header = {"model": clf.name, "method": method, "score": score, "threshold": THRESHOLD}

    def find(image: np.ndarray) -> list[dict[str, Any]]:
        (found,), used = localize(clf, [image], k, method)
        header["method"] = used  # what ran ('auto' resolves to cam or gradcam); the JSON is written after
        return [f.record() for f in found if f.box and f.probability >= score]

    return write_detections(files, find, header, out_dir, max_pixels)
