"""`neuralab export RUN --format onnx|torchscript`: the model + serve.json, checked against PyTorch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuralab.errors import NeuralabError
from neuralab.serve.backends import model_name
from neuralab.train.checkpoint import load_model

SIDECAR_KEYS = ("model", "task", "classes", "input_shape", "num_outputs", "mean", "std", "input_scale", "metrics")


def _probe(meta: dict[str, Any], n: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, *meta["input_shape"], generator=torch.Generator().manual_seed(seed))


def check_parity(reference: torch.nn.Module, run: Any, meta: dict[str, Any], what: str, atol: float = 1e-4) -> float:
    """Max |difference| of outputs on a few inputs (batch 1 and 3); raises if above `atol`."""
    worst = 0.0
    for n in (1, 3):
        x = _probe(meta, n, seed=n)
        with torch.inference_mode():
            want = reference(x).numpy()
        got = np.asarray(run(x.numpy()))
        if got.shape != want.shape:
            raise NeuralabError(f"{what} output shape {got.shape} differs from PyTorch's {want.shape}")
        worst = max(worst, float(np.abs(got - want).max()))
    if worst > atol:
        raise NeuralabError(f"{what} outputs differ from PyTorch by {worst:.3g} (> {atol}); export rejected")
    return worst


def export_onnx(model: torch.nn.Module, meta: dict[str, Any], out: Path) -> Path:
    import onnxruntime as ort

    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (_probe(meta, 2),), str(out), input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=17,
                      dynamo=False)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    check_parity(model, lambda x: sess.run(None, {"input": x})[0], meta, "ONNX")
    return out


def export_torchscript(model: torch.nn.Module, meta: dict[str, Any], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        traced = torch.jit.trace(model, _probe(meta, 2))
    traced.save(str(out))
    loaded = torch.jit.load(str(out))
    check_parity(model, lambda x: loaded(torch.from_numpy(x)).detach().numpy(), meta, "TorchScript")
    return out


FORMATS = {"onnx": ("model.onnx", export_onnx), "torchscript": ("model.pt", export_torchscript)}


def export(run: str | Path, fmt: str, out: str | Path | None = None) -> Path:
    """Export a run's model; returns the folder holding the model file and serve.json."""
    if fmt not in FORMATS:
        raise NeuralabError(f"unknown export format {fmt!r}; choose one of {sorted(FORMATS)}")
    model, meta = load_model(run)
    folder = Path(out) if out else Path(run) / "export"
    filename, fn = FORMATS[fmt]
    fn(model, meta, folder / filename)
    sidecar = {k: meta.get(k) for k in SIDECAR_KEYS} | {"format": fmt, "name": model_name(run)}
    (folder / "serve.json").write_text(json.dumps(sidecar, indent=2))
    return folder

