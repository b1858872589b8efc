"""transfer-cifar, transfer-compare and cats-dogs: pages rendered from hand-built results (ties, clear wins, what
ran), end-to-end runs on tiny image folders, and the real MobileNetV2 on real photos (slow)."""

import json

import numpy as np
import pytest

from neuralab.cli import main
from neuralab.data.preprocess import Preprocess
from neuralab.experiments.cats_dogs import CatsDogsConfig, CatsDogsResult
from neuralab.experiments.cats_dogs import render as render_cats_dogs
from neuralab.experiments.evaluation import ClassEval
from neuralab.experiments.timing import Contention
from neuralab.experiments.transfer_cifar import Pretraining, TransferCifarConfig, TransferCifarResult
from neuralab.experiments.transfer_cifar import render as render_cifar
from neuralab.experiments.transfer_report import StrategyRun
from neuralab.records import EpochRow
from neuralab.train.transfer import TransferOptions
from tests.data.images import write_image_folder

N_TEST = 2000


@pytest.fixture
def folder(tmp_path):
    return write_image_folder(tmp_path / "cd", per_class=20, size=(16, 16))


def correct(accuracy: float, seed: int) -> np.ndarray:
    """Per-example outcomes with exactly this accuracy on N_TEST images."""
    c = np.zeros(N_TEST)
    c[np.random.default_rng(seed).permutation(N_TEST)[:round(accuracy * N_TEST)]] = 1
    return c


def strategy(name: str, accuracy: float, per_class: int = 200, epochs: int = 6, seed: int = 0,
             outcomes: np.ndarray | None = None) -> StrategyRun:
    warmup = 1 if name == "fine-tune" else 0
    return StrategyRun(name, per_class, accuracy, correct(accuracy, seed) if outcomes is None else outcomes, 3.0,
                       1000, 2 * per_class, epochs, warmup, (epochs + warmup) * 2 * per_class,
                       tuple(0.5 + 0.01 * i for i in range(epochs)))


def cifar_result(runs, sizes=(200,), contention=Contention()) -> TransferCifarResult:
    cfg = TransferCifarConfig(sizes=list(sizes))
    pre = Pretraining("w.safetensors", False, 3, 8000, ["airplane", "bird"], 0.61, "test")
    return TransferCifarResult(cfg, pre, ["cat", "dog"], N_TEST, "CIFAR-10 (test)", runs, contention)


# -- render: hand-built results ---------------------------------------------------------------------------------
def test_transfer_cifar_tie_is_no_measurable_difference_and_says_what_ran():
    """Issue 19: 'fine-tuning best at 61.3 vs 60.7%' and 'sizes 50,200,0 shown, only 200 ran'."""
    base = correct(0.607, 1)
    ft = base.copy()
    ft[np.flatnonzero(base == 0)[:112]] = 1  # 61.3%: on the same images, 112 more right and 100 more wrong
    ft[np.flatnonzero(base == 1)[:100]] = 0
    page = render_cifar(cifar_result([strategy("feature-extraction", 0.607, outcomes=base),
                                      strategy("fine-tune", float(ft.mean()), outcomes=ft),
                                      strategy("scratch", 0.60, seed=2)], sizes=(50, 200, 0)))
    text = page.markdown()
    assert "No measurable difference in test accuracy between fine-tune and feature-extraction" in text
    assert "Best:" not in text and "beats" not in text.split("pretrained against")[0]
    assert "at 200 training images per class" in text and "50" not in text.split("What ran:")[1].split(".")[0]
    assert "accuracy_vs_size" not in page.figures and "One training-set size ran (200" in text
    assert "learning_curves" in page.figures and "±" not in text
    assert page.test["accuracy"] == pytest.approx(0.613) and "highest measured" in page.headline


def test_transfer_cifar_clear_win_names_the_winner_at_each_size():
    runs = [strategy("feature-extraction", 0.70, 50), strategy("fine-tune", 0.80, 50, seed=3),
            strategy("scratch", 0.55, 50, seed=4), strategy("feature-extraction", 0.72, 200, seed=5),
            strategy("fine-tune", 0.85, 200, seed=6), strategy("scratch", 0.62, 200, seed=7)]
    page = render_cifar(cifar_result(runs, sizes=(50, 200)))
    text = page.markdown()
    assert "With 50 images per class: Best: **fine-tune**" in text
    assert "With 200 images per class: Best: **fine-tune**" in text
    assert "fine-tune beats scratch on test accuracy by 25.00 points" in text
    assert "accuracy_vs_size" in page.figures and "paired bootstrap" in text
    assert "+25.0 points at 50 per class (fine-tune), +23.0 points at 200 per class" in text
    assert "1 + 6" in text  # fine-tuning's head warm-up + fine-tuning epochs, as they ran


