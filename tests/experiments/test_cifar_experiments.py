import json

from neuralab.cli import main
from tests.data.images import write_image_folder

CLASSES = ("airplane", "automobile", "bird")


def test_cifar10_mini_project_and_feature_maps_on_a_tiny_folder(tmp_path, capsys):
    root = write_image_folder(tmp_path / "mini", classes=CLASSES, per_class=12, size=(32, 32))
    runs = str(tmp_path / "runs")
    assert main(["run", "feature-maps", "--runs-dir", runs]) == 2  # nothing trained yet
    assert "Train a CNN first (`neuralab run cifar10`)" in capsys.readouterr().err
    assert main(["run", "cifar10", "--dataset", f"imagefolder:{root}", "--epochs", "2", "--batch-size", "8",
                 "--runs-dir", runs]) == 0
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.name.endswith("cifar10")]
    for f in ("curves.png", "confusion.png", "samples.png"):
        assert (run / "plots" / f).is_file(), f
    summary = json.loads((run / "summary.json").read_text())
    assert len(summary["per_class"]) == 3 and summary["train"]["epochs_run"] == 2
    assert "Test accuracy" in (run / "report.md").read_text()
    assert main(["run", "feature-maps", "--runs-dir", runs, "--images", "2"]) == 0  # default: the newest cifar10
    fm = max(p for p in (tmp_path / "runs").iterdir() if p.name.endswith("feature-maps"))  # the newest
    assert (fm / "plots" / "filters.png").is_file() and (fm / "plots" / "maps.png").is_file()
    assert run.name in (fm / "report.md").read_text() or str(run) in (fm / "report.md").read_text()
    assert main(["run", "feature-maps", "--run", run.name, "--runs-dir", runs, "--layers", "nope"]) == 2
    assert "no layer(s) ['nope']" in capsys.readouterr().err


def test_augmentation_experiment_quick_on_a_tiny_folder(tmp_path):
    root = write_image_folder(tmp_path / "mini", classes=CLASSES, per_class=8, size=(32, 32))
    assert main(["run", "augmentation", "--dataset", f"imagefolder:{root}", "--quick",
                 "--runs-dir", str(tmp_path / "runs")]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["means"]) == {"none", "flip", "rotation", "crop+translate", "flip+crop", "flip+crop+cutout"}
    assert (run / "plots" / "examples.png").is_file() and "Best:" in (run / "report.md").read_text()


def test_pooling_and_depth_quick_on_a_tiny_folder(tmp_path):
    root = write_image_folder(tmp_path / "mini", classes=CLASSES, per_class=8, size=(32, 32))
    for name in ("pooling", "depth"):
        runs = tmp_path / name
        assert main(["run", name, "--dataset", f"imagefolder:{root}", "--quick", "--runs-dir", str(runs)]) == 0
        (run,) = runs.iterdir()
        report = (run / "report.md").read_text()
        assert "What the numbers show" in report and "|" in report
    depth = json.loads(next((tmp_path / "depth").iterdir()).joinpath("summary.json").read_text())
    assert depth["depths"] == [2, 6] and set(depth["accuracy"]) == {"plain", "batch norm", "batch norm + residual"}


def test_cifar_fast_quick_on_a_tiny_folder_with_and_without_the_validation_images(tmp_path):
    root = write_image_folder(tmp_path / "mini", classes=CLASSES, per_class=10, size=(32, 32))
    for extra in ([], ["--full-train"]):
        runs = tmp_path / ("full" if extra else "held-out")
        assert main(["run", "cifar-fast", "--dataset", f"imagefolder:{root}", "--quick", "--runs-dir", str(runs),
                     *extra]) == 0
        (run,) = [p for p in runs.iterdir() if p.name.endswith("cifar-fast")]
        report = (run / "report.md").read_text()
        assert "Mean test accuracy" in report and (run / "plots" / "curves.png").is_file()
        n_train = int(report.split(" training images")[0].rsplit("(", 1)[1])
        assert n_train == (30 if extra else 27)  # 10 per class; 10% held out for validation unless --full-train
