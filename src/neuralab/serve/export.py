"""`neuralab export RUN --format onnx|torchscript`: the model + serve.json (its model card), checked against PyTorch
by the task's own parity check before it is accepted."""

from __future__ import annotations

from pathlib import Path

from neuralab.errors import NeuralabError
from neuralab.files import atomic_write_json
from neuralab.models.checkpoint import load_model
from neuralab.serve.backends import SIDECAR, model_name
from neuralab.tasks import for_card

FILES = {"onnx": "model.onnx", "torchscript": "model.pt"}


def export(run: str | Path, fmt: str, out: str | Path | None = None) -> Path:
    """Export a run's model; returns the folder holding the model file and serve.json."""
    model, card = load_model(run)
    task = for_card(card, str(run))
    if fmt not in task.formats:
        raise NeuralabError(f"a {card.task} model exports as {', '.join(task.formats)}, not {fmt!r}")
    folder = Path(out) if out else Path(run) / "export"
    check = task.export(model, card, fmt, folder / FILES[fmt])
    atomic_write_json(folder / SIDECAR, {"name": model_name(run), "format": fmt, **check, "card": card.to_json()})
    return folder
