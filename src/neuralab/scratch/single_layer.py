"""The first models: one layer of weights. Softmax (and logistic) regression trained by gradient descent, and
Rosenblatt's perceptron, which learns from its mistakes only.

Softmax regression is `Sequential([Dense(d, k)])` + `SoftmaxCrossEntropy`: the same pieces as any deeper network,
so everything in `train.py` applies. The perceptron has no loss to differentiate; its rule is below.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuralab.scratch.layers import Dense
from neuralab.scratch.model import Sequential


def softmax_regression(n_in: int, n_classes: int, seed: int = 0, dtype: Any = "float32") -> Sequential:
    """p(y | x) = softmax(x · W + b): one Dense layer whose outputs are the class logits."""
    return Sequential([Dense(n_in, n_classes, init="xavier", seed=seed)], dtype=dtype)


def logistic_regression(n_in: int, seed: int = 0, dtype: Any = "float32") -> Sequential:
    """p(y=1 | x) = σ(x · w + b): one Dense layer with one output, trained with `BinaryCrossEntropy`."""
    return Sequential([Dense(n_in, 1, init="xavier", seed=seed)], dtype=dtype)


class Perceptron:
    """Multiclass perceptron: predict argmax(x · W + b); on a mistake (true c, predicted ĉ):
    W[:, c] += x,  W[:, ĉ] -= x  (and the same for b). Converges on linearly separable data (Novikoff)."""

    def __init__(self, n_in: int, n_classes: int, dtype: Any = "float32") -> None:
        self.W = np.zeros((n_in, n_classes), dtype=dtype)
        self.b = np.zeros(n_classes, dtype=dtype)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (x @ self.W + self.b).argmax(1)

    def epoch(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> int:
        """One pass over the data in shuffled order; returns the number of mistakes (updates) it made."""
        mistakes = 0
        for i in rng.permutation(len(x)):
            guess = int(np.argmax(x[i] @ self.W + self.b))
            if guess != y[i]:
                self.W[:, y[i]] += x[i]
                self.W[:, guess] -= x[i]
                self.b[y[i]] += 1
                self.b[guess] -= 1
                mistakes += 1
        return mistakes

    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0) -> list[int]:
        """Mistakes per epoch; stops early after the first epoch without one (the data is separated)."""
        rng = np.random.default_rng(seed)
        mistakes = []
        for _ in range(epochs):
            mistakes.append(self.epoch(x, y, rng))
            if mistakes[-1] == 0:
                break
        return mistakes
