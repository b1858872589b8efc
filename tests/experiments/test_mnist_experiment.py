import json

from neuralab.cli import main
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
