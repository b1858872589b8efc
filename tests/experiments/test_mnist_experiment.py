import json

import pytest

from neuralab.cli import main
from neuralab.errors import ConfigError
from tests.data.test_idx import write_mnist


def test_mnist_mini_project_on_generated_idx_files(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_mnist(data, n_train=120, n_test=40)
    monkeypatch.setenv("NEURALAB_DATA", str(data))  # the fresh evaluation process reads the same data
    runs = tmp_path / "runs"
    assert main(["run", "mnist", "--epochs", "2", "--batch-size", "32", "--data-dir", str(data),
                 "--runs-dir", str(runs)]) == 0
    (run,) = runs.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["reload_identical"] is True
    assert abs(summary["reloaded_accuracy"] - summary["test"]["accuracy"]) < 0.5 / 40  # same count of 40 correct
    for f in ("plots/samples.png", "plots/classes.png", "runs/train/plots/confusion.png"):
        assert (run / f).is_file(), f
    report = (run / "report.md").read_text()
    assert "fresh process" in report
    for ref in ("runs/train/plots/curves.png", "runs/train/plots/confusion.png"):  # every linked image exists
        assert f"]({ref})" in report and (run / ref).is_file(), ref


def test_recipe_fills_what_the_command_line_leaves_out():
    from neuralab.experiments.mnist import MnistConfig, keras_translation, settled

    mlp = settled(MnistConfig())
    assert (mlp.epochs, mlp.batch_size, mlp.lr, mlp.augment) == (16, 512, 3e-3, "crop=2")
    cnn = settled(MnistConfig(dataset="fashion-mnist", model="cnn", lr=5e-4))
    assert (cnn.epochs, cnn.batch_size, cnn.lr, cnn.augment, cnn.model_args) == (12, 128, 5e-4, "flip",
                                                                                 "depth=4 width=32 dropout=0")
    other = settled(MnistConfig(dataset="digits", model="cnn", augment="crop=1", model_args="depth=2"))
    assert (other.epochs, other.lr, other.augment, other.model_args) == (8, 1e-3, "crop=1", "depth=2")
    quick = settled(MnistConfig(quick=True, epochs=30))
    assert (quick.epochs, quick.batch_size) == (1, 128)
    assert keras_translation("crop=2") == 2 and keras_translation("none") == 0 and keras_translation("crop") == 4
    with pytest.raises(ConfigError, match="--framework keras supports --augment crop=N"):
        keras_translation("flip,crop=2")
