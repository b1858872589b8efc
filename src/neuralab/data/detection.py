"""Object-detection data: images held in memory with one box list per image.

A `DetSplit` is a uint8 `(N, 3, H, W)` array (or a list of `(3, H, W)` arrays when sizes differ) plus, per image,
an `(n, 4)` float32 array of `[x1, y1, x2, y2]` pixel boxes and an `(n,)` int64 array of 0-based class indices.
Sources: `coco:PATH` (one COCO instances json), `voc:PATH` (Annotations/*.xml + JPEGImages/), and two generated
sets, `shapes-det` and `digits-det`, whose boxes are exact, so everything runs offline.

Bad annotations are counted, not silently dropped: boxes outside the image, of zero area, or of an unknown class
are skipped and the counts are in `dataset.skipped` (and in a warning); unreadable annotation files are an error.
"""

from __future__ import annotations

import json
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from neuralab.data.base import short_path
from neuralab.data.images import to_array
from neuralab.data.registry import DataOptions, register
from neuralab.errors import DataError

TOLERANCE = 1.0  # pixels a box may stick out of its image (rounding in annotation tools) before it is skipped


@dataclass
class DetSplit:
    images: np.ndarray | list[np.ndarray]
    boxes: list[np.ndarray]
    labels: list[np.ndarray]
    names: list[str] = field(default_factory=list)  # file names (folders) or "gen-<i>"

    def __len__(self) -> int:
        return len(self.boxes)

    def take(self, idx: Sequence[int]) -> "DetSplit":
        idx = [int(i) for i in idx]
        images = self.images[idx] if isinstance(self.images, np.ndarray) else [self.images[i] for i in idx]
        return DetSplit(images, [self.boxes[i] for i in idx], [self.labels[i] for i in idx],
                        [self.names[i] for i in idx] if self.names else [])


@dataclass
class DetDataset:
    name: str
    train: DetSplit
    val: DetSplit
    test: DetSplit
    classes: list[str]
    source: str = ""
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    notes: list[str] = field(default_factory=list)
    task: str = "detection"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        im = self.train.images[0] if len(self.train) else self.test.images[0]
        return tuple(im.shape)

    def splits(self) -> dict[str, DetSplit]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def describe(self) -> dict[str, Any]:
        n_boxes = {k: int(sum(len(b) for b in s.boxes)) for k, s in self.splits().items()}
        return {"name": self.name, "task": self.task, "source": self.source, "classes": self.classes,
                "sizes": {k: len(s) for k, s in self.splits().items()}, "boxes": n_boxes,
                "input_shape": list(self.input_shape), "skipped": self.skipped, "notes": self.notes}


# -- box validation -----------------------------------------------------------------------------------------
def check_box(box: Sequence[float], width: int, height: int) -> tuple[np.ndarray | None, str]:
    """([x1, y1, x2, y2] clipped to the image, '') or (None, reason) for a box that must be skipped."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(np.isfinite([x1, y1, x2, y2])):
        return None, "non-finite box"
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        return None, "zero area"
    if x1 < -TOLERANCE or y1 < -TOLERANCE or x2 > width + TOLERANCE or y2 > height + TOLERANCE:
        return None, "outside image"
    b = np.array([max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)], dtype=np.float32)
    return (b, "") if b[2] > b[0] and b[3] > b[1] else (None, "zero area")


def _report_skips(source: str, skipped: Counter) -> dict[str, int]:
    if skipped:
        what = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
        warnings.warn(f"{source}: skipped {what}", stacklevel=3)
    return dict(skipped)


def _resize(image: np.ndarray, boxes: np.ndarray, size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Stretch to size x size (boxes scaled exactly the same); None keeps the image as it is."""
    if size is None or image.shape[1:] == (size, size):
        return image, boxes
    h, w = image.shape[1:]
    im = Image.fromarray(image.transpose(1, 2, 0)).resize((size, size), Image.Resampling.BILINEAR)
    scale = np.array([size / w, size / h, size / w, size / h], dtype=np.float32)
    return np.asarray(im).transpose(2, 0, 1).copy(), (boxes * scale).astype(np.float32)


def _read_image(path: Path) -> np.ndarray | str:
    try:
        with Image.open(path) as im:
            im.load()
            return to_array(im, None, "RGB")
    except FileNotFoundError:
        return "missing image"
    except Exception:  # noqa: BLE001 - any decoder failure means "unreadable"
        return "unreadable image"


