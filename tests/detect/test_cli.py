"""The detection commands end to end: detect (any image mode and size), train-detector, eval-detector, and the
offline --weights coco message."""

from __future__ import annotations

import json

import pytest
import torch

from neuralab.cli import main
from tests.detect.helpers import picture, write_coco

SSD = "ssdlite320_mobilenet_v3_large"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No cached weights and no network, whatever machine runs the test."""
    import torchvision.models._api as api

    def refuse(url, *a, **k):
        raise OSError(f"no network for {url}")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(api, "load_state_dict_from_url", refuse)


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    picture(64, 48, mode="L").save(folder / "grey.png")
    picture(40, 90, mode="RGBA").save(folder / "alpha.png")
    picture(100, 30).convert("P").save(folder / "palette.gif")
    picture(33, 33).save(folder / "small.jpg")
    return folder


def test_detect_any_mode_and_size(images, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["detect", str(images), "--model", SSD, "--weights", "none", "--score", "0.2", "--out", str(out)]) == 0
    doc = json.loads((out / "detections.json").read_text())
    sizes = {r["image"].rsplit("/", 1)[-1]: (r["width"], r["height"]) for r in doc["images"]}
    assert sizes == {"alpha.png": (40, 90), "grey.png": (64, 48), "palette.gif": (100, 30), "small.jpg": (33, 33)}
    for r in doc["images"]:
        for d in r["detections"]:
            assert d["score"] >= 0.2 and d["label"] and len(d["box"]) == 4
        assert (out / f"{r['image'].rsplit('/', 1)[-1].rsplit('.', 1)[0]}.png").is_file()
    assert "palette.gif (100x30)" in capsys.readouterr().out


def test_detect_non_image_file_names_it(tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("this is text")
    assert main(["detect", str(bad), "--model", SSD, "--weights", "none"]) == 2
    err = capsys.readouterr().err
    assert "notes.png is not an image" in err


def test_offline_coco_weights_say_which_file_to_place_where(offline, tmp_path, capsys):
    im = tmp_path / "a.png"
    picture().save(im)
    assert main(["detect", str(im), "--model", SSD, "--weights", "coco"]) == 2
    err = capsys.readouterr().err
    assert "COCO weights for ssdlite320_mobilenet_v3_large are not available" in err
    assert "ssdlite320_mobilenet_v3_large_coco-a79551df.pth" in err and "checkpoints" in err
    assert main(["train-detector", "--weights-backbone", "imagenet", "--epochs", "1"]) == 2
    err = capsys.readouterr().err  # the trunk's file is the backbone's ImageNet file (as `--weights imagenet` reads)
    assert "ImageNet weights for mobilenet_v3_large are not available" in err
    assert "mobilenet_v3_large-5c1a4163.pth" in err


def test_train_detector_one_epoch_then_detect_with_the_run(tmp_path, capsys):
    runs = tmp_path / "runs"
    args = ["train-detector", "--dataset", "shapes-det", "--n-samples", "16", "--image-size", "64", "--epochs", "1",
            "--batch-size", "4", "--runs-dir", str(runs)]
    assert main(args) == 0
    run = next(runs.iterdir())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in rows if r["split"] == "val"]
    assert len(val) == 1 and {"map", "map50"} <= set(val[0]["metrics"])
    summary = json.loads((run / "summary.json").read_text())
    assert 0 <= summary["test"]["map50"] <= 1 and summary["train_images_per_s"] > 0
    check = summary["collapse"]  # the collapse check of the test predictions, and the trunk it started from
    assert check["images"] == summary["images"]["test"] and summary["trunk"] == "random"
    if check["collapsed"]:  # one epoch on 16 images may well collapse: then the run says so, never a bare mAP
        assert summary["headline"].startswith("collapsed detector")
        assert check["sentence"] in (run / "report.md").read_text()
    card = json.loads((run / "checkpoints" / "model.json").read_text())
    assert card["architecture"] == SSD and card["task"] == "detection"
    # the card rebuilds the detector as it was: its size, its trunk's input normalisation, the trunk's layout
    assert card["args"] == {"image_size": 64, "image_mean": [0.5] * 3, "image_std": [0.5] * 3,
                            "pretrained_trunk": False}
    assert card["classes"] == ["circle", "square", "triangle"]
    assert (run / "checkpoints" / "model.safetensors").is_file() and (run / "plots" / "predictions.png").is_file()
    assert "mAP@0.5" in (run / "report.md").read_text() and json.loads((run / "config.json").read_text())
    im = tmp_path / "one.png"
    picture(70, 50, mode="RGBA").save(im)
    capsys.readouterr()
    assert main(["detect", str(im), "--model", str(run), "--score", "0", "--json"]) == 0
    records = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {d["label"] for d in records[0]["detections"]} <= {"circle", "square", "triangle"}
    # `predict` reads the card's task and answers with boxes; `eval` measures the run on its own data
    assert main(["predict", str(run), str(im)]) == 0
    assert f"{im} (70x50): " in capsys.readouterr().out
    assert main(["eval", str(run), "--json"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["map50"] <= 1


def test_train_detector_time_budget_ends_training_and_still_tests(tmp_path):
    runs = tmp_path / "runs"
    args = ["train-detector", "--dataset", "shapes-det", "--n-samples", "16", "--image-size", "48", "--epochs", "50",
            "--batch-size", "4", "--time-budget-min", "0.02", "--runs-dir", str(runs)]
    assert main(args) == 0
    summary = json.loads((next(runs.iterdir()) / "summary.json").read_text())
    assert summary["stopped_by"] == "time budget" and summary["epochs"] < 50
    assert 0 <= summary["test"]["map50"] <= 1 and summary["wall_minutes"] > 0 and summary["cpu_minutes"] > 0


def test_eval_detector_on_a_tiny_coco_folder(tmp_path, capsys):
    """A 91-class (COCO label space) file stands in for the COCO weights this machine cannot download."""
    from neuralab.models.detectors import build_detector

    model, _ = build_detector(SSD, 90)
    torch.save(model.state_dict(), tmp_path / "coco_like.pth")
    root = write_coco(tmp_path / "coco", categories=("person", "car"))
    assert main(["eval-detector", "--dataset", f"coco:{root}", "--model", SSD,
                 "--weights", str(tmp_path / "coco_like.pth")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 3 and result["boxes"] == 3 and result["classes_matched"] == 2
    assert 0 <= result["map"] <= result["map50"] <= 1 and result["reference_coco_val2017_map"] == 21.3
