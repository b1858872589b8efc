"""Each neuralab.scratch experiment end to end in quick mode, into a temporary runs directory."""

import json

import pytest

from neuralab.config import Settings
from neuralab.data.registry import DATASETS, options
from neuralab.experiments.registry import EXPERIMENTS, run_experiment


def quick(name, tmp_path, settings=None, **kw):
    settings = settings or Settings.resolve(runs_dir=tmp_path)
    exp = EXPERIMENTS.get(name)
    run, summary = run_experiment(name, exp.config(quick=True, **kw), settings, log=lambda s: None)
    assert (run.path / "report.md").exists() and (run.path / "summary.json").exists()
    assert json.loads((run.path / "summary.json").read_text()) == json.loads(json.dumps(summary))
    report = (run.path / "report.md").read_text()
    for png in run.plots.glob("*.png"):
        assert png.stat().st_size > 1000
    return run, summary, report


def test_single_layer(tmp_path):
    run, s, report = quick("scratch-single-layer", tmp_path)
    r = s["results"]
    assert r["perceptron-blobs"]["converged"] and r["perceptron-blobs"]["test_accuracy"] > 0.95
    assert r["softmax-digits"]["test_accuracy"] > 0.85
    assert r["softmax-moons"]["train_accuracy"] < 0.95  # a line cannot fit two moons
    assert {"blobs_perceptron_boundary.png", "digits_weights.png"} <= {p.name for p in run.plots.glob("*.png")}
    assert (run.path / "runs" / "softmax-digits" / "checkpoints" / "model.npz").exists()
    assert f"{r['softmax-digits']['test_accuracy']:.1%}" in report


def test_points_2d(tmp_path):
    run, s, report = quick("points-2d", tmp_path)
    assert set(s["results"]) == {"moons", "circles", "spiral", "xor"}
    for name, r in s["results"].items():
        assert r["test_accuracy"] > 0.85, (name, r)
        assert (run.plots / f"{name}_boundary.png").exists()
        rows = [json.loads(x) for x in (run.path / "runs" / name / "metrics.jsonl").read_text().splitlines()]
        assert len(rows) == 2 * r["epochs_run"]
    assert "Spiral (3 arms)" in report


def test_activations(tmp_path):
    run, s, report = quick("activations", tmp_path, activations=["relu", "sigmoid"])
    relu, sig = s["results"]["relu"], s["results"]["sigmoid"]
    assert len(s["seeds"]) == 2
    assert relu["val_accuracy_mean"] > sig["val_accuracy_mean"]
    assert sig["grad_ratio_first_last_init"] < 1e-2 < relu["grad_ratio_first_last_init"]  # vanishing with sigmoid
    assert 0.0 <= relu["never_active_end"] < 1.0
    assert {"val_loss.png", "grad_norms_init.png", "grad_norms_end.png"} <= {p.name for p in run.plots.glob("*.png")}
    assert "vanishing-gradient" in report


@pytest.mark.slow
def test_housing_quick(tmp_path, shared_settings):
    # shared_settings holds the real data folder, captured before the per-test isolation hides NEURALAB_DATA.
    if DATASETS.get("california-housing").missing_files(options(shared_settings)):
        pytest.skip(f"california-housing/housing.csv not found under {shared_settings.data_dir}")
    _, s, report = quick("housing", tmp_path, settings=shared_settings, seed=0)
    r = s["results"]
    mean_rmse = r["mean of training targets"]["test"]["rmse"]
    assert s["mlp_test"]["rmse"] < mean_rmse and s["mlp_test"]["r2"] > 0.5
    assert "HistGradientBoostingRegressor" in report
