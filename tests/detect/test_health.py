"""The collapse check on hand-built predictions: a constant output, over-firing, and a detector that finds the
objects (a training run's record of it is checked in test_cli)."""

from __future__ import annotations

import numpy as np
import torch

from neuralab.data.detection import generate
from neuralab.train.detection_health import health


def split(n: int = 6):
    s, _ = generate("shapes", n, 64, seed=3)
    return s


def preds_of(boxes: list, scores: list) -> list[dict]:
    return [{"boxes": torch.tensor(b, dtype=torch.float32).reshape(-1, 4), "scores": torch.tensor(s),
             "labels": torch.ones(len(s), dtype=torch.long)} for b, s in zip(boxes, scores)]


def test_identical_predictions_on_every_image_are_a_constant_output():
    s = split()
    h = health(preds_of([[[10, 10, 30, 30]] * 300] * len(s), [[0.2] * 300] * len(s)), s)
    assert h.constant and h.collapsed and not h.over_firing and h.detections == 0
    assert "same boxes and scores" in h.sentence() and "not a result" in h.sentence()
    assert h.to_json()["collapsed"] and h.to_json()["sentence"] == h.sentence()


def test_a_hundred_boxes_for_one_object_is_over_firing():
    s, _ = generate("shapes", 4, 64, seed=3, max_objects=1)
    rng = np.random.default_rng(0)
    boxes = [rng.uniform(0, 60, (100, 4)).tolist() for _ in range(len(s))]
    scores = [rng.uniform(0.5, 0.9, 100).tolist() for _ in range(len(s))]
    h = health(preds_of(boxes, scores), s, threshold=0.5)
    assert h.over_firing and h.collapsed and not h.constant
    assert h.objects == 4 and h.detections == 100 * len(s)
    assert f"{h.detections:,} boxes score 0.5 or more" in h.sentence()


def test_a_detector_that_finds_the_objects_is_healthy():
    s = split()
    boxes = [b.tolist() + [[0, 0, 5, 5]] for b in s.boxes]
    scores = [[0.95 - 0.1 * j for j in range(len(b))] + [0.05] for b in s.boxes]
    h = health(preds_of(boxes, scores), s)
    assert not h.collapsed and h.detections == h.objects and h.box_spread > 0.5
    assert h.sentence().startswith("Its output depends on the image")


def test_no_boxes_at_all_on_one_image_is_not_a_collapse_by_itself():
    s = split(2)
    h = health(preds_of([s.boxes[0].tolist(), []], [[0.9] * len(s.boxes[0]), []]), s)
    assert not h.collapsed and h.images == 2

