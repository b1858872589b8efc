"""`neuralab detect`: run a detector on image files; boxes as JSON and the images with the boxes drawn.

Any size and any PIL mode works: grey, palette and alpha images become RGB the way `data.images.to_array` does it
(transparent areas on white). A file that is not an image is an error naming it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from neuralab.data.images import is_image_file, to_array
from neuralab.errors import DataError
from neuralab.models.detectors import load_detector

PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (250, 190, 190), (0, 128, 128)]


def image_files(inputs: list[str | Path]) -> list[Path]:
    """Files given, and the image files inside folders given (sorted); a named file must exist."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item).expanduser()
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and is_image_file(f))
            if not found:
                raise DataError(f"{p} holds no image files ({', '.join(sorted(e for e in ('.jpg', '.png')))}, ...)")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"{p} does not exist")
    return files


def read_rgb(path: Path) -> np.ndarray:
    """(3, H, W) uint8 of any image file; anything PIL cannot decode is an error naming the file."""
    try:
        with Image.open(path) as im:
            im.load()
            return to_array(im, None, "RGB")
    except Exception as e:  # noqa: BLE001 - any decoder failure: say which file and why
        raise DataError(f"{path} is not an image neuralab can read ({type(e).__name__}: {e})") from None


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


@torch.no_grad()
def detect_files(model_ref: str, inputs: list[str | Path], weights: str = "none", score: float = 0.5,
                 out_dir: str | Path | None = None, weights_backbone: str = "none") -> list[dict[str, Any]]:
    """One record per image: {"image", "width", "height", "detections": [{"box", "label", "label_id", "score"}]}.
    With out_dir: detections.json and <name>.png (boxes drawn) are written there."""
    files = image_files(inputs)
    model, meta = load_detector(model_ref, weights, weights_backbone)
    cats = meta["categories"]
    out = Path(out_dir) if out_dir else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    records = []
    for path in files:
        image = read_rgb(path)
        pred = model([torch.from_numpy(image).float().div_(255)])[0]
        keep = pred["scores"] >= score
        dets = [{"box": [round(v, 2) for v in b], "label": cats[lab] if lab < len(cats) else str(lab),
                 "label_id": lab, "score": round(s, 4)}
                for b, lab, s in zip(pred["boxes"][keep].tolist(), pred["labels"][keep].tolist(),
                                     pred["scores"][keep].tolist())]
        rec = {"image": str(path), "width": image.shape[2], "height": image.shape[1], "detections": dets}
        if out:
            rec["drawn"] = str(out / f"{path.stem}.png")
            draw(image, dets).save(rec["drawn"])
        records.append(rec)
    if out:
        from neuralab.runs import atomic_write_json

        atomic_write_json(out / "detections.json", {"model": str(model_ref), "weights": meta.get("weights", "run"),
                                                    "score": score, "images": records})
    return records


def records_json(records: list[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(r) for r in records)