def test_seconds_are_shown_only_when_the_machine_was_quiet():
    runs = [strategy("fine-tune", 0.7), strategy("scratch", 0.6, seed=1)]
    assert "| seconds |" in render_cifar(cifar_result(runs, contention=Contention(10.0, 0.1))).markdown()
    busy = render_cifar(cifar_result(runs, contention=Contention(10.0, 5.0))).markdown()
    assert "| seconds |" not in busy and "Timing not measured" in busy


def test_transfer_cifar_one_epoch_draws_no_curve():
    page = render_cifar(cifar_result([strategy("fine-tune", 0.7, epochs=1), strategy("scratch", 0.6, epochs=1)]))
    assert "learning_curves" not in page.figures and "accuracy_vs_size" not in page.figures


def test_cats_dogs_page_names_the_backbone_that_ran():
    cfg = CatsDogsConfig()  # asked: --backbone auto
    opts = TransferOptions(backbone="mobilenet_v2", weights="mnv2.pth", mean=[0.5] * 3, std=[0.5] * 3)
    cm = np.array([[190, 10], [4, 196]])
    ev = ClassEval(["cat", "dog"], cm, np.zeros((1, 3, 8, 8), np.uint8), ["true cat\npred dog 0.90"])
    rows = [EpochRow(1, "train", 0.3, {"accuracy": 0.9}), EpochRow(1, "val", 0.2, {"accuracy": 0.95})]
    r = CatsDogsResult(cfg, "cats-dogs-filtered", opts, "Pretrained weights: TFLite.", "photos",
                       Preprocess((3, 224, 224), (0.5,) * 3, (0.5,) * 3, 255.0, 256),
                       strategy("fine-tune", 0.965, 100, epochs=1), ev, rows, Contention(10.0, 5.0))
    page = render_cats_dogs(r)
    assert page.title == "cats-dogs: fine-tune of mobilenet_v2" and "mobilenet_v2" in page.headline
    text = page.markdown()
    assert "auto" not in page.headline and "**Test accuracy 96.50%**" in text and "14 of 400 images wrong" in text
    assert "1 + 1 epochs (head warm-up + fine-tuning)" in text and "curves" not in page.figures
    assert "400 images seen; 1,000 parameters learned. Timing not measured" in text  # a busy machine: no seconds
    assert page.details["resolved"]["backbone"] == "mobilenet_v2" and set(page.figures) == {"confusion", "mistakes"}


# -- end to end -------------------------------------------------------------------------------------------------
def figures_exist(run, page_text):
    for name in [line.split("(plots/")[1].split(")")[0] for line in page_text.splitlines() if "(plots/" in line]:
        assert (run / "plots" / name).stat().st_size > 0, name


def test_cats_dogs_on_an_image_folder(folder, tmp_path, capsys):
    assert main(["run", "cats-dogs", "--dataset", f"imagefolder:{folder}", "--backbone", "resnet_small",
                 "--weights", "none", "--strategy", "scratch", "--epochs", "2", "--batch-size", "16",
                 "--runs-dir", str(tmp_path / "runs")]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert 0 <= summary["test"]["accuracy"] <= 1 and "test accuracy" in summary["headline"]
    report = (run / "report.md").read_text()
    assert (run / "plots" / "confusion.png").is_file() and "Test accuracy" in report
    assert report.startswith("# cats-dogs: scratch of resnet_small") and "## Config that ran" in report
    assert "Quick tour" not in report
    figures_exist(run, report)
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
                 "--weights", weights, "--sizes", "5,0", "--epochs", "2", "--batch-size", "16", "--quick",
                 "--runs-dir", runs]) == 0
    run = next(p for p in (tmp_path / "runs").iterdir() if p.name.endswith("transfer-compare"))
    report = (run / "report.md").read_text()
    assert report.startswith("# transfer-compare: resnet_small") and "Quick tour" in report
    assert "## Config that ran" in report and "With 5 images per class, pretrained against random weights" in report
    results = json.loads((run / "summary.json").read_text())["results"]
    everything = max(r["per_class"] for r in results)  # size 0 ran as all of the training split (validation apart)
    assert len(results) == 6 and {r["per_class"] for r in results} == {5, everything} and 10 < everything < 20
    assert f"at 5, {everything} training images per class" in report
    assert all(r["epochs_run"] == 2 for r in results if r["strategy"] != "feature-extraction")
    assert (run / "plots" / "accuracy_vs_size.png").is_file()
    figures_exist(run, report)


