"""The `detection` experiment in quick mode: a nested train-detector run and a report with the measured numbers."""

from __future__ import annotations

from neuralab.experiments import EXPERIMENTS, run_experiment


def test_detection_experiment_quick(settings):
    exp = EXPERIMENTS.get("detection")
    assert exp.demo is False
    run, summary = run_experiment("detection", exp.config(quick=True), settings, log=lambda s: None)
    assert 0 <= summary["test"]["map50"] <= 1
    assert (run.path / "runs" / "train" / "checkpoints" / "model.safetensors").is_file()
    report = (run.path / "report.md").read_text()
    assert f"{summary['test']['map50']:.3f}" in report and "quick mode" in report
