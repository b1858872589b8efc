"""`neuralab explain` and `detect --method cam` end to end: a classification run of ours, an ImageNet backbone found
in the weights folder, bad inputs; and, on the shared weights and photos, real cats and dogs localised."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from neuralab.cli import main
from neuralab.errors import ConfigError
from neuralab.tasks.explain import imagenet_classes, load_classifier, localize, pet_species
from tests.conftest import SHARED_DATA, SHARED_WEIGHTS
from tests.data.images import write_image_folder

TFLITE = "mobilenet_v2_imagenet_tflite_dequant.pth"


@pytest.fixture
def run_and_images(tmp_path):
    """A small CNN trained one epoch on a generated cat/dog image folder, and that folder's test images."""
    folder = write_image_folder(tmp_path / "imgs", per_class=8, size=(32, 32))
    runs = tmp_path / "runs"
    assert main(["train", "--dataset", f"imagefolder:{folder}", "--model", "cnn", "--model-args", "width=8 depth=2",
                 "--epochs", "1", "--runs-dir", str(runs)]) == 0
    return next(runs.iterdir()), folder / "test"


def test_explain_a_run_writes_overlays_and_json(run_and_images, tmp_path, capsys):
    run, images = run_and_images
    out = tmp_path / "explained"
    assert main(["explain", str(run), str(images / "cat"), str(images / "dog" / "0.png"), "--top-k", "2",
                 "--out", str(out)]) == 0
    doc = json.loads((out / "explain.json").read_text())
    assert doc["method"] == "cam" and "cnn run" in doc["model"]  # the cnn ends in global pooling + linear
    assert len(doc["images"]) == 9
    overlays = [o for r in doc["images"] for o in r["overlays"]]
    assert len(overlays) == len(set(overlays)) == 18  # cat/0.png and dog/0.png do not overwrite each other
    for r in doc["images"]:
        assert {c["label"] for c in r["classes"]} == {"cat", "dog"} and r["width"] == 32
        assert sum(c["score"] for c in r["classes"]) == pytest.approx(1, abs=1e-3)
    for o in overlays:
        assert Path(o).stat().st_size > 0
    assert "explain.json and overlays in" in capsys.readouterr().out
    assert main(["explain", str(run), str(images / "cat" / "1.png"), "--method", "gradcam", "--out",
                 str(tmp_path / "g")]) == 0
    assert json.loads((tmp_path / "g" / "explain.json").read_text())["method"] == "gradcam"


def test_detect_method_cam_writes_boxes_as_a_detector_does(run_and_images, tmp_path):
    run, images = run_and_images
    out = tmp_path / "d"
    assert main(["detect", "--method", "cam", "--model", str(run), str(images / "dog" / "3.png"), "--out",
                 str(out)]) == 0
    doc = json.loads((out / "detections.json").read_text())
    assert doc["method"] == "cam" and doc["score"] == 0.0
    (rec,) = doc["images"]
    (det,) = rec["detections"]
    x1, y1, x2, y2 = det["box"]
    assert 0 <= x1 < x2 <= 32 and 0 <= y1 < y2 <= 32 and det["label"] in ("cat", "dog") and 0 < det["score"] <= 1
    assert Path(rec["drawn"]).stat().st_size > 0
    assert main(["detect", "--method", "cam", "--model", str(run), str(images / "dog" / "3.png"), "--score",
                 "1.01", "--out", str(tmp_path / "none")]) == 0  # no class is that sure: no box
    assert json.loads((tmp_path / "none" / "detections.json").read_text())["images"][0]["detections"] == []


def test_a_file_that_is_not_an_image_is_one_line_naming_it(run_and_images, tmp_path, capsys):
    run, _ = run_and_images
    bad = tmp_path / "notes.png"
    bad.write_text("this is text")
    for args in (["explain", str(run), str(bad)], ["detect", "--method", "cam", "--model", str(run), str(bad)]):
        capsys.readouterr()
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert "notes.png is not an image" in err and len(err.splitlines()) == 1
    assert main(["explain", str(run), str(tmp_path / "absent.png")]) == 2
    assert "absent.png does not exist" in capsys.readouterr().err


