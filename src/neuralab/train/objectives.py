"""What a dense task optimizes and measures, looked up by the dataset's task instead of branched on.

An objective gives the training loss, what a pass over a split adds up (the loss and one more sum: correct
answers for classification, absolute errors for regression), the metrics those sums make, the score that picks the
best epoch on validation, and the richer metrics of the one final test pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import (multiclass_accuracy, multiclass_confusion_matrix,
                                                    multiclass_precision, multiclass_recall)

from neuralab.registry import Registry


@dataclass(frozen=True)
class Objective:
    name: str
    loss: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]  # (outputs, targets, smoothing) -> mean
    loss_sum: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # evaluation loss summed over the batch
    aux_sum: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # the second sum a pass keeps
    metrics: Callable[[float, float, int], dict[str, float]]  # (loss sum, aux sum, n) -> metrics
    score: Callable[[float, dict[str, float]], tuple[float, float]]  # higher is better
    final: Callable[[torch.Tensor, torch.Tensor, list[str]], dict[str, Any]]  # test pass: extra metrics


OBJECTIVES: Registry[Objective] = Registry("objective")


def classification_metrics(logits: torch.Tensor, y: torch.Tensor, classes: list[str]) -> dict[str, Any]:
    """Accuracy (micro), per-class precision and recall, and the confusion matrix (rows: true, cols: predicted)."""
    k = len(classes)
    preds, y = logits.argmax(1), torch.as_tensor(y).long()
    kw: dict[str, Any] = dict(num_classes=k, average="none", zero_division=0)
    return {"accuracy": float(multiclass_accuracy(preds, y, num_classes=k, average="micro")),
            "precision": dict(zip(classes, multiclass_precision(preds, y, **kw).tolist())),
            "recall": dict(zip(classes, multiclass_recall(preds, y, **kw).tolist())),
            "confusion": multiclass_confusion_matrix(preds, y, num_classes=k).tolist()}


def _regression_error(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return out.float().squeeze(-1) - y.float()


OBJECTIVES.register("classification")(Objective(
    "classification",
    loss=lambda out, y, smoothing: F.cross_entropy(out.float(), y, label_smoothing=smoothing),
    loss_sum=lambda out, y: F.cross_entropy(out.float(), y, reduction="sum"),
    aux_sum=lambda out, y: (out.argmax(1) == y).sum(),
    metrics=lambda loss_sum, correct, n: {"accuracy": correct / n},
    score=lambda loss, m: (m["accuracy"], -loss),
    final=classification_metrics,
))
OBJECTIVES.register("regression")(Objective(
    "regression",
    loss=lambda out, y, smoothing: F.mse_loss(out.float().squeeze(-1), y.float()),
    loss_sum=lambda out, y: _regression_error(out, y).square().sum(),
    aux_sum=lambda out, y: _regression_error(out, y).abs().sum(),
    metrics=lambda se, abs_err, n: {"rmse": math.sqrt(se / n), "mae": abs_err / n},
    score=lambda loss, m: (-loss, 0.0),
    final=lambda out, y, classes: {},
))
