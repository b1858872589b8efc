"""A task is a registered thing: what its data is, how a model of it trains, answers, exports and is reported.

`neuralab train`, `predict`, `export`, `serve` and `eval` look the task up — from the dataset's registration before
training, from the model card afterwards — and call its functions; no command branches on task names. Adding a task
is one file that registers a `Task`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image
from torch import nn

from neuralab.config import Settings
from neuralab.data import task_of
from neuralab.errors import ConfigError
from neuralab.records import ModelCard
from neuralab.registry import Registry
from neuralab.tasks.precision import ExportOptions

# (flat options, settings, log) -> (run folder, one line saying what it achieved)
TrainFn = Callable[[dict[str, Any], Settings, Callable[[str], None]], tuple[Path, str]]
# (model, card, decoded images, top_k) -> one JSON answer per image
PredictFn = Callable[[nn.Module, ModelCard, Sequence[Image.Image], int], list[dict[str, Any]]]
# (raw outputs of a batch, card, top_k) -> one JSON answer per row (the service's engines return raw outputs)
AnswerFn = Callable[[np.ndarray, ModelCard, int], list[dict[str, Any]]]
# (model, card, format, output file, export options, settings) -> the check's report (raises when the export
# disagrees with PyTorch, or, at a reduced precision, loses more accuracy than the options allow)
ExportFn = Callable[[nn.Module, ModelCard, str, Path, ExportOptions, Settings], dict[str, Any]]
# (model, card, dataset name ('' = the card's), settings, split) -> metrics
EvaluateFn = Callable[[nn.Module, ModelCard, str, Settings, str], dict[str, Any]]


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    train: TrainFn  # `neuralab train --dataset D` for a dataset of this task
    predict: PredictFn  # `neuralab predict`
    answer: AnswerFn | None  # the service's JSON (None: not served over HTTP yet)
    evaluate: EvaluateFn  # `neuralab eval`
    export: ExportFn  # `neuralab export`, with its parity check
    formats: tuple[str, ...]  # export formats it supports
    metrics: tuple[str, ...]  # what its runs report, headline first
    report: Callable[..., Any]  # writes a training run's report.md and plots
    precisions: tuple[str, ...] = ("fp32",)  # export precisions it supports (`neuralab export --precision`)


TASKS: Registry[Task] = Registry("task")


def for_dataset(name: str) -> Task:
    """The task of a registered dataset (`imagefolder:PATH` names too), known before anything is loaded."""
    return TASKS.get(task_of(name))


def for_card(card: ModelCard, source: str = "") -> Task:
    if card.task not in TASKS:
        raise ConfigError(f"{source or card.architecture}: unknown task {card.task!r}; known tasks: "
                          f"{', '.join(TASKS.names())}")
    return TASKS.get(card.task)
