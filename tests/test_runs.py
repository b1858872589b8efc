import json
import os

import pytest

from neuralab.errors import NeuralabError
from neuralab.runs import Run, atomic_write_text, find_run, list_runs


def test_create_makes_the_standard_layout(tmp_path):
    run = Run.create(tmp_path, "demo", {"a": 1})
    assert run.path.parent == tmp_path and run.name.endswith("-demo")
    assert (run.path / "config.json").is_file() and run.checkpoints.is_dir() and run.plots.is_dir()
    assert run.config() == {"a": 1}


def test_two_runs_in_the_same_second_get_distinct_folders(tmp_path):
    a, b = Run.create(tmp_path, "x"), Run.create(tmp_path, "x")
    assert a.path != b.path


def test_metrics_lines_and_nan_as_null(tmp_path):
    run = Run.create(tmp_path, "m")
    run.log(1, "train", 0.5, {"accuracy": 0.9}, lr=0.1, seconds=1.5)
    run.log(1, "val", float("nan"), {"accuracy": float("inf")})
    lines = run.metrics_path.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first == {"epoch": 1, "split": "train", "loss": 0.5, "metrics": {"accuracy": 0.9}, "lr": 0.1,
                     "seconds": 1.5}
    assert json.loads(lines[1])["loss"] is None and run.metrics("val")[0]["metrics"]["accuracy"] is None


def test_truncate_metrics_keeps_epochs_up_to(tmp_path):
    run = Run.create(tmp_path, "m")
    for e in (1, 2, 3):
        run.log(e, "train", 1.0 / e)
    run.truncate_metrics(2)
    assert [r["epoch"] for r in run.metrics()] == [1, 2]


def test_atomic_write_failure_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "f.json"
    atomic_write_text(path, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_written_files_are_readable_by_others(tmp_path):
    path = atomic_write_text(tmp_path / "r.md", "x")
    assert path.stat().st_mode & 0o044  # group/other read, like any normally written file (umask permitting)


def test_summary_report_figure(tmp_path):
    import matplotlib.pyplot as plt

    run = Run.create(tmp_path, "s")
    run.write_summary({"test": {"accuracy": 1.0}})
    run.write_report("# hi\n")
    fig, ax = plt.subplots()
    ax.plot([1, 2])
    png = run.save_figure(fig, "curve")
    assert run.summary()["test"]["accuracy"] == 1.0 and png.read_bytes()[:4] == b"\x89PNG"


def test_find_run_by_path_name_and_suffix(tmp_path):
    a = Run.create(tmp_path, "alpha")
    b = Run.create(tmp_path, "beta")
    assert find_run(a.path, tmp_path).path == a.path
    assert find_run(b.name, tmp_path).path == b.path
    assert find_run("beta", tmp_path).path == b.path
    assert [r.name for r in list_runs(tmp_path)] == sorted([a.name, b.name])
    with pytest.raises(NeuralabError, match="no run 'gamma'"):
        find_run("gamma", tmp_path)
    with pytest.raises(NeuralabError, match="not a neuralab run"):
        Run.open(tmp_path)
