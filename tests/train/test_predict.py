"""`neuralab predict` on generated PNGs of different sizes and modes, and a clear error for a non-image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from neuralab.cli import main
from neuralab.config import Settings
from neuralab.data.images import to_array
from neuralab.data.preprocess import Preprocess
from neuralab.errors import CheckpointError, DataError
from neuralab.models.checkpoint import load_model
from neuralab.records import ModelCard
from neuralab.serve.preprocess import image_input
from neuralab.train.config import TrainConfig
from neuralab.train.trainer import train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("predict")
    settings = Settings(runs_dir=tmp / "runs", data_dir=tmp, cache_dir=tmp / "c", download=False, device="cpu")
    run, _, _ = train(TrainConfig.of(dataset="digits", model_args="hidden=32", epochs=1, seed=0), settings,
                      log=lambda s: None)
    return run.path


def test_preprocess_any_size_and_mode(run_dir):
    _, card = load_model(run_dir)
    pre = card.preprocess
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8), "RGB"),
              Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8), "L"),
              Image.new("RGBA", (100, 17), (10, 20, 30, 128)), Image.new("P", (5, 9))]
    x = pre.images(images)
    assert x.shape == (4, *card.input_shape) and pre.scale == 255.0
    # An 8x8 grey image equal to a training example is normalized exactly as the loader does.
    a = np.asarray(images[1], np.float32)[None] / 255.0
    want = (a - np.float32(pre.mean[0])) / np.float32(pre.std[0])
    np.testing.assert_allclose(x[1], want, rtol=1e-6)


def test_predict_and_the_service_feed_the_model_the_same_input(run_dir, tmp_path):
    """Two preprocessors used to disagree (a missing input_scale meant 1.0 in the service, 255 in predict); now
    both apply the card's one Preprocess to what the one image reader decoded."""
    _, card = load_model(run_dir)
    path = tmp_path / "seven.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (50, 37, 3), dtype=np.uint8)).save(path)
    from neuralab.data.images import open_image

    local = card.preprocess.images([open_image(path)])[0]
    served = image_input(card.preprocess, path.read_bytes())
    np.testing.assert_array_equal(local, served)


def test_a_card_without_its_input_scale_is_refused_not_guessed(tmp_path):
    legacy = {"model": "mlp", "input_shape": [1, 8, 8], "num_outputs": 10, "mean": [0.3], "std": [0.2]}
    with pytest.raises(CheckpointError, match="no 'input_scale'"):
        ModelCard.from_json(legacy, "old.safetensors")
    card = ModelCard.from_json({**legacy, "input_scale": 255.0, "classes": list("0123456789")}, "old.safetensors")
    assert card.preprocess.scale == 255.0 and card.architecture == "mlp" and card.task == "classification"


def test_a_transfer_card_resizes_then_crops_as_training_did():
    """Transfer learning trained on images resized (shorter side 32) then centre-cropped to 24; serving used to
    stretch-crop straight to 24, a different picture of the same photo."""
    pre = Preprocess((3, 24, 24), (0.5,) * 3, (0.5,) * 3, 255.0, resize=32)
    yy, xx = np.mgrid[0:48, 0:80]
    im = Image.fromarray(np.stack([3 * xx, 5 * yy, xx + yy], -1).clip(0, 255).astype(np.uint8))  # smooth ramps
    trained = to_array(im, 32, "RGB")[:, 4:28, 4:28]  # the dataset at image_size 32, then prepare()'s centre crop
    assert np.abs(pre.pixels(im).astype(int) - trained.astype(int)).max() <= 1
    assert np.abs(to_array(im, (24, 24), "RGB").astype(int) - trained.astype(int)).max() > 10


def test_feature_models_take_rows_of_numbers_only():
    pre = Preprocess((3,), (1.0, 2.0, 3.0), (2.0, 2.0, 2.0), 1.0)
    np.testing.assert_allclose(pre.features([[1, 2, 3], [3, 4, 5]]), [[0, 0, 0], [1, 1, 1]])
    for bad in ([[1, 2]], [[1, "x", 3]], [[float("nan"), 1, 2]], []):
        with pytest.raises(DataError):
            pre.features(bad)


def test_predict_cli(run_dir, tmp_path, capsys):
    paths = []
    for i, (mode, size) in enumerate([("RGB", (64, 48)), ("L", (8, 8)), ("RGBA", (13, 31))]):
        p = tmp_path / f"img{i}.png"
        Image.new(mode, size, 200 if mode == "L" else (200,) * len(mode)).save(p)
        paths.append(str(p))
    assert main(["predict", str(run_dir), *paths, "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    for line, p in zip(lines, paths):
        name, _, rest = line.partition(": ")
        assert name == p and len(rest.split()) == 4
        probs = [float(v) for v in rest.split()[1::2]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001


def test_predict_non_image_names_file(run_dir, tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    assert main(["predict", str(run_dir), str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err
