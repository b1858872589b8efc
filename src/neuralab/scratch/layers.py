"""Layers: each one a small class whose `backward` sits right under its `forward`.

Conventions (the whole package follows them):
  * `forward(x, train)` keeps what `backward` needs; `backward(dy)` stores parameter gradients in `self.grads`
    and returns dL/dx.  `backward` may overwrite `dy` in place (it belongs to the layer above, which is done with it).
  * Outputs live in buffers the layer reuses while the batch shape stays the same (no allocation per step).
    They are valid until the next call; `Sequential.predict` copies what it returns.
  * Parameters and gradients are NumPy arrays updated in place; `params()` yields (name, value, grad) triples.
  * Every layer registers under a short name and describes itself with `config()`, so a model is rebuilt from JSON.
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


def buffer(buf: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Reuse `buf` when it already has this shape and dtype, else allocate (once per new batch shape)."""
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        return np.empty(shape, dtype=dtype)
    return buf


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
        self.need_dx = True  # the first layer of a model skips dL/dx (nobody reads it)
        self._x: np.ndarray | None = None
        self._y = self._dx = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """y = x · W + b"""
        self._x = x
        self._y = buffer(self._y, (x.shape[0], self.n_out), self.W.dtype)
        np.matmul(x, self.W, out=self._y)
        self._y += self.b
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """dL/dW = x^T · dy,  dL/db = Σ_batch dy,  dL/dx = dy · W^T"""
        np.matmul(self._x.T, dy, out=self.grads["W"])
        np.sum(dy, axis=0, out=self.grads["b"])
        if not self.need_dx:
            return None
        self._dx = buffer(self._dx, (dy.shape[0], self.n_in), self.W.dtype)
        return np.matmul(dy, self.W.T, out=self._dx)

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
