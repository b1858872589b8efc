import json
import os

import pytest

from neuralab.errors import NeuralabError
from neuralab.errors import ConfigError
from neuralab.files import atomic_write_text, remove_stale_temp_files
from neuralab.records import RunSummary
from neuralab.runs import Run, find_run, list_runs, slug


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
    assert json.loads(lines[1])["loss"] is None and run.metrics("val")[0].metrics["accuracy"] is None


def test_truncate_metrics_keeps_epochs_up_to(tmp_path):
    run = Run.create(tmp_path, "m")
    for e in (1, 2, 3):
        run.log(e, "train", 1.0 / e)
    run.truncate_metrics(2)
    assert [r.epoch for r in run.metrics()] == [1, 2]


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
    run.write_summary(RunSummary(test={"accuracy": 1.0}))
    run.write_report("# hi\n")
    fig, ax = plt.subplots()
    ax.plot([1, 2], marker="o")
    png = run.save_figure(fig, "curve")
    assert run.summary().metric("accuracy") == 1.0 and png.read_bytes()[:4] == b"\x89PNG"
    assert run.summary().headline == "100.0% test accuracy"  # one rule for runs that write no headline


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


def test_a_run_folder_appears_complete_or_not_at_all(tmp_path, monkeypatch):
    """A kill between mkdir and config.json used to leave `config.json = {}` for --resume to die on."""
    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "rename", boom)
    with pytest.raises(KeyboardInterrupt):
        Run.create(tmp_path, "x", {"a": 1})
    assert list(tmp_path.iterdir()) == [] and list_runs(tmp_path) == []


@pytest.mark.parametrize("name", ["a/../../x", "../up", "a/b", "", ".hidden", "x y"])
def test_a_run_name_cannot_escape_or_nest(tmp_path, name):
    with pytest.raises(ConfigError, match="run name"):
        Run.create(tmp_path, name)
    assert list(tmp_path.iterdir()) == []
    assert slug(name) and "/" not in slug(name)


def test_runs_dir_that_is_a_file_or_unwritable_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        Run.create(tmp_path / "file", "x")
    with pytest.raises(ConfigError, match="is a file"):
        Run.create(tmp_path / "file" / "below", "x")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        with pytest.raises(ConfigError, match="not writable"):
            Run.create(ro, "x")
    finally:
        ro.chmod(0o700)


def test_stale_temp_files_of_killed_writes_are_removed(tmp_path):
    (tmp_path / ".last.safetensors.abc123.tmp").write_bytes(b"x" * 100)
    (tmp_path / "model.safetensors").write_bytes(b"keep")
    assert [p.name for p in remove_stale_temp_files(tmp_path)] == [".last.safetensors.abc123.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
