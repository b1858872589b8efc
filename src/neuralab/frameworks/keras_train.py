"""Training a Keras twin (frameworks/keras_models.py) the way the PyTorch engine trains its model: `model.fit`,
a `.keras` file, reloaded and checked.

Same data split and normalization, same optimizer (Adam with a per-step cosine decay to 0), batch size and epochs as
the PyTorch run, and the weights of the best validation epoch kept, so accuracy and time compare the frameworks and
not the recipes. Keras shuffles with its own generator; everything else that differs is the networks' initial
weights (see keras_models.py).

Import this module only after `neuralab.frameworks.import_keras(backend)` has chosen the backend.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuralab.data.base import Dataset, Split
from neuralab.frameworks import import_keras
from neuralab.frameworks.keras_models import build_twin, data_format, trainable_params
from neuralab.frameworks.keras_process import KerasFit
from neuralab.records import RunSummary
from neuralab.runs import Run

keras = import_keras()


def arrays(split: Split, mean: Any, std: Any) -> tuple[np.ndarray, np.ndarray]:
    """A split as float32 inputs normalized like the PyTorch loader does, (x/255 - mean)/std, in the backend's
    layout, and int labels."""
    x = split.x.astype(np.float32)
    if split.x.dtype == np.uint8:
        x /= 255.0
    shape = (1, -1) + (1,) * (x.ndim - 2)  # per channel: (N, C, H, W) images, (N, F) features
    x = (x - np.asarray(mean, np.float32).reshape(shape)) / np.asarray(std, np.float32).reshape(shape)
    if x.ndim == 4 and data_format() == "channels_last":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return x, split.y.astype(np.int64)


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


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(1, keepdims=True))
    return (z / z.sum(1, keepdims=True)).astype(np.float32)


def fit_twin(data: Dataset, run: Run, *, model: str, kwargs: dict[str, Any], augment: str, epochs: int,
             batch_size: int, lr: float, seed: int, log: Callable[[str], None] = print) -> KerasFit:
    """Train the Keras twin of `model` on `data` (its splits as they are: subset them first), keep the best
    validation epoch, save `checkpoints/model.keras`, reload it and compare the test predictions."""
    keras.utils.set_random_seed(seed)
    (xt, yt), (xv, yv), (xs, ys) = (arrays(s, data.mean, data.std) for s in (data.train, data.val, data.test))
    net = build_twin(model, data.input_shape, data.num_classes, kwargs, augment)
    steps = epochs * math.ceil(len(xt) / batch_size)
    net.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(lr, steps)),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    callback = RunLog(run, epochs, log)
    start = time.perf_counter()
    net.fit(xt, yt, batch_size=batch_size, epochs=epochs, validation_data=(xv, yv), shuffle=True, verbose=0,
            callbacks=[callback])
    seconds = time.perf_counter() - start
    net.set_weights(callback.best_weights)
    logits = net.predict(xs, batch_size=1000, verbose=0)
    path = save_keras(net, run.checkpoints / "model.keras")
    reloaded = keras.saving.load_model(path).predict(xs, batch_size=1000, verbose=0)
    fit = KerasFit(keras.__version__, keras.backend.backend(), trainable_params(net), epochs, callback.best_epoch,
                   seconds, epochs * len(xt), callback.best, float((logits.argmax(1) == ys).mean()),
                   softmax(logits), str(path), float((reloaded.argmax(1) == ys).mean()),
                   bool(np.array_equal(logits, reloaded)))
    details = {k: v for k, v in vars(fit).items() if k not in ("probs", "val_accuracy", "test_accuracy")}
    run.write_summary(RunSummary(test={"accuracy": fit.test_accuracy}, val={"accuracy": fit.val_accuracy},
                                 details={"framework": "keras", "dataset": data.name, "model": model, **details}))
    return fit
