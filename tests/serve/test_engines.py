"""How `neuralab serve` chooses an engine, on hand-built run folders (serve.json files and empty model files):
fastest passed first, bf16 only where it is fast, never a stale or failed export unless named."""

from __future__ import annotations

import pytest

from neuralab.data.preprocess import Preprocess
from neuralab.errors import NeuralabError
from neuralab.files import atomic_write_json
from neuralab.records import ModelCard
from neuralab.serve import engines
from neuralab.serve.engines import choose, file_digest

CARD = ModelCard("cnn", "classification", (3, 8, 8), 2, Preprocess((3, 8, 8), (0.5,) * 3, (0.2,) * 3))


def _run(tmp_path, **exports):
    """A run folder whose checkpoint is a few bytes, with export folders {name: (format, precision, passed)}."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    ckpt = run / "checkpoints" / "model.safetensors"
    ckpt.write_bytes(b"weights v1")
    for name, (fmt, precision, passed) in exports.items():
        folder = run / name
        folder.mkdir()
        (folder / ("model.onnx" if fmt == "onnx" else "model.pt")).write_bytes(b"")
        check = {"check": {"accuracy": 0.9, "passed": passed}} if precision != "fp32" else {}
        atomic_write_json(folder / "serve.json", {"format": fmt, "precision": precision, **check,
                                                  "source": {"sha256": file_digest(ckpt)}, "card": CARD.to_json()})
    return run, ckpt


def _pick(run, ckpt, wanted="auto"):
    c = choose(run, wanted, ckpt)
    return c.engine.name, c.folder.name if c.folder else None


@pytest.fixture
def amx(monkeypatch):
    monkeypatch.setattr(engines, "bf16_inference_device", lambda: "cpu")


ALL = {"export": ("onnx", "fp32", True), "export-int8": ("onnx", "int8", True),
       "export-bf16": ("torchscript", "bf16", True)}


def test_auto_takes_the_fastest_passed_engine(tmp_path, amx):
    run, ckpt = _run(tmp_path, **ALL)
    assert _pick(run, ckpt) == ("onnxruntime-int8", "export-int8")
    assert _pick(run, ckpt, "torch-bf16") == ("torch-bf16", "export-bf16")
    assert _pick(run, ckpt, "onnxruntime") == ("onnxruntime", "export")
    assert _pick(run, ckpt, "torch") == ("torch", None)  # fp32 PyTorch is the run's own checkpoint
    run, ckpt = _run(tmp_path / "b", **{k: v for k, v in ALL.items() if k != "export-int8"})
    assert _pick(run, ckpt) == ("torch-bf16", "export-bf16")
    run, ckpt = _run(tmp_path / "c")
    assert _pick(run, ckpt) == ("torch", None)  # no exports: the run in PyTorch fp32, as before engines existed
    assert _pick(run, ckpt, "onnxruntime") == ("onnxruntime", None)  # named: exported on the fly


def test_bf16_is_skipped_where_it_would_be_emulated(tmp_path, monkeypatch):
    monkeypatch.setattr(engines, "bf16_inference_device", lambda: None)
    run, ckpt = _run(tmp_path, **{"export-bf16": ALL["export-bf16"], "export": ALL["export"]})
    assert _pick(run, ckpt) == ("onnxruntime", "export")
    assert _pick(run, ckpt, "torch-bf16") == ("torch-bf16", "export-bf16")  # named: served anyway


def test_failed_checks_are_served_only_when_named(tmp_path, amx):
    run, ckpt = _run(tmp_path, **{"export-int8": ("onnx", "int8", False)})
    assert _pick(run, ckpt) == ("torch", None)
    assert _pick(run, ckpt, "onnxruntime-int8") == ("onnxruntime-int8", "export-int8")
    with pytest.raises(NeuralabError, match="no engine passed.*--engine"):
        choose(run / "export-int8", "auto", None)  # the folder alone offers nothing that passed


def test_exports_of_an_older_checkpoint_are_ignored(tmp_path, amx):
    run, ckpt = _run(tmp_path, **ALL)
    ckpt.write_bytes(b"weights v2, retrained")
    assert _pick(run, ckpt) == ("torch", None)
    with pytest.raises(NeuralabError, match=r"offers no onnxruntime-int8.*neuralab export .* --precision int8"):
        choose(run, "onnxruntime-int8", ckpt)


def test_an_export_folder_offers_what_it_holds(tmp_path, amx):
    run, _ = _run(tmp_path, **ALL)
    assert choose(run / "export-bf16", "auto", None).engine.name == "torch-bf16"
    fp32 = choose(run / "export-bf16", "torch", None)  # the same TorchScript file without autocast
    assert fp32.engine.precision == "fp32" and fp32.check is None
    with pytest.raises(NeuralabError, match="unknown engine 'tpu'"):
        choose(run, "tpu", None)
