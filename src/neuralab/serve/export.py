"""`neuralab export RUN [--format onnx|torchscript] [--precision fp32|int8|bf16]`: the model + serve.json (its model
card, the engine and precision it runs at, and the check it passed), accepted only when the task's check passes:
parity with PyTorch for fp32, top-1 accuracy on the test split for int8 and bf16 (`tasks.precision`).

Each precision has its own default folder (RUN/export, RUN/export-int8, RUN/export-bf16), so one run can hold all
three and `neuralab serve RUN` can choose among them (`engines`).
"""

from __future__ import annotations

from pathlib import Path

from neuralab.config import Settings
from neuralab.errors import ConfigError, NeuralabError
from neuralab.files import atomic_write_json
from neuralab.models.checkpoint import load_model, resolve
from neuralab.serve.backends import model_name
from neuralab.serve.engines import SIDECAR, engine_name, file_digest
from neuralab.tasks import for_card
from neuralab.tasks.precision import ExportOptions

FILES = {"onnx": "model.onnx", "torchscript": "model.pt"}
FORMAT_OF = {"fp32": "onnx", "int8": "onnx", "bf16": "torchscript"}  # the default (int8 and bf16: the only) format
FOLDERS = {"fp32": "export", "int8": "export-int8", "bf16": "export-bf16"}


def export(run: str | Path, fmt: str | None = None, out: str | Path | None = None,
           options: ExportOptions | None = None, settings: Settings | None = None) -> Path:
    """Export a run's model; returns the folder holding the model file and serve.json."""
    options = options or ExportOptions()
    precision = options.precision
    model, card = load_model(run)
    task = for_card(card, str(run))
    if precision not in task.precisions:
        raise ConfigError(f"a {card.task} model exports in {', '.join(task.precisions)}, not --precision {precision}")
    fmt = fmt or FORMAT_OF[precision]
    if fmt not in task.formats:
        raise NeuralabError(f"a {card.task} model exports as {', '.join(task.formats)}, not {fmt!r}")
    if precision != "fp32" and fmt != FORMAT_OF[precision]:
        raise ConfigError(f"{precision} is served by {engine_name(FORMAT_OF[precision], precision)}: export it with "
                          f"--format {FORMAT_OF[precision]}. Received: --format {fmt}")
    folder = Path(out) if out else Path(run) / FOLDERS[precision]
    check = task.export(model, card, fmt, folder / FILES[fmt], options, settings or Settings.resolve())
    checkpoint = resolve(run)
    atomic_write_json(folder / SIDECAR, {
        "name": model_name(run), "format": fmt, "precision": precision, "engine": engine_name(fmt, precision),
        **check, "source": {"checkpoint": str(checkpoint), "sha256": file_digest(checkpoint)},
        "card": card.to_json()})
    return folder
