"""Every registered dataset on the real copies in ../shared/datasets (skipped where that folder is absent)."""

import numpy as np
import pytest

from neuralab.cli import main
from neuralab.data import load_dataset
from neuralab.errors import MissingDataError

pytestmark = pytest.mark.slow

EXPECTED = {
    "mnist": ((1, 28, 28), 60_000, 10_000),
    "fashion-mnist": ((1, 28, 28), 60_000, 10_000),
    "cifar10": ((3, 32, 32), 50_000, 10_000),
    "california-housing": ((8,), None, None),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_standard_dataset_loads_from_the_shared_copy(name, shared_settings):
    d = load_dataset(name, shared_settings)
    shape, n_train, n_test = EXPECTED[name]
    assert d.input_shape == shape
    if n_train:
        assert len(d.train) + len(d.val) == n_train and len(d.test) == n_test
        assert np.bincount(d.test.y).min() > 0
    else:
        assert len(d.train) + len(d.val) + len(d.test) == 20_640 and 0.1 < d.train.y.mean() < 5.1


def test_mnist_md5s_match_torchvision(shared_data, capsys):
    assert main(["data", "check", "mnist", "--data-dir", str(shared_data)]) == 0
    out = capsys.readouterr().out
    assert out.count("md5 ok") == 4 and "ok: mnist loads" in out


def test_cats_and_dogs_image_folder(shared_settings, shared_data):
    d = load_dataset(f"imagefolder:{shared_data / 'cats_and_dogs_filtered'}", shared_settings, image_size=64)
    assert d.classes == ["cats", "dogs"] and len(d.test) == 1000 and d.input_shape == (3, 64, 64)


def test_pets_absent_from_the_shared_copy_gives_the_clear_message(shared_settings):
    if (shared_settings.data_dir / "oxford-iiit-pet").exists():
        pytest.skip("Oxford-IIIT Pet is present here")
    with pytest.raises(MissingDataError, match="oxford-iiit-pet"):
        load_dataset("pets-cats-dogs", shared_settings)
