import pickle

import numpy as np
import pytest

from neuralab.data import load_dataset
from neuralab.data.cifar import CLASSES, read_batch
from neuralab.errors import DataError, MissingDataError
from tests.data.images import write_image_folder


def write_cifar(root, n=20):
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(np.arange(n) % 10)}
        (d / name).write_bytes(pickle.dumps(batch, protocol=2))
    return d


def test_cifar_pickles_load(settings):
    write_cifar(settings.data_dir)
    d = load_dataset("cifar10", settings)
    assert d.input_shape == (3, 32, 32) and d.classes == CLASSES
    assert len(d.train) + len(d.val) == 100 and len(d.test) == 20


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="refusing to load builtins.print"):
        read_batch(p)


def test_wrong_shape_batch(tmp_path):
    p = tmp_path / "b"
    p.write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DataError, match=r"expected \(N, 3072\)"):
        read_batch(p)


def test_jpeg_class_folder_copy_is_the_fallback(settings):
    write_image_folder(settings.data_dir / "cifar10-jpeg", classes=tuple(CLASSES), per_class=2, size=(32, 32))
    d = load_dataset("cifar10", settings)
    assert d.name == "cifar10" and d.classes == sorted(CLASSES) and any("JPEG" in n for n in d.notes)


def test_missing_cifar_message(settings):
    with pytest.raises(MissingDataError, match="cifar-10-batches-py/data_batch_1"):
        load_dataset("cifar10", settings)
