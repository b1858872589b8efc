import dataclasses
import json
import os
import subprocess
import sys
import time

import pytest

from neuralab import heap
from neuralab.cli import main
from neuralab.experiments import EXPERIMENTS, Experiment, ExperimentConfig, run_experiment
from neuralab.experiments.timing import cpu_seconds
from neuralab.report.page import Page

CALLS: list[str] = []
HEAP_DEPTHS: list[int] = []  # neuralab.heap's nesting depth inside each fake measure


def fake(name: str, fail: bool = False):
    def measure(cfg, ctx):
        CALLS.append(name)
        HEAP_DEPTHS.append(heap._depth)
        if fail:
            raise RuntimeError("boom")
        ctx.run.log(1, "train", 0.5, {"accuracy": 0.8})
        ctx.run.log(1, "val", 0.6, {"accuracy": 0.7 if not cfg.quick else 0.6})
        return 0.75

    return measure


def fake_page(accuracy):
    return Page("fake", f"{100 * accuracy:.0f}% fake accuracy", test={"accuracy": accuracy})


def fake_experiment(name: str, order: int, needs=(), fail: bool = False, ready=None) -> Experiment:
    return Experiment(name, f"fake {name}", ExperimentConfig, fake(name, fail), fake_page, needs=needs, order=order,
                      ready=ready)


@pytest.fixture
def only_fakes(monkeypatch):
    """Replace the registry's experiments with three fakes (and the real `all`)."""
    CALLS.clear()
    HEAP_DEPTHS.clear()
    entries = {"all": EXPERIMENTS.get("all"),
               "first": fake_experiment("first", 1),
               "needs-mnist": fake_experiment("needs-mnist", 2, needs=("mnist",)),
               "broken": fake_experiment("broken", 3, fail=True)}
    monkeypatch.setattr(EXPERIMENTS, "_entries", entries)
    speeds = iter([1234.0, 987.0] * 3)  # the reference step before and after each tour, without the seconds it takes
    monkeypatch.setattr("neuralab.experiments.all.reference_speed", lambda device: next(speeds))


def test_run_all_skips_missing_data_records_failures_and_builds_the_report(only_fakes, settings, tmp_path):
    from neuralab.experiments.all import AllConfig

    run, page = run_experiment("all", AllConfig(quick=True, report_dir=str(tmp_path / "site")), settings)
    status = page.details["status"]
    assert status["first"].startswith("ran:")
    assert status["needs-mnist"].startswith("skipped: mnist not found")
    assert status["broken"] == "failed: RuntimeError: boom" and page.details["failed"] == ["broken"]
    assert (run.path / "broken.error.txt").read_text().count("boom")
    assert CALLS == ["first", "broken"]
    assert "first/index.html" in (tmp_path / "site" / "index.html").read_text()
    # the portfolio says why an experiment has no run: from this tour, and later from the finished tour's record
    assert "skipped: mnist not found" in (tmp_path / "site" / "index.html").read_text()
    from neuralab.report.site import build_site

    again = build_site([settings.runs_dir], tmp_path / "rebuilt").read_text()
    assert "skipped: mnist not found" in again and "failed: RuntimeError: boom" in again
    # the page: what ran, with each experiment's wall time and result, and what failed
    report = (run.path / "report.md").read_text()
    assert "| first | ran |" in report and "75% fake accuracy" in report and "| broken | failed |" in report
    assert "wall s" in report and "Failed: broken" in report and "## Config that ran" in report
    assert page.headline.startswith("1 experiments ran, 0 reused, 1 skipped, 1 failed") and page.test["failed"] == 1
    assert set(page.details["seconds"]) == {"first", "needs-mnist", "broken"}
    assert "CPU s" in report and "CPU time" in report and all(c >= 0 for c in page.details["cpu_seconds"].values())
    assert "1,234 images/s before the experiments, 987 after" in report  # tours of different days compare beside it
    assert (page.details["speed_before"], page.details["speed_after"]) == (1234.0, 987.0)
    # Each part measures in a kept heap of its own (trimmed when it ends); the tour itself keeps none.
    if heap._LIBC is not None and os.environ.get("NEURALAB_RETAIN_HEAP") != "0":
        assert HEAP_DEPTHS == [1, 1] and not heap.active()

    # A second tour does not repeat what finished, unless forced; a different quick setting is a different run.
    CALLS.clear()
    _, again = run_experiment("all", AllConfig(quick=True, report_dir=str(tmp_path / "site")), settings)
    assert again.details["status"]["first"].startswith("already finished") and CALLS == ["broken"]
    CALLS.clear()
    run_experiment("all", AllConfig(quick=True, force=True, only=["first"], report_dir=str(tmp_path / "s")), settings)
    assert CALLS == ["first"]