def _assemble(records: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], size: int | None) -> DetSplit:
    images, boxes, labels, names = [], [], [], []
    for name, im, b, lab in records:
        im, b = _resize(im, b.reshape(-1, 4), size)
        images.append(im), boxes.append(b), labels.append(lab.astype(np.int64)), names.append(name)
    same = len({im.shape for im in images}) == 1 and images
    return DetSplit(np.stack(images) if same else images, boxes, labels, names)


def _split_records(records: list, opts: DataOptions) -> tuple[list, list, list]:
    """Shuffle (split_seed) and cut val_fraction for validation and the same for test (one each, at least)."""
    order = np.random.default_rng(opts.split_seed).permutation(len(records))
    n = len(records)
    k = max(1, round(n * opts.val_fraction)) if n >= 3 else 0
    test, val, train = order[:k], order[k:2 * k], order[2 * k:]
    return [records[i] for i in train], [records[i] for i in val], [records[i] for i in test]


def folder_dataset(name: str, records: list, classes: list[str], opts: DataOptions, source: str,
                    skipped: Counter) -> DetDataset:
    if not records:
        raise DataError(f"{source}: no usable images (skipped: {dict(skipped) or 'none'})")
    size = opts.image_size
    if opts.val_fraction == 0:  # evaluation of a whole folder: one split, shared (not copied) three times
        whole = _assemble(records, size)
        return DetDataset(name, whole, whole, whole, classes, source, _report_skips(source, skipped))
    tr, va, te = _split_records(records, opts)
    return DetDataset(name, _assemble(tr or records, size), _assemble(va or records, size),
                      _assemble(te or records, size), classes, source, _report_skips(source, skipped))


# -- COCO ---------------------------------------------------------------------------------------------------
def _coco_json(root: Path) -> Path:
    if root.is_file() and root.suffix == ".json":
        return root
    if not root.is_dir():
        raise DataError(f"COCO folder {root} does not exist")
    cands = [root / "annotations.json"] if (root / "annotations.json").is_file() else \
        sorted(root.glob("*.json")) + sorted((root / "annotations").glob("*.json"))
    if len(cands) != 1:
        raise DataError(f"{root}: expected one COCO annotation file (annotations.json, or the only *.json in the "
                        f"folder or in annotations/); found {[str(c.name) for c in cands] or 'none'}. "
                        f"Pass coco:PATH/TO/FILE.json to choose")
    return cands[0]


def read_coco(path: Path, size: int | None = None, classes: list[str] | None = None) -> tuple[list, list[str], Counter]:
    """Records (name, image, boxes, labels), class names (by category id), skip counts."""
    ann_file = _coco_json(path)
    try:
        doc = json.loads(ann_file.read_text())
        cats = sorted(doc["categories"], key=lambda c: c["id"])
        images, anns = doc["images"], doc.get("annotations", [])
    except json.JSONDecodeError as e:
        raise DataError(f"{ann_file} is not valid JSON ({e})") from None
    except (KeyError, TypeError) as e:
        raise DataError(f"{ann_file} is not a COCO instances file (missing {e})") from None
    names = [c["name"] for c in cats]
    keep = classes or names
    cat_index = {c["id"]: keep.index(c["name"]) for c in cats if c["name"] in keep}
    by_image: dict[Any, list] = {}
    for a in anns:
        by_image.setdefault(a.get("image_id"), []).append(a)
    folders = [ann_file.parent / "images", ann_file.parent, ann_file.parent.parent / "images", ann_file.parent.parent]
    skipped: Counter = Counter()
    records = []
    for info in images:
        file = next((f / info["file_name"] for f in folders if (f / info["file_name"]).is_file()),
                    folders[0] / info["file_name"])
        im = _read_image(file)
        if isinstance(im, str):
            skipped[im] += 1
            warnings.warn(f"{ann_file.name}: {im} {file}", stacklevel=2)
            continue
        h, w = im.shape[1:]
        boxes, labels = [], []
        for a in by_image.get(info["id"], []):
            if a.get("iscrowd", 0):
                skipped["crowd box"] += 1
                continue
            if a.get("category_id") not in cat_index:
                skipped["unknown category" if a.get("category_id") not in {c["id"] for c in cats}
                        else "class not selected"] += 1
                continue
            x, y, bw, bh = a["bbox"]
            box, why = check_box([x, y, x + bw, y + bh], w, h)
            if box is None:
                skipped[why] += 1
                continue
            boxes.append(box), labels.append(cat_index[a["category_id"]])
        records.append((info["file_name"], im, np.array(boxes, np.float32).reshape(-1, 4), np.array(labels)))
    return records, list(keep), skipped


