"""Activation functions: elementwise nonlinearities (and Softmax), each forward right above its backward.

Each backward is the chain rule for one elementwise function: dL/dx = dL/dy · f'(x), where f'(x) is written with
what forward kept (the sign of x, or the output y itself: σ' = y(1 - y), tanh' = 1 - y²). Softmax, each of whose
outputs depends on every input, applies its Jacobian instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuralab.scratch.layers import Layer, register


@register("relu")
class ReLU(Layer):
    """y = max(0, x)"""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self._active = x > 0
        return np.maximum(x, 0)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx = dy · [x > 0]"""
        return dy * self._active


@register("leaky_relu")
class LeakyReLU(Layer):
    """y = x if x > 0 else α·x"""

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self._slope = np.where(x > 0, 1.0, self.alpha).astype(x.dtype)
        return x * self._slope

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx = dy · (1 if x > 0 else α)"""
        return dy * self._slope

    def config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


@register("sigmoid")
class Sigmoid(Layer):
    """y = σ(x) = 1 / (1 + e^-x), computed as ½(1 + tanh(x/2)) so it never overflows."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self._y = 0.5 * (1.0 + np.tanh(0.5 * x))
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx = dy · y · (1 - y)"""
        return dy * self._y * (1.0 - self._y)


@register("tanh")
class Tanh(Layer):
    """y = tanh(x)"""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx = dy · (1 - y²)"""
        return dy * (1.0 - self._y * self._y)


@register("gelu")
class GELU(Layer):
    """The tanh approximation (torch's `gelu(approximate="tanh")`, GPT-2's):
    y = ½x(1 + tanh(u)),  u = √(2/π)(x + 0.044715x³).  (The exact form is x·Φ(x) with the normal CDF; NumPy has no
    vectorized erf, and the two differ by < 5e-4.)"""

    c = float(np.sqrt(2.0 / np.pi))

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self._x = x
        self._t = np.tanh(self.c * (x + 0.044715 * x**3))
        return 0.5 * x * (1.0 + self._t)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx = dy · [½(1 + t) + ½x(1 - t²) · √(2/π)(1 + 3·0.044715x²)],  t = tanh(u)"""
        x, t = self._x, self._t
        du = self.c * (1.0 + 3 * 0.044715 * x * x)
        return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)


@register("softmax")
class Softmax(Layer):
    """y_i = e^(x_i - max x) / Σ_j e^(x_j - max x) over the last axis (subtracting the max changes nothing but
    keeps every exponent ≤ 0). For classification use the fused `SoftmaxCrossEntropy` loss instead."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        self._y = e / e.sum(axis=-1, keepdims=True)
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx = y ⊙ (dy - Σ_j dy_j y_j)   (the Jacobian diag(y) - y yᵀ applied to dy)"""
        y = self._y
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh, "gelu": GELU}
