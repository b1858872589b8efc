"""A classifier on its test split, measured once and drawn by any page: accuracy, confusion matrix, per-class
recall, and its most confident mistakes (the images themselves, so render needs nothing else)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neuralab.data.base import Dataset
from neuralab.data.loader import BatchLoader, cpu_inference_batch, use_channels_last
from neuralab.report.page import Page
from neuralab.report.plots import image_grid, plot_confusion

QUICK_EVAL = 2000  # quick mode validates and tests on this many random images (the full CIFAR test set is 10,000)


@dataclass(frozen=True)
class ClassEval:
    classes: list[str]
    confusion: np.ndarray  # (k, k): rows true class, columns predicted
    mistakes: np.ndarray  # up to 16 most confidently misclassified test images, uint8 (N, C, H, W)
    mistake_labels: list[str]

    @property
    def accuracy(self) -> float:
        return float(self.confusion.trace() / max(1, self.confusion.sum()))

    @property
    def recall(self) -> np.ndarray:
        """Per class: the share of its test images classified right."""
        return self.confusion.diagonal() / np.maximum(self.confusion.sum(1), 1)

    @property
    def precision(self) -> np.ndarray:
        return self.confusion.diagonal() / np.maximum(self.confusion.sum(0), 1)

    def most_confused(self, i: int) -> int | None:
        """The class that true class i is most often mistaken for (never i itself); None when it has no errors."""
        row = self.confusion[i].astype(float).copy()
        row[i] = -1
        j = int(row.argmax())
        return j if row[j] > 0 else None

    def to_json(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "confusion": self.confusion.tolist(), "recall": self.recall.tolist(),
                "precision": self.precision.tolist()}


def confusion(y_true: Any, y_pred: Any, k: int) -> np.ndarray:
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def evaluate_probs(probs: np.ndarray, data: Dataset, max_wrong: int = 16) -> ClassEval:
    """A ClassEval from test-set class probabilities (N, classes), whatever framework computed them."""
    pred, y = probs.argmax(1), data.test.y
    wrong = np.flatnonzero(pred != y)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:max_wrong]
    labels = [f"true {data.classes[y[i]]}\npred {data.classes[pred[i]]} {probs[i, pred[i]]:.2f}" for i in wrong]
    return ClassEval(list(data.classes), confusion(y, pred, data.num_classes), data.test.x[wrong], labels)


def evaluate_trainer(trainer: Any, max_wrong: int = 16) -> ClassEval:
    """A ClassEval from the Trainer's own test pass (the same logits as the run's test accuracy: one number)."""
    return evaluate_probs(torch.softmax(trainer.test_outputs.float(), 1).numpy(), trainer.data, max_wrong)


@torch.no_grad()
def evaluate_classifier(model: torch.nn.Module, data: Dataset, device: torch.device, max_wrong: int = 16) -> ClassEval:
    """A ClassEval of a model outside the Trainer (fp32, channels-last where it helps)."""
    model.eval().to(device)
    shape = data.test.x.shape[1:]
    layout = torch.channels_last if use_channels_last(shape, device) else torch.contiguous_format
    model.to(memory_format=layout)
    loader = BatchLoader(data.test, cpu_inference_batch(128, shape, device), device=device, mean=data.mean,
                         std=data.std)
    probs = torch.cat([torch.softmax(model(xb.contiguous(memory_format=layout)).float(), 1).cpu()
                       for xb, _ in loader]).numpy()
    return evaluate_probs(probs, data, max_wrong)


def show_evaluation(page: Page, ev: ClassEval, prefix: str = "") -> list[str]:
    """The confusion matrix and the grid of confident mistakes, as markdown (figures registered on the page)."""
    blocks = [page.figure(f"{prefix}confusion", plot_confusion(ev.confusion, ev.classes, "test confusion matrix"),
                          "confusion matrix")]
    if len(ev.mistakes):
        blocks.append(page.figure(f"{prefix}mistakes", image_grid(ev.mistakes, ev.mistake_labels, cols=8,
                                                                  title="most confident mistakes"),
                                  "most confident mistakes"))
    return blocks


def class_sentence(ev: ClassEval) -> str:
    """The easiest and hardest class, and what the hardest is taken for (from the confusion matrix)."""
    r = ev.recall
    best, worst = int(r.argmax()), int(r.argmin())
    other = ev.most_confused(worst)
    taken = f", most often taken for {ev.classes[other]}" if other is not None else ", with no mistakes"
    return (f"Easiest class: {ev.classes[best]} ({100 * r[best]:.1f}%); hardest: {ev.classes[worst]} "
            f"({100 * r[worst]:.1f}%){taken}.")
