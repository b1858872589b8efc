"""Exports of classifiers and regressors: ONNX and TorchScript in fp32 (checked against PyTorch on probe inputs),
ONNX int8 (static quantization) and TorchScript for bf16 autocast (checked by top-1 accuracy on the test split).

A rejected export leaves nothing behind: int8 and bf16 models are built in a temporary folder and moved to `out`
only once their check has passed.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from neuralab.data.base import Split
from neuralab.device import bf16_inference_device
from neuralab.errors import NeuralabError
from neuralab.records import ModelCard
from neuralab.tasks.precision import ExportOptions, Runner, TorchRunner, outputs, top1_check
from neuralab.tasks.quantize import Calibration, quantize_int8

CALIBRATION_BATCH = 16  # inputs per calibration step (ranges are over all of them; this only bounds memory)


def _probe(card: ModelCard, n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, *card.input_shape, generator=torch.Generator().manual_seed(seed))


def check_parity(reference: nn.Module, run: Callable[[np.ndarray], Any], card: ModelCard, what: str,
                 atol: float = 1e-4) -> float:
    """Max |difference| of outputs on a few inputs (batch 1 and 3); raises if above `atol`."""
    worst = 0.0
    for n in (1, 3):
        x = _probe(card, n, seed=n)
        with torch.inference_mode():
            want = reference(x).numpy()
        got = np.asarray(run(x.numpy()))
        if got.shape != want.shape:
            raise NeuralabError(f"{what} output shape {got.shape} differs from PyTorch's {want.shape}")
        worst = max(worst, float(np.abs(got - want).max()))
    if worst > atol:
        raise NeuralabError(f"{what} outputs differ from PyTorch by {worst:.3g} (> {atol}); export rejected")
    return worst


def onnx_runner(path: Path) -> Runner:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"input": np.ascontiguousarray(x, dtype=np.float32)})[0]


def export_onnx(model: nn.Module, card: ModelCard, out: Path) -> float:
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (_probe(card, 2),), str(out), input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=17, dynamo=False)
    return check_parity(model, onnx_runner(out), card, "ONNX")


def export_torchscript(model: nn.Module, card: ModelCard, out: Path) -> float:
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        traced = torch.jit.trace(model, _probe(card, 2))
    traced.save(str(out))
    loaded = torch.jit.load(str(out))
    return check_parity(model, lambda x: loaded(torch.from_numpy(x)).detach().numpy(), card, "TorchScript")


def export_fp32(model: nn.Module, card: ModelCard, fmt: str, out: Path) -> dict[str, Any]:
    worst = (export_onnx if fmt == "onnx" else export_torchscript)(model.eval(), card, out)
    return {"parity": f"max |output difference| vs PyTorch {worst:.2g} on random probes"}


def export_int8(model: nn.Module, card: ModelCard, out: Path, calibration: np.ndarray, test: Split,
                options: ExportOptions) -> dict[str, Any]:
    """ONNX int8 from the fp32 ONNX export, calibrated on `calibration` (normalized model inputs); accepted when
    its top-1 accuracy on `test` (raw inputs and labels) is within `options.max_drop` of the fp32 ONNX model's."""
    with tempfile.TemporaryDirectory(prefix="neuralab-int8-") as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        worst = export_onnx(model.eval(), card, fp32)
        batches = [{"input": calibration[i:i + CALIBRATION_BATCH]}
                   for i in range(0, len(calibration), CALIBRATION_BATCH)]
        quant = quantize_int8(fp32, int8, Calibration(batches), options.calibration)
        reference = outputs(onnx_runner(fp32), test.x, card.preprocess)
        check = top1_check(reference, outputs(onnx_runner(int8), test.x, card.preprocess), test.y, "int8",
                           options, card.dataset)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(int8, out)
    return {"parity": f"the fp32 ONNX model it was quantized from matched PyTorch to {worst:.2g}",
            "quantization": {**quant, "calibration_examples": len(calibration), "seed": options.seed}, "check": check}


def export_bf16(model: nn.Module, card: ModelCard, out: Path, test: Split, options: ExportOptions
                ) -> dict[str, Any]:
    """TorchScript (fp32 weights) served under bf16 autocast; accepted when its top-1 accuracy on `test` is within
    `options.max_drop` of PyTorch fp32's. Where bf16 is not fast (no AMX, no GPU) the check runs emulated and
    serve.json says so; `neuralab serve` then prefers fp32 unless told otherwise."""
    device = bf16_inference_device()
    with tempfile.TemporaryDirectory(prefix="neuralab-bf16-") as tmp:
        script = Path(tmp) / "model.pt"
        worst = export_torchscript(model.eval(), card, script)
        reference = outputs(TorchRunner(model, "fp32"), test.x, card.preprocess)
        got = outputs(TorchRunner(torch.jit.load(str(script)), "bf16", device), test.x, card.preprocess)
        check = top1_check(reference, got, test.y, "bf16", options, card.dataset)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(script, out)
    return {"parity": f"the TorchScript model matched PyTorch fp32 to {worst:.2g}; served under bf16 autocast",
            "check": {**check, "device": str(device or "cpu (emulated bf16: slower than fp32 here)")}}
