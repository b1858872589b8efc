"""Torch eager, TorchScript and ONNX Runtime behind one interface: `backend(x: np.ndarray) -> np.ndarray`, each
running one engine (`engines`: a runtime at a precision) and knowing the accuracy check that engine passed.

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

from neuralab.device import bf16_inference_device
from neuralab.errors import NeuralabError
from neuralab.files import read_json
from neuralab.models.checkpoint import load_model, resolve
from neuralab.records import ModelCard
from neuralab.serve.engines import SIDECAR, Choice, choose, read_sidecar
from neuralab.tasks.dense_export import export_onnx
from neuralab.tasks.precision import TorchRunner

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
    name = "base"  # the runtime
    engine = "base"  # the runtime at a precision (`engines.ENGINES`)
    precision = "fp32"
    check: dict[str, Any] | None = None  # the export's accuracy check (int8, bf16), from its serve.json

    def __init__(self, threads: int = 0, lock: threading.Lock | None = None) -> None:
        self.threads = threads or default_threads()
        self.lock = lock or threading.Lock()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with self.lock:
            return self.run(x)

    def run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class TorchBackend(Backend):
    """PyTorch eager (or a TorchScript module) through `TorchRunner`: inference mode, channels-last for image
    models, and bf16 autocast for precision "bf16" (on a GPU when there is one, else on this AMX CPU)."""
    name = engine = "torch"

    def __init__(self, model: torch.nn.Module, threads: int = 0, lock: threading.Lock | None = None,
                 precision: str = "fp32") -> None:
        super().__init__(threads, lock)
        torch.set_num_threads(self.threads)  # process-wide: torch has one intra-op pool
        self.precision = precision
        self.engine = "torch" if precision == "fp32" else f"torch-{precision}"
        self.runner = TorchRunner(model, precision, bf16_inference_device() if precision == "bf16" else None)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.runner(x)


class OnnxBackend(Backend):
    """ONNX Runtime on the CPU: all graph optimizations, sequential execution, `threads` intra-op threads that
    sleep between runs instead of spin-waiting (spinning keeps the cores busy that request decoding needs)."""
    name = engine = "onnxruntime"

    def __init__(self, path: Path, threads: int = 0, lock: threading.Lock | None = None, spin: bool = False,
                 precision: str = "fp32") -> None:
        import onnxruntime as ort

        super().__init__(threads, lock)
        self.precision = precision
        self.engine = "onnxruntime" if precision == "fp32" else f"onnxruntime-{precision}"
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


def _torchscript(path: Path) -> torch.nn.Module:
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as e:  # noqa: BLE001 - anything torch.jit cannot read is not a TorchScript model
        raise NeuralabError(f"{path} is not a TorchScript model ({type(e).__name__}); export it again with "
                            f"`neuralab export RUN --format torchscript`") from None


def _open(choice: Choice, ref: Path, threads: int, lock: threading.Lock | None) -> tuple[Backend, ModelCard]:
    e = choice.engine
    if choice.folder is not None:
        _, card = read_sidecar(choice.folder)
        path = choice.folder / e.file
        if e.runtime == "onnxruntime":
            return OnnxBackend(path, threads, lock, precision=e.precision), card
        return TorchBackend(_torchscript(path), threads, lock, e.precision), card
    model, card = load_model(ref)
    if e.runtime == "torch":
        return TorchBackend(model, threads, lock), card
    with tempfile.TemporaryDirectory(prefix="neuralab-onnx-") as tmp:
        out = Path(tmp) / "model.onnx"
        export_onnx(model, card, out)
        return OnnxBackend(out, threads, lock), card


def load(ref: str | Path, engine: str = "auto", threads: int = 0, lock: threading.Lock | None = None
         ) -> tuple[Backend, ModelCard]:
    """A run directory / checkpoint, or an export folder (with serve.json) -> (backend, model card), running the
    engine asked for, or with "auto" the fastest that passed its accuracy check (`engines.choose`).

    A run served with onnxruntime and no ONNX export of its own is exported to a temporary folder, which is
    deleted once the session holds it."""
    p = Path(ref)
    export_folder = (p / SIDECAR).is_file()
    choice = choose(p, engine, None if export_folder else resolve(p))
    backend, card = _open(choice, p, threads, lock)
    backend.check = choice.check
    return backend, card
