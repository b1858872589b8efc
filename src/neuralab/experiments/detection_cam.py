"""The detection page's real-photo section: a pretrained ImageNet MobileNetV2 localising real cats and dogs with
class activation maps (CAM), since no box-annotated photos or COCO detector weights can be had offline.

`measure_cam` reads the first photos of cats_and_dogs_filtered/validation/{cats,dogs} and the MobileNetV2 ImageNet
weights that need no download (torchvision's file in torch's cache or the weights folder, or a known checkpoint
there with its own preprocessing, as `--weights imagenet` finds them); `cam_section` draws them with their maps and
boxes and counts how often the top ImageNet class was a cat or dog class. When either is absent the page says in
one sentence what to place where. The photos are shrunk to at most 224 px first (the network sees 224x224 anyway),
which keeps the section under a second of CPU and the Result small.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from neuralab.config import Settings
from neuralab.data.cats_dogs import CLASS_NAMES, FOLDER
from neuralab.data.images import open_image, to_array
from neuralab.errors import NeuralabError
from neuralab.models.weights import KNOWN_CHECKPOINTS, find_imagenet
from neuralab.report.detection import cam_grid
from neuralab.report.page import Page
from neuralab.tasks.explain import load_classifier, localize, pet_species

ARCH = "mobilenet_v2"
SIDE = 224  # photos are shrunk to fit this square before the network stretches them to its 224x224


@dataclass(frozen=True)
class CamShot:
    """One photo: itself (shrunk), its top class's map and box, and what the class and the folder say."""

    image: np.ndarray  # (3, H, W) uint8
    heat: np.ndarray  # (H, W)
    box: list[float] | None
    label: str  # the top ImageNet class
    probability: float
    species: str  # 'cat' or 'dog' when the top class is one of ImageNet's cat or dog classes, else ''
    truth: str  # the photo's folder: 'cat' or 'dog'


@dataclass(frozen=True)
class CamResult:
    model: str  # the classifier and where its weights came from
    method: str  # 'cam' (MobileNetV2 ends in global pooling + linear)
    shots: list[CamShot]
    missing: str = ""  # why nothing ran ('' when it did): what to place where


def _photos(folder: Path, n: int) -> list[tuple[Path, str]]:
    """The first n/2 cat and n/2 dog photos (by name), alternating so a short grid shows both."""
    per = [sorted((folder / name).glob("*.jpg"))[:(n + 1) // 2] for name in CLASS_NAMES]
    pairs = [(p, CLASS_NAMES[name]) for files, name in zip(per, CLASS_NAMES) for p in files]
    cats, dogs = pairs[:len(per[0])], pairs[len(per[0]):]
    return [x for pair in zip(cats, dogs) for x in pair][:n]


def shrunk_photo(path: Path) -> np.ndarray:
    """A photo shrunk to fit SIDE x SIDE (the network stretches it to 224x224 anyway), as (3, H, W) uint8 RGB."""
    im = open_image(path)
    im.thumbnail((SIDE, SIDE))
    return to_array(im.convert("RGB") if im.mode != "RGB" else im, None, "RGB")


def measure_cam(settings: Settings, n: int) -> CamResult:
    folder = settings.data_dir / FOLDER / "validation"
    photos = _photos(folder, n) if folder.is_dir() else []
    weights = find_imagenet(ARCH, settings.weights_dir)
    if weights is None or not photos:
        known = next(k.file for k in KNOWN_CHECKPOINTS if k.backbone == ARCH)
        return CamResult("", "", [], f"To see a pretrained MobileNetV2 localise real cats and dogs here, place "
                                     f"{known} (or torchvision's mobilenet_v2-7ebf99e0.pth) in the weights folder "
                                     f"{settings.weights_dir}/ and the cats_and_dogs_filtered photos in "
                                     f"{folder}/{{cats,dogs}}/.")
    try:
        clf = load_classifier(ARCH, settings.weights_dir)
        species = pet_species(clf.classes)
        images = [shrunk_photo(p) for p, _ in photos]
        found, used = localize(clf, images, k=1, method="cam")
    except NeuralabError as e:  # a damaged file or a labels file in another order: said, not a crash
        return CamResult("", "", [], f"The pretrained MobileNetV2 could not localise the photos here: {e}")
    shots = [CamShot(im, f.heat, f.box, f.label, f.probability, species.get(f.label_id, ""), truth)
             for im, (f,), (_, truth) in zip(images, found, photos)]
    return CamResult(clf.name, used, shots)


def cam_sentence(r: CamResult) -> str:
    """What the photos show, counted: top class a cat/dog class, the right species, and how much of the photo the
    box covers (a box that is always the whole photo would localise nothing)."""
    n = len(r.shots)
    pets = sum(bool(s.species) for s in r.shots)
    right = sum(s.species == s.truth for s in r.shots)
    shares = [(b[2] - b[0]) * (b[3] - b[1]) / (s.heat.shape[0] * s.heat.shape[1])
              for s in r.shots for b in [s.box] if b]
    cover = f"; the boxes cover {np.median(shares):.0%} of the photo (median)" if shares else ""
    return (f"On {n} real photos the top ImageNet class was a cat or dog class in {pets} of {n}, and the right "
            f"species in {right} of {n}{cover}.")


def cam_section(page: Page, r: CamResult) -> None:
    """The real-photo section: a grid of photos under their maps with their boxes, and the counts."""
    page.add("## Localising real cats and dogs with a pretrained MobileNetV2 (class activation maps)")
    if r.missing:
        page.add(r.missing)
        return
    titles = [f"{s.label.split(',')[0]} {s.probability:.2f}" + ("" if s.species else " (not a pet class)")
              for s in r.shots]  # ImageNet names list synonyms after a comma: the first is enough under a photo
    fig = cam_grid([s.image for s in r.shots], [s.heat for s in r.shots], [s.box for s in r.shots], titles,
                   title="top class's activation map and box")
    sentence = cam_sentence(r)
    page.add(f"No box-annotated photos or COCO detector weights are available offline, but an ImageNet classifier "
             f"already knows where a cat is: its class activation map (the last feature maps weighted by the top "
             f"class's linear weights) is bright where the evidence for that class lies, and the largest region "
             f"above 20% of the map's peak gives a box, as in the CAM paper. Model: {r.model}.",
             page.figure("cam", fig, "real cats and dogs: class activation maps and their boxes"), sentence,
             "The same on any photos: `neuralab explain mobilenet_v2 PHOTOS` (overlays) and `neuralab detect "
             "--method cam --model mobilenet_v2 PHOTOS` (boxes as JSON).")
    page.findings.append(sentence)
    page.details["cam"] = {"photos": len(r.shots), "pet_class": sum(bool(s.species) for s in r.shots),
                           "right_species": sum(s.species == s.truth for s in r.shots), "model": r.model}
