"""`pets-heads`: Oxford-IIIT Pet head boxes read from a small generated folder in torchvision's layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neuralab.data import load_dataset
from neuralab.data.detection import DetDataset
from neuralab.errors import MissingDataError
from tests.detect.helpers import picture

# (file stem, species column of list.txt: 1 cat, 2 dog, the xml's <name>): real xmls say cat/dog; one here says
# only the breed, so its class comes from list.txt; two are unlisted and fall back on the file-name rule
PHOTOS = [("Abyssinian_1", 1, "cat"), ("Bengal_2", 1, "cat"), ("Persian_3", 1, "Persian"), ("Sphynx_4", None, "x"),
          ("beagle_1", 2, "dog"), ("pug_2", 2, "dog"), ("boxer_3", 2, "boxer"), ("samoyed_4", None, "y")]
HEAD = (20, 10, 60, 40)  # x1, y1, x2, y2 in the 80x60 photo; VOC's 1-based xml says (21, 11, 60, 40)


def write_pets(root: Path) -> Path:
    pets = root / "oxford-iiit-pet"
    (pets / "images").mkdir(parents=True)
    (pets / "annotations" / "xmls").mkdir(parents=True)
    listed = ["#Image CLASS-ID SPECIES BREED ID"]
    for i, (stem, species, name) in enumerate(PHOTOS):
        picture(80, 60, HEAD).save(pets / "images" / f"{stem}.jpg")
        a, b, c, d = HEAD[0] + 1, HEAD[1] + 1, HEAD[2], HEAD[3]
        (pets / "annotations" / "xmls" / f"{stem}.xml").write_text(
            f"<annotation><folder>OXIIIT</folder><filename>{stem}.jpg</filename><size><width>80</width><height>60"
            f"</height><depth>3</depth></size><object><name>{name}</name><pose>Frontal</pose><bndbox><xmin>{a}"
            f"</xmin><ymin>{b}</ymin><xmax>{c}</xmax><ymax>{d}</ymax></bndbox></object></annotation>")
        if species:
            listed.append(f"{stem} {i + 1} {species} 1")
    (pets / "annotations" / "list.txt").write_text("\n".join(listed) + "\n")
    return root


def test_pets_heads_reads_the_voc_folder_with_species_classes(settings):
    write_pets(settings.data_dir)
    d = load_dataset("pets-heads", settings, task="detection", image_size=40)
    assert isinstance(d, DetDataset) and d.classes == ["cat", "dog"] and d.skipped == {}
    splits = d.splits().values()
    assert sum(len(s) for s in splits) == len(PHOTOS)
    labels = {}
    for s in splits:
        assert s.images.shape[1:] == (3, 40, 40)
        for name, boxes, lab in zip(s.names, s.boxes, s.labels):
            # 80x60 stretched to 40x40: x halves, y scales by 2/3
            np.testing.assert_allclose(boxes, [[10, 10 * 2 / 3, 30, 40 * 2 / 3]], rtol=1e-5)
            labels[Path(name).stem] = d.classes[int(lab[0])]
    assert labels == {stem: "cat" if stem[0].isupper() else "dog" for stem, _, _ in PHOTOS}


def test_pets_heads_default_size_stretches_the_photos(settings):
    write_pets(settings.data_dir)
    d = load_dataset("pets-heads", settings, task="detection")
    assert d.train.images.shape[1:] == (3, 320, 320)
    np.testing.assert_allclose(d.train.boxes[0], [[80, 320 / 6, 240, 320 * 4 / 6]], rtol=1e-5)


def test_missing_pets_heads_names_the_folders_to_place(settings):
    with pytest.raises(MissingDataError) as e:
        load_dataset("pets-heads", settings, task="detection")
    msg = str(e.value)
    assert str(Path("oxford-iiit-pet") / "annotations" / "xmls") in msg
    assert str(Path("oxford-iiit-pet") / "images") in msg and "annotations.tar.gz" in msg
