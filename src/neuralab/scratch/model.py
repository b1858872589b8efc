"""Sequential: a list of layers run forward in order and backward in reverse; saved as JSON + .npz.

    model = mlp(2, [64, 64], 3)                # Dense → ReLU → Dense → ReLU → Dense
    logits = model.forward(x)                  # training mode (dropout on)
    loss.forward(logits, y); model.backward(loss.backward())
    model.save("runs/spiral/model")            # model.json (architecture) + model.npz (weights)
    same = Sequential.load("runs/spiral/model")

The dtype is the model's: float32 by default, `model.astype("float64")` for gradient checks; inputs are cast to it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from neuralab.files import atomic_write_bytes, atomic_write_json
from neuralab.scratch import activations  # noqa: F401  (registers the activation layers)
from neuralab.scratch.activations import ACTIVATIONS
from neuralab.scratch.layers import Dense, Dropout, Layer, build_layer

FORMAT = "neuralab.scratch.Sequential/1"


class Sequential:
    def __init__(self, layers: Sequence[Layer], dtype: Any = "float32") -> None:
        self.layers = list(layers)
        self.astype(dtype)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    def astype(self, dtype: Any) -> "Sequential":
        self._dtype = np.dtype(dtype)
        for layer in self.layers:
            layer.astype(self._dtype)
        return self

    # -- forward / backward -------------------------------------------------------------------------------------
    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """y = f_n(… f_2(f_1(x)))"""
        x = np.asarray(x, dtype=self._dtype)
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    __call__ = forward

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx_k = backward_k(dL/dx_{k+1}), last layer first; returns dL/dinput."""
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def predict(self, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Evaluation-mode outputs as one new array, computed in batches (to bound the memory a batch needs)."""
        outs = [self.forward(x[i:i + batch_size], train=False) for i in range(0, len(x), batch_size)]
        return np.concatenate(outs) if outs else np.empty((0,), dtype=self._dtype)

    # -- parameters ---------------------------------------------------------------------------------------------
    def params(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """(name, value, gradient) for every parameter: names like `0.W`, `0.b`, `2.W` (layer index . field)."""
        for i, layer in enumerate(self.layers):
            for name, p, g in layer.params():
                yield f"{i}.{name}", p, g

    def num_params(self) -> int:
        return sum(p.size for _, p, _ in self.params())

    def state(self) -> dict[str, np.ndarray]:
        return {name: p.copy() for name, p, _ in self.params()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Copy weights in place (optimizers keep pointing at the same arrays)."""
        own = {name: p for name, p, _ in self.params()}
        if set(own) != set(state):
            raise ValueError(f"weights do not match the model: expected {sorted(own)}. Received: {sorted(state)}")
        for name, p in own.items():
            if p.shape != state[name].shape:
                raise ValueError(f"weight {name}: expected shape {p.shape}. Received: {state[name].shape}")
            p[...] = state[name]

    # -- save / load --------------------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {"format": FORMAT, "dtype": self._dtype.name,
                "layers": [{"type": layer.kind, **layer.config()} for layer in self.layers]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Sequential":
        if config.get("format") != FORMAT:
            raise ValueError(f"not a scratch model config: expected format {FORMAT!r}. Received: {config.get('format')!r}")
        return cls([build_layer(spec) for spec in config["layers"]], dtype=config["dtype"])

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write `<path>.json` (architecture) and `<path>.npz` (weights). Returns both paths."""
        base = Path(path).with_suffix("")
        buf = io.BytesIO()
        np.savez(buf, **self.state())
        atomic_write_json(base.with_suffix(".json"), self.config())
        atomic_write_bytes(base.with_suffix(".npz"), buf.getvalue())
        return base.with_suffix(".json"), base.with_suffix(".npz")

    @classmethod
    def load(cls, path: str | Path) -> "Sequential":
        base = Path(path).with_suffix("")
        model = cls.from_config(json.loads(base.with_suffix(".json").read_text()))
        with np.load(base.with_suffix(".npz"), allow_pickle=False) as f:
            model.load_state({k: f[k] for k in f.files})
        return model

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(dtype={self._dtype.name}, params={self.num_params():,})\n{inner}"


def mlp(n_in: int, hidden: Sequence[int], n_out: int, activation: str = "relu", init: str | None = None,
        dropout: float = 0.0, seed: int = 0, dtype: Any = "float32") -> Sequential:
    """Dense → activation (→ Dropout) for each hidden width, then a Dense output layer (logits or values).

    Initialization defaults to He for (leaky) ReLU and GELU, Xavier for sigmoid/tanh. Each layer gets its own seed
    derived from `seed`, so one number fixes every weight."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"mlp: unknown activation; choose from {sorted(ACTIVATIONS)}. Received: {activation!r}")
    init = init or ("xavier" if activation in ("sigmoid", "tanh") else "he")
    seeds = np.random.SeedSequence(seed).generate_state(2 * len(hidden) + 1)
    layers: list[Layer] = []
    sizes = [n_in, *hidden]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [Dense(a, b, init=init, seed=int(seeds[2 * i])), ACTIVATIONS[activation]()]
        if dropout:
            layers.append(Dropout(dropout, seed=int(seeds[2 * i + 1])))
    out_init = "xavier" if init in ("xavier", "glorot") else "lecun"
    layers.append(Dense(sizes[-1], n_out, init=out_init, seed=int(seeds[-1])))
    return Sequential(layers, dtype=dtype)
