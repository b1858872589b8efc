import numpy as np
import pytest

from neuralab.data import load_dataset
from neuralab.data.tabular import HOUSING_CSV_COLUMNS
from neuralab.errors import DataError, MissingDataError


def test_digits_is_a_uint8_image_dataset(settings):
    d = load_dataset("digits", settings)
    assert d.input_shape == (1, 8, 8) and d.train.x.dtype == np.uint8 and d.train.x.max() == 255
    assert len(d.train) + len(d.val) + len(d.test) == 1797 and d.classes == [str(i) for i in range(10)]


def write_housing(path, n=60, header=None, blank_bedrooms=(3, 7)):
    rng = np.random.default_rng(0)
    header = header or HOUSING_CSV_COLUMNS + ["ocean_proximity"]
    lines = [",".join(header)]
    for i in range(n):
        rooms, hh = rng.integers(500, 3000), rng.integers(100, 600)
        bed = "" if i in blank_bedrooms else str(rooms // 5)
        row = [-122 + i * 0.01, 37.5, 20, rooms, bed, 1000, hh, 3.5, 150000 + 1000 * i]
        lines.append(",".join(map(str, row[: len(header) - 1])) + ",INLAND")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def test_housing_csv_maps_onto_sklearn_features_and_imputes(settings):
    path = settings.data_dir / "california-housing" / "housing.csv"
    write_housing(path)
    d = load_dataset("california-housing", settings)
    assert d.task == "regression" and d.input_shape == (8,) and d.num_outputs == 1
    assert d.feature_names[:2] == ["MedInc", "HouseAge"]
    x = np.concatenate([d.train.x, d.val.x, d.test.x])
    assert not np.isnan(x).any() and len(x) == 60
    assert np.allclose(np.sort(np.concatenate([d.train.y, d.val.y, d.test.y])), (150000 + 1000 * np.arange(60)) / 1e5)
    assert any("imputed" in n and "2 districts" in n for n in d.notes)


def test_housing_csv_with_bytes_prefix_header_is_read(settings):
    path = settings.data_dir / "california-housing" / "housing.csv"
    write_housing(path, header=["b'longitude"] + HOUSING_CSV_COLUMNS[1:] + ["ocean_proximity"])
    assert len(load_dataset("california-housing", settings).train) > 0


def test_housing_csv_missing_column_is_a_clear_error(settings):
    path = settings.data_dir / "california-housing" / "housing.csv"
    write_housing(path, header=[c for c in HOUSING_CSV_COLUMNS if c != "households"] + ["ocean_proximity"])
    with pytest.raises(DataError, match=r"missing column\(s\) \['households'\]"):
        load_dataset("california-housing", settings)


def test_housing_csv_bad_number_names_line_and_column(settings):
    path = settings.data_dir / "california-housing" / "housing.csv"
    write_housing(path)
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace("37.5", "north", 1)
    path.write_text("\n".join(lines))
    with pytest.raises(DataError, match="line 6: column 'latitude' is not a number: 'north'"):
        load_dataset("california-housing", settings)


def test_housing_absent_offline_names_the_files(settings):
    with pytest.raises(MissingDataError) as e:
        load_dataset("california-housing", settings)
    assert "california-housing/housing.csv" in str(e.value) and "cal_housing_py3.pkz" in str(e.value)
