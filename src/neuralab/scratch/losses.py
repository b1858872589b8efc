"""Losses: `forward(pred, target) -> float` (the batch mean), then `backward() -> dL/dpred`.

The two classification losses take raw scores (logits), never probabilities: fusing the final sigmoid/softmax into
the loss is what makes them exact for any logit (±1e4 gives no overflow and no NaN) and gives the simple gradient.
"""

from __future__ import annotations

import numpy as np


class Loss:
    def __call__(self, pred: np.ndarray, target: np.ndarray) -> float:
        return self.forward(pred, target)

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def metrics(self, output: np.ndarray, target: np.ndarray) -> dict[str, float]:
        """What a person reads off this task's outputs (accuracy, or errors in the target's units)."""
        raise NotImplementedError


class MSE(Loss):
    """L = mean((pred - y)²) over every element."""

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        self._diff = pred - target.reshape(pred.shape).astype(pred.dtype)
        return float(np.mean(self._diff * self._diff))

    def backward(self) -> np.ndarray:
        """dL/dpred = 2 (pred - y) / n"""
        return 2.0 * self._diff / self._diff.size

    def metrics(self, output: np.ndarray, target: np.ndarray) -> dict[str, float]:
        """rmse = √mean(err²) (the loss's own scale, in the target's units) and mae = mean|err|."""
        err = output.astype(np.float64) - target.reshape(output.shape)
        return {"rmse": float(np.sqrt(np.mean(err * err))), "mae": float(np.mean(np.abs(err)))}


class BinaryCrossEntropy(Loss):
    """L = mean(-y log σ(z) - (1-y) log(1 - σ(z))) from logits z, computed as
    max(z, 0) - z·y + log(1 + e^-|z|), which never exponentiates a positive number."""

    def forward(self, logits: np.ndarray, target: np.ndarray) -> float:
        z = logits
        y = target.reshape(z.shape).astype(z.dtype)
        self._z, self._y = z, y
        return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))

    def backward(self) -> np.ndarray:
        """dL/dz = (σ(z) - y) / n"""
        sig = 0.5 * (1.0 + np.tanh(0.5 * self._z))
        return (sig - self._y) / self._z.size

    def metrics(self, logits: np.ndarray, target: np.ndarray) -> dict[str, float]:
        """accuracy of the decision σ(z) > ½, that is z > 0, against labels 0/1."""
        return {"accuracy": float(np.mean((logits > 0) == (target.reshape(logits.shape) > 0.5)))}


class SoftmaxCrossEntropy(Loss):
    """L = mean_i(logsumexp(z_i) - z_i[y_i]) for integer labels y: softmax and log fused, max subtracted first."""

    def forward(self, logits: np.ndarray, target: np.ndarray) -> float:
        """log p = (z - max z) - log Σ e^(z - max z): every exponent ≤ 0, so nothing overflows."""
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self._p, self._y = np.exp(log_p), target.astype(np.int64, copy=False)
        picked = log_p[np.arange(len(log_p)), self._y]
        return float(-np.mean(picked.astype(np.float64)))

    def backward(self) -> np.ndarray:
        """dL/dz = (softmax(z) - onehot(y)) / n"""
        onehot = np.zeros_like(self._p)
        onehot[np.arange(len(self._p)), self._y] = 1.0
        return (self._p - onehot) / len(self._p)

    def probabilities(self) -> np.ndarray:
        """softmax(z) of the last forward."""
        return self._p

    def metrics(self, logits: np.ndarray, target: np.ndarray) -> dict[str, float]:
        """accuracy of the decision argmax_k z_k against the class ids."""
        return {"accuracy": float(np.mean(logits.argmax(axis=1) == target.reshape(-1)))}


LOSSES = {"mse": MSE, "bce": BinaryCrossEntropy, "softmax_ce": SoftmaxCrossEntropy}
