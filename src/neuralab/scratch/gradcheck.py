"""Finite-difference gradient checks: the numerical derivative every backward pass must agree with.

    dL/dθ ≈ (L(θ + ε) - L(θ - ε)) / 2ε     (central differences, error O(ε²), in float64)

Any layer or model is reduced to a scalar by L = Σ f(x) ⊙ r with a fixed random r (so every output element
matters); a loss is already a scalar. Each evaluation runs on a fresh copy, so random layers (Dropout) draw the same
mask every time.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import numpy as np


def numerical_grad(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """∂f/∂x_i ≈ (f(x + ε e_i) - f(x - ε e_i)) / 2ε for every element of x (perturbed in place, then restored)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max|a - b| / max(max|a|, max|b|): 0 when equal, ~1e-9 for a correct float64 backward.

    Scaled by the largest entry rather than entry by entry, so a tiny gradient entry (where finite differences have
    only absolute accuracy) cannot dominate; a wrong entry of any size still shows."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ. Received: {a.shape} and {b.shape}")
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0))
    return float(np.abs(a - b).max(initial=0.0) / scale) if scale > 0 else 0.0


def check_layer(layer: Any, x: np.ndarray, train: bool = True, seed: int = 0, eps: float = 1e-6) -> dict[str, float]:
    """Relative error of dL/dx and of every parameter gradient of a layer (or a Sequential) in float64.

    (A `FastSequential` skips dL/dinput unless asked: check it with `check_model`, or its layers one by one.)"""
    layer = copy.deepcopy(layer)
    layer.astype(np.float64)
    x = np.array(x, dtype=np.float64)
    r = np.random.default_rng(seed).standard_normal(np.shape(copy.deepcopy(layer).forward(x.copy(), train)))
    start = copy.deepcopy(layer)  # the state (e.g. dropout's random generator) every evaluation starts from

    def scalar(target: Any) -> Callable[[], float]:
        def f() -> float:
            fresh = copy.deepcopy(target)
            return float(np.sum(fresh.forward(x.copy(), train) * r))
        return f

    analytic = copy.deepcopy(start)
    analytic.forward(x.copy(), train)
    dx = analytic.backward(r.copy())
    errors = {"x": rel_error(dx, numerical_grad(scalar(start), x, eps))}
    for (name, _, g), (_, p, _) in zip(analytic.params(), start.params()):
        errors[name] = rel_error(g, numerical_grad(scalar(start), p, eps))
    return errors


def check_loss(loss: Any, pred: np.ndarray, target: np.ndarray, eps: float = 1e-6) -> dict[str, float]:
    """Relative error of dL/dpred for a loss (already a scalar)."""
    pred = np.array(pred, dtype=np.float64)
    loss.forward(pred.copy(), target)
    analytic = np.array(loss.backward())
    numeric = numerical_grad(lambda: loss.forward(pred.copy(), target), pred, eps)
    return {"pred": rel_error(analytic, numeric)}


def check_model(model: Any, loss: Any, x: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> dict[str, float]:
    """Relative error of every parameter gradient of `loss(model(x), y)`, the whole chain end to end."""
    model = copy.deepcopy(model).astype(np.float64)
    x = np.asarray(x, dtype=np.float64)
    start = copy.deepcopy(model)

    def f() -> float:
        return loss.forward(copy.deepcopy(start).forward(x), y)

    analytic = copy.deepcopy(start)
    loss.forward(analytic.forward(x), y)
    analytic.backward(loss.backward())
    return {name: rel_error(g, numerical_grad(f, p, eps))
            for (name, _, g), (_, p, _) in zip(analytic.params(), start.params())}


def gradcheck(errors: dict[str, float], tol: float = 1e-6) -> bool:
    """True when every relative error is within `tol`."""
    return all(e <= tol for e in errors.values())
