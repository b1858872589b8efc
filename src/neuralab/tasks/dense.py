"""Classification and regression: models with one output per class (or one value), trained by the Trainer.

Predictions go through the card's `Preprocess`, so `predict`, the service and evaluation feed the model exactly
what training did. Exports (`dense_export`) are accepted only when they agree with PyTorch on probe inputs (fp32) or
keep its top-1 accuracy on the test split (int8, bf16).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from neuralab.config import Settings
from neuralab.data import load_dataset
from neuralab.data.base import Dataset, Split, center_crop
from neuralab.data.loader import BatchLoader
from neuralab.errors import ConfigError, DataError
from neuralab.records import ModelCard
from neuralab.report.markdown import run_report
from neuralab.tasks.dense_export import export_bf16, export_fp32, export_int8
from neuralab.tasks.precision import PRECISIONS, ExportOptions
from neuralab.tasks.quantize import sample
from neuralab.tasks.registry import TASKS, Task
from neuralab.train.config import TrainConfig
from neuralab.train.objectives import OBJECTIVES
from neuralab.train.trainer import train


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def answer_classes(out: np.ndarray, card: ModelCard, top_k: int) -> list[dict[str, Any]]:
    """Logits (N, classes) -> per row the top-k classes with their probabilities."""
    p = softmax(np.asarray(out, dtype=np.float64))
    names = card.class_names(p.shape[1])
    k = max(1, min(top_k, p.shape[1]))
    return [{"top": [{"class": names[i], "index": int(i), "probability": float(row[i])}
                     for i in np.argsort(-row, kind="stable")[:k]]} for row in p]


def answer_values(out: np.ndarray, card: ModelCard, top_k: int) -> list[dict[str, Any]]:
    return [{"value": [float(v) for v in np.atleast_1d(row)]} for row in np.asarray(out)]


def _predictor(answer: Callable[[np.ndarray, ModelCard, int], list[dict[str, Any]]]) -> Callable[..., Any]:
    @torch.no_grad()
    def predict(model: nn.Module, card: ModelCard, images: Sequence[Image.Image], top_k: int) -> list[dict[str, Any]]:
        if not card.is_image:
            raise DataError(f"this model takes {card.input_shape[0]} feature values, not images; send them to the "
                            f"service as JSON {{\"inputs\": [[...]]}}")
        x = torch.from_numpy(card.preprocess.images(images))
        device = next(model.parameters()).device
        return answer(model.eval()(x.to(device)).float().cpu().numpy(), card, top_k)

    return predict


def _dataset(card: ModelCard, dataset: str, settings: Settings) -> Dataset:
    """The card's dataset (or `dataset`), decoded at the size training used (`resize`, for transfer runs)."""
    pre = card.preprocess
    size = {"image_size": pre.resize} if pre.is_image and pre.resize else {}
    return load_dataset(dataset or card.dataset, settings, task=card.task, **size)


def _fit(card: ModelCard, part: Split, dataset: str) -> Split:
    """A split cropped to the model's input, as training cropped it; a shape the model does not take is refused."""
    if card.is_image and card.preprocess.resize:
        part = Split(center_crop(part.x, card.input_shape[-1]), part.y)
    if tuple(part.x.shape[1:]) != card.input_shape:
        raise DataError(f"{dataset} has inputs of shape {list(part.x.shape[1:])}; the model takes "
                        f"{list(card.input_shape)}")
    return part


@torch.no_grad()
def evaluate_dense(model: nn.Module, card: ModelCard, dataset: str, settings: Settings, split: str = "test"
                   ) -> dict[str, Any]:
    """Metrics of a saved model on a dataset's split (the card's dataset by default), fed as training fed it."""
    part = _fit(card, _dataset(card, dataset, settings).splits()[split], dataset or card.dataset)
    pre = card.preprocess
    loader = BatchLoader(part, 1024, mean=pre.mean, std=pre.std)
    out = torch.cat([model.eval()(xb).float() for xb, _ in loader])
    y, obj = torch.from_numpy(part.y), OBJECTIVES.get(card.task)
    loss_sum = obj.loss_sum(out, y).item()
    return {"split": split, "examples": len(y), "loss": loss_sum / len(y),
            **obj.metrics(loss_sum, obj.aux_sum(out, y).item(), len(y)), **obj.final(out, y, list(card.classes))}


def _train(flat: dict[str, Any], settings: Settings, log: Callable[[str], None]) -> tuple[Path, str]:
    run, result, _ = train(TrainConfig.of(**flat), settings, log=log)
    return run.path, "test: " + ", ".join(f"{k} {v:.4f}" for k, v in result.test.items()
                                          if isinstance(v, (int, float)))


# -- export --------------------------------------------------------------------------------------------------
def export_dense(model: nn.Module, card: ModelCard, fmt: str, out: Path, options: ExportOptions | None = None,
                 settings: Settings | None = None) -> dict[str, Any]:
    """fp32 as it is; int8 and bf16 (classifiers: the check is top-1 accuracy) with the run's own data: a seeded
    sample of its training inputs to calibrate int8 on, and its test split to check either on."""
    options = options or ExportOptions()
    if options.precision == "fp32":
        return export_fp32(model, card, fmt, out)
    if card.task != "classification":
        raise ConfigError(f"--precision {options.precision} is checked by top-1 accuracy, so it is for classifiers; "
                          f"export this {card.task} model in fp32")
    data = _dataset(card, "", settings or Settings.resolve())
    test = _fit(card, data.test, card.dataset)
    if options.precision == "bf16":
        return export_bf16(model, card, out, test, options)
    train = _fit(card, data.train.take(sample(len(data.train), options.calibration_images, options.seed)),
                 card.dataset)
    return export_int8(model, card, out, card.preprocess.normalize(train.x), test, options)


for _name, _answer, _metrics, _description in (
        ("classification", answer_classes, ("accuracy", "loss"), "one label per input, among named classes"),
        ("regression", answer_values, ("rmse", "mae"), "one number per input")):
    TASKS.register(_name)(Task(_name, _description, train=_train, predict=_predictor(_answer), answer=_answer,
                               evaluate=evaluate_dense, export=export_dense, formats=("onnx", "torchscript"),
                               metrics=_metrics, report=run_report,
                               precisions=PRECISIONS if _name == "classification" else ("fp32",)))
