"""Tiny trained models shared by the serve tests (trained once per session)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from neuralab.config import Settings
    from neuralab.train.config import TrainConfig
    from neuralab.train.trainer import train

    root = tmp_path_factory.mktemp("serve-runs")
    s = Settings(runs_dir=root, data_dir=root / "data", cache_dir=root / "cache", download=False, device="cpu")
    out = {}
    for ds in ("digits", "moons"):
        run, _, _ = train(TrainConfig.of(dataset=ds, epochs=2, name=f"{ds}-mlp"), s, log=lambda _: None)
        out[ds] = run.path
    return out


@pytest.fixture(scope="session")
def image_run(tmp_path_factory: pytest.TempPathFactory):
    """A small CNN trained 2 epochs on a generated two-class image folder (16x16, 40 train and 40 test images per
    class), and the settings to reach its data: (run folder, settings)."""
    from neuralab.config import Settings
    from neuralab.train.config import TrainConfig
    from neuralab.train.trainer import train
    from tests.data.images import write_image_folder

    root = tmp_path_factory.mktemp("image-run")
    folder = write_image_folder(root / "images", per_class=40, size=(16, 16))
    s = Settings(runs_dir=root / "runs", data_dir=root / "data", cache_dir=root / "cache", download=False,
                 device="cpu")
    run, _, _ = train(TrainConfig.of(dataset=f"imagefolder:{folder}", model="cnn", epochs=2, name="pets-cnn"), s,
                      log=lambda _: None)
    return run.path, s


def png(size: tuple[int, int] = (8, 8), mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (*size[::-1], *([3] if mode == "RGB" else [])),
                                                      dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()
