"""Optimizers: each `step()` updates every parameter in place from the gradient `backward` left next to it.

They follow PyTorch's update rules exactly (the tests check one step against torch.optim), including L2 weight
decay added to the gradient (g ← g + λ·w), which is what torch's SGD and Adam (not AdamW) do.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

Param = tuple[np.ndarray, np.ndarray]  # (value, gradient), both updated in place


def _pairs(params: Iterable) -> list[Param]:
    """Accept a model (anything with .params()), or (value, grad) pairs, or (name, value, grad) triples."""
    if hasattr(params, "params"):
        params = params.params()
    return [(p[-2], p[-1]) for p in params]


class Optimizer:
    def __init__(self, params: Iterable, lr: float, weight_decay: float = 0.0) -> None:
        if lr <= 0:
            raise ValueError(f"{type(self).__name__}: lr must be positive. Received: lr={lr}")
        self.params = _pairs(params)
        self.lr, self.weight_decay = lr, weight_decay
        self.t = 0

    def decay(self, w: np.ndarray, g: np.ndarray) -> None:
        """L2 weight decay: g ← g + λ·w  (the gradient of ½λ‖w‖²)."""
        if self.weight_decay:
            g += np.asarray(self.weight_decay, dtype=g.dtype) * w

    def step(self) -> None:
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

    def step(self) -> None:
        self.t += 1
        for (w, g), v in zip(self.params, self.velocity):
            self.decay(w, g)
            if self.momentum:
                v *= self.momentum
                v += g
                if self.nesterov:
                    g += self.momentum * v  # g is scratch from here on: the look-ahead direction
                else:
                    g = v
            w -= np.asarray(self.lr, dtype=w.dtype) * g


class Adam(Optimizer):
    """m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;  w ← w - lr·m̂ / (√v̂ + ε), with m̂, v̂ bias-corrected."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.m = [np.zeros_like(w) for w, _ in self.params]
        self.v = [np.zeros_like(w) for w, _ in self.params]
        self.scratch = [np.empty_like(w) for w, _ in self.params]

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step_size = self.lr / (1 - b1**self.t)
        root_c2 = np.sqrt(1 - b2**self.t)
        for (w, g), m, v, s in zip(self.params, self.m, self.v, self.scratch):
            self.decay(w, g)
            m *= b1
            np.multiply(g, 1 - b1, out=s)
            m += s
            v *= b2
            np.multiply(g, g, out=s)
            s *= 1 - b2
            v += s
            np.sqrt(v, out=s)  # s = √v / √(1-β2^t) + ε
            s /= root_c2
            s += self.eps
            np.divide(m, s, out=s)
            s *= step_size
            w -= s


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
