"""The `detection` experiment: a nested train-detector run, and a page that says what ran (images seen, epochs,
random trunk) and never presents a collapsed or untrained detector as a result."""

from __future__ import annotations

import json

import numpy as np
import torch

from neuralab.data.detection import generate
from neuralab.experiments import EXPERIMENTS, run_experiment
from neuralab.experiments.detection import DetectionConfig, DetectionResult, health, render
from neuralab.experiments.timing import Contention
from neuralab.records import EpochRow
from neuralab.train.detection import DetectResult


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


# -- the collapse check ----------------------------------------------------------------------------------------
def split(n: int = 6):
    s, _ = generate("shapes", n, 64, seed=3)
    return s


def preds_of(boxes: list, scores: list, n: int) -> list[dict]:
    return [{"boxes": torch.tensor(boxes[i], dtype=torch.float32).reshape(-1, 4),
             "scores": torch.tensor(scores[i], dtype=torch.float32),
             "labels": torch.ones(len(scores[i]), dtype=torch.long)} for i in range(n)]


def test_a_constant_output_is_collapsed():
    s = split()
    same = [[[10, 10, 30, 30]] * 300] * len(s)
    h = health(preds_of(same, [[0.2] * 300] * len(s), len(s)), s, 0.5)
    assert h.constant and h.collapsed and not h.over_firing
    assert "same boxes and scores" in h.sentence(0.5)


def test_three_hundred_boxes_above_the_threshold_is_over_firing():
    s = split()
    rng = np.random.default_rng(0)
    boxes = [rng.uniform(0, 60, (300, 4)).tolist() for _ in range(len(s))]
    scores = [rng.uniform(0.5, 0.9, 300).tolist() for _ in range(len(s))]
    h = health(preds_of(boxes, scores, len(s)), s, 0.5)
    assert h.over_firing and h.collapsed and f"{h.detections:,} boxes score 0.5 or more" in h.sentence(0.5)


def test_a_detector_that_finds_the_objects_is_healthy():
    s = split()
    boxes = [b.tolist() + [[0, 0, 5, 5]] for b in s.boxes]
    scores = [[0.95 - 0.1 * j for j in range(len(b))] + [0.05] for b in s.boxes]
    h = health(preds_of(boxes, scores, len(s)), s, 0.5)
    assert not h.collapsed and h.detections == h.objects


# -- render on hand-built results ------------------------------------------------------------------------------
def result(map50: float, preds: list[dict], epochs: int = 1, seen: int = 590,
           contention: Contention = Contention()) -> DetectionResult:
    cfg = DetectionConfig(quick=True, epochs=3, train_images=4000)
    s = split()
    res = DetectResult(test={"map": map50 / 2, "map50": map50, "map75": map50 / 3, "images_per_s": 50.0},
                       best_val_map50=map50, epochs=epochs, steps=37, stopped_by="time budget", train_seconds=60.0,
                       images_seen=seen, train_images_per_s=9.8, infer_images_per_s=50.0, minutes_to_trained=1.0,
                       wall_minutes=1.5, cpu_minutes=2.9, threads=2, images={"train": 4000, "val": 40, "test": 40},
                       classes=["circle", "square", "triangle"], skipped={}, checkpoint="x", model="ssdlite")
    rows = [EpochRow(e, "val", None, {"map": 0.1 * e, "map50": 0.2 * e}) for e in range(1, epochs + 1)]
    return DetectionResult(cfg, cfg.train_config(), res, rows, health(preds, s, 0.5), s, preds, contention)


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
