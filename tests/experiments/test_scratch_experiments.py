"""The NumPy-from-scratch experiments (and quickstart, demo): render on hand-built results (ties, clear wins, one
seed, one epoch), then each end to end in quick mode into a temporary runs directory."""

import json

import numpy as np
import pytest

from neuralab.config import Settings
from neuralab.data.registry import DATASETS, options
from neuralab.experiments import activations, demo, housing, points_2d, quickstart, scratch_single_layer
from neuralab.experiments.evaluation import ClassEval
from neuralab.experiments.points_2d import Boundary
from neuralab.experiments.registry import EXPERIMENTS, run_experiment
from neuralab.experiments.sweep import Trial
from neuralab.records import EpochRow
from neuralab.report.plots import plt


@pytest.fixture(autouse=True)
def close_figures():
    """Render tests never write their pages, so nothing else closes the figures they draw."""
    yield
    plt.close("all")


def rows(epochs, metric="accuracy"):
    return [EpochRow(e, s, 1.0 / e, {metric: 0.5 + 0.1 * e}, seconds=0.1)
            for e in range(1, epochs + 1) for s in ("train", "val")]


def boundary(n=40):
    x = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)
    return Boundary(lambda p: (p[:, 0] > 0).astype(int), x, (x[:, 0] > 0).astype(int), ["left", "right"])


# -- activations: render ------------------------------------------------------------------------------------------
def seed_runs(accs, epochs=3, ratio=0.5, diverged=0):
    out = []
    for i, acc in enumerate(accs):
        correct = (np.arange(200) < round(200 * acc)).astype(float)
        out.append(activations.SeedRun(i, epochs, i < diverged, 0.1, 0.2, acc, acc, correct,
                                       [1.0 / e for e in range(1, epochs + 1)], [ratio, 0.7, 1.0], [1.0, 1.0, 1.0],
                                       [0.1, 0.2], [0.15, 0.25]))
    return out


def activations_page(variants, seeds=3):
    cfg = activations.ActivationsConfig(activations=list(variants), depth=2, seeds=seeds)
    return activations.render(activations.ActivationsResult(cfg, 3, 1050, variants))


def test_activations_tie_says_no_measurable_difference():
    page = activations_page({"relu": seed_runs([0.90, 0.92, 0.91]), "tanh": seed_runs([0.91, 0.90, 0.92])})
    assert "No measurable difference in test accuracy between" in page.markdown()
    assert "Best:" not in page.markdown()


def test_activations_clear_win_names_the_winner_and_the_gap_to_the_lowest():
    page = activations_page({"relu": seed_runs([0.95, 0.96, 0.97]), "gelu": seed_runs([0.95, 0.96, 0.965]),
                             "sigmoid": seed_runs([0.33, 0.35, 0.34], ratio=1e-4)})
    text = page.markdown()
    assert "No measurable difference in test accuracy between relu and gelu" in text  # best vs runner-up: a tie
    assert "Highest against lowest mean: relu beats sigmoid on test accuracy" in text
    assert "below a tenth with sigmoid: the vanishing-gradient picture" in text
    assert page.test["accuracy"] == pytest.approx(0.96) and page.headline.startswith("relu: 96.0%")


def test_activations_one_seed_has_no_plus_minus_and_one_epoch_no_curve():
    page = activations_page({"relu": seed_runs([0.95], epochs=1), "sigmoid": seed_runs([0.40], epochs=1)}, seeds=1)
    text = page.markdown()
    assert "±" not in text and "Best: **relu**" in text and "paired bootstrap" in text  # per test point, one seed
    assert "val_loss" not in page.figures and {"grad_norms_init", "grad_norms_end"} <= set(page.figures)
    assert "no activation gives the first layer less than a tenth" in text


def test_activations_reports_diverged_runs_and_refuses_unknown_names():
    page = activations_page({"relu": seed_runs([0.9, 0.8, 0.85], diverged=2), "tanh": seed_runs([0.9, 0.9, 0.9])})
    assert "Runs whose loss became inf/NaN" in page.markdown() and "relu 2/3" in page.markdown()
    with pytest.raises(ValueError, match="choose from"):
        activations.ActivationsConfig(activations=["relu", "swish"])


