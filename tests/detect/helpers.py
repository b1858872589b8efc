"""Tiny detection folders written on the fly: COCO json and Pascal-VOC xml, with images of known boxes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def picture(w: int = 64, h: int = 48, box: tuple[int, int, int, int] = (10, 8, 30, 28), mode: str = "RGB") -> Image.Image:
    a = np.full((h, w, 3), 40, np.uint8)
    x1, y1, x2, y2 = box
    a[y1:y2, x1:x2] = (250, 30, 30)
    im = Image.fromarray(a)
    return im.convert(mode) if mode != "RGB" else im


def write_coco(root: Path, annotations: list[dict] | None = None, images: int = 3,
               categories: tuple[str, ...] = ("cat", "dog")) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    infos = []
    for i in range(images):
        picture().save(root / "images" / f"im{i}.png")
        infos.append({"id": i + 1, "file_name": f"im{i}.png", "width": 64, "height": 48})
    if annotations is None:
        annotations = [{"id": i + 1, "image_id": i + 1, "category_id": 1 + i % 2, "bbox": [10, 8, 20, 20],
                        "iscrowd": 0} for i in range(images)]
    doc = {"images": infos, "annotations": annotations,
           "categories": [{"id": k + 1, "name": n} for k, n in enumerate(categories)]}
    (root / "annotations.json").write_text(json.dumps(doc))
    return root


def write_voc(root: Path, objects: list[tuple[str, tuple[int, int, int, int]]] | None = None, images: int = 3) -> Path:
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    (root / "JPEGImages").mkdir(exist_ok=True)
    objects = objects if objects is not None else [("cat", (11, 9, 30, 28))]
    for i in range(images):
        picture().save(root / "JPEGImages" / f"im{i}.jpg")
        objs = "".join(f"<object><name>{n}</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax>"
                       f"<ymax>{d}</ymax></bndbox></object>" for n, (a, b, c, d) in objects)
        (root / "Annotations" / f"im{i}.xml").write_text(
            f"<annotation><filename>im{i}.jpg</filename><size><width>64</width><height>48</height></size>"
            f"{objs}</annotation>")
    return root
