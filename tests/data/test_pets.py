import pytest

from neuralab.data import load_dataset
from neuralab.errors import DataError, MissingDataError
from tests.data.images import write_image_folder


def write_pets(root):
    base = root / "oxford-iiit-pet"
    write_image_folder(base / "tmp", classes=("x",), per_class=8, splits=("",), size=(30, 20))
    (base / "images").mkdir(parents=True)
    names = []
    for i, f in enumerate(sorted((base / "tmp" / "x").iterdir())):
        name = ("Abyssinian" if i % 2 == 0 else "beagle") + f"_{i}"
        f.rename(base / "images" / f"{name}.jpg")
        names.append((name, 1 if i % 2 == 0 else 2))
    (base / "annotations").mkdir()
    lines = ["#Image CLASS-ID SPECIES BREED ID"] + [f"{n} {k} {s} 1" for k, (n, s) in enumerate(names)]
    (base / "annotations" / "trainval.txt").write_text("\n".join(lines[:7]) + "\n")
    (base / "annotations" / "test.txt").write_text("\n".join(lines[7:]) + "\n")
    return base


def test_pets_species_labels(settings):
    write_pets(settings.data_dir)
    d = load_dataset("pets-cats-dogs", settings, image_size=16)
    assert d.classes == ["cat", "dog"] and d.input_shape == (3, 16, 16)
    assert len(d.train) + len(d.val) == 6 and len(d.test) == 2
    assert sorted(d.test.y.tolist()) == [0, 1]


def test_pets_bad_annotation_line(settings):
    base = write_pets(settings.data_dir)
    (base / "annotations" / "test.txt").write_text("Abyssinian_1 1 7 1\n")
    with pytest.raises(DataError, match="species 1|2"):
        load_dataset("pets-cats-dogs", settings)


def test_pets_missing_message(settings):
    with pytest.raises(MissingDataError, match="oxford-iiit-pet/annotations/trainval.txt"):
        load_dataset("pets-cats-dogs", settings)
