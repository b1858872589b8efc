"""Torch eager, TorchScript and ONNX Runtime behind one interface: `backend(x: np.ndarray) -> np.ndarray`.

Every backend runs single-flight: one inference at a time (a lock shared by the models of one service), each with
the configured number of threads. On a CPU, two inferences at once, or an engine whose threads spin-wait while the
HTTP side needs the cores, only fight over the same cores and both get slower.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuralab.errors import NeuralabError
from neuralab.files import read_json
from neuralab.models.checkpoint import load_model
from neuralab.records import ModelCard
from neuralab.tasks.dense import export_onnx

SIDECAR = "serve.json"
BACKENDS = ("torch", "onnxruntime")
STAMP = re.compile(r"^\d{8}-\d{6}-")  # the UTC time that `Run.create` puts before a run's name


def model_name(ref: str | Path) -> str:
    """The name a model is served under: its run's name without the time stamp (`digits-mlp`), or the name an
    export folder's serve.json records."""
    p = Path(ref).resolve()
    if (p / SIDECAR).is_file():
        side = read_json(p / SIDECAR, "export sidecar")
        if isinstance(side, dict) and side.get("name"):
            return str(side["name"])
        p = p.parent if p.name == "export" else p
    if p.suffix == ".safetensors":
        p = p.parent.parent if p.parent.name == "checkpoints" else p.parent
    return STAMP.sub("", p.name) or p.name


def cpu_count() -> int:
    """The cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_threads() -> int:
    """Inference threads: every core but one, which is left to the HTTP side (decoding, resizing, sockets)."""
    return max(1, cpu_count() - 1)


class Backend:
    name = "base"

    def __init__(self, threads: int = 0, lock: threading.Lock | None = None) -> None:
        self.threads = threads or default_threads()
        self.lock = lock or threading.Lock()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with self.lock:
            return self.run(x)

    def run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class TorchBackend(Backend):
    """PyTorch eager (or a TorchScript module): inference mode, channels-last for image models."""
    name = "torch"

    def __init__(self, model: torch.nn.Module, threads: int = 0, lock: threading.Lock | None = None) -> None:
        super().__init__(threads, lock)
        torch.set_num_threads(self.threads)  # process-wide: torch has one intra-op pool
        self.model = model.eval()
        self.channels_last = _has_conv(self.model)
        if self.channels_last:  # oneDNN convolutions skip a layout conversion per layer
            self.model = self.model.to(memory_format=torch.channels_last)

    def run(self, x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        if self.channels_last and t.dim() == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return self.model(t).numpy()


class OnnxBackend(Backend):
    """ONNX Runtime on the CPU: all graph optimizations, sequential execution, `threads` intra-op threads that
    sleep between runs instead of spin-waiting (spinning keeps the cores busy that request decoding needs)."""
    name = "onnxruntime"

    def __init__(self, path: Path, threads: int = 0, lock: threading.Lock | None = None, spin: bool = False
                 ) -> None:
        import onnxruntime as ort

        super().__init__(threads, lock)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: np.ascontiguousarray(x, dtype=np.float32)})[0]


def _has_conv(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def read_sidecar(folder: Path) -> tuple[dict[str, Any], ModelCard]:
    """(serve.json, its model card) of an export folder, validated."""
    side = read_json(folder / SIDECAR, "export sidecar")
    if not isinstance(side, dict) or "card" not in side:
        raise NeuralabError(f"{folder / SIDECAR} is not a neuralab export sidecar (no model card); export the run "
                            f"again with `neuralab export`")
    return side, ModelCard.from_json(side["card"], str(folder / SIDECAR))


def _torchscript(path: Path) -> torch.nn.Module:
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as e:  # noqa: BLE001 - anything torch.jit cannot read is not a TorchScript model
        raise NeuralabError(f"{path} is not a TorchScript model ({type(e).__name__}); export it again with "
                            f"`neuralab export RUN --format torchscript`") from None


def load(ref: str | Path, backend: str = "torch", threads: int = 0, lock: threading.Lock | None = None
         ) -> tuple[Backend, ModelCard]:
    """A run directory / checkpoint, or an export folder (with serve.json) -> (backend, model card).

    A run served with onnxruntime is exported to a temporary folder, which is deleted once the session holds it."""
    if backend not in BACKENDS:
        raise NeuralabError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    p = Path(ref)
    if (p / SIDECAR).is_file():
        _, card = read_sidecar(p)
        onnx, script = p / "model.onnx", p / "model.pt"
        if onnx.is_file() and (backend == "onnxruntime" or not script.is_file()):
            return OnnxBackend(onnx, threads, lock), card
        if script.is_file():
            return TorchBackend(_torchscript(script), threads, lock), card
        raise NeuralabError(f"export folder {p} has no model.onnx or model.pt")
    model, card = load_model(p)
    if backend == "torch":
        return TorchBackend(model, threads, lock), card
    with tempfile.TemporaryDirectory(prefix="neuralab-onnx-") as tmp:
        out = Path(tmp) / "model.onnx"
        export_onnx(model, card, out)
        return OnnxBackend(out, threads, lock), card
