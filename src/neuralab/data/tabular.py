"""Tabular and small bundled datasets: scikit-learn's digits, and California housing.

California housing comes from scikit-learn's fetcher (its cache, or a download when allowed) or from the
raw-district `california-housing/housing.csv` (the StatLib form used by "Hands-On Machine Learning"), mapped onto
scikit-learn's 8 features so both sources give the same columns.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from neuralab.data.base import Split, index_split, make_dataset, split_off
from neuralab.data.registry import DataOptions, missing_data, register
from neuralab.errors import DataError

HOUSING_FEATURES = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude"]
HOUSING_CSV_COLUMNS = ["longitude", "latitude", "housing_median_age", "total_rooms", "total_bedrooms",
                       "population", "households", "median_income", "median_house_value"]


@register("digits", "scikit-learn's 8x8 handwritten digits, 1,797 images (bundled, no download)", kind="bundled")
def digits(opts: DataOptions):
    from sklearn.datasets import load_digits

    d = load_digits()
    # 0..16 intensities -> uint8 0..255 so digits is an image dataset like any other.
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    y = d.target.astype(np.int64)
    rest, test = split_off(x, y, 0.2, opts.split_seed, stratify=True)
    return make_dataset("digits", "classification", rest, test, val_fraction=opts.val_fraction,
                        split_seed=opts.split_seed + 1, classes=[str(i) for i in range(10)],
                        source="scikit-learn load_digits (bundled)")


def _housing_csv(opts: DataOptions) -> Path:
    return opts.data_dir / "california-housing" / "housing.csv"


def _clean_header(name: str) -> str:
    """Column names as written by careless exporters: BOM, spaces, quotes, or a stray Python bytes prefix
    (the common copy of housing.csv starts with `b'longitude`)."""
    name = name.strip().lstrip("\ufeff")
    if name.startswith(("b'", 'b"')):
        name = name[2:]
    return name.strip("'\" ")


def read_housing_csv(path: Path) -> dict[str, np.ndarray]:
    """Raw columns as float arrays (empty cells -> NaN); a missing column is a clear error."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.DictReader(f)
        reader.fieldnames = header = [_clean_header(h) for h in (reader.fieldnames or [])]
        missing = [c for c in HOUSING_CSV_COLUMNS if c not in header]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}. Found columns: {header}")
        cols: dict[str, list[float]] = {c: [] for c in HOUSING_CSV_COLUMNS}
        for lineno, row in enumerate(reader, start=2):
            for c in HOUSING_CSV_COLUMNS:
                v = row[c]
                try:
                    cols[c].append(float(v) if v not in ("", None) else np.nan)
                except ValueError:
                    raise DataError(f"{path}, line {lineno}: column {c!r} is not a number: {v!r}") from None
    if not cols["median_income"]:
        raise DataError(f"{path} has a header but no rows")
    return {c: np.asarray(v, dtype=np.float64) for c, v in cols.items()}


def housing_features(raw: dict[str, np.ndarray], train_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """scikit-learn's 8 features and target from raw district columns.

    total_bedrooms is empty for some districts: we impute it as total_rooms x the median bedrooms-per-room ratio of
    the *training* districts (no test information leaks in). Returns (x, y, number imputed).
    """
    bedrooms = raw["total_bedrooms"].copy()
    missing = np.isnan(bedrooms)
    known_train = train_rows[~missing[train_rows]]
    ratio = np.median(bedrooms[known_train] / raw["total_rooms"][known_train])
    bedrooms[missing] = raw["total_rooms"][missing] * ratio
    hh = raw["households"]
    x = np.stack([raw["median_income"], raw["housing_median_age"], raw["total_rooms"] / hh, bedrooms / hh,
                  raw["population"], raw["population"] / hh, raw["latitude"], raw["longitude"]], axis=1)
    y = raw["median_house_value"] / 100_000.0
    return x.astype(np.float32), y.astype(np.float32), int(missing.sum())


def _sklearn_housing(opts: DataOptions) -> tuple[np.ndarray, np.ndarray] | None:
    from sklearn.datasets import fetch_california_housing

    home = opts.data_dir / "scikit_learn_data"
    try:
        d = fetch_california_housing(data_home=str(home), download_if_missing=opts.download)
    except OSError:
        return None  # not cached and not downloadable (offline, or --no-download)
    return d.data.astype(np.float32), d.target.astype(np.float32)


@register("california-housing", "California housing 1990: 20,640 districts, 8 features, value in $100k",
          files=lambda o: [_housing_csv(o)], task="regression")
def california_housing(opts: DataOptions):
    path = _housing_csv(opts)
    notes = []
    if path.exists():
        raw = read_housing_csv(path)
        n_rows = len(raw["median_income"])
        train_idx, val_idx, test_idx = index_split(n_rows, 0.2, opts.val_fraction, opts.split_seed)
        x, y, n_imputed = housing_features(raw, train_idx)
        notes.append(f"total_bedrooms empty in {n_imputed} districts: imputed as total_rooms x median "
                     f"bedrooms/room ratio of the training districts")
        source = f"{path} (raw districts mapped onto scikit-learn's features)"
    else:
        fetched = _sklearn_housing(opts)
        if fetched is None:
            raise missing_data("California housing", [path, opts.data_dir / "scikit_learn_data" / "cal_housing_py3.pkz"],
                               hint="Either file works: the raw-district CSV, or scikit-learn's cache "
                                    "(fetch_california_housing(data_home=...)).")
        x, y = fetched
        train_idx, val_idx, test_idx = index_split(len(x), 0.2, opts.val_fraction, opts.split_seed)
        source = "scikit-learn fetch_california_housing"
    return make_dataset("california-housing", "regression", Split(x[train_idx], y[train_idx]),
                        Split(x[test_idx], y[test_idx]), val=Split(x[val_idx], y[val_idx]),
                        source=source, feature_names=HOUSING_FEATURES, notes=notes)
