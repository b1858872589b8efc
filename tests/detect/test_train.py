"""train-detector's time budget: the learning-rate clock, stopping on time, and --train-images' scope."""

from __future__ import annotations

import time

import pytest
import torch

from neuralab.errors import ConfigError
from neuralab.train.detection import Clock, DetectTrainConfig, _lr_at, load_detection_data, train_epoch


def test_clock_progress_is_the_further_of_steps_and_time():
    now = time.perf_counter()
    assert Clock(100, start=now).progress(25) == pytest.approx(0.25)  # no budget: steps alone
    half_time = Clock(100, budget_s=10.0, start=now - 5.0)
    assert half_time.progress(10) == pytest.approx(0.5, abs=0.05) and not half_time.out_of_time()
    assert half_time.progress(80) == pytest.approx(0.8)
    late = Clock(100, budget_s=1.0, start=now - 2.0)
    assert late.out_of_time() and late.progress(0) == 1.0


def test_learning_rate_warms_up_then_decays_to_zero_with_progress():
    assert _lr_at(0, 10, 0.0) == pytest.approx(0.1) and _lr_at(9, 10, 0.0) == pytest.approx(1.0)
    assert _lr_at(50, 10, 0.5) == pytest.approx(0.5) and _lr_at(50, 10, 1.0) == pytest.approx(0.0)


def test_an_epoch_stops_when_the_budget_is_spent(settings):
    from neuralab.models.detectors import build_detector

    data = load_detection_data("shapes-det", settings, 32, n_samples=20)
    model, _ = build_detector("ssdlite320_mobilenet_v3_large", 3, image_size=32)
    opt = torch.optim.AdamW(model.parameters())
    cfg = DetectTrainConfig(image_size=32, batch_size=4)
    spent = Clock(100, budget_s=1.0, start=time.perf_counter() - 2.0)
    before = [p.detach().clone() for p in model.parameters()]
    loss, step = train_epoch(model, opt, data.train, cfg, torch.Generator(), 7, 100, 1, spent)
    assert step == 7 and loss != loss  # no step taken: nan loss, same step count
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_train_images_is_for_generated_data_only(settings, tmp_path):
    from tests.detect.helpers import write_coco

    with pytest.raises(ConfigError, match="--train-images applies to generated datasets"):
        load_detection_data(f"coco:{write_coco(tmp_path / 'c')}", settings, None, n_train=10)
    with pytest.raises(ConfigError, match="time_budget_min must be >= 0"):
        DetectTrainConfig(time_budget_min=-1)
    with pytest.raises(ConfigError, match="train_images must be >= 0"):
        DetectTrainConfig(train_images=-1)
