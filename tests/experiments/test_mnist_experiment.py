import dataclasses
import json

import numpy as np
import pytest

from neuralab.cli import main
from neuralab.errors import ConfigError
from neuralab.experiments.evaluation import ClassEval, confusion
from neuralab.experiments.mnist import MnistConfig, MnistResult, render
from neuralab.experiments.mnist_frameworks import FrameworkRun
from neuralab.experiments.registry import effective
from neuralab.experiments.timing import Contention
from neuralab.records import EpochRow
from neuralab.report.plots import plt
from tests.data.test_idx import write_mnist

QUIET, BUSY = Contention(10.0, 0.1), Contention(10.0, 5.0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")  # render draws figures that only write_page would close


def test_mnist_mini_project_on_generated_idx_files(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_mnist(data, n_train=120, n_test=40)
    monkeypatch.setenv("NEURALAB_DATA", str(data))  # the fresh evaluation process reads the same data
    runs = tmp_path / "runs"
    assert main(["run", "mnist", "--epochs", "2", "--batch-size", "32", "--data-dir", str(data),
                 "--runs-dir", str(runs)]) == 0
    (run,) = runs.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["reload_identical"] is True and set(summary["frameworks"]) == {"torch"}
    assert abs(summary["reloaded_accuracy"] - summary["test"]["accuracy"]) < 0.5 / 40  # same count of 40 correct
    assert summary["frameworks"]["torch"]["images_seen"] == 2 * 110  # 120 minus the validation split, twice
    report = (run / "report.md").read_text()
    assert "fresh process (`neuralab eval`)" in report and "identical to this process's float32 score" in report
    assert "Quick tour" not in report and "## Config that ran" in report and '"framework": "torch"' in report
    for name in ("samples", "classes", "torch_curves", "torch_confusion", "torch_mistakes"):
        assert f"](plots/{name}.png)" in report and (run / "plots" / f"{name}.png").stat().st_size > 0, name
    assert (run / "runs" / "train" / "checkpoints" / "model.safetensors").is_file()


def test_python_m_neuralab_runs_the_cli():
    """The reload check runs `python -m neuralab eval`: the package must run as a module."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "neuralab", "eval", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--json" in out.stdout


def test_recipe_fills_what_the_command_line_leaves_out():
    mlp = effective(MnistConfig())
    assert (mlp.schedule.epochs, mlp.batch_size, mlp.optim.lr, mlp.data.augment) == (16, 512, 3e-3, "crop=2")
    cnn = effective(MnistConfig.of(dataset="fashion-mnist", model="cnn", lr=5e-4))
    assert (cnn.schedule.epochs, cnn.batch_size, cnn.optim.lr, cnn.data.augment, cnn.model.args) == (
        12, 128, 5e-4, "flip", "depth=4 width=32 dropout=0")
    other = effective(MnistConfig.of(dataset="digits", model="cnn", augment="crop=1", model_args="depth=2"))
    assert (other.schedule.epochs, other.optim.lr, other.data.augment, other.model.args) == (8, 1e-3, "crop=1",
                                                                                            "depth=2")
    assert effective(MnistConfig.of(dataset="fashion-mnist")).data.augment == "none"  # no shifts for clothes
    quick = effective(MnistConfig.of(quick=True))
    assert (quick.schedule.epochs, quick.framework, quick.batch_size) == (3, "both", 512)  # all images, 3 epochs
    assert effective(MnistConfig.of(quick=True, epochs=30, framework="torch")).schedule.epochs == 30
    assert effective(effective(cnn)) == cnn  # settling twice changes nothing
    with pytest.raises(ConfigError, match="--model must be one of"):
        MnistConfig.of(model="resnet18")


@pytest.mark.parametrize("flat, message", [
    ({"augment": "rotate=10"}, "augments with crop"),
    ({"optimizer": "sgd"}, "trains with Adam and a cosine decay"),
    ({"model": "cnn", "model_args": "residual=true"}, "no skip connections"),
    ({"model_args": "hidden=64 activation_name=elu"}, "activation_name"),
])
def test_keras_refuses_what_its_twin_cannot_do_before_anything_runs(flat, message):
    with pytest.raises(ConfigError, match=message):
        effective(MnistConfig.of(framework="both", **flat))


def test_the_engine_alone_takes_what_keras_cannot():
    cfg = effective(MnistConfig.of(augment="rotate=10", optimizer="sgd", model="cnn", model_args="residual=true"))
    assert (cfg.data.augment, cfg.optim.optimizer, cfg.model.args) == ("rotate=10", "sgd", "residual=true")


# -- render on hand-built results ------------------------------------------------------------------------------
CLASSES = [str(i) for i in range(10)]


def fake_run(name: str, correct: np.ndarray, epochs: int = 3, seconds: float = 6.0) -> FrameworkRun:
    y = np.arange(len(correct)) % 10
    pred = np.where(correct > 0, y, (y + 1) % 10)
    ev = ClassEval(CLASSES, confusion(y, pred, 10), np.zeros((2, 1, 28, 28), np.uint8), ["a", "b"])
    rows = [EpochRow(e, s, 0.5 / e, {"accuracy": 0.9 + 0.01 * e}, seconds=seconds / epochs)
            for e in range(1, epochs + 1) for s in ("train", "val")]
    label = {"torch": "PyTorch 2.9.0", "keras": "Keras 3.15.1 (torch backend)"}[name]
    return FrameworkRun(name, label, f"runs/{name}", 669_706, "float32", epochs, epochs, 55_000 * epochs, seconds,
                        0.9 + 0.01 * epochs, rows, ev, correct.astype(float), "Reloaded: identical.",
                        float(correct.mean()), True)


def result(runs: list[FrameworkRun], contention: Contention = QUIET, **cfg) -> MnistResult:
    return MnistResult(MnistConfig.of(**cfg), runs, "mnist", CLASSES, 0.1307, 0.3081, 55_000, 5_000,
                       len(runs[0].correct), np.full(10, 5500), np.zeros((4, 1, 28, 28), np.uint8),
                       ["0", "1", "2", "3"], contention)


def outcomes(n: int, wrong: int, seed: int = 0) -> np.ndarray:
    c = np.ones(n)
    c[np.random.default_rng(seed).choice(n, wrong, replace=False)] = 0
    return c


def test_render_tie_says_no_measurable_difference():
    same = outcomes(1000, 30)
    page = render(result([fake_run("torch", same), fake_run("keras", same)], framework="both"))
    md = page.markdown()
    assert "No measurable difference in test accuracy between PyTorch and Keras" in md
    assert page.headline == "PyTorch 97.00% vs Keras 97.00% test accuracy (mnist, mlp, 3 epochs): no measurable " \
                            "difference"
    assert page.test == {"accuracy": 0.97, "torch_accuracy": 0.97, "keras_accuracy": 0.97}
    assert "## Side by side" in md and "val_accuracy" in page.figures and "beats" not in md


def test_render_clear_win_names_the_winner_and_times_only_a_quiet_machine():
    torch_run, keras_run = fake_run("torch", outcomes(1000, 10)), fake_run("keras", outcomes(1000, 200), seconds=18)
    page = render(result([torch_run, keras_run], framework="both"))
    md = page.markdown()
    assert "PyTorch beats Keras on test accuracy by 19.00 points" in md and "paired bootstrap" in md
    assert page.headline.endswith("PyTorch ahead by 19.00 points")
    assert "train seconds" in md and "Keras trained in 18.0 s against PyTorch's 6.0 s (3.00× the time)" in md
    busy = render(result([torch_run, keras_run], BUSY, framework="both")).markdown()
    assert "Timing not measured" in busy and "train seconds" not in busy and "× the time" not in busy
    assert "PyTorch beats Keras" in busy  # accuracies are still compared


def test_render_says_when_the_twins_computed_in_different_dtypes():
    same = outcomes(500, 20)
    bf16 = dataclasses.replace(fake_run("torch", same), precision="bfloat16")
    md = render(result([bf16, fake_run("keras", same)], framework="both", model="cnn")).markdown()
    assert "Compute differs: PyTorch trained in bfloat16, Keras in float32." in md
    assert "| bfloat16 |" in md


def test_render_one_framework_one_epoch():
    page = render(result([fake_run("torch", outcomes(200, 20), epochs=1)]))
    md = page.markdown()
    assert page.headline == "90.00% test accuracy (mnist, mlp, 1 epoch, PyTorch)"
    assert "## Result" in md and "±" not in md and "beats" not in md and "No measurable" not in md
    assert set(page.figures) == {"samples", "classes", "torch_curves", "torch_confusion", "torch_mistakes"}
    assert "val_accuracy" not in page.figures  # no side-by-side curve from a single point
    assert page.details["frameworks"]["torch"]["images_seen"] == 55_000