# -- housing: render ----------------------------------------------------------------------------------------------
def housing_page(mlp_noise, trees_pred=None, epochs=5):
    rng = np.random.default_rng(0)
    y = rng.normal(2.0, 1.0, 2000)
    preds = {housing.MEAN: np.full_like(y, y.mean()), housing.LINEAR: y + rng.normal(0, 0.7, y.size),
             "NumPy MLP 64x64 (chosen on val)": y + mlp_noise}
    preds[housing.TREES] = trees_pred(preds["NumPy MLP 64x64 (chosen on val)"]) if trees_pred else \
        y + rng.normal(0, 0.45, y.size)
    scores = {n: housing.Scores(housing.regression_metrics(p, y), housing.regression_metrics(p, y), p)
              for n, p in preds.items()}
    cand = housing.Candidate("64x64", 4801, rows(epochs, "rmse"), epochs, epochs, "completed", 1.0,
                             scores["NumPy MLP 64x64 (chosen on val)"].val)
    result = housing.HousingResult(housing.HousingConfig(), "hand-built", [], (100, 10, 2000), [cand], "64x64",
                                   dict(sorted(scores.items(), key=lambda kv: "MLP" in kv[0])), y)
    return housing.render(result)


def test_housing_names_winners_with_positive_intervals():
    page = housing_page(np.random.default_rng(1).normal(0, 0.5, 2000))
    text = page.markdown()
    assert "NumPy MLP 64x64 (chosen on val) beats linear regression (least squares) on test mean squared error" in text
    assert "HistGradientBoostingRegressor (sklearn defaults) beats NumPy MLP 64x64" in text
    assert "interval -" not in text  # the better model is named first, so its interval is above zero
    assert page.test["rmse"] == pytest.approx(0.5, abs=0.03)
    assert page.headline.startswith(f"test RMSE {page.test['rmse']:.3f} ($100k) for the NumPy MLP 64x64")


def test_housing_tie_between_mlp_and_trees():
    noise = np.random.default_rng(1).normal(0, 0.5, 2000)
    page = housing_page(noise, trees_pred=lambda mlp: mlp + np.random.default_rng(2).normal(0, 0.01, mlp.size))
    assert "No measurable difference in test mean squared error between" in page.markdown()


def test_housing_one_epoch_candidate_and_bad_widths():
    page = housing_page(np.zeros(2000), epochs=1)
    assert {"mlp_test", "hgb_test", "curves"} <= set(page.figures) and "candidates" not in page.figures
    with pytest.raises(ValueError, match="widths"):
        housing.HousingConfig(widths=["64x0"])


# -- points-2d and scratch-single-layer: render ------------------------------------------------------------------
def test_points_2d_states_each_accuracy_and_the_spiral_target():
    fits = {n: points_2d.PointsFit(700, params, 40, 30, 1.0, 0.99, 0.97, acc, rows(40), boundary())
            for n, params, acc in (("moons", 4482, 0.99), ("spiral", 4547, 0.97))}
    page = points_2d.render(points_2d.Points2dResult(points_2d.Points2dConfig(datasets=list(fits)), fits))
    text = page.markdown()
    assert "moons 99.0%, spiral 97.0%" in text and "4,482 to 4,547 parameters" in text
    assert "misses the 98% target" in text and page.test["accuracy"] == pytest.approx(0.98)
    assert {"moons_boundary", "moons_curves", "spiral_boundary", "spiral_curves"} == set(page.figures)


def single_layer_page(epochs, blobs_mistakes):
    def fit(acc, b):
        return scratch_single_layer.SoftmaxFit(9, epochs, epochs, acc, acc, 0.3, rows(epochs),
                                               [str(i) for i in range(10)], np.ones((64, 10)), b)

    softmax = {"blobs": fit(1.0, boundary()), "moons": fit(0.86, boundary()), "digits": fit(0.944, None)}
    perceptron = {"blobs": scratch_single_layer.PerceptronFit(9, blobs_mistakes, 1.0, 1.0, boundary()),
                  "moons": scratch_single_layer.PerceptronFit(6, [140] * 50, 0.85, 0.84, boundary())}
    cfg = scratch_single_layer.SingleLayerConfig(epochs=epochs)
    return scratch_single_layer.render(scratch_single_layer.SingleLayerResult(cfg, softmax, perceptron))


