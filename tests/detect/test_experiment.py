"""The `detection` experiment: a nested train-detector run, and a page that says what ran (images seen, epochs,
random trunk), never presents a collapsed or untrained detector as a result (the collapse check itself is tested in
test_health), and shows real cats and dogs localised by a pretrained MobileNetV2 or says what to place where."""

from __future__ import annotations

import json

import numpy as np
import torch

from neuralab.data.detection import generate
from neuralab.experiments import EXPERIMENTS, run_experiment
from neuralab.experiments.detection import DetectionConfig, DetectionResult, render
from neuralab.experiments.detection_cam import CamResult, CamShot
from neuralab.experiments.timing import Contention
from neuralab.records import EpochRow
from neuralab.train.detection import DetectResult
from neuralab.train.detection_health import health


def test_detection_experiment_quick(settings):
    exp = EXPERIMENTS.get("detection")
    assert exp.demo is False
    # quick mode changes only what the user left at its defaults: this tiny config stays tiny, the budget as given
    cfg = exp.config(quick=True, image_size=64, n_samples=24, train_images=16, time_budget_min=5.0)
    run, page = run_experiment("detection", cfg, settings, log=lambda s: None)
    child = json.loads((run.path / "runs" / "train" / "summary.json").read_text())
    assert child["images"]["train"] == 16 and child["epochs"] == 1  # quick: one epoch
    train_cfg = json.loads((run.path / "runs" / "train" / "config.json").read_text())["config"]
    assert train_cfg["time_budget_min"] == 5.0 and train_cfg["epochs"] == 1
    assert 0 <= page.test["map50"] <= 1
    assert (run.path / "runs" / "train" / "checkpoints" / "model.safetensors").is_file()
    report = (run.path / "report.md").read_text()
    assert f"{page.test['map50']:.3f}" in report and "Quick tour" in report and "## Config that ran" in report
    assert "trained from random weights" in report and "fine-tuned" not in report
    assert f"{child['images_seen']:,} training images seen" in report
    assert "plots/map.png" not in report  # one epoch: a table, not a one-point curve
    for name in ("predictions",):
        assert (run.path / "plots" / f"{name}.png").stat().st_size > 0
    # the collapse check on the page is the training run's own (one implementation)
    assert json.loads((run.path / "summary.json").read_text())["collapse"] == child["collapse"]
    # no MobileNetV2 weights and no photos here: one sentence says what to place where
    assert "place mobilenet_v2_imagenet_tflite_dequant.pth" in report and "cats_and_dogs_filtered" in report


def split(n: int = 6):
    s, _ = generate("shapes", n, 64, seed=3)
    return s


def preds_of(boxes: list, scores: list, n: int) -> list[dict]:
    return [{"boxes": torch.tensor(boxes[i], dtype=torch.float32).reshape(-1, 4),
             "scores": torch.tensor(scores[i], dtype=torch.float32),
             "labels": torch.ones(len(scores[i]), dtype=torch.long)} for i in range(n)]


# -- render on hand-built results ------------------------------------------------------------------------------
def result(map50: float, preds: list[dict], epochs: int = 1, seen: int = 590,
           contention: Contention = Contention(), cam: CamResult | None = None) -> DetectionResult:
    cfg = DetectionConfig(quick=True, epochs=3, train_images=4000)
    s = split()
    res = DetectResult(test={"map": map50 / 2, "map50": map50, "map75": map50 / 3, "images_per_s": 50.0},
                       best_val_map50=map50, epochs=epochs, steps=37, stopped_by="time budget", train_seconds=60.0,
                       images_seen=seen, train_images_per_s=9.8, infer_images_per_s=50.0, minutes_to_trained=1.0,
                       wall_minutes=1.5, cpu_minutes=2.9, threads=2, images={"train": 4000, "val": 40, "test": 40},
                       classes=["circle", "square", "triangle"], skipped={}, checkpoint="x", model="ssdlite",
                       trunk="random", health=health(preds, s, 0.5))
    rows = [EpochRow(e, "val", None, {"map": 0.1 * e, "map50": 0.2 * e}) for e in range(1, epochs + 1)]
    return DetectionResult(cfg, cfg.train_config(), res, rows, s, preds, contention, cam)


