import numpy as np
import pytest

from neuralab.data import DATASETS, load_dataset

TOY = ["moons", "circles", "spiral", "xor", "blobs"]


@pytest.mark.parametrize("name", TOY)
def test_generator_shapes_splits_and_stats(name, settings):
    d = load_dataset(name, settings, n_samples=400)
    assert d.task == "classification" and d.input_shape == (2,)
    assert d.train.x.dtype == np.float32 and d.train.y.dtype == np.int64
    assert len(d.train) + len(d.val) + len(d.test) == 400
    assert set(np.unique(d.train.y)) == set(range(d.num_classes))
    assert np.allclose(d.mean, d.train.x.mean(0), atol=1e-5)
    # the splits are disjoint: no test point appears in train
    train_rows = {tuple(r) for r in d.train.x.tolist()}
    assert not any(tuple(r) in train_rows for r in d.test.x.tolist())


@pytest.mark.parametrize("name", TOY)
def test_generator_is_deterministic_and_noise_matters(name, settings):
    a = load_dataset(name, settings, n_samples=300, noise=0.1)
    b = load_dataset(name, settings, n_samples=300, noise=0.1)
    c = load_dataset(name, settings, n_samples=300, noise=0.3)
    assert np.array_equal(a.train.x, b.train.x) and np.array_equal(a.test.y, b.test.y)
    assert not np.array_equal(a.train.x, c.train.x)


def test_spiral_has_three_balanced_arms(settings):
    d = load_dataset("spiral", settings)
    counts = np.bincount(np.concatenate([d.train.y, d.val.y, d.test.y]))
    assert counts.tolist() == [500, 500, 500]


def test_registry_lists_every_dataset_of_the_issue():
    for name in TOY + ["digits", "mnist", "fashion-mnist", "cifar10", "california-housing", "pets-cats-dogs",
                       "imagefolder"]:
        assert name in DATASETS
