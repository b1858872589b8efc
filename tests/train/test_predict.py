"""`neuralab predict` on generated PNGs of different sizes and modes, and a clear error for a non-image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from neuralab.cli import main
from neuralab.config import Settings
from neuralab.train import TrainConfig, train
from neuralab.train.checkpoint import load_model
from neuralab.train.predict import preprocess


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("predict")
    settings = Settings(runs_dir=tmp / "runs", data_dir=tmp, cache_dir=tmp / "c", download=False, device="cpu")
    run, _, _ = train(TrainConfig(dataset="digits", model_args="hidden=32", epochs=1, seed=0), settings,
                      log=lambda s: None)
    return run.path


def test_preprocess_any_size_and_mode(run_dir):
    _, meta = load_model(run_dir)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8), "RGB"),
              Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8), "L"),
              Image.new("RGBA", (100, 17), (10, 20, 30, 128)), Image.new("P", (5, 9))]
    x = preprocess(images, meta)
    assert x.shape == (4, *meta["input_shape"])
    # An 8x8 grey image equal to a training example is normalized exactly as the loader does.
    a = np.asarray(images[1], np.float32)[None] / 255.0
    want = (a - np.float32(meta["mean"][0])) / np.float32(meta["std"][0])
    np.testing.assert_allclose(x[1].numpy(), want, rtol=1e-6)


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
