"""Oxford-IIIT Pet as cats vs dogs (binary species labels), in torchvision's layout:
`<data>/oxford-iiit-pet/images/*.jpg` and `<data>/oxford-iiit-pet/annotations/{trainval,test}.txt`.

Annotation lines read `<image name> <breed id> <species: 1 cat, 2 dog> <breed index>`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuralab.data.base import Split, make_dataset
from neuralab.data.images import cache_key, decode_files, load_cached, save_cached
from neuralab.data.registry import DataOptions, missing_data, register
from neuralab.errors import DataError

DEFAULT_SIZE = 224


def pets_root(opts: DataOptions) -> Path:
    return opts.data_dir / "oxford-iiit-pet"


def read_annotations(path: Path, images: Path) -> tuple[list[Path], list[int]]:
    files, labels = [], []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 3 or parts[2] not in ("1", "2"):
            raise DataError(f"{path}, line {lineno}: expected '<image> <class> <species 1|2> ...', got {line!r}")
        files.append(images / f"{parts[0]}.jpg")
        labels.append(int(parts[2]) - 1)  # 0 = cat, 1 = dog
    return files, labels


def download_pets(opts: DataOptions) -> str:
    from torchvision import datasets

    try:
        datasets.OxfordIIITPet(str(opts.data_dir), split="trainval", download=True)
    except Exception as e:  # noqa: BLE001 - any network/IO failure becomes the missing-data message
        return f"{type(e).__name__}: {e}"
    return ""


def _files(opts: DataOptions) -> list[Path]:
    r = pets_root(opts)
    return [r / "annotations" / "trainval.txt", r / "annotations" / "test.txt", r / "images"]


@register("pets-cats-dogs", "Oxford-IIIT Pet, 7,349 photos as cat vs dog (species labels)", files=_files)
def pets_cats_dogs(opts: DataOptions):
    need = _files(opts)
    cause = download_pets(opts) if opts.download and not all(p.exists() for p in need) else ""
    if not all(p.exists() for p in need):
        raise missing_data("Oxford-IIIT Pet", need, hint="images/ holds <name>.jpg for every annotation line.",
                           cause=cause)
    size = opts.image_size or DEFAULT_SIZE
    splits = {}
    for split in ("trainval", "test"):
        files, labels = read_annotations(need[0 if split == "trainval" else 1], need[2])
        absent = [f for f in files if not f.exists()]
        if absent:
            raise DataError(f"{len(absent)} image(s) listed in annotations/{split}.txt are missing, e.g. {absent[0]}")
        key = cache_key(files, size)
        cached = load_cached(opts.cache_dir, f"pets-{split}", key)
        if cached is None:
            dec = decode_files(files, size, "RGB")
            cached = {"x": dec.x, "keep": dec.keep}
            save_cached(opts.cache_dir, f"pets-{split}", key, **cached)
        splits[split] = Split(cached["x"], np.asarray(labels, dtype=np.int64)[cached["keep"]])
    return make_dataset("pets-cats-dogs", "classification", splits["trainval"], splits["test"],
                        val_fraction=opts.val_fraction, split_seed=opts.split_seed, classes=["cat", "dog"],
                        source=str(pets_root(opts)), notes=[f"resized (shorter side) and centre-cropped to {size}x{size}"])