@register("coco", "a COCO-json detection folder: coco:PATH (annotations.json + images/)", kind="custom", task="detection")
def load_coco(opts: DataOptions) -> DetDataset:
    root = Path(opts.arg or "").expanduser()
    records, classes, skipped = read_coco(root, opts.image_size, opts.classes)
    return folder_dataset(f"coco:{root.name}", records, classes, opts, short_path(root), skipped)


# -- Pascal VOC ---------------------------------------------------------------------------------------------
def _voc_objects(xml: Path) -> tuple[str, list[tuple[str, list[float]]]]:
    try:
        root = ET.parse(xml).getroot()
        objs = [(o.findtext("name", "").strip(),
                 [float(o.find("bndbox").findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")])  # type: ignore
                for o in root.iter("object")]
        return root.findtext("filename", xml.with_suffix(".jpg").name).strip(), objs
    except ET.ParseError as e:
        raise DataError(f"{xml} is not valid XML ({e})") from None
    except (AttributeError, TypeError, ValueError) as e:
        raise DataError(f"{xml}: an <object> lacks a numeric <bndbox> xmin/ymin/xmax/ymax ({e})") from None


def read_voc(xmls: list[Path], images: Path, classes: Sequence[str] | None = None,
             relabel: Callable[[Path, str], str] | None = None, size: int | None = None
             ) -> tuple[list, list[str], Counter]:
    """Records (name, image, boxes, labels), class names, skip counts of Pascal-VOC xml files whose images are in
    `images`. relabel(xml, object name) -> class name (default: the object's <name>); `size` stretches each image
    (and its boxes) to a square as it is read, so large photo sets never sit in memory at full size."""
    parsed = [(x, *_voc_objects(x)) for x in xmls]
    if relabel is not None:
        parsed = [(x, filename, [(relabel(x, n), box) for n, box in objs]) for x, filename, objs in parsed]
    classes = list(classes or sorted({n for _, _, objs in parsed for n, _ in objs if n}))
    skipped: Counter = Counter()
    records = []
    for xml, filename, objs in parsed:
        im = _read_image(images / filename)
        if isinstance(im, str):
            skipped[im] += 1
            warnings.warn(f"{xml.name}: {im} {images / filename}", stacklevel=2)
            continue
        h, w = im.shape[1:]
        boxes, labels = [], []
        for name, (x1, y1, x2, y2) in objs:
            if name not in classes:
                skipped["unknown class"] += 1
                continue
            box, why = check_box([x1 - 1, y1 - 1, x2, y2], w, h)  # VOC pixels are 1-based, inclusive
            if box is None:
                skipped[why] += 1
                continue
            boxes.append(box), labels.append(classes.index(name))
        im, kept = _resize(im, np.array(boxes, np.float32).reshape(-1, 4), size)
        records.append((filename, im, kept, np.array(labels)))
    return records, classes, skipped


@register("voc", "a Pascal-VOC detection folder: voc:PATH (Annotations/*.xml + JPEGImages/)", kind="custom", task="detection")
def load_voc(opts: DataOptions) -> DetDataset:
    root = Path(opts.arg or "").expanduser()
    xmls = sorted((root / "Annotations").glob("*.xml"))
    if not xmls:
        raise DataError(f"{root}: no Annotations/*.xml files (a Pascal-VOC folder has Annotations/ and JPEGImages/)")
    records, classes, skipped = read_voc(xmls, root / "JPEGImages", opts.classes)
    return folder_dataset(f"voc:{root.name}", records, classes, opts, short_path(root), skipped)


# -- generated ----------------------------------------------------------------------------------------------
SHAPES = ["circle", "square", "triangle"]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.integers(40, 200, size=3)
    noise = rng.normal(0, 25, size=(size, size, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _place(rng: np.random.Generator, size: int, s: int, taken: list[np.ndarray]) -> tuple[int, int] | None:
    for _ in range(30):
        x, y = int(rng.integers(0, size - s + 1)), int(rng.integers(0, size - s + 1))
        b = np.array([x, y, x + s, y + s])
        if all(_iou(b, t) < 0.05 for t in taken):
            return x, y
    return None


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    c = rng.integers(0, 256, size=3)
    c[rng.integers(3)] = 255  # one saturated channel keeps objects visible on any background
    return tuple(int(v) for v in c)  # type: ignore[return-value]


def generate(kind: str, n: int, size: int, seed: int, max_objects: int = 3,
             scale: tuple[float, float] = (0.2, 0.45)) -> tuple[DetSplit, list[str]]:
    """n images of size x size with 1..max_objects objects each; boxes are exact (the drawn extent)."""
    rng = np.random.default_rng(seed)
    digits = None
    if kind == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
    classes = SHAPES if kind == "shapes" else [str(d) for d in range(10)]
    images = np.empty((n, 3, size, size), np.uint8)
    all_boxes, all_labels = [], []
    for i in range(n):
        canvas = Image.fromarray(_background(rng, size))
        draw = ImageDraw.Draw(canvas)
        boxes: list[np.ndarray] = []
        labels: list[int] = []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            s = max(6, int(size * rng.uniform(*scale)))
            at = _place(rng, size, s, boxes)
            if at is None:
                continue
            x, y = at
            if digits is None:
                c = int(rng.integers(len(classes)))
                shape = [(x, y), (x + s - 1, y + s - 1)]
                if c == 0:
                    draw.ellipse(shape, fill=_colour(rng))
                elif c == 1:
                    draw.rectangle(shape, fill=_colour(rng))
                else:
                    draw.polygon([(x, y + s - 1), (x + s - 1, y + s - 1), (x + (s - 1) / 2, y)], fill=_colour(rng))
                box = np.array([x, y, x + s, y + s], np.float32)
            else:
                j = int(rng.integers(len(digits.target)))
                c = int(digits.target[j])
                ink = Image.fromarray((digits.images[j] * 16).clip(0, 255).astype(np.uint8)).resize(
                    (s, s), Image.Resampling.BILINEAR)
                mask = np.asarray(ink) > 64
                canvas.paste(Image.new("RGB", (s, s), _colour(rng)), (x, y), Image.fromarray(mask.astype(np.uint8) * 255))
                ys, xs = np.nonzero(mask)
                if not len(xs):
                    continue
                box = np.array([x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1], np.float32)
            boxes.append(box), labels.append(c)
        images[i] = np.asarray(canvas).transpose(2, 0, 1)
        all_boxes.append(np.array(boxes, np.float32).reshape(-1, 4))
        all_labels.append(np.array(labels, np.int64))
    return DetSplit(images, all_boxes, all_labels, [f"gen-{seed}-{i}" for i in range(n)]), classes


def _generated(kind: str, opts: DataOptions, default_n: int) -> DetDataset:
    """Three splits from three seeds. `n_train` makes a larger (or smaller) training split without touching the
    validation and test splits; each split's images are a prefix of a longer one, as the generator is sequential."""
    n = opts.n_samples or default_n
    size = opts.image_size or 128
    n_val = max(1, round(n * opts.val_fraction))
    n_train = opts.n_train or n - 2 * n_val
    seed = 1000 * opts.split_seed
    train, classes = generate(kind, n_train, size, seed)
    val, _ = generate(kind, n_val, size, seed + 1)
    test, _ = generate(kind, n_val, size, seed + 2)
    return DetDataset(f"{kind}-det", train, val, test, classes,
                      f"generated ({n_train} training, {n_val} validation, {n_val} test images, {size}x{size})")


@register("shapes-det", "detection: coloured circles/squares/triangles on noise, exact boxes", kind="generated",
          task="detection")
def load_shapes_det(opts: DataOptions) -> DetDataset:
    return _generated("shapes", opts, 600)


@register("digits-det", "detection: scikit-learn digits pasted on noise, exact boxes (10 classes)", kind="generated",
          task="detection")
def load_digits_det(opts: DataOptions) -> DetDataset:
    return _generated("digits", opts, 600)
