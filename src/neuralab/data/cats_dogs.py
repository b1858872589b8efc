"""cats_and_dogs_filtered: the 3,000-photo Kaggle/Asirra subset from TensorFlow's transfer-learning tutorial.

    <data>/cats_and_dogs_filtered/train/{cats,dogs}/*.jpg        1,000 + 1,000
    <data>/cats_and_dogs_filtered/validation/{cats,dogs}/*.jpg     500 +   500

It is the small, real cats-vs-dogs set most learners meet first, and the fallback of `neuralab run cats-dogs`
when Oxford-IIIT Pet is absent. The published `validation/` folder is our test split (it is what the tutorial
reports on); validation for model selection is carved from train, so the test number stays untouched. Classes
are named `cat` and `dog`, as in `pets-cats-dogs`, so a model trained on one predicts the other's labels.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from neuralab.data.imagefolder import load_imagefolder
from neuralab.data.registry import DataOptions, missing_data, register

URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
FOLDER = "cats_and_dogs_filtered"
DEFAULT_SIZE = 224
CLASS_NAMES = {"cats": "cat", "dogs": "dog"}  # folder -> label


def _files(opts: DataOptions) -> list[Path]:
    root = opts.data_dir / FOLDER
    return [root / split / folder for split in ("train", "validation") for folder in CLASS_NAMES]


def _download(opts: DataOptions) -> str:
    from torchvision.datasets.utils import download_and_extract_archive

    try:
        download_and_extract_archive(URL, str(opts.data_dir), remove_finished=True)
    except Exception as e:  # noqa: BLE001 - any network/IO failure becomes the missing-data message
        return f"{type(e).__name__}: {e}"
    return ""


@register("cats-dogs-filtered", "cats vs dogs, 2,000 train + 1,000 test photos (TensorFlow tutorial subset)",
          files=_files)
def cats_dogs_filtered(opts: DataOptions):
    need = _files(opts)
    cause = _download(opts) if opts.download and not all(p.is_dir() for p in need) else ""
    if not all(p.is_dir() for p in need):
        raise missing_data("cats_and_dogs_filtered", need, cause=cause,
                           hint=f"Each folder holds that class's .jpg photos; the zip at {URL} unpacks to this "
                                f"layout.")
    size = opts.image_size or DEFAULT_SIZE
    data = load_imagefolder(opts.data_dir / FOLDER, "cats-dogs-filtered",
                            replace(opts, image_size=size, classes=None),
                            notes=[f"resized (shorter side) and centre-cropped to {size}x{size}"])
    data.classes = [CLASS_NAMES[c] for c in data.classes]
    return data  # load_dataset keeps only --classes, by the names above
