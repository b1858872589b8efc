"""A Keras twin trained in its own Python process, for a backend this process cannot hold (TensorFlow).

Why a process: Keras picks one backend per process, and a neuralab process has PyTorch loaded and may already hold
Keras on the torch backend (tests do). TensorFlow also brings its own thread pools and a few hundred MB that would
stay with a long tour after its one run; a child process returns them when it exits. On these 2 cores Keras on
TensorFlow trains the MNIST MLP twin at ~3 s an epoch against 9-15 s on the torch backend, so the tour runs it there.

The parent writes the splits as they are to be trained (`inputs.npz`) and the recipe (`job.json`) into a temporary
folder; `python -m neuralab.frameworks.keras_process FOLDER RUN` trains with `fit_twin` into the run folder the
parent created and writes the `KerasFit` back (`fit.json`, `probs.npy`). Its epoch lines stream to the parent's log.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

import neuralab.models  # noqa: F401  (PyTorch's side loads before TensorFlow: see main)
from neuralab.data.base import Dataset, Split
from neuralab.errors import NeuralabError
from neuralab.runs import Run

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class KerasFit:
    """What one Keras training measured (the run folder has the same as metrics.jsonl and summary.json)."""

    keras_version: str
    backend: str
    params: int  # trainable, the number PyTorch counts
    epochs_run: int
    best_epoch: int
    train_seconds: float  # the whole `fit`, validation after every epoch included
    images_seen: int
    val_accuracy: float  # of the kept (best) epoch
    test_accuracy: float
    probs: np.ndarray  # test-set class probabilities (N, classes)
    model_file: str
    reloaded_accuracy: float
    reload_identical: bool  # the reloaded file's test logits equal the trained model's, bit for bit


def write_job(folder: Path, data: Dataset, backend: str, recipe: dict[str, Any]) -> None:
    arrays = {f"{k}_{part}": getattr(split, part) for k, split in data.splits().items() for part in ("x", "y")}
    np.savez(folder / "inputs.npz", **arrays)
    meta = {"name": data.name, "task": data.task, "classes": data.classes, "mean": list(data.mean),
            "std": list(data.std), "source": data.source}
    (folder / "job.json").write_text(json.dumps({"backend": backend, "data": meta, "recipe": recipe}))


def read_job(folder: Path) -> tuple[Dataset, str, dict[str, Any]]:
    job = json.loads((folder / "job.json").read_text())
    with np.load(folder / "inputs.npz") as arrays:
        splits = {k: Split(arrays[f"{k}_x"], arrays[f"{k}_y"]) for k in SPLITS}
    meta = job["data"]
    data = Dataset(meta["name"], meta["task"], splits["train"], splits["val"], splits["test"], meta["classes"],
                   tuple(meta["mean"]), tuple(meta["std"]), meta["source"])
    return data, job["backend"], job["recipe"]


def fit_twin_in_process(data: Dataset, run: Run, backend: str, log: Callable[[str], None] = print,
                        **recipe: Any) -> KerasFit:
    """`keras_train.fit_twin(data, run, **recipe)` on `backend`, run by a fresh interpreter; returns its KerasFit."""
    with tempfile.TemporaryDirectory(prefix="neuralab-keras-") as tmp:
        folder = Path(tmp)
        write_job(folder, data, backend, recipe)
        cmd = [sys.executable, "-m", "neuralab.frameworks.keras_process", str(folder), str(run.path)]
        env = {"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ, "KERAS_BACKEND": backend}  # TensorFlow's notices: off
        # stderr to a file: a pipe read only after stdout ends would block a child that warns a lot
        with open(folder / "stderr.txt", "w") as err, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                                                                       text=True, env=env) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                log(line.rstrip("\n"))
        if proc.returncode != 0 or not (folder / "fit.json").exists():
            raise NeuralabError(f"the Keras twin on {backend} failed in its own process (exit {proc.returncode}; "
                                f"{' '.join(cmd[1:3])}):\n{(folder / 'stderr.txt').read_text()[-2000:]}")
        fields = json.loads((folder / "fit.json").read_text())
        return KerasFit(**fields, probs=np.load(folder / "probs.npy"))


def main(argv: list[str]) -> int:
    """The child's side. PyTorch and the models were imported with this module, before Keras loads TensorFlow:
    triton (which torchvision loads) crashes the interpreter when it is imported after TensorFlow."""
    folder, run_path = Path(argv[0]), Path(argv[1])
    data, backend, recipe = read_job(folder)
    from neuralab.frameworks import import_keras

    import_keras(backend)
    from neuralab.frameworks.keras_train import fit_twin

    fit = fit_twin(data, Run.open(run_path), log=lambda msg: print(msg, flush=True), **recipe)
    np.save(folder / "probs.npy", fit.probs)
    fields = {k: v for k, v in dataclasses.asdict(fit).items() if k != "probs"}
    (folder / "fit.json").write_text(json.dumps(fields))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