def test_page_reports_images_seen_and_epochs_run_not_the_config():
    """Issue 19: 'the detection table says 4,000 / 10,000 images where ~590 / ~2,000 were seen'."""
    s = split()
    good = preds_of([b.tolist() for b in s.boxes], [[0.9] * len(b) for b in s.boxes], len(s))
    page = render(result(0.8, good))
    text = page.markdown()
    assert "590 training images seen" in text and "stopped by time budget" in text
    assert "1 epoch(s) of 3 allowed, the last one cut short" in text
    assert "| random | 4,000 | 590 | 1 |" in text and "trained from random weights" in text
    assert page.headline.startswith("test mAP@0.5 0.800") and page.test["map50"] == 0.8
    assert "map" not in page.figures and "predictions" in page.figures  # one epoch: a table, not a curve
    assert "map" in render(result(0.8, good, epochs=2)).figures
    assert "train img/s" in text  # a quiet machine (or one that cannot tell): seconds shown
    busy = render(result(0.8, good, contention=Contention(10.0, 5.0))).markdown()
    assert "train img/s" not in busy and "Timing not measured" in busy


def test_a_collapsed_detector_is_said_to_be_one():
    """Issue 19: 'draws ~300 boxes with identical scores ... a collapsed, constant output presented as a result'."""
    s = split()
    page = render(result(0.02, preds_of([[[10, 10, 30, 30]] * 300] * len(s), [[0.6] * 300] * len(s), len(s))))
    assert page.headline.startswith("collapsed detector") and "not a result" in page.headline
    assert "**The detector collapsed" in page.markdown() and page.details["collapse"]["collapsed"]


def test_an_untrained_detector_says_it_did_not_learn():
    s = split()
    weak = preds_of([b.tolist() for b in s.boxes], [[0.3 + 0.1 * i] * len(b) for i, b in enumerate(s.boxes)], len(s))
    page = render(result(0.3, weak))
    assert "did not learn the task at this budget" in page.headline and "below 0.5" in page.markdown()


# -- the real-photo section, on hand-built results ---------------------------------------------------------------
def shot(label: str, species: str, truth: str, box: list[float] | None) -> CamShot:
    heat = np.zeros((40, 50), np.float32)
    heat[10:30, 10:40] = 1.0
    return CamShot(np.full((3, 40, 50), 100, np.uint8), heat, box, label, 0.8, species, truth)


def good_preds():
    s = split()
    return preds_of([b.tolist() for b in s.boxes], [[0.9] * len(b) for b in s.boxes], len(s))


def test_cam_section_counts_pet_classes_and_right_species():
    shots = [shot("tabby", "cat", "cat", [10, 10, 40, 30]), shot("beagle", "dog", "dog", [0, 0, 25, 20]),
             shot("Egyptian cat", "cat", "dog", [10, 10, 40, 30]), shot("carton", "", "cat", None)]
    page = render(result(0.8, good_preds(), cam=CamResult("mobilenet_v2, test weights", "cam", shots)))
    text = page.markdown()
    assert "## Localising real cats and dogs with a pretrained MobileNetV2 (class activation maps)" in text
    assert "a cat or dog class in 3 of 4, and the right species in 2 of 4" in text
    assert "boxes cover 30% of the photo (median)" in text  # 600, 500, 600 of 2,000 pixels
    assert "cam" in page.figures and "plots/cam.png" in text and "mobilenet_v2, test weights" in text
    assert page.details["cam"] == {"photos": 4, "pet_class": 3, "right_species": 2,
                                   "model": "mobilenet_v2, test weights"}
    assert any("3 of 4" in f for f in page.findings)


def test_cam_section_without_weights_or_photos_says_what_to_place_where():
    missing = CamResult("", "", [], "To see a pretrained MobileNetV2 localise real cats and dogs here, place X.")
    page = render(result(0.8, good_preds(), cam=missing))
    assert "place X." in page.markdown() and "cam" not in page.figures and "cam" not in page.details
    assert "Localising real cats" not in render(result(0.8, good_preds())).markdown()  # --cam-photos 0
