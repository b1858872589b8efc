"""Any custom image dataset in class-per-folder layout: `imagefolder:PATH`.

    PATH/train/<class>/*.jpg   PATH/test/<class>/*.jpg   [PATH/val|valid|validation/<class>/*.jpg]
or  PATH/<class>/*.jpg         (then test and validation splits are carved out, stratified, with a fixed seed)

A `val/` folder without a `test/` folder becomes the test split (and validation is carved from train), so model
selection never touches the data the final number is measured on.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neuralab.data.base import Split, make_dataset, short_path, split_off
from neuralab.data.images import (IMAGE_EXTENSIONS, cache_key, decode_files, load_cached, probe, save_cached,
                                  warn_skipped)
from neuralab.data.registry import DataOptions, register
from neuralab.errors import DataError, MissingDataError

VAL_NAMES = ("val", "valid", "validation")
DEFAULT_SIZE = 224  # when images differ in size and no --image-size is given


def image_files(folder: Path) -> list[str]:
    """Image files under `folder` (recursively) in path order, as strings: os.walk and string keys instead of rglob
    and Path objects list CIFAR-10's 60,000 files about three times faster, and building a Path per file would
    cost a second more per load."""
    found = []
    for dirpath, _, names in os.walk(folder):
        found += [os.path.join(dirpath, n) for n in names
                  if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS and not n.startswith(".")]
    return sorted(found, key=lambda f: f.split(os.sep))


def list_classes(folder: Path) -> dict[str, list[str]]:
    """{class name: sorted image files} for each sub-folder; an empty class folder is an error."""
    classes = {}
    for d in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = image_files(d)
        if not files:
            raise DataError(f"class folder {d} has no image files (looked for .jpg, .png, ...). "
                            f"Remove it or add images.")
        classes[d.name] = files
    if not classes:
        raise DataError(f"{folder} has no class sub-folders. Expected {folder}/<class>/<image files>.")
    return classes


def _split_dirs(root: Path) -> dict[str, Path]:
    found = {"train": root / "train", "test": root / "test"}
    found = {k: v for k, v in found.items() if v.is_dir()}
    for v in VAL_NAMES:
        if (root / v).is_dir():
            found["val"] = root / v
            break
    return found


def _class_files(root: Path, opts: DataOptions) -> tuple[dict[str, dict[str, list[str]]], list[str]]:
    """Per split folder (or "all"), the files of each class; and the classes kept, in label order."""
    dirs = _split_dirs(root)
    if "train" not in dirs and ("test" in dirs or "val" in dirs):
        raise DataError(f"{root} has test/val folders but no train/ folder")
    per_split = {k: list_classes(d) for k, d in dirs.items()} if dirs else {"all": list_classes(root)}
    classes = sorted(per_split.get("train") or per_split["all"])
    if opts.classes:
        unknown = [c for c in opts.classes if c not in classes]
        if unknown:
            raise DataError(f"class(es) {unknown} not in {root}. Available: {classes}")
        classes = list(opts.classes)
    for split, found in per_split.items():
        absent = [c for c in classes if c not in found]
        if absent:
            raise DataError(f"{root}/{split}: class folder(s) {absent} missing (train has {classes})")
    return per_split, classes


def _decoded(root: Path, files: list[str], opts: DataOptions, classes: list[str], notes: list[str]
             ) -> tuple[np.ndarray, np.ndarray]:
    """(images, indices of the files that decoded), from the decoded-array cache when the files are unchanged.
    Unreadable files are named in a warning every time, also when the cache is reused."""
    size = opts.image_size
    sizes, modes = probe(files)
    mode = "L" if modes and modes <= {"1", "L", "I", "I;16"} else "RGB"
    if size is None:
        if len(sizes) == 1:
            size = next(iter(sizes))
        else:
            size = DEFAULT_SIZE
            notes.append(f"images differ in size: resized (shorter side) and centre-cropped to {size}x{size}")
    key = cache_key(files, size, mode, classes)
    cached = load_cached(opts.cache_dir, f"imagefolder-{root.name}", key)
    if cached is None:
        dec = decode_files(files, size, mode, warn=False)
        cached = {"x": dec.x, "keep": dec.keep, "skipped": np.asarray(dec.skipped, dtype=np.str_)}
        save_cached(opts.cache_dir, f"imagefolder-{root.name}", key, **cached)
    skipped = [str(s) for s in cached["skipped"]]
    if skipped:
        warn_skipped(skipped)
        notes.append(f"skipped {len(skipped)} unreadable file(s), e.g. {skipped[0]}")
    return cached["x"], cached["keep"]


def load_imagefolder(root: Path, name: str, opts: DataOptions, notes: list[str] | None = None):
    if not root.is_dir():
        raise MissingDataError(f"image folder {root} does not exist. Expected {root}/train/<class>/*.jpg and "
                               f"{root}/test/<class>/*.jpg, or {root}/<class>/*.jpg.")
    notes = list(notes or [])
    per_split, classes = _class_files(root, opts)
    files, labels, split_of = [], [], []
    for split, found in per_split.items():
        for label, c in enumerate(classes):
            files += found[c]
            labels += [label] * len(found[c])
            split_of += [split] * len(found[c])
    x, keep = _decoded(root, files, opts, classes, notes)
    y = np.asarray(labels, dtype=np.int64)[keep]
    where = np.asarray(split_of)[keep]
    for split in per_split:
        empty = [c for i, c in enumerate(classes) if not ((where == split) & (y == i)).any()]
        if empty:
            raise DataError(f"{root}: class(es) {empty} have no readable image in {split} (see the skipped files)")

    def part(split: str) -> Split | None:
        m = where == split
        return Split(x[m], y[m]) if m.any() else None

    train, val, test = part("train") or part("all"), part("val"), part("test")
    if test is None and val is not None:
        test, val = val, None
        notes.append("no test/ folder: the validation folder is the test split; validation is carved from train")
    if test is None:
        train, test = split_off(train.x, train.y, 0.2, opts.split_seed, stratify=True)
        notes.append("no split folders: 20% of each class held out as test (fixed seed)")
    return make_dataset(name, "classification", train, test, val=val, val_fraction=opts.val_fraction,
                        split_seed=opts.split_seed + 1, classes=classes, source=short_path(root), notes=notes)


@register("imagefolder", "any class-per-folder image dataset: imagefolder:PATH (train/ and test/ used if present)",
          kind="custom")
def imagefolder(opts: DataOptions):
    assert opts.arg is not None
    root = Path(opts.arg).expanduser()
    return load_imagefolder(root, f"imagefolder:{root.name}", opts)
