"""The dataset registry: `load_dataset("cifar10")`, `load_dataset("imagefolder:/data/pets", classes=["cat","dog"])`.

Each source file registers its datasets with `@register(...)`; a spec knows how to load, which local files it
expects (for `neuralab data list/check` and for the missing-data message), and their checksums where the format
publishes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from neuralab.config import Settings
from neuralab.data.base import Dataset, select_classes
from neuralab.errors import ConfigError, MissingDataError
from neuralab.registry import Registry


@dataclass
class DataOptions:
    """Everything a loader may need; each loader reads the fields that apply to it."""

    data_dir: Path
    cache_dir: Path
    download: bool = True
    arg: str | None = None  # the part after ':' in `imagefolder:PATH`
    n_samples: int | None = None  # generated datasets: points in all splits together
    n_train: int | None = None  # generated detection datasets: training images (validation and test unchanged)
    noise: float | None = None
    classes: list[str] | None = None  # keep only these classes (image folders)
    image_size: int | None = None  # resize (shorter side) + centre crop to a square of this size
    val_fraction: float = 0.1
    split_seed: int = 0


@dataclass
class DatasetSpec:
    name: str
    description: str
    load: Callable[[DataOptions], Dataset]
    kind: str = "standard"  # "generated", "bundled", "standard" or "custom"
    task: str = "classification"  # what its targets are: "classification", "regression" or "detection"
    files: Callable[[DataOptions], list[Path]] | None = None  # local files it reads (standard datasets)
    md5: dict[str, str] = field(default_factory=dict)  # file name -> published md5

    def missing_files(self, opts: DataOptions) -> list[Path]:
        return [p for p in (self.files(opts) if self.files else []) if not p.exists()]


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register(name: str, description: str, kind: str = "standard",
             files: Callable[[DataOptions], list[Path]] | None = None,
             md5: dict[str, str] | None = None, task: str = "classification") -> Callable[[Callable], Callable]:
    def add(fn: Callable[[DataOptions], Any]) -> Callable[[DataOptions], Any]:
        DATASETS.register(name)(DatasetSpec(name, description, fn, kind, task, files, md5 or {}))
        return fn

    return add


def parse_name(name: str) -> tuple[str, str | None]:
    """'imagefolder:/a/b' -> ('imagefolder', '/a/b'); 'mnist' -> ('mnist', None)."""
    base, sep, arg = name.partition(":")
    if sep and not arg:
        raise ConfigError(f"{base}: needs a path after ':'. Received: {name!r}")
    return base, (arg if sep else None)


def options(settings: Settings | None = None, **kw: object) -> DataOptions:
    s = settings or Settings.resolve()
    kw = {k: v for k, v in kw.items() if v is not None}
    return DataOptions(data_dir=s.data_dir, cache_dir=s.cache_dir, download=s.download, **kw)  # type: ignore[arg-type]


def task_of(name: str) -> str:
    """The task of a registered dataset ('imagefolder:PATH' style names included), without loading it."""
    return DATASETS.get(parse_name(name)[0]).task


def load_dataset(name: str, settings: Settings | None = None, task: str | tuple[str, ...] | None = None,
                 **kw: object) -> Any:
    """Load a registered dataset by name; `kw` are DataOptions fields (n_samples, noise, classes, ...). With `task`,
    a dataset of another kind is refused before it is loaded (a detection set given to a classifier)."""
    base, arg = parse_name(name)
    spec = DATASETS.get(base)
    wanted = (task,) if isinstance(task, str) else task
    if wanted and spec.task not in wanted:
        others = [n for n, s in DATASETS.items() if s.task in wanted]
        raise ConfigError(f"{name} is a {spec.task} dataset, not {' or '.join(wanted)} data. Datasets for "
                          f"{' or '.join(wanted)}: {', '.join(others)}")
    if spec.kind == "custom" and arg is None:
        raise ConfigError(f"{base} needs a path: {base}:PATH")
    opts = options(settings, arg=arg, **kw)
    data = spec.load(opts)
    if opts.classes and data.classes != list(opts.classes):  # loaders that cannot filter while reading
        data = select_classes(data, list(opts.classes))
    return data


def unavailable(name: str, settings: Settings | None = None) -> str:
    """Why a dataset cannot be loaded here without downloading ('' when it can); cheap: checks files only."""
    base, arg = parse_name(name)
    spec = DATASETS.get(base)
    opts = options(settings, arg=arg)
    if spec.kind == "custom":
        return "" if arg and Path(arg).expanduser().is_dir() else f"{name}: folder not found"
    missing = spec.missing_files(opts)
    return f"{name} not found (expected {missing[0]})" if missing else ""


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_checksums(spec: DatasetSpec, opts: DataOptions) -> list[str]:
    """Compare the files present with their published md5s; returns one line per file."""
    lines = []
    for p in spec.files(opts) if spec.files else []:
        if not p.exists():
            continue
        want = spec.md5.get(p.name)
        if want is None:
            lines.append(f"present   {p}")
            continue
        got = md5sum(p)
        # A mismatch is not proof of corruption (a re-compressed copy differs byte-wise); the loader's own
        # format checks (sizes, gzip CRC) decide. Say what we saw.
        lines.append(f"md5 ok    {p}" if got == want else
                     f"md5 differs from the published {want} (got {got}): a re-packed copy?  {p}")
    return lines


def missing_data(what: str, expected: list[Path], hint: str = "", cause: str = "") -> MissingDataError:
    """The one message a user sees when data is absent: exactly which files to place where."""
    files = "\n".join(f"  {p}" for p in expected)
    why = f"\n(download failed: {cause})" if cause else ""
    extra = f"\n{hint}" if hint else ""
    return MissingDataError(
        f"{what} not found. Expected these files:\n{files}{extra}\n"
        f"Set the data folder with --data-dir or NEURALAB_DATA; allow downloading by omitting --no-download.{why}"
    )