def test_a_backbone_name_finds_a_known_checkpoint_in_the_weights_folder(tmp_path, monkeypatch):
    """`mobilenet_v2` with a weights folder holding the TFLite file: those weights, its [-1, 1] scaling, and the
    class names of the folder's labels file (its leading 'background' line dropped)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = tmp_path / "w"
    weights.mkdir()
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v2()
    torch.save(net.state_dict(), weights / TFLITE)
    (weights / "imagenet_labels.txt").write_text("background\n" + "\n".join(f"n{i}" for i in range(1000)))
    clf = load_classifier("mobilenet_v2", weights)
    assert clf.mean == (0.5, 0.5, 0.5) and clf.size == (224, 224) and clf.classes[:2] == ["n0", "n1"]
    assert TFLITE in clf.name and torch.equal(clf.model.features[0][0].weight, net.features[0][0].weight)
    image = np.random.default_rng(0).integers(0, 255, (3, 50, 70), dtype=np.uint8)
    (found,), used = localize(clf, [image], k=2)
    assert used == "cam" and len(found) == 2 and found[0].heat.shape == (50, 70)
    with pytest.raises(ConfigError, match="not ImageNet's 1000 classes"):
        pet_species(clf.classes)


def test_imagenet_class_names_and_the_pet_classes(tmp_path):
    names = imagenet_classes(1000, "mobilenet_v2", [tmp_path])  # no labels file: torchvision's list
    species = pet_species(names)
    assert names[281] == "tabby" and species[281] == "cat" and species[207] == "dog" and 0 not in species
    assert sum(s == "cat" for s in species.values()) == 5 and sum(s == "dog" for s in species.values()) == 118
    (tmp_path / "imagenet_labels.txt").write_text("a\nb\n")
    with pytest.raises(ConfigError, match="has 2 names for a network with 1000 outputs"):
        imagenet_classes(1000, "mobilenet_v2", [tmp_path])


@pytest.mark.slow
def test_shared_mobilenet_v2_localises_real_cats_and_dogs(tmp_path):
    """The shared ImageNet MobileNetV2 on real photos: the top class is a cat or dog class, and the boxes are
    where the animal is, not the whole photo every time."""
    if SHARED_WEIGHTS is None or not (SHARED_WEIGHTS / TFLITE).is_file() or SHARED_DATA is None \
            or not (SHARED_DATA / "cats_and_dogs_filtered").is_dir():
        pytest.skip(f"needs {TFLITE} in the shared weights and cats_and_dogs_filtered in the shared datasets")
    photos = SHARED_DATA / "cats_and_dogs_filtered" / "validation"
    files = [*sorted((photos / "cats").glob("*.jpg"))[:2], *sorted((photos / "dogs").glob("*.jpg"))[:2]]
    out = tmp_path / "cam"
    assert main(["detect", "--method", "cam", "--model", "mobilenet_v2", *map(str, files), "--weights-dir",
                 str(SHARED_WEIGHTS), "--out", str(out)]) == 0
    doc = json.loads((out / "detections.json").read_text())
    assert TFLITE in doc["model"] and doc["method"] == "cam"
    species = pet_species(load_classifier("mobilenet_v2", SHARED_WEIGHTS).classes)
    pets, shares = 0, []
    for rec in doc["images"]:
        (det,) = rec["detections"]
        pets += det["label_id"] in species
        x1, y1, x2, y2 = det["box"]
        shares.append((x2 - x1) * (y2 - y1) / (rec["width"] * rec["height"]))
    assert pets >= 3, doc
    assert min(shares) < 0.9 and all(s > 0.01 for s in shares), shares
