"""The mini-batch training loop: shuffle, forward, loss, backward, step; validate every epoch; stop early.

    history = fit(model, data, SoftmaxCrossEntropy(), Adam(model, lr=1e-3), epochs=50, run=run)

Each epoch writes two lines to the run's metrics.jsonl in the torch engine's format ({"epoch", "split", "loss",
"metrics", "lr", "seconds"}), so `plot_curves` and `neuralab report` read scratch runs and torch runs alike. The
metrics are the loss's own, `loss.metrics(outputs, targets)`: accuracy for the classification losses, rmse and mae
for MSE. The weights with the best validation score are restored at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from neuralab.scratch.losses import MSE, Loss, SoftmaxCrossEntropy
from neuralab.scratch.model import Sequential


@dataclass
class Arrays:
    """Model-ready inputs: float features (N, D) and targets (class ids, or values of shape (N, 1))."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


def prepare(dataset: Any, dtype: Any = "float32") -> dict[str, Arrays]:
    """Every split of a `neuralab.data.Dataset` as flat, standardized float arrays.

    Statistics are the dataset's own (computed on the training split): images are scaled to [0, 1] and normalized per
    channel, tabular features per column. Regression targets become a column (N, 1)."""
    mean, std = np.asarray(dataset.mean, np.float64), np.asarray(dataset.std, np.float64)
    out = {}
    for name, split in dataset.splits().items():
        x = split.x.astype(np.float64)
        if x.ndim == 4:
            x = (x / 255.0 - mean[None, :, None, None]) / std[None, :, None, None]
        else:
            x = (x - mean) / std
        x = x.reshape(len(x), -1).astype(dtype)
        y = split.y if dataset.task == "classification" else split.y.reshape(-1, 1).astype(dtype)
        out[name] = Arrays(x, y)
    return out


def loss_for(task: str) -> Loss:
    return SoftmaxCrossEntropy() if task == "classification" else MSE()


def evaluate(model: Sequential, loss: Loss, data: Arrays, batch_size: int = 4096) -> tuple[float, dict[str, float]]:
    """Mean loss and the loss's metrics (accuracy, or rmse/mae) over a split, in evaluation mode."""
    out = model.predict(data.x, batch_size)
    return loss.forward(out, data.y), loss.metrics(out, data.y)


def score(loss: float, metrics: dict[str, float]) -> tuple[float, float]:
    """Higher is better: accuracy first (then lower loss) for classifiers, lower loss for regression."""
    return (metrics["accuracy"], -loss) if "accuracy" in metrics else (-loss, 0.0)


@dataclass
class History:
    rows: list[dict[str, Any]] = field(default_factory=list)  # the metrics.jsonl lines
    best_epoch: int = 0
    stopped: str = ""
    seconds: float = 0.0

    def curve(self, split: str, key: str = "loss") -> list[float]:
        return [r[key] if key == "loss" else r["metrics"][key] for r in self.rows if r["split"] == split]


def train_epoch(model: Sequential, train: Arrays, loss: Loss, optimizer: Any, batch_size: int,
                rng: np.random.Generator) -> tuple[float, dict[str, float]]:
    """One pass over the shuffled training split, a step per mini-batch. Returns the mean loss and the loss's
    metrics of the outputs seen along the way (in training mode, while the weights moved)."""
    order = rng.permutation(len(train))
    total, outputs = 0.0, []
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        x, y = train.x[idx], train.y[idx]
        out = model.forward(x, train=True)
        outputs.append(out.copy())  # a copy: a fast model writes its next output into the same array
        total += loss.forward(out, y) * len(idx)
        model.backward(loss.backward())
        optimizer.step()
    return total / len(order), loss.metrics(np.concatenate(outputs), train.y[order])


def fit(model: Sequential, data: dict[str, Arrays], loss: Loss, optimizer: Any, epochs: int, batch_size: int = 64,
        seed: int = 0, patience: int | None = None, run: Any = None, lr_schedule: Callable[[int], float] | None = None,
        on_epoch: Callable[[int, Sequential], None] | None = None, log: Callable[[str], None] | None = None,
        blas_threads: int | None = 1) -> History:
    """Train on data["train"], validate on data["val"] after every epoch, keep the best weights.

    Shuffling uses its own `np.random.default_rng(seed)`: the same seed gives the same batches, so (with the same
    initial weights) the same final weights. `patience`: stop after that many epochs without a better validation
    score. `lr_schedule(epoch) -> lr` sets the learning rate before each epoch. `on_epoch(epoch, model)` is called
    after each epoch (experiments use it to record gradient statistics). `blas_threads`: BLAS threads while
    training (None: leave as is); for the small matrices of these models, thread start-up and synchronization cost
    more than they save, and on a busy machine much more."""
    if blas_threads is not None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=blas_threads, user_api="blas"):
            return fit(model, data, loss, optimizer, epochs, batch_size, seed, patience, run, lr_schedule, on_epoch,
                       log, blas_threads=None)
    rng = np.random.default_rng(seed)
    hist = History()
    best, best_state, waited = None, model.state(), 0
    t_start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        if lr_schedule is not None:
            optimizer.lr = lr_schedule(epoch)
        t0 = time.perf_counter()
        train_loss, metrics = train_epoch(model, data["train"], loss, optimizer, batch_size, rng)
        seconds = time.perf_counter() - t0
        vloss, vmetrics = evaluate(model, loss, data["val"])
        rows = [{"epoch": epoch, "split": "train", "loss": train_loss, "metrics": metrics, "lr": optimizer.lr,
                 "seconds": seconds},
                {"epoch": epoch, "split": "val", "loss": vloss, "metrics": vmetrics, "lr": optimizer.lr,
                 "seconds": time.perf_counter() - t0 - seconds}]
        for r in rows:
            hist.rows.append(r)
            if run is not None:
                run.log(**r)
        if on_epoch is not None:
            on_epoch(epoch, model)
        if not np.isfinite(train_loss):
            hist.stopped = f"diverged at epoch {epoch} (loss {train_loss})"
            break
        s = score(vloss, vmetrics)
        if best is None or s > best:
            best, best_state, hist.best_epoch, waited = s, model.state(), epoch, 0
        else:
            waited += 1
            if patience is not None and waited >= patience:
                hist.stopped = f"early stop: no better validation score for {patience} epochs"
                break
        if log is not None and (epoch == 1 or epoch % 10 == 0 or epoch == epochs):
            shown = " ".join(f"{k} {v:.4f}" for k, v in vmetrics.items())
            log(f"epoch {epoch}/{epochs}  train loss {train_loss:.4f}  val loss {vloss:.4f}  {shown}")
    hist.stopped = hist.stopped or f"completed {epochs} epochs"
    hist.seconds = time.perf_counter() - t_start
    model.load_state(best_state)
    return hist
