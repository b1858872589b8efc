"""Run directories: every training run leaves a folder a person (or `neuralab report`) can read later.

    runs/<UTC time>-<name>/
        config.json      the config that produced the run (round-trips through `config.from_dict`)
        metrics.jsonl    one line per epoch and split: {"epoch", "split", "loss", "metrics", "lr", "seconds"}
        summary.json     final numbers
        checkpoints/     model weights (safetensors) and their JSON sidecars
        plots/           PNG figures
        report.md        a short human-readable account

Every file is written atomically (temp file in the same folder, fsync, rename), so a killed run never leaves a
half-written file where a complete one used to be.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from neuralab.config import to_dict
from neuralab.errors import NeuralabError


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write to a temp file in the same folder, fsync, then rename over `path`: readers see old or new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results should be readable like any other
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(v: Any) -> Any:
    if hasattr(v, "item"):  # numpy / torch scalars
        return v.item()
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def _finite(v: Any) -> Any:
    """JSON has no NaN/inf: store them as null so every reader can parse the file."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


def dumps(obj: Any) -> str:
    return json.dumps(_finite(json.loads(json.dumps(obj, default=_json_default))), indent=2, sort_keys=False)


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, dumps(obj) + "\n")


def utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


@dataclass
class Run:
    """A run directory. Create with `Run.create`, open an existing one with `Run.open`."""

    path: Path

    @classmethod
    def create(cls, runs_dir: str | Path, name: str, config: Any = None) -> "Run":
        root = Path(runs_dir)
        base = f"{utc_stamp()}-{name}"
        path = root / base
        n = 1
        while True:
            try:
                path.mkdir(parents=True, exist_ok=False)
                break
            except FileExistsError:
                n += 1
                path = root / f"{base}-{n}"
        run = cls(path)
        run.checkpoints.mkdir()
        run.plots.mkdir()
        run.write_config(config if config is not None else {})  # config.json marks a folder as a run
        return run

    @classmethod
    def open(cls, path: str | Path) -> "Run":
        path = Path(path)
        if not (path / "config.json").is_file():
            raise NeuralabError(f"{path} is not a neuralab run directory (no config.json)")
        return cls(path)

    # -- layout ---------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def child(self, name: str, config: Any = None) -> "Run":
        """A sub-run (one variant of a comparison) with the same layout, under `<run>/runs/<name>`."""
        path = self.path / "runs" / name
        path.mkdir(parents=True, exist_ok=True)
        (path / "checkpoints").mkdir(exist_ok=True)
        (path / "plots").mkdir(exist_ok=True)
        run = Run(path)
        if config is not None:
            run.write_config(config)
        return run

    # -- writing --------------------------------------------------------------------------------------------
    def write_config(self, config: Any) -> None:
        data = to_dict(config) if not isinstance(config, dict) else config
        atomic_write_json(self.path / "config.json", data)

    def log(self, epoch: int, split: str, loss: float | None, metrics: dict[str, float] | None = None,
            lr: float | None = None, seconds: float | None = None, **extra: Any) -> dict[str, Any]:
        """Append one line to metrics.jsonl (atomically: the whole file is rewritten, it is small)."""
        row = {"epoch": epoch, "split": split, "loss": loss, "metrics": metrics or {}, "lr": lr,
               "seconds": seconds, **extra}
        line = json.dumps(_finite(json.loads(json.dumps(row, default=_json_default))))
        old = self.metrics_path.read_text() if self.metrics_path.exists() else ""
        atomic_write_text(self.metrics_path, old + line + "\n")
        if os.environ.get("NEURALAB_TENSORBOARD"):
            self._tensorboard(epoch, split, loss, metrics or {}, lr)
        return row

    def _tensorboard(self, epoch: int, split: str, loss: float | None, metrics: dict[str, float],
                     lr: float | None) -> None:
        """The same numbers as metrics.jsonl, for people who live in TensorBoard (`--tensorboard`)."""
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(str(self.path / "tensorboard")) as w:
            if loss is not None:
                w.add_scalar(f"loss/{split}", loss, epoch)
            for k, v in metrics.items():
                if isinstance(v, (int, float)):
                    w.add_scalar(f"{k}/{split}", v, epoch)
            if lr is not None and split == "train":
                w.add_scalar("lr", lr, epoch)

    def truncate_metrics(self, last_epoch: int) -> None:
        """Drop metric lines after `last_epoch` (used when resuming from that epoch's checkpoint)."""
        rows = [r for r in self.metrics() if r.get("epoch", 0) <= last_epoch]
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in rows))

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_json(self.path / "summary.json", summary)

    def write_report(self, markdown: str) -> Path:
        return atomic_write_text(self.path / "report.md", markdown)

    def save_figure(self, fig: Any, name: str) -> Path:
        """Save a matplotlib figure as plots/<name>.png (atomically) and close it."""
        import io

        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        return atomic_write_bytes(self.plots / f"{name}.png", buf.getvalue())

    # -- reading --------------------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return json.loads((self.path / "config.json").read_text())

    def summary(self) -> dict[str, Any]:
        p = self.path / "summary.json"
        return json.loads(p.read_text()) if p.exists() else {}

    def metrics(self, split: str | None = None) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        rows = [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]
        return [r for r in rows if split is None or r.get("split") == split]


def list_runs(runs_dir: str | Path) -> list[Run]:
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    return [Run(p) for p in sorted(root.iterdir()) if (p / "config.json").is_file()]


def find_run(ref: str | Path, runs_dir: str | Path) -> Run:
    """A run by path, by exact directory name, or by a unique suffix such as its experiment name."""
    p = Path(ref)
    if (p / "config.json").is_file():
        return Run(p)
    runs = list_runs(runs_dir)
    exact = [r for r in runs if r.name == str(ref)]
    if exact:
        return exact[0]
    matches = [r for r in runs if r.name.endswith(str(ref)) or str(ref) in r.name]
    if not matches:
        raise NeuralabError(f"no run {str(ref)!r} in {runs_dir} (see `neuralab runs list`)")
    return matches[-1]  # the newest


class Timer:
    """`with Timer() as t: ...; t.seconds` — wall time of a block."""

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: Iterable[Any]) -> None:
        self.seconds = time.perf_counter() - self.start