def test_single_layer_says_whether_the_perceptron_converged():
    text = single_layer_page(10, [12, 3, 0]).markdown()
    assert "the perceptron converged (a pass with no mistake) after 3 passes" in text
    assert "never had a pass without mistakes (50 passes)" in text and "94.4% test accuracy" in text
    text = single_layer_page(10, [12, 3, 1]).markdown()
    assert "had no pass without a mistake in 3 passes" in text


def test_single_layer_one_epoch_draws_no_curve():
    page = single_layer_page(1, [0])
    assert "softmax_val_accuracy" not in page.figures and "perceptron_mistakes" in page.figures  # moons: 50 passes
    assert page.headline.startswith("94.4% test accuracy on 8x8 digits")


# -- quickstart and demo: render ----------------------------------------------------------------------------------
def part(dataset, cm, epochs=2):
    cm = np.array(cm)
    trial = Trial(dataset, 0, float(np.trace(cm) / cm.sum()), np.zeros(0), 100, epochs, 700 * epochs,
                  [0.9] * epochs, [0.9] * epochs, [0.3] * epochs, [0.3] * epochs, [0.5] * epochs)
    ev = ClassEval(["0", "1"], cm, np.zeros((1, 1, 8, 8), np.uint8), ["true 0\npred 1 0.90"])
    return quickstart.Part(dataset, "mlp", trial, epochs, rows(epochs), ev)


def test_quickstart_headline_table_and_hardest_class():
    result = quickstart.QuickstartResult(quickstart.QuickstartConfig(), part("moons", [[49, 1], [1, 49]]),
                                         part("digits", [[50, 0], [5, 45]], epochs=1), boundary())
    page = quickstart.render(result)
    assert page.headline == "95.0% test accuracy on digits (MLP, 1 epoch); two moons 98.0%"
    assert "hardest: 1 (90.0%), most often taken for 0" in page.markdown() and "1,400" in page.markdown()
    assert {"moons_boundary", "curves", "confusion", "mistakes"} == set(page.figures)


def test_demo_lists_every_part_with_its_headline():
    parts = [demo.DemoPart("quickstart", "torch MLP", "97.0% test accuracy on digits", "runs/q/report.md", "/r/q"),
             demo.DemoPart("points-2d", "NumPy MLP", "99.0% mean test accuracy", "runs/p/report.md", "/r/p")]
    page = demo.render(demo.DemoResult(demo.DemoConfig(), parts, "site/index.html"))
    assert page.headline == "2 embedded-data experiments in quick mode: quickstart, points-2d"
    assert "| quickstart | torch MLP | 97.0% test accuracy on digits | [report](runs/q/report.md) |" in page.markdown()
    assert page.details["parts"] == {"quickstart": "/r/q", "points-2d": "/r/p"} and "demo --full" in page.markdown()
    page = demo.render(demo.DemoResult(demo.DemoConfig(full=True), parts[:1], "site/index.html"))
    assert page.headline == "1 embedded-data experiment in full runs: quickstart" and "--full" not in page.markdown()


# -- end to end, quick mode ---------------------------------------------------------------------------------------
def quick(name, tmp_path, settings=None, **flat):
    settings = settings or Settings.resolve(runs_dir=tmp_path)
    run, page = run_experiment(name, EXPERIMENTS.get(name).config.of(quick=True, **flat), settings,
                               log=lambda s: None)
    report = (run.path / "report.md").read_text()
    assert "Quick tour" in report and "## Config that ran" in report
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["headline"] == page.headline and summary["test"] == json.loads(json.dumps(page.test))
    for fig in page.figures:
        assert (run.plots / f"{fig}.png").stat().st_size > 1000, fig
    return run, summary, report


