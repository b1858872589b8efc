"""The fast version: the plain layers, loss and Adam with NumPy's time spent only on the arithmetic.

Read the plain files first; this one changes no equation (the same torch comparisons run on both, and a test trains
the two side by side to the same weights). Each class below subclasses its plain twin and replaces only the methods
a trick touches. What each trick buys, added one at a time to the plain step of the benchmark (784-512-512-10 ReLU
MLP, batch 128, float32, Adam, 2 BLAS threads on a shared 2-core machine; medians of 200-300 steps, three runs of
`python benchmarks/scratch_vs_torch.py --tricks`), as a share of the plain step (6.4-7.9 ms):

  1. Buffers and in-place backward (`FastDense`, `FastReLU`, `FastSoftmaxCrossEntropy`): a layer writes its output
     and dL/dx into the arrays it used last step, ReLU multiplies the incoming dy where it lies (the layer above is
     done with it), Dense writes dL/dW straight into the gradient array. 1-3%: the matmuls, which these layers
     spend their time on, cost the same either way.
  2. No dL/dx for the first layer (`FastSequential.backward`): a 128×512 · 512×784 matmul whose result nobody
     reads. 7-10%.
  3. Adam in ten in-place passes (`FastAdam`) instead of a dozen new arrays per parameter. 27-36%: Adam touches
     every weight a dozen times with no matmul to hide behind, and each new array of this size is fresh memory to
     fault in (plain Adam alone: about 1,700 page faults a step; FastAdam: none).
All three: the step takes 52-60% of the plain one's time (3.3-4.7 ms).

The price, and why the plain files don't pay it: an output is valid only until that layer's next forward, a
backward may overwrite the dy it was handed, and a model's dL/dinput comes back only when asked for.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from neuralab.scratch.activations import ReLU
from neuralab.scratch.layers import Dense, Layer
from neuralab.scratch.losses import SoftmaxCrossEntropy
from neuralab.scratch.model import Sequential, mlp
from neuralab.scratch.optim import Adam


def buffer(buf: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Reuse `buf` when it already has this shape and dtype, else allocate (once per new batch shape)."""
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        return np.empty(shape, dtype=dtype)
    return buf


class FastDense(Dense):
    """Dense with its output and dL/dx in reused buffers, and dL/dW, dL/db written in place."""

    _y: np.ndarray | None = None
    _dx: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self._x = x
        self._y = buffer(self._y, (x.shape[0], self.n_out), self.W.dtype)
        np.matmul(x, self.W, out=self._y)
        self._y += self.b
        return self._y

    def weight_backward(self, dy: np.ndarray) -> None:
        """dL/dW and dL/db only: all the first layer of a model needs."""
        np.matmul(self._x.T, dy, out=self.grads["W"])
        np.sum(dy, axis=0, out=self.grads["b"])

    def backward(self, dy: np.ndarray) -> np.ndarray:
        self.weight_backward(dy)
        self._dx = buffer(self._dx, (dy.shape[0], self.n_in), self.W.dtype)
        return np.matmul(dy, self.W.T, out=self._dx)


class FastReLU(ReLU):
    """ReLU with its mask and output in reused buffers; backward multiplies dy in place."""

    _mask: np.ndarray | None = None
    _y: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self._mask = buffer(self._mask, x.shape, x.dtype)
        np.greater(x, 0, out=self._mask)  # 1.0 where active, else 0.0, in x's dtype: a float multiply in backward
        self._y = buffer(self._y, x.shape, x.dtype)
        return np.maximum(x, 0, out=self._y)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return np.multiply(dy, self._mask, out=dy)


FAST_LAYERS: dict[type, type] = {Dense: FastDense, ReLU: FastReLU}


def _fast(layer: Layer) -> Layer:
    """The same layer (same config, same weights) as its fast class; a layer without one is kept as it is."""
    fast_cls = FAST_LAYERS.get(type(layer))
    if fast_cls is None:
        return layer
    fast = fast_cls(**layer.config())
    for name, p, _ in layer.params():
        setattr(fast, name, p.copy())  # Sequential's astype then gives it gradient arrays of the model's dtype
    return fast


class FastSequential(Sequential):
    """Sequential over fast layers (given plain ones, it swaps them, keeping their weights).

    Saved, it is the same JSON and weights as the plain model: `Sequential.load` reads it back plain,
    `FastSequential.load` fast."""

    def __init__(self, layers: Sequence[Layer], dtype: Any = "float32") -> None:
        super().__init__([_fast(layer) for layer in layers], dtype)

    def backward(self, dy: np.ndarray, input_grad: bool = False) -> np.ndarray | None:
        """As Sequential.backward, but dL/dinput (the first layer's dL/dx) only when `input_grad`: training never
        reads it."""
        first, *rest = self.layers
        for layer in reversed(rest):
            dy = layer.backward(dy)
        if input_grad or not isinstance(first, FastDense):
            return first.backward(dy)
        first.weight_backward(dy)
        return None


def fast_mlp(*args: Any, **kwargs: Any) -> FastSequential:
    """`mlp(...)` built from fast layers: the same arguments give the same weights."""
    model = mlp(*args, **kwargs)
    return FastSequential(model.layers, dtype=model.dtype)


class FastSoftmaxCrossEntropy(SoftmaxCrossEntropy):
    """The fused loss with its probabilities and gradient in two reused buffers."""

    _p: np.ndarray | None = None
    _grad: np.ndarray | None = None

    def forward(self, logits: np.ndarray, target: np.ndarray) -> float:
        n = logits.shape[0]
        self._y = target.astype(np.int64, copy=False)
        p = self._p = buffer(self._p, logits.shape, logits.dtype)
        np.subtract(logits, logits.max(axis=1, keepdims=True), out=p)  # z - max z: all ≤ 0
        picked = p[np.arange(n), self._y].astype(np.float64)
        np.exp(p, out=p)
        total = p.sum(axis=1, keepdims=True)
        p /= total  # now softmax(z), kept for backward
        return float(np.mean(np.log(total[:, 0].astype(np.float64)) - picked))

    def backward(self) -> np.ndarray:
        p, n = self._p, self._p.shape[0]
        g = self._grad = buffer(self._grad, p.shape, p.dtype)
        np.multiply(p, 1.0 / n, out=g)
        g[np.arange(n), self._y] -= 1.0 / n
        return g

    def probabilities(self) -> np.ndarray:
        """A copy: the buffer itself is rewritten by the next forward."""
        return self._p.copy()


class FastAdam(Adam):
    """Adam in ten in-place passes over each parameter through one scratch array s (the plain update makes a dozen
    new arrays).

    It keeps m' = m / (1-β1) and v' = v / (1-β2) in `self.m`, `self.v`: then each running mean is one multiply and
    one add (m' ← β1·m' + g), and the constants go into two scalars of the update,
    w ← w - m' / (√v' · k1 + k2),  k1 = √((1-β2)/(1-β2^t)) / a,  k2 = ε / a,  a = lr·(1-β1)/(1-β1^t)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scratch = [np.empty_like(w) for w, _ in self.params]

    def update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        m, v, s = self.m[i], self.v[i], self.scratch[i]
        a = self.lr * (1 - self.beta1) / (1 - self.beta1**self.t)
        k1, k2 = ((1 - self.beta2) / (1 - self.beta2**self.t)) ** 0.5 / a, self.eps / a  # Python floats: float32 math
        m *= self.beta1
        m += g
        v *= self.beta2
        v += np.multiply(g, g, out=s)
        np.sqrt(v, out=s)
        s *= k1
        s += k2
        w -= np.divide(m, s, out=s)
