"""cifar10, cifar-fast and feature-maps: render on hand-built results (every sentence a page can say), and end to
end on tiny image folders (the page, its config and its figures); a slow check of cifar10's quick tour on the real
data."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from neuralab.cli import main
from neuralab.experiments.cifar10 import Cifar10Config, Cifar10Result
from neuralab.experiments.cifar10 import render as render_cifar10
from neuralab.experiments.cifar_fast import CifarFastConfig, CifarFastResult
from neuralab.experiments.cifar_fast import render as render_fast
from neuralab.experiments.evaluation import ClassEval
from neuralab.experiments.feature_maps import (EdgeEnergy, FeatureMapsConfig, FeatureMapsResult, chance_of_at_least,
                                               edge_energy, random_reference)
from neuralab.experiments.feature_maps import render as render_maps
from neuralab.experiments.sweep import Trial
from neuralab.experiments.timing import Contention
from neuralab.records import EpochRow
from neuralab.report.plots import plt
from neuralab.train.fast import FastResult
from tests.data.images import write_image_folder

CLASSES = ("airplane", "automobile", "bird")
SOBEL = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
QUIET, BUSY = Contention(10.0, 0.1), Contention(10.0, 5.0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")  # render draws figures that only write_page would close


# -- cifar10: render --------------------------------------------------------------------------------------------
def cifar10_result(cm, epochs=3):
    rows = [EpochRow(e, s, 1.0 / e, {"accuracy": 0.5 + 0.05 * e}, seconds=2.0)
            for e in range(1, epochs + 1) for s in ("train", "val")]
    trial = Trial("train", 0, float(np.trace(cm) / np.sum(cm)), np.zeros(0), 1234, epochs, 450 * epochs,
                  [0.5] * epochs, [0.5] * epochs, [1.0] * epochs, [1.0] * epochs, [2.0] * epochs)
    ev = ClassEval(list(CLASSES), np.array(cm), np.zeros((2, 3, 32, 32), np.uint8), ["a", "b"])
    return Cifar10Result(Cifar10Config(), trial, rows, 450, "hand-built", "cpu", "bfloat16", 6.0, epochs, ev,
                         np.zeros((4, 3, 32, 32), np.uint8), ["airplane"] * 4)


def test_cifar10_names_the_class_the_hardest_one_is_taken_for_even_when_its_diagonal_is_not_the_row_maximum():
    # bird (the hardest) is right 3 times of 10 and taken for an automobile 5 times: the old argsort(row)[-2]
    # named bird itself.
    page = render_cifar10(cifar10_result([[9, 1, 0], [1, 8, 1], [2, 5, 3]]))
    (sentence,) = page.findings
    assert "hardest: bird (30.0%), most often taken for automobile" in sentence
    assert "Easiest class: airplane (90.0%)" in sentence
    assert page.test["accuracy"] == pytest.approx(20 / 30)
    assert page.headline.startswith("66.7% CIFAR-10 test accuracy") and "3 epochs" in page.headline
    assert set(page.figures) == {"curves", "confusion", "mistakes", "samples"}


def test_cifar10_hardest_class_without_mistakes():
    page = render_cifar10(cifar10_result([[10, 0, 0], [0, 10, 0], [0, 0, 10]]))
    assert "with no mistakes" in page.findings[0] and "taken for" not in page.findings[0]


def test_cifar10_single_epoch_says_one_epoch():
    page = render_cifar10(cifar10_result([[9, 1, 0], [1, 8, 1], [2, 5, 3]], epochs=1))
    assert "(cnn-basic, 1 epoch)" in page.headline and "trained 1 epoch on" in page.sections[0]


# -- cifar-fast: render -----------------------------------------------------------------------------------------
def fast_result(accuracies, epochs=2.0, full_train=False, contention=QUIET):
    n = math.ceil(epochs)
    runs = [FastResult(a, 30.0, epochs, math.ceil(88 * epochs), 1500.0, 45_000, int(45_000 * epochs), 2, "bfloat16",
                       [0.5 + 0.1 * e for e in range(n)]) for a in accuracies]
    cfg = CifarFastConfig(seeds=len(accuracies)).replace(epochs=epochs, full_train=full_train)
    return CifarFastResult(cfg, list(range(len(accuracies))), runs, "hand-built", "cpu", contention)


def test_cifar_fast_one_seed_has_no_plus_minus():
    page = render_fast(fast_result([0.8123]))
    text = page.markdown()
    assert "±" not in text and "81.23 (one seed)" in page.headline and page.test["accuracy"] == pytest.approx(0.8123)
    assert "curves" in page.figures  # two epochs: a curve with markers


def test_cifar_fast_several_seeds_give_mean_and_std():
    page = render_fast(fast_result([0.90, 0.92, 0.91]))
    assert "91.00 ± 1.00 (3 seeds)" in page.headline and "90,000 images seen" in page.markdown()
    assert page.details["per_seed"] == [0.90, 0.92, 0.91]
    assert "30 s of training per run" in page.headline and "images/s" in page.markdown()


def test_cifar_fast_on_a_busy_machine_shows_accuracy_but_no_seconds():
    page = render_fast(fast_result([0.90, 0.92], contention=BUSY))
    text = page.markdown()
    assert "Timing not measured" in text and " s of training" not in text and "images/s" not in text
    assert page.details["seconds"] is None and "91.00 ± 1.41 (2 seeds)" in page.headline


def test_cifar_fast_single_epoch_is_a_table_not_a_curve():
    page = render_fast(fast_result([0.7], epochs=1.0, full_train=True))
    assert "curves" not in page.figures
    text = page.markdown()
    assert "last-epoch training accuracy (%)" in text and "training + validation images" in text
    assert "1 epoch (88 steps" in text


def test_cifar_fast_fractional_epochs_are_drawn_where_they_ended():
    page = render_fast(fast_result([0.75], epochs=1.5))
    assert list(page.figures["curves"].axes[0].lines[0].get_xdata()) == [1, 1.5]
    assert "1.5 epochs (132 steps, 67,500 images seen per run)" in page.markdown()


def test_cifar_fast_embeds_the_recipe_options_flat():
    cfg = CifarFastConfig.of(epochs=3.5, lr=5.0, model="cnn", model_args="depth=4", tta=1, seeds=2)
    assert (cfg.fast.epochs, cfg.fast.lr, cfg.fast.model.name, cfg.fast.model.args, cfg.fast.tta) == \
        (3.5, 5.0, "cnn", "depth=4", 1)


# -- feature-maps: the edge measurement and its sentences ------------------------------------------------------
def test_edge_energy_finds_oriented_edges_in_every_direction_and_none_in_flat_filters():
    diagonal = (SOBEL + SOBEL.T) / np.sqrt(2)
    colour_edge = np.stack([SOBEL, -SOBEL, 0.5 * SOBEL])  # red rises where green falls: still one edge
    filters = np.stack([np.stack([SOBEL] * 3), np.stack([SOBEL.T] * 3), np.stack([diagonal] * 3), colour_edge,
                        np.ones((3, 3, 3))])
    energy = edge_energy(filters)
    assert energy[:4] == pytest.approx(1.0, abs=0.01) and energy[4] == pytest.approx(0.0, abs=1e-9)
    assert edge_energy(7 * filters) == pytest.approx(energy)  # scale-free
    random = edge_energy(np.random.default_rng(0).uniform(-1, 1, size=(2000, 3, 3, 3)))
    assert 0.05 < np.median(random) < 0.3


def maps_result(filters, edge):
    return FeatureMapsResult(FeatureMapsConfig(), "20260101-000000-cifar10", "cnn-basic", "0.0.0", filters, False,
                             edge, np.zeros((2, 3, 32, 32), np.uint8), {"0.0.0": np.zeros((2, 4, 32, 32))},
                             {"0.0.0": [32, 32, 32]})


def test_feature_maps_says_edges_only_when_the_filters_are_beyond_random_ones():
    rng = np.random.default_rng(1)
    trained = np.stack([np.stack([SOBEL * rng.choice([-1, 1])] * 3) + 0.1 * rng.normal(size=(3, 3, 3))
                        for _ in range(32)])
    page = render_maps(maps_result(trained, random_reference(edge_energy(trained), trained.shape, 100, 0)))
    assert page.headline == "cnn-basic: 32 of 32 first-layer filters are oriented edges (beyond chance)"
    assert page.findings == ["32 of 32 first-layer filters respond to oriented edges: far more than random weights "
                             "would."]
    assert "chance gives 1.6 on average" in page.markdown() and set(page.figures) == {"filters", "maps"}
    assert page.test["edge_like_share"] == 1.0

    noise = rng.uniform(-1, 1, size=(32, 3, 3, 3))  # what a short run leaves: its random start
    page = render_maps(maps_result(noise, random_reference(edge_energy(noise), noise.shape, 100, 0)))
    assert "still look like their random initialisation" in page.findings[0]
    assert "respond" not in page.markdown() and "(no more than random weights give)" in page.headline


def test_feature_maps_one_by_one_filters_have_no_pattern_to_claim():
    page = render_maps(maps_result(np.ones((8, 3, 1, 1), np.float32), None))
    assert "no spatial pattern" in page.markdown() and "respond" not in page.markdown()
    assert page.test == {"first_layer_filters": 8}


def test_edge_verdict_counts_filters_beyond_random_ones_against_chance():
    random = np.full(100, 0.15)
    assert EdgeEnergy(np.full(10, 0.9), random, 0.4).edges
    assert not EdgeEnergy(np.r_[np.full(19, 0.3), 0.9], random, 0.4).edges  # 1 in 20: what chance gives
    assert not EdgeEnergy(np.full(10, 0.1), random, 0.4).edges
    # half gradients, half flat colours (fastnet's whitening filters): the median misses them, the count does not
    assert EdgeEnergy(np.r_[np.full(12, 0.9), np.zeros(12)], random, 0.4).edges


def test_chance_of_at_least_is_the_binomial_tail():
    assert chance_of_at_least(0, 10, 0.05) == pytest.approx(1.0)
    assert chance_of_at_least(1, 10, 0.05) == pytest.approx(1 - 0.95**10)
    assert chance_of_at_least(10, 10, 0.05) == pytest.approx(0.05**10)
    assert 0 < chance_of_at_least(400, 2048, 0.05) < 1e-50  # wide layers: no overflow


# -- end to end on tiny folders ----------------------------------------------------------------------------------
def assert_page(run, figures, quick):
    """The quick banner exactly when quick, the config that ran, and every figure the page shows, non-empty."""
    report = (run / "report.md").read_text()
    assert ("Quick tour" in report) == quick and "## Config that ran" in report
    shown = set(re.findall(r"\]\(plots/([\w-]+)\.png\)", report))
    assert set(figures) <= shown
    for f in shown:
        assert (run / "plots" / f"{f}.png").stat().st_size > 0, f
    return report, json.loads((run / "summary.json").read_text())


def test_cifar10_and_feature_maps_on_a_tiny_folder(tmp_path, capsys):
    root = write_image_folder(tmp_path / "mini", classes=CLASSES, per_class=12, size=(32, 32))
    runs = str(tmp_path / "runs")
    assert main(["run", "feature-maps", "--runs-dir", runs]) == 2  # nothing trained yet
    assert "Train a CNN first (`neuralab run cifar10`)" in capsys.readouterr().err
    assert main(["run", "cifar10", "--dataset", f"imagefolder:{root}", "--epochs", "2", "--batch-size", "8",
                 "--quick", "--runs-dir", runs]) == 0
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.name.endswith("cifar10")]
    report, summary = assert_page(run, ("curves", "confusion", "samples"), quick=True)
    assert len(summary["per_class"]) == 3 and "Test accuracy" in report and "2 epochs" in summary["headline"]
    assert main(["run", "feature-maps", "--runs-dir", runs, "--images", "2"]) == 0  # default: the newest cifar10
    fm = max(p for p in (tmp_path / "runs").iterdir() if p.name.endswith("feature-maps"))  # the newest
    report, summary = assert_page(fm, ("filters", "maps"), quick=False)
    assert run.name in report and "Oriented-edge energy" in report and 0 <= summary["test"]["edge_like_share"] <= 1
    assert main(["run", "feature-maps", "--run", run.name, "--runs-dir", runs, "--layers", "nope"]) == 2
    assert "no layer(s) ['nope']" in capsys.readouterr().err


def test_cifar_fast_quick_on_a_tiny_folder_with_and_without_the_validation_images(tmp_path):
    root = write_image_folder(tmp_path / "mini", classes=CLASSES, per_class=10, size=(32, 32))
    for extra in ([], ["--full-train"]):
        runs = tmp_path / ("full" if extra else "held-out")
        assert main(["run", "cifar-fast", "--dataset", f"imagefolder:{root}", "--quick", "--runs-dir", str(runs),
                     *extra]) == 0
        (run,) = [p for p in runs.iterdir() if p.name.endswith("cifar-fast")]
        report, summary = assert_page(run, ("curves",), quick=True)
        assert "(one seed)" in summary["headline"] and "±" not in report
        assert summary["train_images"] == (30 if extra else 27)  # 10 per class; 10% held out unless --full-train
        fast = json.loads((run / "config.json").read_text())["config"]["fast"]
        assert (fast["epochs"], fast["tta"]) == (1.5, 1) and "1.5 epochs" in report  # quick ran, and says so


# -- the quick tour on the real data -----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(3600)  # about 2 minutes on a quiet machine; a shared one took over 30
def test_cifar10_quick_reaches_65_percent_on_the_real_data(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("NEURALAB_DATA", str(shared_data))
    monkeypatch.setenv("NEURALAB_CACHE", str(Path.home() / ".cache" / "neuralab" / "arrays"))  # decoded once
    assert main(["run", "cifar10", "--quick", "--runs-dir", str(tmp_path / "runs")]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "summary.json").read_text())["test"]["accuracy"] >= 0.65