def test_runs_compare_and_report_cli(only_fakes, settings, tmp_path, capsys):
    a, _ = run_experiment("first", ExperimentConfig(quick=False), settings)
    b, _ = run_experiment("first", ExperimentConfig(quick=True), settings)
    capsys.readouterr()
    out_png = tmp_path / "cmp.png"
    assert main(["runs", "compare", a.name, b.name, "--out", str(out_png)]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and a.name in text and out_png.read_bytes()[:4] == b"\x89PNG"
    assert main(["report", "--out", str(tmp_path / "site")]) == 0
    assert (tmp_path / "site" / "first" / "index.html").exists()


def test_tensorboard_logging_writes_event_files(settings, tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    monkeypatch.setenv("NEURALAB_TENSORBOARD", "1")
    assert main(["train", "--dataset", "xor", "--epochs", "2", "--runs-dir", str(tmp_path / "tb")]) == 0
    (run,) = (tmp_path / "tb").iterdir()
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))


def test_demo_runs_every_demo_experiment_in_quick_mode(settings, monkeypatch):
    from neuralab.experiments.demo import DemoConfig

    run, page = run_experiment("demo", DemoConfig(only=["quickstart"]), settings)
    (part,) = page.details["parts"].values()
    cfg = json.loads(open(f"{part}/config.json").read())
    assert cfg["config"]["quick"] is True and "quickstart" in (run.path / "report.md").read_text()


def test_every_experiment_config_round_trips():
    from neuralab.config import from_dict, to_dict

    for name, exp in EXPERIMENTS.items():
        cfg = exp.config()
        assert dataclasses.is_dataclass(cfg) and from_dict(exp.config, to_dict(cfg)) == cfg, name


def test_needs_alternatives_and_other_requirements_give_one_line_reasons(settings):
    either = fake_experiment("either", 1, needs=("mnist|digits",))
    assert either.missing(settings) == []  # digits ships with scikit-learn
    neither = fake_experiment("neither", 1, needs=("mnist|cifar10",), ready=lambda s: "no weights")
    (data, weights) = neither.missing(settings)
    assert data.startswith("mnist not found") and " and cifar10 not found" in data and weights == "no weights"
    # the real cats-dogs: either cats-vs-dogs source, plus ImageNet weights already on this machine
    reasons = EXPERIMENTS.get("cats-dogs").missing(settings)
    assert "pets-cats-dogs not found" in reasons[0] and "cats-dogs-filtered not found" in reasons[0]
    assert "no ImageNet weights here" in reasons[1] and str(settings.weights_dir) in reasons[1]


def test_cpu_seconds_count_the_child_processes_a_part_runs():
    """The Keras twin on TensorFlow trains in a child process: the tour's CPU column must include it."""
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass"
    c0, p0 = cpu_seconds(), time.process_time()
    subprocess.run([sys.executable, "-c", burn], check=True)
    assert cpu_seconds() - c0 >= 0.4 > 4 * (time.process_time() - p0)


def test_reference_speed_measures_whole_training_steps():
    import torch

    from neuralab.experiments.reference_speed import BATCH, reference_speed

    t = time.perf_counter()
    speed = reference_speed(torch.device("cpu"), seconds=0.05)
    assert 0 < speed < float("inf") and time.perf_counter() - t < 30
    assert speed * (time.perf_counter() - t) >= 3 * BATCH  # at least three timed steps, after the warm-up
