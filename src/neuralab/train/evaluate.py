"""Classification metrics through torchmetrics, and a fresh-process evaluation of a saved checkpoint.

`python -m neuralab.train.evaluate RUN_OR_CKPT [--split test]` rebuilds the model from its checkpoint alone,
reloads the dataset named in its metadata, and prints JSON metrics (accuracy, per-class precision/recall,
confusion matrix) -- the check that a saved model scores the same in a process that never trained it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import torch
from torchmetrics.functional.classification import (multiclass_accuracy, multiclass_confusion_matrix,
                                                    multiclass_precision, multiclass_recall)


def classification_metrics(logits: torch.Tensor, y: torch.Tensor, classes: list[str]) -> dict[str, Any]:
    """Accuracy (micro), per-class precision and recall, and the confusion matrix (rows: true, cols: predicted)."""
    k = len(classes)
    preds, y = logits.argmax(1), torch.as_tensor(y).long()
    kw = dict(num_classes=k, average="none", zero_division=0)
    return {"accuracy": float(multiclass_accuracy(preds, y, num_classes=k, average="micro")),
            "precision": dict(zip(classes, multiclass_precision(preds, y, **kw).tolist())),
            "recall": dict(zip(classes, multiclass_recall(preds, y, **kw).tolist())),
            "confusion": multiclass_confusion_matrix(preds, y, num_classes=k).tolist()}


@torch.no_grad()
def evaluate_checkpoint(ref: str, split: str = "test", settings: Any = None) -> dict[str, Any]:
    from neuralab.config import Settings
    from neuralab.data import load_dataset
    from neuralab.data.loader import BatchLoader
    from neuralab.train.checkpoint import load_model

    model, meta = load_model(ref)
    data = load_dataset(meta["dataset"], settings or Settings.resolve(download=False))
    loader = BatchLoader(data.splits()[split], 1024, device=torch.device("cpu"), mean=meta["mean"], std=meta["std"])
    logits = torch.cat([model(xb).float() for xb, _ in loader])
    return classification_metrics(logits, torch.from_numpy(data.splits()[split].y), meta["classes"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m neuralab.train.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", metavar="RUN_OR_CKPT")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    ns = p.parse_args(argv)
    json.dump(evaluate_checkpoint(ns.checkpoint, ns.split), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
