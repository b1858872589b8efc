"""`neuralab run mnist --framework keras|both` on generated idx files, on both Keras backends.

A process holds one Keras backend: the torch backend runs in this process, TensorFlow in a subprocess (and must
be installed in CI: `make test` installs the `tensorflow` extra).
"""

import json
import os
import subprocess
import sys

import pytest

from neuralab.cli import main
from neuralab.errors import ConfigError
from neuralab.frameworks import import_keras, keras_backend_missing
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
    for f in ("curves.png", "confusion.png"):
        assert (keras_run / "plots" / f).is_file(), f
    return s


def test_keras_and_torch_side_by_side_in_process(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_mnist(data, n_train=120, n_test=40)
    monkeypatch.setenv("NEURALAB_DATA", str(data))  # the fresh evaluation process reads the same data
    runs = tmp_path / "runs"
    assert main(ARGS + ["--framework", "both", "--data-dir", str(data), "--runs-dir", str(runs)]) == 0
    (run,) = runs.iterdir()
    keras_summary = check_keras_run(run, "torch")
    summary = json.loads((run / "summary.json").read_text())
    fw = summary["frameworks"]
    assert set(fw) == {"torch", "keras"} and summary["reload_identical"] is True
    assert fw["torch"]["params"] == fw["keras"]["params"] == keras_summary["params"]  # the same MLP
    assert fw["keras"]["test_accuracy"] == keras_summary["test"]["accuracy"]
    report = (run / "report.md").read_text()
    assert "## Side by side" in report and "identical predictions, bit for bit" in report
    assert f"{100 * fw['keras']['test_accuracy']:.2f}% test accuracy against" in report
    assert "![curves](runs/keras/plots/curves.png)" in report and "![curves](runs/train/plots/curves.png)" in report
    assert summary["headline"].startswith("PyTorch ") and " vs Keras " in summary["headline"]


def tensorflow_or_skip():
    missing = keras_backend_missing("tensorflow")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test the TensorFlow backend: {missing} (`make test` installs it)")
        pytest.skip(missing)


def test_keras_on_tensorflow_in_a_subprocess(tmp_path):
    tensorflow_or_skip()
    data, runs = tmp_path / "data", tmp_path / "runs"
    write_mnist(data, n_train=120, n_test=40)
    env = {**os.environ, "NEURALAB_DATA": str(data), "NEURALAB_RUNS": str(runs)}
    env.pop("KERAS_BACKEND", None)  # --keras-backend alone must choose
    out = subprocess.run([sys.executable, "-m", "neuralab", *ARGS, "--framework", "keras", "--keras-backend",
                          "tensorflow"], env=env, capture_output=True, text=True, timeout=600)
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
    assert main(ARGS + ["--framework", "keras", "--model", "cnn", "--runs-dir", str(tmp_path / "runs")]) != 0
    assert "builds the MLP in Keras; use --model mlp" in capsys.readouterr().err
    assert not list((tmp_path / "runs").glob("*/runs/*"))  # failed before any training
