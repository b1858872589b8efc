"""Detection: boxes with a class and a score for every object in an image (torchvision's SSDLite / Faster R-CNN).

`neuralab train --dataset shapes-det` trains a detector here (the options that mean the same thing — epochs, batch
size, learning rate, image size — carry over; `neuralab train-detector` has all of a detector's own); `predict`
and `detect` answer with boxes; images of any size and mode go in, decoded by the one image reader.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn

from neuralab.config import Settings
from neuralab.data import load_dataset
from neuralab.data.detection import generate
from neuralab.data.images import is_image_file, open_image, to_array
from neuralab.errors import ConfigError, DataError
from neuralab.files import atomic_write_json
from neuralab.records import ModelCard
from neuralab.report.detection import write_detection_report
from neuralab.tasks.detection_export import export_detector_int8, export_detector_onnx
from neuralab.tasks.precision import ExportOptions
from neuralab.tasks.quantize import sample
from neuralab.tasks.registry import TASKS, Task
from neuralab.train.detection import DetectTrainConfig, train_detector
from neuralab.train.detection_eval import evaluate_on

PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (250, 190, 190), (0, 128, 128)]
# `neuralab train` options that mean the same for a detector (the rest are a classifier's: refused, not ignored)
SHARED_OPTIONS = ("dataset", "model", "epochs", "batch_size", "lr", "weight_decay", "seed", "image_size",
                  "n_samples")


def _train(flat: dict[str, Any], settings: Settings, log: Callable[[str], None]) -> tuple[Path, str]:
    other = sorted(set(flat) - set(SHARED_OPTIONS))
    if other:
        raise ConfigError(f"{flat.get('dataset')} is a detection dataset: option(s) "
                          f"{', '.join('--' + o.replace('_', '-') for o in other)} apply to classifiers only. "
                          f"Detectors take {', '.join('--' + o.replace('_', '-') for o in SHARED_OPTIONS)} here, "
                          f"and every detector option with `neuralab train-detector`")
    run, result, _ = train_detector(DetectTrainConfig.of(**flat), settings, log=log)
    return run.path, result.summary().headline


def image_files(inputs: Sequence[str | Path]) -> list[Path]:
    """Files given, and the image files inside folders given (sorted); a named file must exist."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item).expanduser()
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and is_image_file(f))
            if not found:
                raise DataError(f"{p} holds no image files (.jpg, .png, ...)")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"{p} does not exist")
    return files


@torch.no_grad()
def detect(model: nn.Module, categories: Sequence[str], image: np.ndarray, score: float) -> list[dict[str, Any]]:
    """Detections of one (3, H, W) uint8 image scoring at least `score`: box (pixels), label, label_id, score."""
    pred = model.eval()([torch.from_numpy(np.ascontiguousarray(image)).float().div_(255)])[0]
    keep = pred["scores"] >= score
    return [{"box": [round(v, 2) for v in b], "label": categories[lab] if lab < len(categories) else str(lab),
             "label_id": lab, "score": round(s, 4)}
            for b, lab, s in zip(pred["boxes"][keep].tolist(), pred["labels"][keep].tolist(),
                                 pred["scores"][keep].tolist())]


def _predict(model: nn.Module, card: ModelCard, images: Sequence[Image.Image], top_k: int) -> list[dict[str, Any]]:
    """`neuralab predict` with a detector: the boxes of each image (at least 0.5 score, the best `top_k`)."""
    categories = ["__background__", *card.classes]
    out = []
    for im in images:
        pixels = card.preprocess.pixels(im)
        dets = detect(model, categories, pixels, 0.5)[:max(1, top_k)]
        out.append({"width": pixels.shape[2], "height": pixels.shape[1], "detections": dets})
    return out


def draw(image: np.ndarray, dets: list[dict[str, Any]]) -> Image.Image:
    im = Image.fromarray(image.transpose(1, 2, 0))
    d = ImageDraw.Draw(im)
    width = max(1, round(max(im.size) / 200))
    for det in dets:
        colour = PALETTE[det["label_id"] % len(PALETTE)]
        x1, y1, x2, y2 = det["box"]
        d.rectangle([x1, y1, x2, y2], outline=colour, width=width)
        text = f"{det['label']} {det['score']:.2f}"
        tx, ty = x1, max(0, y1 - 11)
        d.rectangle(d.textbbox((tx, ty), text), fill=colour)
        d.text((tx, ty), text, fill=(255, 255, 255))
    return im