def test_transfer_compare_fails_before_creating_a_run(tmp_path, capsys):
    """Issue 19: no orphan run folder when the dataset or the --backbone auto resolution is wrong."""
    runs = tmp_path / "runs"
    assert main(["run", "transfer-compare", "--runs-dir", str(runs)]) == 2
    assert "needs --dataset imagefolder:PATH" in capsys.readouterr().err
    assert main(["run", "transfer-compare", "--dataset", f"imagefolder:{tmp_path / 'nothing'}",
                 "--runs-dir", str(runs)]) == 2
    assert "folder not found" in capsys.readouterr().err
    folder = write_image_folder(tmp_path / "cd", per_class=2, size=(8, 8))
    assert main(["run", "transfer-compare", "--dataset", f"imagefolder:{folder}", "--weights", "none",
                 "--runs-dir", str(runs)]) == 2
    assert "--backbone auto chooses among ImageNet weights" in capsys.readouterr().err
    assert main(["run", "transfer-compare", "--dataset", f"imagefolder:{folder}", "--runs-dir", str(runs)]) == 2
    assert "no ImageNet weights for resnet18 here" in capsys.readouterr().err
    assert not runs.exists() or not list(runs.iterdir())


def test_cats_dogs_takes_whichever_cats_and_dogs_data_is_here(settings):
    from neuralab.experiments.cats_dogs import pick_dataset
    from tests.data.test_cats_dogs import write_filtered

    assert pick_dataset("auto", settings) == "pets-cats-dogs"  # nothing here: the default, whose error says where
    write_filtered(settings.data_dir)
    assert pick_dataset("auto", settings) == "cats-dogs-filtered"
    assert pick_dataset("imagefolder:x", settings) == "imagefolder:x"


# -- real data (slow) -------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_mobilenet_v2_real_imagenet_weights_transfer_to_real_cats_and_dogs(shared_settings, shared_data):
    """Real pretrained features (the shared MobileNetV2), real photos: feature extraction must be far above chance."""
    from neuralab.runs import Run
    from neuralab.train.transfer import load_for_backbone, prepare, run_strategy

    weights = shared_settings.weights_dir / "mobilenet_v2_imagenet_tflite_dequant.pth"
    if not weights.exists() or not (shared_data / "cats_and_dogs_filtered").exists():
        pytest.skip("the shared MobileNetV2 weights or cats_and_dogs_filtered are absent")
    opts = TransferOptions(backbone="mobilenet_v2", weights=str(weights), mean=[0.5] * 3, std=[0.5] * 3, epochs=3)
    data, pre = load_for_backbone(f"imagefolder:{shared_data / 'cats_and_dogs_filtered'}", shared_settings, opts)
    data = prepare(data, pre, per_class=100)
    outcome, _ = run_strategy("feature-extraction", data, opts, shared_settings,
                              Run.create(shared_settings.runs_dir, "fe"), pre)
    assert outcome.accuracy >= 0.85
    assert outcome.test_outputs.shape == (len(data.test), 2)


@pytest.mark.slow
def test_cats_dogs_quick_fine_tunes_real_imagenet_weights_offline(shared_settings):
    """The tour's mini-project 3 on real photos and a real ImageNet MobileNetV2 from the shared folders."""
    from neuralab.experiments import run_experiment

    if not (shared_settings.data_dir / "cats_and_dogs_filtered").is_dir() or \
            not (shared_settings.weights_dir / "mobilenet_v2_imagenet_tflite_dequant.pth").is_file():
        pytest.skip("needs the shared cats_and_dogs_filtered and weights/mobilenet_v2_imagenet_tflite_dequant.pth")
    run, page = run_experiment("cats-dogs", CatsDogsConfig(quick=True), shared_settings)
    resolved = page.details["resolved"]
    assert resolved["dataset"] == "cats-dogs-filtered" and resolved["backbone"] == "mobilenet_v2"
    assert page.title == "cats-dogs: fine-tune of mobilenet_v2" and "Quick tour" in (run.path / "report.md").read_text()
    assert page.test["accuracy"] >= 0.95  # 200 training photos; measured 98.5%
