import numpy as np
import pytest
from PIL import Image

from neuralab.data import load_dataset
from neuralab.data import images as images_mod
from neuralab.errors import DataError, MissingDataError
from tests.data.images import write_image_folder


def test_train_test_folders_become_splits(settings, tmp_path):
    root = write_image_folder(tmp_path / "pets", per_class=10)
    d = load_dataset(f"imagefolder:{root}", settings)
    assert d.classes == ["cat", "dog"] and d.input_shape == (3, 10, 12) and d.train.x.dtype == np.uint8
    assert len(d.test) == 20 and len(d.train) + len(d.val) == 20
    assert d.test.y.tolist() == [0] * 10 + [1] * 10


def test_flat_class_folders_carve_test_and_val(settings, tmp_path):
    root = write_image_folder(tmp_path / "flat", per_class=10, splits=("",))
    d = load_dataset(f"imagefolder:{root}", settings)
    assert len(d.train) + len(d.val) + len(d.test) == 20 and len(d.test) == 4
    assert any("held out as test" in n for n in d.notes)


def test_val_folder_without_test_becomes_test(settings, tmp_path):
    root = write_image_folder(tmp_path / "cd", per_class=5, splits=("train", "validation"))
    d = load_dataset(f"imagefolder:{root}", settings)
    assert len(d.test) == 10 and any("validation folder is the test split" in n for n in d.notes)


def test_class_filter_and_unknown_class(settings, tmp_path):
    root = write_image_folder(tmp_path / "c3", classes=("bird", "cat", "dog"), per_class=4)
    d = load_dataset(f"imagefolder:{root}", settings, classes=["cat", "dog"])
    assert d.classes == ["cat", "dog"] and set(d.test.y.tolist()) == {0, 1} and len(d.test) == 8
    with pytest.raises(DataError, match=r"class\(es\) \['horse'\] not in .* Available: \['bird', 'cat', 'dog'\]"):
        load_dataset(f"imagefolder:{root}", settings, classes=["horse"])


def test_corrupt_file_is_skipped_with_a_warning_naming_it(settings, tmp_path):
    root = write_image_folder(tmp_path / "bad", per_class=5)
    bad = root / "train" / "cat" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    png = root / "train" / "dog" / "0.png"
    png.write_bytes(png.read_bytes()[:40])  # truncated
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable image file\(s\)") as w:
        d = load_dataset(f"imagefolder:{root}", settings)
    assert "broken.jpg" in str(w[0].message)
    assert len(d.train) + len(d.val) == 9 and any("skipped 2" in n for n in d.notes)


def test_empty_class_folder_is_an_error(settings, tmp_path):
    root = write_image_folder(tmp_path / "e", per_class=3)
    (root / "train" / "fox").mkdir()
    with pytest.raises(DataError, match="class folder .*fox has no image files"):
        load_dataset(f"imagefolder:{root}", settings)


def test_missing_folder_and_missing_split_classes(settings, tmp_path):
    with pytest.raises(MissingDataError, match="does not exist"):
        load_dataset(f"imagefolder:{tmp_path / 'nope'}", settings)
    root = write_image_folder(tmp_path / "m", per_class=3)
    for f in (root / "test" / "dog").iterdir():
        f.unlink()
    (root / "test" / "dog").rmdir()
    with pytest.raises(DataError, match=r"test: class folder\(s\) \['dog'\] missing"):
        load_dataset(f"imagefolder:{root}", settings)


def test_mixed_sizes_and_modes_are_resized_to_one_shape(settings, tmp_path):
    root = tmp_path / "mixed"
    for i, (size, mode) in enumerate([((40, 30), "RGB"), ((25, 50), "L"), ((33, 33), "RGBA"), ((20, 20), "P")]):
        for split in ("train", "test"):
            d = root / split / ("a" if i % 2 else "b")
            d.mkdir(parents=True, exist_ok=True)
            Image.new(mode, size, color=100 if mode in ("L", "P") else (100, 50, 20, 255)[: len(mode)]).save(
                d / f"{i}.png")
    d = load_dataset(f"imagefolder:{root}", settings, image_size=16)
    assert d.input_shape == (3, 16, 16)


def test_grey_folders_stay_single_channel(settings, tmp_path):
    root = write_image_folder(tmp_path / "g", per_class=3, mode="L")
    assert load_dataset(f"imagefolder:{root}", settings).input_shape == (1, 10, 12)


def test_second_load_reads_the_cache_not_the_images(settings, tmp_path, monkeypatch):
    root = write_image_folder(tmp_path / "c", per_class=4)
    a = load_dataset(f"imagefolder:{root}", settings)
    assert list(settings.cache_dir.glob("*.npz"))

    def no_decoding(*args, **kw):
        raise AssertionError("decoded again despite a valid cache")

    monkeypatch.setattr("neuralab.data.imagefolder.decode_files", no_decoding)
    b = load_dataset(f"imagefolder:{root}", settings)
    assert np.array_equal(a.train.x, b.train.x)
    # touching the data invalidates the cache
    (root / "train" / "cat" / "0.png").unlink()
    with pytest.raises(AssertionError, match="decoded again"):
        load_dataset(f"imagefolder:{root}", settings)


def test_parallel_decode_matches_serial(tmp_path):
    root = write_image_folder(tmp_path / "p", per_class=4)
    files = sorted(root.rglob("*.png"))
    a = images_mod.decode_files(files, None, "RGB", workers=1)
    b = images_mod.decode_files(files * 700, None, "RGB", workers=2)  # > 2000 files: the process pool runs
    assert np.array_equal(a.x, b.x[: len(files)])