def test_single_layer(tmp_path):
    run, s, report = quick("scratch-single-layer", tmp_path)
    r = s["results"]
    assert r["perceptron-blobs"]["converged"] and r["perceptron-blobs"]["test_accuracy"] > 0.95
    assert r["softmax-digits"]["test_accuracy"] > 0.85
    assert r["softmax-moons"]["train_accuracy"] < 0.95  # a line cannot fit two moons
    assert {"blobs_perceptron_boundary.png", "digits_weights.png"} <= {p.name for p in run.plots.glob("*.png")}
    assert (run.path / "runs" / "softmax-digits" / "checkpoints" / "model.npz").exists()
    assert f"{r['softmax-digits']['test_accuracy']:.1%}" in report and '"epochs": 10' in report


def test_points_2d(tmp_path):
    run, s, report = quick("points-2d", tmp_path)
    assert set(s["results"]) == {"moons", "circles", "spiral", "xor"}
    for name, r in s["results"].items():
        assert r["test_accuracy"] > 0.85, (name, r)
        assert (run.plots / f"{name}_boundary.png").exists()
        lines = [json.loads(x) for x in (run.path / "runs" / name / "metrics.jsonl").read_text().splitlines()]
        assert len(lines) == 2 * r["epochs_run"]
    assert "Spiral (3 arms)" in report and '"epochs": 40' in report


def test_activations(tmp_path):
    run, s, report = quick("activations", tmp_path, activations=["relu", "sigmoid"])
    relu, sig = s["results"]["relu"], s["results"]["sigmoid"]
    assert len(s["seeds"]) == 3 and len(relu["epochs_run"]) == 3
    assert relu["test_accuracy_mean"] > sig["test_accuracy_mean"]
    assert sig["grad_ratio_first_last_init"] < 1e-2 < relu["grad_ratio_first_last_init"]  # vanishing with sigmoid
    assert 0.0 <= relu["never_active_end"] < 1.0
    assert {"val_loss.png", "grad_norms_init.png", "grad_norms_end.png"} <= {p.name for p in run.plots.glob("*.png")}
    assert "vanishing-gradient" in report and "Best: **relu**" in report


def test_quickstart_and_demo(tmp_path):
    run, s, report = quick("quickstart", tmp_path, epochs=3)  # set by hand: quick mode leaves it alone
    assert s["test"]["accuracy"] > 0.8 and s["test"]["moons_accuracy"] > 0.8
    assert '"epochs": 3' in report and "| digits | mlp hidden=128 |" in report
    assert (run.path / "runs" / "digits" / "report.md").exists()

    run, page = run_experiment("demo", demo.DemoConfig(only=["scratch-single-layer"]),
                               Settings.resolve(runs_dir=tmp_path / "demo"), log=lambda s: None)
    (part_dir,) = page.details["parts"].values()
    assert json.loads(open(f"{part_dir}/config.json").read())["config"]["quick"] is True
    report = (run.path / "report.md").read_text()
    assert "scratch-single-layer" in report and (run.path / "site" / "index.html").exists()
    assert "Quick tour" not in report  # the parts are quick; the demo page itself shortens nothing
    link = report.split("[report](")[1].split(")")[0]
    assert (run.path / link).exists()
    with pytest.raises(ValueError, match="no demo experiment"):
        run_experiment("demo", demo.DemoConfig(only=["mnist"]), Settings.resolve(runs_dir=tmp_path / "demo"))


@pytest.mark.slow
def test_housing_quick(tmp_path, shared_settings):
    # shared_settings holds the real data folder, captured before the per-test isolation hides NEURALAB_DATA.
    if DATASETS.get("california-housing").missing_files(options(shared_settings)):
        pytest.skip(f"california-housing/housing.csv not found under {shared_settings.data_dir}")
    _, s, report = quick("housing", tmp_path, settings=shared_settings, seed=0)
    r = s["results"]
    mean_rmse = r["mean of training targets"]["test"]["rmse"]
    assert s["mlp_test"]["rmse"] < mean_rmse and s["mlp_test"]["r2"] > 0.5
    assert s["test"]["rmse"] < r["linear regression (least squares)"]["test"]["rmse"]
    assert "HistGradientBoostingRegressor" in report and "beats linear regression" in report
