"""Shared fixtures: every test gets its own runs/data/cache folders, and never sees the user's NEURALAB_* setup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# Keras tests run in this process on the torch backend. TensorBoard tests import TensorFlow, which loads Keras on
# its default (TensorFlow) backend unless this is set first; the TensorFlow-backend test runs in a subprocess.
os.environ.setdefault("KERAS_BACKEND", "torch")

# The real datasets, captured before the isolation below hides NEURALAB_DATA from the tests.
_KNOWN = ("MNIST", "FashionMNIST", "cifar10-jpeg", "california-housing", "cats_and_dogs_filtered")


def _find_shared() -> Path | None:
    for p in (os.environ.get("NEURALAB_DATA", ""), Path(__file__).resolve().parents[2] / "shared" / "datasets"):
        if p and Path(p).is_dir() and any((Path(p) / k).exists() for k in _KNOWN):
            return Path(p).resolve()
    return None


SHARED_DATA = _find_shared()
# The shared pretrained checkpoints (../shared/weights or $NEURALAB_WEIGHTS), captured the same way.
_weights = os.environ.get("NEURALAB_WEIGHTS") or (SHARED_DATA.parent / "weights" if SHARED_DATA else "")
SHARED_WEIGHTS = Path(_weights).resolve() if _weights and Path(_weights).is_dir() else None


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURALAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("NEURALAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("NEURALAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NEURALAB_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("NEURALAB_NO_DOWNLOAD", "1")


@pytest.fixture
def settings(tmp_path: Path):
    from neuralab.config import Settings

    return Settings(runs_dir=tmp_path / "runs", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache",
                    download=False, device="cpu", weights_dir=tmp_path / "weights")


@pytest.fixture
def shared_data() -> Path:
    """The real datasets folder (../shared/datasets or $NEURALAB_DATA); skips the test when it is absent."""
    if SHARED_DATA is None:
        pytest.skip("real data not found: set NEURALAB_DATA to the shared datasets folder")
    return SHARED_DATA


@pytest.fixture
def shared_settings(shared_data: Path, tmp_path: Path):
    from neuralab.config import Settings

    return Settings(runs_dir=tmp_path / "runs", data_dir=shared_data, cache_dir=Path.home() / ".cache" / "neuralab"
                    / "arrays", download=False, device="cpu", weights_dir=SHARED_WEIGHTS or tmp_path / "weights")


@pytest.fixture(autouse=True)
def figures_draw_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every figure a test saves (pages, reports, trainer curves) must show data: see report.plots.degenerate."""
    import neuralab.runs

    to_png = neuralab.runs.figure_png

    def checked(fig):
        from neuralab.report.plots import degenerate

        problems = degenerate(fig)
        assert not problems, f"degenerate figure: {problems}"
        return to_png(fig)

    monkeypatch.setattr(neuralab.runs, "figure_png", checked)
