"""Torch eager, TorchScript and ONNX Runtime behind one interface: `backend(x: np.ndarray) -> np.ndarray`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from neuralab.errors import NeuralabError
from neuralab.train.checkpoint import load_model

SIDECAR = "serve.json"


class Backend:
    name = "base"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model.eval()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(x))).numpy()


class OnnxBackend(Backend):
    name = "onnxruntime"

    def __init__(self, path: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: np.ascontiguousarray(x, dtype=np.float32)})[0]


def load(ref: str | Path, backend: str = "torch") -> tuple[Backend, dict[str, Any]]:
    """A run directory / checkpoint, or an export folder (with serve.json) -> (backend, metadata)."""
    p = Path(ref)
    if (p / SIDECAR).is_file():
        meta = json.loads((p / SIDECAR).read_text())
        files = {"onnx": p / "model.onnx", "torchscript": p / "model.pt"}
        if backend == "onnxruntime" and files["onnx"].is_file():
            return OnnxBackend(files["onnx"]), meta
        if files["torchscript"].is_file():
            return TorchBackend(torch.jit.load(str(files["torchscript"]), map_location="cpu")), meta
        if files["onnx"].is_file():
            return OnnxBackend(files["onnx"]), meta
        raise NeuralabError(f"export folder {p} has no model.onnx or model.pt")
    model, meta = load_model(p)
    if backend == "onnxruntime":
        from neuralab.serve.export import export_onnx

        import tempfile
        out = Path(tempfile.mkdtemp(prefix="neuralab-onnx-")) / "model.onnx"
        export_onnx(model, meta, out)
        return OnnxBackend(out), meta
    if backend != "torch":
        raise NeuralabError(f"unknown backend {backend!r}; choose torch or onnxruntime")
    return TorchBackend(model), meta


BACKENDS: dict[str, Callable[..., Backend]] = {"torch": TorchBackend, "onnxruntime": OnnxBackend}
