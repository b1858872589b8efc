"""`neuralab run mnist --framework keras|both` on generated idx files, on both Keras backends, and the Keras twins
of the MLP and the CNN.

A process holds one Keras backend: the torch backend runs in this process, TensorFlow in a process of its own
(`frameworks.keras_process`; it must be installed in CI: `make test` installs the `tensorflow` extra).
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from neuralab.cli import main
from neuralab.data.base import Dataset, Split
from neuralab.errors import ConfigError, NeuralabError
from neuralab.frameworks import import_keras, keras_backend_missing
from neuralab.frameworks.keras_process import fit_twin_in_process, read_job, write_job
from neuralab.runs import Run
from tests.data.test_idx import write_mnist

ARGS = ["run", "mnist", "--epochs", "2", "--batch-size", "32"]


def rows(path, split):
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["split"] == split]


def check_keras_run(run, backend):
    keras_run = run / "runs" / "keras"
    s = json.loads((keras_run / "summary.json").read_text())
    assert s["backend"] == backend and s["reload_identical"] is True
    assert s["reloaded_accuracy"] == s["test"]["accuracy"]
    assert (keras_run / "checkpoints" / "model.keras").stat().st_size > 0
    train, val = rows(keras_run / "metrics.jsonl", "train"), rows(keras_run / "metrics.jsonl", "val")
    assert [r["epoch"] for r in train] == [1, 2] == [r["epoch"] for r in val]
    assert all(0 <= r["metrics"]["accuracy"] <= 1 and r["seconds"] > 0 for r in train)
    assert train[0]["lr"] > train[1]["lr"] >= 0  # cosine decay per step, down to 0 at the end
    for f in ("keras_curves.png", "keras_confusion.png"):
        assert (run / "plots" / f).stat().st_size > 0, f
    return s


def side_by_side(tmp_path, monkeypatch, *extra):
    data = tmp_path / "data"
    write_mnist(data, n_train=120, n_test=40)
    monkeypatch.setenv("NEURALAB_DATA", str(data))  # the fresh evaluation process reads the same data
    runs = tmp_path / "runs"
    assert main(ARGS + ["--data-dir", str(data), "--runs-dir", str(runs), *extra]) == 0
    (run,) = runs.iterdir()
    return run, json.loads((run / "summary.json").read_text()), (run / "report.md").read_text()


def test_quick_mode_puts_keras_and_torch_side_by_side(tmp_path, monkeypatch):
    run, summary, report = side_by_side(tmp_path, monkeypatch, "--quick")  # quick: framework both, backend auto
    keras_summary = check_keras_run(run, "torch" if keras_backend_missing("tensorflow") else "tensorflow")
    fw = summary["frameworks"]
    assert set(fw) == {"torch", "keras"} and summary["reload_identical"] is True
    assert fw["torch"]["params"] == fw["keras"]["params"] == keras_summary["params"]  # the same MLP
    assert fw["torch"]["images_seen"] == fw["keras"]["images_seen"] == 2 * 110
    assert fw["keras"]["test_accuracy"] == keras_summary["test"]["accuracy"] == summary["test"]["keras_accuracy"]
    assert "Quick tour" in report and "## Config that ran" in report and '"framework": "both"' in report
    assert "## Side by side" in report and "identical predictions, bit for bit" in report
    assert "paired bootstrap over 40 test examples" in report  # a tie or a win, whichever the backend's numbers give
    assert re.search(r"test accuracy between PyTorch and Keras|(PyTorch beats Keras|Keras beats PyTorch) on test", report)
    assert summary["headline"].startswith("PyTorch ") and " vs Keras " in summary["headline"]
    for name in ("samples", "classes", "val_accuracy", "torch_curves", "keras_curves", "torch_confusion",
                 "keras_confusion"):
        assert f"](plots/{name}.png)" in report and (run / "plots" / f"{name}.png").stat().st_size > 0, name


def test_the_cnn_twins_train_side_by_side_in_this_process(tmp_path, monkeypatch):
    run, summary, report = side_by_side(tmp_path, monkeypatch, "--framework", "both", "--model", "cnn",
                                        "--model-args", "depth=3 width=8 dropout=0.2", "--augment", "flip,crop=2",
                                        "--keras-backend", "torch")
    check_keras_run(run, "torch")
    fw = summary["frameworks"]
    assert fw["torch"]["params"] == fw["keras"]["params"]
    assert "| Keras 3" in report and "| PyTorch " in report and "cnn (`depth=3 width=8 dropout=0.2`)" in report
    assert '"batch_size": 32' in report and '"lr": 0.001' in report  # the CNN recipe's lr, the asked batch


@pytest.mark.parametrize("args", ["", "depth=4 width=32 dropout=0.2", "depth=5 width=8 pool=avg batch_norm=false",
                                  "depth=1 width=4", "depth=7 width=16 dropout=0.5"])
def test_the_keras_cnn_is_the_pytorch_cnn_layer_for_layer(args):
    from torch import nn

    import_keras("torch")
    from neuralab.frameworks.keras_models import build_twin, trainable_params
    from neuralab.models import create_model
    from neuralab.train.config import parse_model_args

    kwargs = parse_model_args(args)
    twin, torch_model = build_twin("cnn", (1, 28, 28), 10, kwargs), create_model("cnn", (1, 28, 28), 10, **kwargs)
    assert trainable_params(twin) == sum(p.numel() for p in torch_model.parameters())

    def count(model, *kinds):
        return sum(isinstance(m, kinds) for m in model)

    keras = sys.modules["keras"]
    convs = [m for m in torch_model.modules() if isinstance(m, nn.Conv2d)]
    kconvs = [x for x in twin.layers if isinstance(x, keras.layers.Conv2D)]
    assert [(c.out_channels, c.bias is not None) for c in convs] == [(k.filters, k.use_bias) for k in kconvs]
    assert count(torch_model.modules(), nn.BatchNorm2d) == count(twin.layers, keras.layers.BatchNormalization)
    assert count(torch_model, nn.MaxPool2d, nn.AvgPool2d) == count(
        twin.layers, keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    assert count(torch_model, nn.Dropout) == count(twin.layers, keras.layers.Dropout)
    assert [x.rate for x in twin.layers if isinstance(x, keras.layers.Dropout)] == [m.p for m in torch_model
                                                                                    if isinstance(m, nn.Dropout)]


def test_the_keras_mlp_is_the_pytorch_mlp():
    import_keras("torch")
    from neuralab.frameworks.keras_models import build_twin, trainable_params
    from neuralab.models import create_model

    for kwargs in ({"hidden": [512, 512], "dropout": 0.2}, {"hidden": 64, "batch_norm": True,
                                                             "activation_name": "gelu"}):
        twin = build_twin("mlp", (1, 28, 28), 10, kwargs, augment="crop=2")
        assert trainable_params(twin) == sum(p.numel() for p in create_model("mlp", (1, 28, 28), 10,
                                                                             **kwargs).parameters())


def tensorflow_or_skip():
    missing = keras_backend_missing("tensorflow")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test the TensorFlow backend: {missing} (`make test` installs it)")
        pytest.skip(missing)


def test_a_twin_job_reaches_its_process_as_it_was_written(tmp_path):
    rng = np.random.default_rng(0)
    splits = [Split(rng.integers(0, 256, (n, 1, 4, 4), dtype=np.uint8), rng.integers(0, 3, n)) for n in (7, 3, 5)]
    data = Dataset("toy", "classification", *splits, classes=["a", "b", "c"], mean=(0.5,), std=(0.25,), source="t")
    write_job(tmp_path, data, "tensorflow", {"model": "mlp", "kwargs": {"hidden": [8]}, "epochs": 2})
    back, backend, recipe = read_job(tmp_path)
    assert backend == "tensorflow" and recipe == {"model": "mlp", "kwargs": {"hidden": [8]}, "epochs": 2}
    for a, b in zip(data.splits().values(), back.splits().values()):
        assert a.x.dtype == b.x.dtype and np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert (back.name, back.classes, back.mean, back.std, back.source) == ("toy", ["a", "b", "c"], (0.5,), (0.25,), "t")


def test_a_failed_twin_process_says_why(tmp_path):
    rng = np.random.default_rng(0)
    split = Split(rng.integers(0, 256, (4, 1, 4, 4), dtype=np.uint8), rng.integers(0, 2, 4))
    data = Dataset("toy", "classification", split, split, split, classes=["a", "b"], mean=(0.5,), std=(0.25,))
    run = Run.create(tmp_path, "keras")
    with pytest.raises(NeuralabError, match="(?s)Keras twin on jax failed in its own process.*unknown Keras backend"):
        fit_twin_in_process(data, run, "jax", log=lambda msg: None, model="mlp", kwargs={}, augment="none",
                            epochs=1, batch_size=2, lr=1e-3, seed=0)


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_keras_on_tensorflow_in_a_subprocess(tmp_path, model):
    tensorflow_or_skip()
    data, runs = tmp_path / "data", tmp_path / "runs"
    write_mnist(data, n_train=120, n_test=40)
    env = {**os.environ, "NEURALAB_DATA": str(data), "NEURALAB_RUNS": str(runs)}
    env.pop("KERAS_BACKEND", None)  # --keras-backend alone must choose
    extra = ["--model-args", "depth=2 width=8"] if model == "cnn" else []
    out = subprocess.run([sys.executable, "-m", "neuralab", *ARGS, "--framework", "keras", "--keras-backend",
                          "tensorflow", "--model", model, *extra], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (run,) = runs.iterdir()
    s = check_keras_run(run, "tensorflow")
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["frameworks"]) == {"keras"} and summary["test"]["accuracy"] == s["test"]["accuracy"]
    assert "(tensorflow backend)" in (run / "report.md").read_text()


def test_one_backend_per_process_and_clear_errors(tmp_path, capsys):
    keras = import_keras("torch")
    assert keras.backend.backend() == "torch" and import_keras("torch") is keras
    with pytest.raises(ConfigError, match="already runs Keras on the torch backend.*--keras-backend tensorflow"):
        import_keras("tensorflow")
    assert "unknown Keras backend 'jax'" in keras_backend_missing("jax")
    assert main(ARGS + ["--framework", "keras", "--model", "cnn", "--model-args", "residual=true",
                        "--runs-dir", str(tmp_path / "runs")]) != 0
    assert "Sequential model, which has no skip connections" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())  # refused before any run
