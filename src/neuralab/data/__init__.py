"""Datasets by name: `load_dataset("moons")`, `load_dataset("imagefolder:PATH", classes=["cat", "dog"])`.

Importing this package registers every source. The torch-side pieces (`loader`, `augment`) are imported on
demand, so NumPy-only code can use datasets without loading torch.
"""

from neuralab.data import cats_dogs, cifar, idx, imagefolder, pets, tabular, toy2d  # noqa: F401  (registration)
from neuralab.data import detection, pets_heads  # noqa: F401  (registration: coco, voc, *-det, pets-heads)
from neuralab.data.base import Dataset, Split
from neuralab.data.registry import DATASETS, DataOptions, load_dataset, parse_name, task_of

__all__ = ["DATASETS", "DataOptions", "Dataset", "Split", "load_dataset", "parse_name", "task_of"]
