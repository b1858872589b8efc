"""pooling, depth and augmentation: their pages from hand-built results (ties, clear wins, one epoch and one seed),
their configs, and quick end-to-end runs on a tiny image folder."""

import json

import numpy as np
import pytest

from neuralab.cli import main
from neuralab.errors import ConfigError
from neuralab.experiments.augmentation import AugmentationConfig, AugmentationResult
from neuralab.experiments.augmentation import render as render_augmentation
from neuralab.experiments.depth import DepthConfig, DepthResult, variant
from neuralab.experiments.depth import render as render_depth
from neuralab.experiments.pooling import PoolingConfig, PoolingResult
from neuralab.experiments.pooling import render as render_pooling
from neuralab.experiments.sweep import Trial
from tests.data.images import write_image_folder

CLASSES = ("airplane", "automobile", "bird")
MAX, AVG, DROP = "max pool, no regularization", "avg pool, no regularization", "max pool + dropout 0.3"


def outcomes(rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n per-example outcomes (1 right, 0 wrong) whose mean is `rate` (to 1/n), in a random order."""
    return rng.permutation(np.arange(n) < round(rate * n)).astype(float)


def trial(name: str, seed: int, test: float, epochs: int = 3, train: float = 0.6, val: float = 0.55,
          n_test: int = 2000, n_train: int = 5000) -> Trial:
    """A Trial as `sweep(probe=True)` returns it: curves rising to (train, val), per-example test outcomes scoring
    `test` and clean training outcomes scoring `train`."""
    rng = np.random.default_rng(seed + int(1000 * test))
    ramp = np.linspace(0.3, 1.0, epochs)
    return Trial(name, seed, test, outcomes(test, n_test, rng), 104_042, epochs, 10_000 * epochs, list(train * ramp),
                 list(val * ramp), [1.0] * epochs, [1.1] * epochs, [4.0] * epochs, outcomes(train, n_train, rng))


def trials(values: dict[str, list[float]], **kw) -> dict[str, list[Trial]]:
    return {name: [trial(name, s, v, **kw) for s, v in enumerate(vs)] for name, vs in values.items()}


def text(page) -> str:
    return page.markdown()


# -- pooling ---------------------------------------------------------------------------------------------------
def test_pooling_tie_says_no_measurable_difference_and_names_no_winner():
    cfg = PoolingConfig(variants=["max", "avg"], seeds=2, quick=True)
    page = render_pooling(PoolingResult(cfg, trials({MAX: [0.600, 0.610], AVG: [0.605, 0.598]})))
    md = text(page)
    assert "no measurable difference" in md.lower() and " beats " not in md
    assert "Max pooling passes on" not in md  # no explanation of a win that was not measured
    assert page.test["accuracy"] == pytest.approx(0.605) and "60.5% test accuracy" in page.headline
    assert "2 variants × 2 seeds (0, 1)" in md and "3 epochs on 10,000 training images (30,000 images seen)" in md
    assert set(page.figures) == {"gap", "val"}


def test_pooling_clear_win_is_named_and_explained():
    page = render_pooling(PoolingResult(PoolingConfig(variants=["max", "avg"], seeds=2),
                                        trials({MAX: [0.70, 0.71], AVG: [0.55, 0.56]})))
    md = text(page)
    assert f"{MAX} beats {AVG} on test accuracy" in md and "Max pooling passes on" in md


def test_pooling_regularizer_with_a_narrower_gap_is_said_to_narrow_it():
    runs = {MAX: [trial(MAX, s, 0.60, train=0.80, val=0.60) for s in (0, 1)],
            DROP: [trial(DROP, s, 0.601 - 0.002 * s, train=0.62 + 0.001 * s, val=0.60) for s in (0, 1)]}
    md = text(render_pooling(PoolingResult(PoolingConfig(variants=["max", "dropout"], seeds=2), runs)))
    assert f"{DROP} beats {MAX} on narrowness of the train−test gap" in md
    assert "at no measurable cost in test accuracy" in md


def test_pooling_one_epoch_one_seed_has_no_plus_minus_and_no_one_point_curves():
    cfg = PoolingConfig(variants=["max", "avg"], seeds=1)
    page = render_pooling(PoolingResult(cfg, trials({MAX: [0.40], AVG: [0.38]}, epochs=1)))
    md = text(page)
    assert "±" not in md and "(one seed)" in md and "each run trained 1 epoch on" in md
    assert page.figures == {} and "one epoch ran, so a table rather than a plot" in md
    assert "paired bootstrap over 2,000 test examples" in md  # one seed: compared over the test images


# -- depth -----------------------------------------------------------------------------------------------------
def depth_result(values: dict[tuple[str, int], list[float]], **kw) -> DepthResult:
    kinds = list(dict.fromkeys(k for k, _ in values))
    depths = list(dict.fromkeys(d for _, d in values))
    cfg = DepthConfig(kinds=kinds, depths=depths, seeds=len(next(iter(values.values()))), quick=True)
    runs = trials({variant(k, d): v for (k, d), v in values.items()}, **kw)
    return DepthResult(cfg, runs, {name: 20_000_000 * (i + 1) for i, name in enumerate(runs)})


def test_depth_near_chance_tie_claims_nothing_about_capacity():
    page = render_depth(depth_result({("plain", 2): [0.170, 0.165], ("plain", 6): [0.109, 0.175],
                                      ("residual", 2): [0.150, 0.160], ("residual", 6): [0.140, 0.170]}))
    md = text(page)
    assert "capacity" not in md and "identity path" not in md and " beats " not in md
    assert md.lower().count("no measurable difference") == 3  # two kinds over depth, and residual vs plain at 6
    assert "depth" in page.figures and page.details["depths"] == [2, 6]


def test_depth_clear_wins_are_named_and_explained():
    page = render_depth(depth_result({("plain", 2): [0.50, 0.51], ("plain", 6): [0.30, 0.31],
                                      ("residual", 2): [0.55, 0.56], ("residual", 6): [0.68, 0.69]}))
    md = text(page)
    assert "batch norm + residual d6 beats batch norm + residual d2" in md and "added capacity" in md
    assert "plain d2 beats plain d6" in md and "harder to train" in md
    assert "batch norm + residual d6 beats plain d6" in md and "identity path" in md
    assert page.test["accuracy"] == pytest.approx(0.685) and "batch norm + residual d6" in page.headline
    assert set(page.details["accuracy"]) == {"plain", "batch norm + residual"}


def test_depth_one_depth_one_seed_one_epoch_draws_no_axis_and_no_plus_minus():
    page = render_depth(depth_result({("batch-norm", 4): [0.45], ("residual", 4): [0.47]}, epochs=1))
    md = text(page)
    assert page.figures == {} and "±" not in md and "(one seed)" in md and "1 epoch on" in md
    assert "batch norm + residual d4" in page.findings[0] and "paired bootstrap over 2,000 test examples" in md


# -- augmentation ----------------------------------------------------------------------------------------------
def augmentation_result(runs: dict[str, list[Trial]], seeds: int = 2) -> AugmentationResult:
    cfg = AugmentationConfig(variants=list(runs), seeds=seeds)
    return AugmentationResult(cfg, runs, np.random.default_rng(0).integers(0, 255, (2, 3, 32, 32), dtype=np.uint8))


def test_augmentation_tie_names_no_best_but_keeps_the_grid():
    page = render_augmentation(augmentation_result(trials({"none": [0.600, 0.610], "flip": [0.602, 0.606],
                                                           "flip+crop": [0.603, 0.601]})))
    md = text(page)
    assert "Best:" not in md and "Highest mean: none" in md and "no measurable difference" in md.lower()
    assert set(page.figures) == {"curves", "examples"}


def test_augmentation_narrower_gap_and_clear_win():
    runs = {"none": [trial("none", s, 0.55 + 0.001 * s, train=0.75, val=0.55) for s in (0, 1)],
            "flip+crop": [trial("flip+crop", s, 0.62 + 0.001 * s, train=0.60 + 0.001 * s, val=0.62) for s in (0, 1)]}
    md = text(render_augmentation(augmentation_result(runs)))
    assert "flip+crop beats none on test accuracy" in md and "generalizes better" in md
    assert "flip+crop beats none on narrowness of the train−test gap" in md and "Welch t over 2 and 2 seeds" in md


def test_augmentation_one_seed_compares_gaps_over_test_and_training_images():
    wide = {"none": [trial("none", 0, 0.60, train=0.90)], "flip+crop": [trial("flip+crop", 0, 0.59, train=0.66)]}
    page = render_augmentation(augmentation_result(wide, seeds=1))
    md = text(page)
    assert "flip+crop beats none on narrowness of the train−test gap by 23.00 points" in md
    assert "paired bootstrap over 2,000 test and 5,000 training examples" in md
    assert "memorizes the training set less." in md and "flip+crop beats none on test accuracy" not in md
    assert "| none | none | 60.00 (one seed) | 90.0 | 30.0 |" in md and "on 5,000 of its training images" in md
    # independent outcomes (identical ones would make a half-point difference certain, rightly)
    close = {"none": [trial("none", 0, 0.600, train=0.700)], "flip+crop": [trial("flip+crop", 0, 0.601, train=0.695)]}
    md = text(render_augmentation(augmentation_result(close, seeds=1)))
    assert "No measurable difference in narrowness of the train−test gap" in md and "memorizes" not in md


def test_augmentation_one_epoch_one_seed():
    page = render_augmentation(augmentation_result(trials({"none": [0.30], "flip": [0.31]}, epochs=1), seeds=1))
    md = text(page)
    assert "±" not in md and set(page.figures) == {"examples"} and "one epoch ran" in md


# -- configs ---------------------------------------------------------------------------------------------------
def test_configs_refuse_unknown_variants_and_a_stray_augment():
    with pytest.raises(ConfigError, match="variants must be some of"):
        PoolingConfig(variants=["max", "median"])
    with pytest.raises(ConfigError, match="variants must be some of"):
        DepthConfig(kinds=[])
    with pytest.raises(ConfigError, match="distinct numbers of conv layers"):
        DepthConfig(depths=[2, 2])
    with pytest.raises(ConfigError, match="--augment is not used here"):
        AugmentationConfig.of(augment="flip")


def test_variants_change_one_thing_each():
    pooling = PoolingConfig().train_configs()
    assert pooling["max pool + weight decay 5e-4"].optim.weight_decay == 5e-4
    assert pooling[DROP].model.kwargs == {"depth": 4, "width": 32, "pool": "max", "dropout": 0.3}
    depth = DepthConfig(depths=[2, 6], kinds=["plain", "residual"]).train_configs()
    assert depth["plain d6"].model.kwargs["depth"] == 6 and depth["batch norm + residual d2"].model.kwargs["residual"]
    aug = AugmentationConfig().train_configs()
    assert aug["flip+crop"].data.augment == "flip,crop" and aug["none"].data.augment == "none"


# -- end to end ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["pooling", "depth", "augmentation"])
def test_quick_run_on_a_tiny_folder_writes_the_page(tmp_path, name):
    root = write_image_folder(tmp_path / "mini", classes=CLASSES, per_class=8, size=(32, 32))
    runs = tmp_path / "runs"
    assert main(["run", name, "--dataset", f"imagefolder:{root}", "--quick", "--runs-dir", str(runs)]) == 0
    (run,) = runs.iterdir()
    report = (run / "report.md").read_text()
    assert "Quick tour" in report and "## Config that ran" in report and "What ran:" in report
    figures = [line.split("(plots/")[1].rstrip(")") for line in report.splitlines() if "](plots/" in line]
    assert figures, report
    for f in figures:
        assert (run / "plots" / f).stat().st_size > 0, f
    config = json.loads((run / "config.json").read_text())["config"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["headline"] and 0 <= summary["test"]["accuracy"] <= 1
    seeds = {1: "× 1 seed (0):", 2: "× 2 seeds (0, 1):"}[config["seeds"]]  # what ran is what the page says
    assert seeds in report and f"each run trained {config['schedule']['epochs']} epochs" in report
