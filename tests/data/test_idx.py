import gzip
import struct

import numpy as np
import pytest

from neuralab.data import load_dataset
from neuralab.data.idx import FILES, read_idx
from neuralab.errors import DataError, MissingDataError


def idx_bytes(a: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(np.uint8).tobytes()


def write_mnist(root, folder="MNIST", n_train=50, n_test=20, gz=True):
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (n_train, 28, 28)), np.arange(n_train) % 10,
              rng.integers(0, 256, (n_test, 28, 28)), np.arange(n_test) % 10]
    for name, a in zip(FILES, arrays):
        data = idx_bytes(a)
        (raw / (name + ".gz")).write_bytes(gzip.compress(data)) if gz else (raw / name).write_bytes(data)
    return raw, arrays


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_loads_generated_idx_files(settings, gz):
    raw, arrays = write_mnist(settings.data_dir, gz=gz)
    d = load_dataset("mnist", settings)
    assert d.input_shape == (1, 28, 28) and d.train.x.dtype == np.uint8
    assert len(d.train) + len(d.val) == 50 and len(d.test) == 20
    assert np.array_equal(d.test.x[:, 0], arrays[2]) and np.array_equal(d.test.y, arrays[3])


def test_fashion_mnist_uses_its_own_folder_and_class_names(settings):
    write_mnist(settings.data_dir, folder="FashionMNIST")
    d = load_dataset("fashion-mnist", settings)
    assert d.classes[0] == "T-shirt/top" and d.classes[-1] == "Ankle boot"


def test_truncated_idx_is_caught_by_header_check(tmp_path):
    p = tmp_path / "x-idx3-ubyte"
    p.write_bytes(idx_bytes(np.zeros((4, 28, 28)))[:-10])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_idx(p)


def test_truncated_gzip_is_a_clear_error(tmp_path):
    p = tmp_path / "x-idx3-ubyte.gz"
    p.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 28, 28))))[:-20])
    with pytest.raises(DataError, match="not a valid gzip file"):
        read_idx(p)


def test_bad_magic(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"\x01\x02\x03\x04" + b"\x00" * 20)
    with pytest.raises(DataError, match="bad magic"):
        read_idx(p)


def test_missing_mnist_offline_lists_every_expected_file(settings):
    with pytest.raises(MissingDataError) as e:
        load_dataset("mnist", settings)
    msg = str(e.value)
    for name in FILES:
        assert f"MNIST/raw/{name}.gz" in msg
    assert "--data-dir" in msg and "NEURALAB_DATA" in msg


def test_a_file_cut_inside_its_header_is_a_clear_error(tmp_path):
    p = tmp_path / "x-idx3-ubyte"
    p.write_bytes(idx_bytes(np.zeros((4, 28, 28)))[:9])
    with pytest.raises(DataError, match="ends inside its idx header"):
        read_idx(p)


def test_labels_out_of_range_are_refused_at_load_time_naming_the_file(settings):
    raw, arrays = write_mnist(settings.data_dir)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.full(50, 12))))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: labels must be 0..9; the file holds 12..12"):
        load_dataset("mnist", settings)


def test_images_of_the_wrong_rank_are_refused(settings):
    raw, _ = write_mnist(settings.data_dir)
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((20, 784)))))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: expected \(N, H, W\)"):
        load_dataset("mnist", settings)
