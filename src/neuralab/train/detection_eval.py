"""`neuralab eval-detector`: box mAP of a detector (COCO weights, a local file, or a train-detector run) on every
image of a detection folder.

Pretrained label spaces differ from a folder's classes, so predictions are matched to the folder's classes by name
(COCO's 'person' is the folder's 'person'); predictions of classes the folder does not have are dropped. Images
keep their own size unless --image-size is given (the model resizes them as it was trained to). Reference numbers
with torchvision's COCO weights on val2017: SSDLite 21.3, Faster R-CNN 320 22.8, Faster R-CNN 32.8 box mAP.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from neuralab.config import Settings
from neuralab.data import load_dataset
from neuralab.data.detection import DetSplit
from neuralab.errors import ConfigError
from neuralab.models.detectors import DETECTORS, load_detector
from neuralab.train.detection import evaluate


def label_map(categories: list[str], classes: list[str]) -> dict[int, int]:
    """model label -> dataset class index + 1, for every model category that the dataset has (by name)."""
    return {i: classes.index(name) + 1 for i, name in enumerate(categories) if name in classes}


def evaluate_on(model: nn.Module, categories: list[str], split: DetSplit, classes: list[str], name: str,
                batch_size: int = 8) -> dict[str, Any]:
    """mAP of a detector on `split`, its predictions matched to the split's classes by name."""
    mapping = label_map(categories, classes)
    if not mapping:
        raise ConfigError(f"none of the dataset's classes {classes[:10]} is a class of {name} "
                          f"({[c for c in categories if c not in ('__background__', 'N/A')][:10]} ...)")
    metrics, _ = evaluate(model, split, batch_size, mapping)
    return {"images": len(split), "boxes": int(sum(len(b) for b in split.boxes)), "classes_matched": len(mapping),
            **metrics}


def eval_detector(dataset: str, model_ref: str, weights: str = "coco", settings: Settings | None = None,
                  image_size: int | None = None, batch_size: int = 8) -> dict[str, Any]:
    """Box mAP of a detector (a name with `weights`, or a run) on every image of a detection folder."""
    settings = settings or Settings.resolve()
    data = load_dataset(dataset, settings, task="detection", image_size=image_size, val_fraction=0.0)
    model, meta = load_detector(model_ref, weights)
    result = evaluate_on(model, meta["categories"], data.train, data.classes, str(model_ref), batch_size)
    ref = DETECTORS.get(meta["model"]).coco_map if meta["model"] in DETECTORS else None
    return {"dataset": dataset, "model": str(model_ref), "weights": weights if model_ref in DETECTORS else "run",
            "skipped": data.skipped, **result, "reference_coco_val2017_map": ref}
