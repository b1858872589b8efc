"""The `detection` experiment in quick mode: a nested train-detector run and a report with the measured numbers."""

from __future__ import annotations

import json

from neuralab.experiments import EXPERIMENTS, run_experiment


def test_detection_experiment_quick(settings):
    exp = EXPERIMENTS.get("detection")
    assert exp.demo is False
    # quick mode only ever shrinks what it is given: a tiny config stays tiny (the tour's is a one-minute budget)
    cfg = exp.config(quick=True, image_size=64, n_samples=24, train_images=16, time_budget_min=5.0)
    run, summary = run_experiment("detection", cfg, settings, log=lambda s: None)
    child = json.loads((run.path / "runs" / "train" / "summary.json").read_text())
    assert child["images"]["train"] == 16 and child["epochs"] <= 2
    assert json.loads((run.path / "runs" / "train" / "config.json").read_text())["config"]["time_budget_min"] == 1.0
    assert 0 <= summary["test"]["map50"] <= 1
    assert (run.path / "runs" / "train" / "checkpoints" / "model.safetensors").is_file()
    report = (run.path / "report.md").read_text()
    assert f"{summary['test']['map50']:.3f}" in report and "quick mode" in report
