"""`run detection --compare-trunks`: the section on hand-built comparisons (a clear win, a tie, one seed, no weights,
one epoch), and a tiny end-to-end run with a random MobileNetV2 standing in for the ImageNet one."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision

from neuralab.experiments import EXPERIMENTS, run_experiment
from neuralab.experiments.detection_trunks import TrunkComparison, TrunkRun, trunks_section
from neuralab.report.page import Page

PRE, RANDOM = "ImageNet trunk", "random trunk"


def runs(pre: list[float], rand: list[float], epochs: int = 3) -> list[TrunkRun]:
    seen = [400 * (e + 1) for e in range(epochs)]
    secs = [30.0 * (e + 1) for e in range(epochs)]
    out = []
    for seed, (a, b) in enumerate(zip(pre, rand)):
        out.append(TrunkRun(PRE, seed, seen, secs, [a * (e + 1) / epochs for e in range(epochs)], a, "tflite"))
        out.append(TrunkRun(RANDOM, seed, seen, secs, [b * (e + 1) / epochs for e in range(epochs)], b, "random"))
    return out


def section(c: TrunkComparison) -> Page:
    page = Page("detection", "x")
    trunks_section(page, c)
    return page


def test_a_clear_win_names_the_pretrained_trunk():
    page = section(TrunkComparison(runs([0.80, 0.82, 0.81], [0.30, 0.32, 0.31]), timing_measured=True))
    text = page.markdown()
    assert f"{PRE} beats {RANDOM} on test mAP@0.5 by 50.00 points" in text and "Welch t over 3 and 3 seeds" in text
    assert "ImageNet trunk 0.810 ± 0.010 (3 seeds)" in text
    assert {"trunks", "trunks_time"} <= set(page.figures) and "| ImageNet trunk | 0 | 1,200 | 0.800 |" in text
    assert "The ImageNet trunk's weights: tflite." in text
    assert page.details["trunks"] == {PRE: [0.80, 0.82, 0.81], RANDOM: [0.30, 0.32, 0.31]}


def test_a_tie_says_no_measurable_difference():
    text = section(TrunkComparison(runs([0.50, 0.60], [0.58, 0.52]))).markdown()
    assert "No measurable difference in test mAP@0.5" in text and "beats" not in text


def test_one_seed_each_claims_nothing_and_shows_no_spread():
    page = section(TrunkComparison(runs([0.9], [0.1])))
    text = page.markdown()
    assert "no measurable difference can be claimed" in text and "beats" not in text and "±" not in text
    assert "0.900 (one seed)" in text
    assert "trunks_time" not in page.figures  # a busy (or unknown) machine: no seconds axis


def test_one_epoch_is_a_table_not_a_one_point_curve():
    page = section(TrunkComparison(runs([0.8, 0.81], [0.3, 0.31], epochs=1), timing_measured=True))
    assert not page.figures and "| random trunk | 1 | 400 | 0.310 |" in page.markdown()


def test_no_imagenet_weights_says_what_to_place_where():
    page = section(TrunkComparison([], "No ImageNet MobileNetV2 weights on this machine ... place X."))
    assert "place X." in page.markdown() and not page.figures and "trunks" not in page.details


@pytest.mark.slow  # three detector trainings: ~20 s
def test_compare_trunks_end_to_end_with_a_stand_in_trunk(settings):
    """A random MobileNetV2 under the TFLite file's name stands in for the ImageNet weights: both trunks train on
    the same images, and each child run says where its trunk came from."""
    settings.weights_dir.mkdir(parents=True)
    torch.save(torchvision.models.mobilenet_v2().state_dict(),
               settings.weights_dir / "mobilenet_v2_imagenet_tflite_dequant.pth")
    cfg = EXPERIMENTS.get("detection").config(image_size=64, n_samples=24, train_images=8, epochs=1, cam_photos=0,
                                              compare_trunks=True, trunk_images=8, trunk_epochs=2, trunk_seeds=1)
    run, page = run_experiment("detection", cfg, settings, log=lambda s: None)
    pre = json.loads((run.path / "runs" / "trunk-imagenet-s0" / "summary.json").read_text())
    rand = json.loads((run.path / "runs" / "trunk-none-s0" / "summary.json").read_text())
    assert "mobilenet_v2_imagenet_tflite_dequant.pth" in pre["trunk"] and rand["trunk"] == "random"
    assert pre["images_seen"] == rand["images_seen"] == 16 and pre["epochs"] == rand["epochs"] == 2
    report = (run.path / "report.md").read_text()
    assert "## What a pretrained trunk buys" in report and "no measurable difference can be claimed" in report
    assert (run.path / "plots" / "trunks.png").stat().st_size > 0
