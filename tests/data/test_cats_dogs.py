import pytest

from neuralab.data import load_dataset
from neuralab.errors import MissingDataError
from tests.data.images import write_image_folder


def write_filtered(data_dir, per_class=6):
    return write_image_folder(data_dir / "cats_and_dogs_filtered", classes=("cats", "dogs"), per_class=per_class,
                              splits=("train", "validation"), size=(30, 20))


def test_filtered_cats_and_dogs_are_named_like_pets_and_validation_is_the_test_split(settings):
    write_filtered(settings.data_dir)
    d = load_dataset("cats-dogs-filtered", settings, image_size=16)
    assert d.classes == ["cat", "dog"] and d.input_shape == (3, 16, 16)
    assert len(d.test) == 12 and len(d.train) + len(d.val) == 12  # validation/ is never trained or selected on
    assert sorted(d.test.y.tolist()) == [0] * 6 + [1] * 6


def test_filtered_keeps_classes_by_the_new_names(settings):
    write_filtered(settings.data_dir)
    d = load_dataset("cats-dogs-filtered", settings, image_size=16, classes=["dog", "cat"])
    assert d.classes == ["dog", "cat"]
    # a dog image (label 1 before) is now label 0: its mean colour is the bright one
    bright = d.test.x.reshape(len(d.test), -1).mean(1) > 120
    assert (d.test.y[bright] == 0).all() and (d.test.y[~bright] == 1).all()


def test_filtered_missing_message_names_the_four_folders(settings):
    with pytest.raises(MissingDataError) as e:
        load_dataset("cats-dogs-filtered", settings)
    for part in ("cats_and_dogs_filtered/train/cats", "cats_and_dogs_filtered/validation/dogs",
                 "cats_and_dogs_filtered.zip"):
        assert part in str(e.value)
