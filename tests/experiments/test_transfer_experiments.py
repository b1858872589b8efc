import json

import pytest

from neuralab.cli import main
from tests.data.images import write_image_folder


@pytest.fixture
def folder(tmp_path):
    return write_image_folder(tmp_path / "cd", per_class=20, size=(16, 16))


def test_cats_dogs_on_an_image_folder(folder, tmp_path, capsys):
    assert main(["run", "cats-dogs", "--dataset", f"imagefolder:{folder}", "--backbone", "resnet_small",
                 "--weights", "none", "--strategy", "scratch", "--epochs", "2", "--batch-size", "16",
                 "--runs-dir", str(tmp_path / "runs")]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert 0 <= summary["test"]["accuracy"] <= 1 and "test accuracy" in summary["headline"]
    assert (run / "plots" / "confusion.png").is_file() and "Test accuracy" in (run / "report.md").read_text()
    assert (run / "runs" / "scratch" / "checkpoints" / "model.safetensors").is_file()


def test_cats_dogs_needs_two_classes(tmp_path, capsys):
    root = write_image_folder(tmp_path / "three", classes=("a", "b", "c"), per_class=3, size=(8, 8))
    assert main(["run", "cats-dogs", "--dataset", f"imagefolder:{root}", "--backbone", "resnet_small",
                 "--weights", "none"]) == 2
    assert "needs exactly two classes" in capsys.readouterr().err


def test_pretrain_then_transfer_compare_with_our_weights(folder, tmp_path, capsys):
    runs = str(tmp_path / "runs")
    assert main(["pretrain", "--dataset", f"imagefolder:{folder}", "--exclude-classes", "", "--epochs", "1",
                 "--batch-size", "16", "--runs-dir", runs]) == 0
    weights = capsys.readouterr().out.split("weights: ")[1].split()[0]
    assert main(["run", "transfer-compare", "--dataset", f"imagefolder:{folder}", "--backbone", "resnet_small",
                 "--weights", weights, "--sizes", "5,0", "--epochs", "1", "--batch-size", "16",
                 "--runs-dir", runs]) == 0
    run = next(p for p in (tmp_path / "runs").iterdir() if p.name.endswith("transfer-compare"))
    report = (run / "report.md").read_text()
    assert "With 5 images per class, against scratch" in report and "feature-extraction" in report
    assert len(json.loads((run / "summary.json").read_text())["results"]) == 6
    assert (run / "plots" / "accuracy_vs_size.png").is_file()


def test_transfer_compare_requires_a_dataset(capsys):
    assert main(["run", "transfer-compare"]) == 2
    assert "needs --dataset imagefolder:PATH" in capsys.readouterr().err


@pytest.mark.slow
def test_mobilenet_v2_real_imagenet_weights_transfer_to_real_cats_and_dogs(shared_settings, shared_data):
    """Real pretrained features (the shared MobileNetV2), real photos: feature extraction must be far above chance."""
    from neuralab.runs import Run
    from neuralab.train.transfer import TransferOptions, load_for_backbone, prepare, run_strategy

    weights = shared_data.parent / "weights" / "mobilenet_v2_imagenet_tflite_dequant.pth"
    if not weights.exists() or not (shared_data / "cats_and_dogs_filtered").exists():
        pytest.skip("the shared MobileNetV2 weights or cats_and_dogs_filtered are absent")
    opts = TransferOptions(backbone="mobilenet_v2", weights=str(weights), mean=[0.5] * 3, std=[0.5] * 3, epochs=3)
    data, pre = load_for_backbone(f"imagefolder:{shared_data / 'cats_and_dogs_filtered'}", shared_settings, opts)
    data = prepare(data, pre, per_class=100)
    summary, _ = run_strategy("feature-extraction", data, opts, shared_settings,
                              Run.create(shared_settings.runs_dir, "fe"))
    assert summary["test"]["accuracy"] >= 0.85


def test_cats_dogs_takes_whichever_cats_and_dogs_data_is_here(settings):
    from neuralab.experiments.cats_dogs import pick_dataset
    from tests.data.test_cats_dogs import write_filtered

    assert pick_dataset("auto", settings) == "pets-cats-dogs"  # nothing here: the default, whose error says where
    write_filtered(settings.data_dir)
    assert pick_dataset("auto", settings) == "cats-dogs-filtered"
    assert pick_dataset("imagefolder:x", settings) == "imagefolder:x"


@pytest.mark.slow
def test_cats_dogs_quick_fine_tunes_real_imagenet_weights_offline(shared_settings):
    """The tour's mini-project 3 on real photos and a real ImageNet MobileNetV2 from the shared folders."""
    from neuralab.experiments import run_experiment
    from neuralab.experiments.cats_dogs import CatsDogsConfig

    if not (shared_settings.data_dir / "cats_and_dogs_filtered").is_dir() or \
            not (shared_settings.weights_dir / "mobilenet_v2_imagenet_tflite_dequant.pth").is_file():
        pytest.skip("needs the shared cats_and_dogs_filtered and weights/mobilenet_v2_imagenet_tflite_dequant.pth")
    _, summary = run_experiment("cats-dogs", CatsDogsConfig(quick=True), shared_settings)
    assert summary["resolved"]["dataset"] == "cats-dogs-filtered" and summary["resolved"]["backbone"] == "mobilenet_v2"
    assert summary["test"]["accuracy"] >= 0.95  # 200 training photos; measured 98.5%
