"""Task handlers: raw model outputs -> JSON answer, looked up by the checkpoint's task (detectors register later)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Handler = Callable[[np.ndarray, dict[str, Any], int], list[dict[str, Any]]]
HANDLERS: dict[str, Handler] = {}


def register(task: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        HANDLERS[task] = fn
        return fn
    return deco


@register("classification")
def classification(out: np.ndarray, meta: dict[str, Any], top_k: int) -> list[dict[str, Any]]:
    z = out - out.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    classes = meta.get("classes") or [str(i) for i in range(out.shape[1])]
    answers = []
    for row in p:
        idx = np.argsort(-row)[:top_k]
        answers.append({"top": [{"class": str(classes[i]), "index": int(i), "probability": float(row[i])}
                                for i in idx]})
    return answers


@register("regression")
def regression(out: np.ndarray, meta: dict[str, Any], top_k: int) -> list[dict[str, Any]]:
    return [{"value": [float(v) for v in np.atleast_1d(row)]} for row in out]
