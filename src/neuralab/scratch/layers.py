"""Layers: each one a small class whose `backward` sits right under its `forward`.

Conventions (the whole package follows them):
  * `forward(x, train)` keeps what `backward` needs and returns y; `backward(dy)` returns dL/dx. Neither writes
    into an array it was handed, nor into one it handed out before (`fast.py` bends that rule, for speed).
  * Parameters and their gradients are NumPy arrays that stay the same objects for the layer's life: `backward`
    writes each gradient into `self.grads[name]`, the optimizer updates each parameter in place, and both read
    them through `params()`, which yields (name, value, grad) triples.
  * Every layer registers under a short name and describes itself with `config()`, so a model is rebuilt from JSON.

`fast.py` has Dense again, with buffers reused from step to step; read this file first.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from neuralab.registry import Registry

LAYERS: Registry[type] = Registry("scratch layer")


def register(name: str):
    """Class decorator: `@register("dense")` makes the layer rebuildable from `{"type": "dense", ...}`."""

    def add(cls: type) -> type:
        cls.kind = name
        LAYERS.register(name)(cls)
        return cls

    return add


def build_layer(spec: dict[str, Any]) -> "Layer":
    """`{"type": "dense", "n_in": 2, "n_out": 3}` -> Dense(2, 3)."""
    spec = dict(spec)
    return LAYERS.get(spec.pop("type"))(**spec)


class Layer:
    kind = "layer"

    def __init__(self) -> None:
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def params(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for name, g in self.grads.items():
            yield name, getattr(self, name), g

    def astype(self, dtype: Any) -> "Layer":
        for name, p, _ in list(self.params()):
            setattr(self, name, p.astype(dtype))
            self.grads[name] = np.zeros_like(getattr(self, name))
        return self

    def config(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


# -- initializers -------------------------------------------------------------------------------------------------
def xavier(n_in: int, n_out: int, rng: np.random.Generator) -> np.ndarray:
    """Glorot/Xavier uniform: U(-a, a), a = sqrt(6 / (n_in + n_out)) keeps Var(y) ≈ Var(x) for tanh/sigmoid."""
    a = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-a, a, size=(n_in, n_out))


def he(n_in: int, n_out: int, rng: np.random.Generator) -> np.ndarray:
    """He/Kaiming normal: N(0, 2 / n_in) makes up for ReLU zeroing half the units."""
    return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))


def lecun(n_in: int, n_out: int, rng: np.random.Generator) -> np.ndarray:
    """LeCun normal: N(0, 1 / n_in)."""
    return rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_in, n_out))


INITIALIZERS = {"xavier": xavier, "glorot": xavier, "he": he, "kaiming": he, "lecun": lecun}


@register("dense")
class Dense(Layer):
    """y = x · W + b, with W of shape (n_in, n_out)."""

    def __init__(self, n_in: int, n_out: int, init: str = "he", seed: int = 0, dtype: Any = "float32") -> None:
        super().__init__()
        if init not in INITIALIZERS:
            raise ValueError(f"Dense: unknown init {init!r}; choose from {sorted(INITIALIZERS)}. Received: {init!r}")
        self.n_in, self.n_out, self.init, self.seed = n_in, n_out, init, seed
        rng = np.random.default_rng(seed)
        self.W = INITIALIZERS[init](n_in, n_out, rng).astype(dtype)
        self.b = np.zeros(n_out, dtype=dtype)
        self.grads = {"W": np.zeros_like(self.W), "b": np.zeros_like(self.b)}

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """y = x · W + b"""
        self._x = x
        return x @ self.W + self.b

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dW = xᵀ · dy,  dL/db = Σ_batch dy,  dL/dx = dy · Wᵀ"""
        self.grads["W"][...] = self._x.T @ dy
        self.grads["b"][...] = dy.sum(axis=0)
        return dy @ self.W.T

    def config(self) -> dict[str, Any]:
        return {"n_in": self.n_in, "n_out": self.n_out, "init": self.init, "seed": self.seed}


@register("dropout")
class Dropout(Layer):
    """Inverted dropout: y = x · m / (1 - p), m ~ Bernoulli(1 - p) while training; y = x at evaluation."""

    def __init__(self, p: float = 0.5, seed: int = 0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1). Received: p={p}")
        self.p, self.seed = p, seed
        self.rng = np.random.default_rng(seed)
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if not train or self.p == 0.0:
            self._mask = None
            return x
        keep = (self.rng.random(x.shape) >= self.p).astype(x.dtype)
        self._mask = keep / np.asarray(1.0 - self.p, dtype=x.dtype)
        return x * self._mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx = dy · m / (1 - p)"""
        return dy if self._mask is None else dy * self._mask

    def config(self) -> dict[str, Any]:
        return {"p": self.p, "seed": self.seed}


@register("flatten")
class Flatten(Layer):
    """(N, C, H, W) -> (N, C·H·W); backward reshapes the gradient back."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx = reshape(dy, x.shape)"""
        return dy.reshape(self._shape)
