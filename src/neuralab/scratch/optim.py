"""Optimizers: each `step()` moves every parameter against the gradient `backward` left next to it.

They follow PyTorch's update rules exactly (the tests check several steps against torch.optim), including L2 weight
decay added to the gradient (g ← g + λ·w), which is what torch's SGD and Adam (not AdamW) do. Each rule is written
as in the paper, one line per equation; `fast.FastAdam` is the same rule without temporary arrays.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

Param = tuple[np.ndarray, np.ndarray]  # (value, gradient): the value is updated in place, the model holds it too


def _pairs(params: Iterable) -> list[Param]:
    """Accept a model (anything with .params()), or (value, grad) pairs, or (name, value, grad) triples."""
    if hasattr(params, "params"):
        params = params.params()
    return [(p[-2], p[-1]) for p in params]


class Optimizer:
    """Keeps the (value, gradient) pairs and the step count t; a subclass says how one parameter moves."""

    def __init__(self, params: Iterable, lr: float, weight_decay: float = 0.0) -> None:
        if lr <= 0:
            raise ValueError(f"{type(self).__name__}: lr must be positive. Received: lr={lr}")
        self.params = _pairs(params)
        self.lr, self.weight_decay = lr, weight_decay
        self.t = 0

    def step(self) -> None:
        """t ← t + 1, then update every parameter from its gradient (plus L2 decay: g + λ·w, the gradient of ½λ‖w‖²)."""
        self.t += 1
        for i, (w, g) in enumerate(self.params):
            self.update(i, w, g + self.weight_decay * w if self.weight_decay else g)

    def update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        """Move parameter number i, w, in place against its gradient g."""
        raise NotImplementedError


class SGD(Optimizer):
    """v ← μ·v + g;  w ← w - lr·v   (Nesterov: w ← w - lr·(g + μ·v));  plain SGD when μ = 0."""

    def __init__(self, params: Iterable, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        if nesterov and momentum <= 0:
            raise ValueError(f"SGD: Nesterov needs momentum > 0. Received: momentum={momentum}")
        self.momentum, self.nesterov = momentum, nesterov
        self.velocity = [np.zeros_like(w) for w, _ in self.params]

    def update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        if self.momentum:
            v = self.velocity[i] = self.momentum * self.velocity[i] + g
            g = g + self.momentum * v if self.nesterov else v
        w -= self.lr * g


class Adam(Optimizer):
    """m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;  w ← w - lr·m̂ / (√v̂ + ε), with m̂, v̂ bias-corrected."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.m = [np.zeros_like(w) for w, _ in self.params]
        self.v = [np.zeros_like(w) for w, _ in self.params]

    def update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        b1, b2 = self.beta1, self.beta2
        m = self.m[i] = b1 * self.m[i] + (1 - b1) * g  # running mean of the gradient
        v = self.v[i] = b2 * self.v[i] + (1 - b2) * g * g  # running mean of its square
        m_hat = m / (1 - b1**self.t)  # both start at 0: divide out that bias
        v_hat = v / (1 - b2**self.t)
        w -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
