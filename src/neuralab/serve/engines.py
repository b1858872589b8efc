"""Engines: a runtime and a precision, and how `neuralab serve` chooses one for a model.

    engine             runtime       precision  comes from                                      ms/image (*)
    onnxruntime-int8   ONNX Runtime  int8       `neuralab export RUN --precision int8`          7.6
    torch-bf16         PyTorch       bf16       `neuralab export RUN --precision bf16`          12.8
    onnxruntime        ONNX Runtime  fp32       `neuralab export RUN` (or the run, on the fly)  13.0
    torch              PyTorch       fp32       the run itself (the reference)                  28.6

(*) ResNet-18, 224 px, batch 1, 2 threads of an AMX CPU, as measured when the engines were chosen;
`benchmarks/serve_load.py` measures them on yours.

`auto` takes the first engine in that order (fastest first) that a model offers, whose accuracy check passed, and
that is fast on this machine (bf16 needs an AMX CPU or a GPU). A run folder offers its own checkpoint (torch) and
every export folder inside it (`RUN/export*/`) made from that same checkpoint: serve.json records the checkpoint's
SHA-256, so an export left over from before a retraining is never picked up. An export folder given directly
offers what it holds. A named engine (`--engine`) is used even when its check was forced through.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuralab.device import bf16_inference_device
from neuralab.errors import NeuralabError
from neuralab.files import read_json
from neuralab.records import ModelCard

SIDECAR = "serve.json"


@dataclass(frozen=True)
class Engine:
    name: str
    runtime: str  # "torch" or "onnxruntime": the Backend class that runs it
    precision: str
    file: str  # its model file in an export folder
    export_hint: str  # how to make one


ENGINES = {e.name: e for e in (
    Engine("onnxruntime-int8", "onnxruntime", "int8", "model.onnx", "neuralab export RUN --precision int8"),
    Engine("torch-bf16", "torch", "bf16", "model.pt", "neuralab export RUN --precision bf16"),
    Engine("onnxruntime", "onnxruntime", "fp32", "model.onnx", "neuralab export RUN --format onnx"),
    Engine("torch", "torch", "fp32", "model.pt", "neuralab export RUN --format torchscript"),
)}
ORDER = tuple(ENGINES)  # fastest first
CHOICES = ("auto", *ORDER)


def engine_name(fmt: str, precision: str) -> str:
    """The engine that serves an export of this format and precision."""
    runtime = "onnxruntime" if fmt == "onnx" else "torch"
    return next(e.name for e in ENGINES.values() if e.runtime == runtime and e.precision == precision)


@dataclass(frozen=True)
class Choice:
    engine: Engine
    folder: Path | None  # the export folder it runs from; None: the run's checkpoint
    side: dict[str, Any] = field(default_factory=dict)  # that folder's serve.json

    @property
    def check(self) -> dict[str, Any] | None:
        """The export's accuracy check (serve.json's "check"), when made at this engine's precision (int8, bf16)."""
        check = self.side.get("check")
        same = self.side.get("precision", "fp32") == self.engine.precision
        return check if isinstance(check, dict) and same else None

    @property
    def passed(self) -> bool:
        """fp32 exports passed their parity check or would not exist; int8/bf16 record their accuracy check."""
        return self.check is None or bool(self.check.get("passed"))

    @property
    def fast_here(self) -> bool:
        return self.engine.precision != "bf16" or bf16_inference_device() is not None


def read_sidecar(folder: Path) -> tuple[dict[str, Any], ModelCard]:
    """(serve.json, its model card) of an export folder, validated."""
    side = read_json(folder / SIDECAR, "export sidecar")
    if not isinstance(side, dict) or "card" not in side:
        raise NeuralabError(f"{folder / SIDECAR} is not a neuralab export sidecar (no model card); export the run "
                            f"again with `neuralab export`")
    return side, ModelCard.from_json(side["card"], str(folder / SIDECAR))


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def offered(folder: Path, side: dict[str, Any]) -> list[Choice]:
    """The engines an export folder can run: its format's runtime at its precision, and also at fp32 for a bf16
    TorchScript export (the weights are fp32; bf16 is autocast)."""
    precision = side.get("precision", "fp32")
    runtime = "onnxruntime" if side.get("format") == "onnx" else "torch"
    return [Choice(e, folder, side) for e in ENGINES.values()
            if e.runtime == runtime and e.precision in (precision, "fp32" if precision == "bf16" else precision)
            and (folder / e.file).is_file()]


def exports_of(run: Path, checkpoint: Path) -> list[Choice]:
    """What the export folders inside a run offer, made from `checkpoint` as it is now."""
    folders = sorted(f.parent for f in run.glob(f"export*/{SIDECAR}"))
    digest = file_digest(checkpoint) if folders else ""
    out: list[Choice] = []
    for folder in folders:
        side, _ = read_sidecar(folder)
        if (side.get("source") or {}).get("sha256") == digest:  # fp32 PyTorch: the run's own checkpoint
            out += [c for c in offered(folder, side) if c.engine.precision == side.get("precision", "fp32")]
    return out


def choose(ref: Path, wanted: str, checkpoint: Path | None) -> Choice:
    """The engine to serve `ref` (an export folder, or a run whose `checkpoint` is given) with."""
    if wanted not in CHOICES:
        raise NeuralabError(f"unknown engine {wanted!r}; choose one of {', '.join(CHOICES)}")
    if checkpoint is None:
        options = offered(ref, read_sidecar(ref)[0])
    else:  # a run: its exports, its checkpoint in PyTorch, and (only when named) ONNX exported on the fly
        options = [*(exports_of(ref, checkpoint) if ref.is_dir() else []), Choice(ENGINES["torch"], None)]
        options += [Choice(ENGINES["onnxruntime"], None)] if wanted == "onnxruntime" else []
    if wanted == "auto":
        good = [c for c in options if c.passed and c.fast_here]
        if not good:
            names = ", ".join(c.engine.name for c in options)
            raise NeuralabError(f"{ref}: no engine passed its accuracy check ({names} failed or forced); name one "
                                f"with --engine to serve it anyway")
        return min(good, key=lambda c: ORDER.index(c.engine.name))
    named = sorted((c for c in options if c.engine.name == wanted), key=lambda c: not c.passed)
    if not named:
        raise NeuralabError(f"{ref} offers no {wanted} engine (it offers {', '.join(c.engine.name for c in options)}"
                            f"); make one with `{ENGINES[wanted].export_hint.replace('RUN', str(ref))}`")
    return named[0]
