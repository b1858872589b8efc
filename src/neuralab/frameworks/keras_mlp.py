"""The MLP of `neuralab run mnist` in Keras 3: Sequential API, `model.fit`, a `.keras` file, reloaded and checked.

Same architecture (flatten, Dense+ReLU+Dropout blocks, logits out), same data split and normalization, same
optimizer (Adam with a per-step cosine decay), batch size and epochs as the PyTorch run, so accuracy and time
compare the frameworks and not the recipes. What still differs: Keras initializes Dense layers with Glorot-uniform
weights and zero biases (PyTorch: Kaiming-uniform and small random biases), and shuffles with its own generator.

Import this module only after `neuralab.frameworks.import_keras(backend)` has chosen the backend (or with
$KERAS_BACKEND set); on its own it imports Keras on the torch backend.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuralab.frameworks import import_keras
from neuralab.runs import Run

keras = import_keras()


def arrays(split: Any, mean: Any, std: Any) -> tuple[np.ndarray, np.ndarray]:
    """A split as float32 inputs normalized like the PyTorch loader does, (x/255 - mean)/std, and int labels."""
    x = split.x.astype(np.float32)
    if split.x.dtype == np.uint8:
        x /= 255.0
    shape = (1, -1) + (1,) * (x.ndim - 2)  # per channel: (N, C, H, W) images, (N, F) features
    x = (x - np.asarray(mean, np.float32).reshape(shape)) / np.asarray(std, np.float32).reshape(shape)
    return x, split.y.astype(np.int64)


def build_mlp(input_shape: tuple[int, ...], num_classes: int, hidden: list[int], dropout: float = 0.0,
              translate_px: int = 0) -> Any:
    """`translate_px` > 0 puts a RandomTranslation layer first: Keras' way to augment, active in `fit` only, and
    the counterpart of the PyTorch engine's batched `crop=N` (shifts of up to N pixels, edge pixels repeated)."""
    layers: list[Any] = [keras.Input(shape=tuple(input_shape))]
    if translate_px:
        h, w = input_shape[-2:]
        layers.append(keras.layers.RandomTranslation(translate_px / h, translate_px / w, fill_mode="nearest",
                                                     data_format="channels_first"))
    layers.append(keras.layers.Flatten())
    for width in hidden:
        layers.append(keras.layers.Dense(width, activation="relu"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(num_classes))  # logits, like the PyTorch model: softmax lives in the loss
    return keras.Sequential(layers, name="mlp")


class RunLog(keras.callbacks.Callback):
    """Writes neuralab's metrics.jsonl from `fit` (one train and one val line per epoch, with seconds and lr) and
    keeps the weights of the best validation epoch, as the PyTorch Trainer does."""

    def __init__(self, run: Run, epochs: int, log: Callable[[str], None]):
        super().__init__()
        self.run, self.epochs, self.log = run, epochs, log
        self.best, self.best_epoch, self.best_weights = -1.0, 0, None

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.t0 = time.perf_counter()
        self.t_val = None

    def on_test_begin(self, logs: Any = None) -> None:  # fit's validation pass starts: training time ends here
        self.t_val = self.t_val or time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        logs, now = logs or {}, time.perf_counter()
        t_val = self.t_val or now
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        e = epoch + 1
        self.run.log(e, "train", float(logs["loss"]), {"accuracy": float(logs["accuracy"])}, lr=lr,
                     seconds=t_val - self.t0)
        self.run.log(e, "val", float(logs["val_loss"]), {"accuracy": float(logs["val_accuracy"])}, lr=lr,
                     seconds=now - t_val)
        if logs["val_accuracy"] > self.best:
            self.best, self.best_epoch, self.best_weights = float(logs["val_accuracy"]), e, self.model.get_weights()
        self.log(f"epoch {e}/{self.epochs}  train loss {logs['loss']:.4f}  val loss {logs['val_loss']:.4f}  "
                 f"val accuracy {logs['val_accuracy']:.4f}  ({t_val - self.t0:.1f}s)")


def save_keras(model: Any, path: Path) -> Path:
    """Write the `.keras` file (a zip of config + weights) atomically, like every other file of a run."""
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)
    return path


def fit_mlp(data: Any, run: Run, *, hidden: list[int], dropout: float, epochs: int, batch_size: int, lr: float,
            seed: int, translate_px: int = 0, limit_train: int = 0,
            log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train, keep the best validation epoch, save `checkpoints/model.keras`, reload it and compare predictions.

    Returns the summary (also written to the run) plus `probs`, the test-set class probabilities."""
    keras.utils.set_random_seed(seed)
    train = data.train.subset(limit_train)
    (xt, yt), (xv, yv), (xs, ys) = (arrays(s, data.mean, data.std) for s in (train, data.val, data.test))
    model = build_mlp(data.input_shape, data.num_classes, hidden, dropout, translate_px)
    steps = epochs * math.ceil(len(xt) / batch_size)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(lr, steps)),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    callback = RunLog(run, epochs, log)
    start = time.perf_counter()
    model.fit(xt, yt, batch_size=batch_size, epochs=epochs, validation_data=(xv, yv), shuffle=True, verbose=0,
              callbacks=[callback])
    seconds = time.perf_counter() - start
    model.set_weights(callback.best_weights)
    logits = model.predict(xs, batch_size=1000, verbose=0)
    path = save_keras(model, run.checkpoints / "model.keras")
    reloaded = keras.saving.load_model(path).predict(xs, batch_size=1000, verbose=0)
    accuracy = float((logits.argmax(1) == ys).mean())
    summary = {"framework": "keras", "keras_version": keras.__version__, "backend": keras.backend.backend(),
               "dataset": data.name, "model": "mlp", "params": int(model.count_params()), "epochs_run": epochs,
               "best_epoch": callback.best_epoch, "train_seconds": seconds,
               "val": {"accuracy": callback.best}, "test": {"accuracy": accuracy},
               "model_file": str(path), "reloaded_accuracy": float((reloaded.argmax(1) == ys).mean()),
               "reload_identical": bool(np.array_equal(logits, reloaded))}
    run.write_summary(summary)
    z = np.exp(logits - logits.max(1, keepdims=True))
    return {**summary, "probs": (z / z.sum(1, keepdims=True)).astype(np.float32)}