def output_stems(files: Sequence[Path]) -> list[str]:
    """A distinct output name per input file: its stem, prefixed by its folder's name where several inputs share a
    stem (cats/0.png and dogs/0.png must not overwrite each other's drawing)."""
    counts = Counter(p.stem for p in files)
    names = [f"{p.parent.name}-{p.stem}" if counts[p.stem] > 1 else p.stem for p in files]
    seen: Counter = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out


def read_rgb(path: Path, max_pixels: int | None = None) -> np.ndarray:
    """A photo as (3, H, W) uint8 RGB through the one image reader (its pixel limit, or `max_pixels`)."""
    return to_array(open_image(path, **({"max_pixels": max_pixels} if max_pixels else {})), None, "RGB")


def write_detections(files: Sequence[Path], find: Callable[[np.ndarray], list[dict[str, Any]]],
                     header: dict[str, Any], out_dir: Path | None = None, max_pixels: int | None = None
                     ) -> list[dict[str, Any]]:
    """One record per image: {"image", "width", "height", "detections": find(image)}. With out_dir,
    detections.json ({**header, "images": records}) and <name>.png (boxes drawn) are written there."""
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for path, stem in zip(files, output_stems(files)):
        image = read_rgb(path, max_pixels)
        dets = find(image)
        rec = {"image": str(path), "width": image.shape[2], "height": image.shape[1], "detections": dets}
        if out_dir:
            rec["drawn"] = str(out_dir / f"{stem}.png")
            draw(image, dets).save(rec["drawn"])
        records.append(rec)
    if out_dir:
        atomic_write_json(out_dir / "detections.json", {**header, "images": records})
    return records


def detect_files(model: nn.Module, meta: dict[str, Any], files: Sequence[Path], score: float = 0.5,
                 out_dir: Path | None = None, max_pixels: int | None = None) -> list[dict[str, Any]]:
    """A detector's boxes for each file (see write_detections)."""
    header = {"model": meta["model"], "weights": meta.get("weights", "run"), "score": score}
    return write_detections(files, lambda image: detect(model, meta["categories"], image, score), header, out_dir,
                            max_pixels)


def _evaluate(model: nn.Module, card: ModelCard, dataset: str, settings: Settings, split: str = "test"
              ) -> dict[str, Any]:
    data = load_dataset(dataset or card.dataset, settings, task="detection", image_size=card.input_shape[-1])
    return {"split": split, **evaluate_on(model, ["__background__", *card.classes], data.splits()[split],
                                          data.classes, card.architecture)}


def _export(model: nn.Module, card: ModelCard, fmt: str, out: Path, options: ExportOptions | None = None,
            settings: Settings | None = None) -> dict[str, Any]:
    """ONNX, checked against PyTorch on generated images at the card's size (boxes, labels and scores); int8,
    calibrated on a seeded sample of the run's training images and checked on its test images."""
    size = card.input_shape[-1]
    if options is not None and options.precision == "int8":
        data = load_dataset(card.dataset, settings or Settings.resolve(), task="detection", image_size=size)
        calibration = [data.train.images[i] for i in sample(len(data.train), options.calibration_images, options.seed)]
        return export_detector_int8(model.eval(), out, size, calibration, data.test, options, card.dataset)
    split, _ = generate("shapes", 4, size, seed=7)
    report = export_detector_onnx(model.eval(), out, size, check_images=list(split.images))
    return {"parity": f"ONNX Runtime matches PyTorch's detections on {report['check']['images']} images "
                      f"(largest box difference {report['check']['max_box_diff']:.2g} x image size)"}


TASKS.register("detection")(Task(
    "detection", "boxes, classes and scores for every object in an image", train=_train, predict=_predict,
    answer=None, evaluate=_evaluate, export=_export, formats=("onnx",), metrics=("map50", "map"),
    report=write_detection_report, precisions=("fp32", "int8")))
