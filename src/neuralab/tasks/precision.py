"""Serving precisions, and the check that lets a faster one replace fp32, measured on the run's test split.

int8 (ONNX Runtime, static quantization) and bf16 (PyTorch autocast) trade exactness for speed, so an export at
either is accepted only when it loses at most `max_drop` points against the fp32 model: of top-1 accuracy for a
classifier (`top1_check`: both accuracies, their agreement — the fraction of inputs given the same class — and the
drop), of mAP@0.5 with fp32's boxes as the truth for a detector. The record goes to the export's serve.json, where
`neuralab serve` reads it to choose an engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np
import torch
from torch import nn

from neuralab.config import Config, option
from neuralab.data.preprocess import Preprocess
from neuralab.device import autocast
from neuralab.errors import NeuralabError

PRECISIONS = ("fp32", "int8", "bf16")
HINTS = {"int8": "Try --calibration entropy or percentile, or more --calibration-images; ",
         "bf16": "Serve this model in fp32; "}
LABELS = {"accuracy": "top-1 accuracy", "map50_vs_fp32": "mAP@0.5 against fp32's boxes"}
Runner = Callable[[np.ndarray], np.ndarray]


@dataclass
class ExportOptions(Config):
    """`neuralab export` options beyond the format (fp32 uses none of them)."""

    precision: Literal["fp32", "int8", "bf16"] = option(
        "fp32", "fp32 (exact), int8 (ONNX Runtime, static quantization: fastest on CPUs) or bf16 (PyTorch autocast; "
                "fast on CPUs with Intel AMX and on GPUs); int8 and bf16 must pass the accuracy check")
    calibration: Literal["minmax", "entropy", "percentile"] = option(
        "minmax", "int8: how activation ranges are set from the calibration images: minmax (observed range), "
                  "entropy (KL-optimal histogram range) or percentile (99.999th, clips outliers)")
    calibration_images: int = option(256, "int8: training images to calibrate on (a seeded random sample)",
                                     min=1, max=100_000)
    max_drop: float = option(1.0, "largest accepted loss against fp32 on the test split, in percentage points: "
                                  "of top-1 accuracy (classifiers), of mAP@0.5 with fp32's boxes as the truth "
                                  "(detectors)", min=0, max=100)
    force: bool = option(False, "export even when the accuracy check fails (recorded as failed: `neuralab serve` "
                                "then never picks it by itself)")
    seed: int = option(0, "seed of the calibration sample", min=0)


def has_conv(model: nn.Module) -> bool:
    """Whether a model (eager or TorchScript, whose submodules only keep their class name) has 2-D convolutions."""
    return any(isinstance(m, nn.Conv2d) or getattr(m, "original_name", "") == "Conv2d" for m in model.modules())


class TorchRunner:
    """A torch model as `runner(x: ndarray) -> ndarray`, the way the service runs it: inference mode, channels-last
    for convolutional nets (oneDNN then skips a layout conversion per layer), bf16 autocast when asked (weights stay
    fp32; each op casts, so matmuls and convolutions run on AMX tiles or GPU tensor cores). The export's accuracy
    check runs this same code, so what it measured is what is served."""

    def __init__(self, model: nn.Module, precision: str = "fp32", device: torch.device | None = None) -> None:
        if precision not in ("fp32", "bf16"):
            raise NeuralabError(f"PyTorch serves fp32 or bf16, not {precision!r}")
        self.device = device or torch.device("cpu")
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self.model = model.eval().to(self.device)
        self.channels_last = has_conv(self.model)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
        if self.channels_last and t.dim() == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(self.device, dtype=self.dtype):
            return self.model(t).float().cpu().numpy()


def outputs(run: Runner, x: np.ndarray, pre: Preprocess, batch: int = 64) -> np.ndarray:
    """A runner's outputs for raw inputs (uint8 pixels or feature values), normalized batch by batch."""
    return np.concatenate([run(pre.normalize(x[i:i + batch])) for i in range(0, len(x), batch)])


def top1_check(reference: np.ndarray, candidate: np.ndarray, y: np.ndarray, precision: str, options: ExportOptions,
               dataset: str) -> dict[str, Any]:
    """Top-1 accuracy of fp32 (`reference` logits) and of `precision` (`candidate`) on labels `y`, and their
    agreement (same class); `guard`ed on the drop."""
    ref, got = reference.argmax(1), candidate.argmax(1)
    return guard("accuracy", float((ref == y).mean()), float((got == y).mean()), precision, options,
                 f"the {len(y)} test examples of {dataset}", split="test", dataset=dataset, examples=len(y),
                 agreement=float((ref == got).mean()))



def guard(metric: str, fp32: float, value: float, precision: str, options: ExportOptions, where: str,
          **measured: Any) -> dict[str, Any]:
    """The check's record: `metric` at fp32 and at `precision`, the drop in points, whether it is within
    `options.max_drop`, and what else was `measured`; raises when it is not, unless `options.force`."""
    drop = round(100 * (fp32 - value), 4)
    report = {**measured, f"fp32_{metric}": fp32, metric: value, "drop_points": drop,
              "max_drop_points": options.max_drop, "passed": drop <= options.max_drop}
    if report["passed"]:
        return report
    if not options.force:
        raise NeuralabError(
            f"{precision} {LABELS.get(metric, metric)} {100 * value:.2f}% is {drop:.2f} points below fp32's "
            f"{100 * fp32:.2f}% on {where} (at most {options.max_drop:g} allowed: --max-drop); not exported. "
            f"{HINTS.get(precision, '')}--force exports it anyway")
    return {**report, "forced": True}
