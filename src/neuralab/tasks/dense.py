"""Classification and regression: models with one output per class (or one value), trained by the Trainer.

Predictions go through the card's `Preprocess`, so `predict`, the service and evaluation feed the model exactly
what training did. Exports (ONNX, TorchScript) are accepted only when they agree with PyTorch on probe inputs.
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
from neuralab.data.base import Split, center_crop
from neuralab.data.loader import BatchLoader
from neuralab.errors import DataError, NeuralabError
from neuralab.records import ModelCard
from neuralab.report.markdown import run_report
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


@torch.no_grad()
def evaluate_dense(model: nn.Module, card: ModelCard, dataset: str, settings: Settings, split: str = "test"
                   ) -> dict[str, Any]:
    """Metrics of a saved model on a dataset's split (the card's dataset by default), fed as training fed it."""
    pre = card.preprocess
    size = {"image_size": pre.resize} if pre.is_image and pre.resize else {}
    data = load_dataset(dataset or card.dataset, settings, task=card.task, **size)
    part = data.splits()[split]
    if pre.is_image and pre.resize:
        part = Split(center_crop(part.x, pre.input_shape[-1]), part.y)
    if tuple(part.x.shape[1:]) != card.input_shape:
        raise DataError(f"{dataset or card.dataset} has inputs of shape {list(part.x.shape[1:])}; the model takes "
                        f"{list(card.input_shape)}")
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


def export_onnx(model: nn.Module, card: ModelCard, out: Path) -> float:
    import onnxruntime as ort

    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (_probe(card, 2),), str(out), input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=17, dynamo=False)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    return check_parity(model, lambda x: sess.run(None, {"input": x})[0], card, "ONNX")


def export_torchscript(model: nn.Module, card: ModelCard, out: Path) -> float:
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        traced = torch.jit.trace(model, _probe(card, 2))
    traced.save(str(out))
    loaded = torch.jit.load(str(out))
    return check_parity(model, lambda x: loaded(torch.from_numpy(x)).detach().numpy(), card, "TorchScript")


def export_dense(model: nn.Module, card: ModelCard, fmt: str, out: Path) -> dict[str, Any]:
    worst = (export_onnx if fmt == "onnx" else export_torchscript)(model.eval(), card, out)
    return {"parity": f"max |output difference| vs PyTorch {worst:.2g} on random probes"}


for _name, _answer, _metrics, _description in (
        ("classification", answer_classes, ("accuracy", "loss"), "one label per input, among named classes"),
        ("regression", answer_values, ("rmse", "mae"), "one number per input")):
    TASKS.register(_name)(Task(_name, _description, train=_train, predict=_predictor(_answer), answer=_answer,
                               evaluate=evaluate_dense, export=export_dense, formats=("onnx", "torchscript"),
                               metrics=_metrics, report=run_report))
