"""Run directories: every training run leaves a folder a person (or `neuralab report`) can read later.

    runs/<UTC time>-<name>/
        config.json      the config that produced the run (round-trips through `config.from_dict`)
        metrics.jsonl    one `records.EpochRow` per line: {"epoch", "split", "loss", "metrics", "lr", "seconds"}
        summary.json     a `records.RunSummary`: headline, test/val metrics, findings, details
        checkpoints/     model weights (safetensors) and their JSON sidecars
        plots/           PNG figures
        report.md        a short human-readable account

Every file is written atomically (`neuralab.files`), and a new run folder appears complete with its config.json or
not at all. This module and `report/` only read and write run folders: the artifact layer below everything that
trains.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from neuralab.config import to_dict
from neuralab.errors import ConfigError, NeuralabError
from neuralab.files import atomic_write_bytes, atomic_write_json, atomic_write_text, plain, read_json
from neuralab.records import EpochRow, RunSummary

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]*")  # a run name is one folder name: no separators, no '..'


def utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


def slug(text: str) -> str:
    """A run-name-safe version of free text ('max pool + dropout 0.3' -> 'max_pool_+_dropout_0.3')."""
    out = re.sub(r"[^A-Za-z0-9._+=-]+", "_", text).strip("_.") or "run"
    return out if out[0].isalnum() else f"r{out}"


def check_name(name: str) -> str:
    """A run name must be one folder name (it cannot climb out of the runs folder or into a sub-folder)."""
    if not NAME.fullmatch(name) or ".." in name:
        raise ConfigError(f"a run name may hold letters, digits and . _ + = - only, starting with a letter or digit. "
                          f"Received: --name {name!r}")
    return name


def _prepare_root(root: Path) -> None:
    """The runs folder exists and is a writable folder, or a one-line error says what it is instead."""
    for parent in (root, *root.parents):
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"the runs folder {root} cannot be created: {parent} is a file (--runs-dir or "
                              f"NEURALAB_RUNS)")
        if parent.exists():
            break
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"the runs folder {root} cannot be created ({e.strerror}); choose another with --runs-dir "
                          f"or NEURALAB_RUNS") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise ConfigError(f"the runs folder {root} is not writable; choose another with --runs-dir or NEURALAB_RUNS")


def _layout(path: Path, config: Any) -> None:
    (path / "checkpoints").mkdir(exist_ok=True)
    (path / "plots").mkdir(exist_ok=True)
    atomic_write_json(path / "config.json", to_dict(config) if not isinstance(config, dict) else config)


@dataclass
class Run:
    """A run directory. Create with `Run.create`, open an existing one with `Run.open`."""

    path: Path

    @classmethod
    def create(cls, runs_dir: str | Path, name: str, config: Any = None) -> "Run":
        """A new run folder, complete with its config.json, or none: it is laid out under a hidden temporary name
        and renamed into place, so a kill never leaves a folder without its config."""
        root = Path(runs_dir)
        _prepare_root(root)
        base = f"{utc_stamp()}-{check_name(name)}"
        tmp = root / f".{base}.{os.getpid()}.creating"
        tmp.mkdir()
        try:
            _layout(tmp, config if config is not None else {})
            n, path = 1, root / base
            while True:
                try:
                    os.rename(tmp, path)  # fails if `path` exists (and is not empty): then take the next name
                    return cls(path)
                except OSError:
                    if not path.exists():
                        raise
                    n += 1
                    path = root / f"{base}-{n}"
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

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
        path = self.path / "runs" / check_name(name)
        path.mkdir(parents=True, exist_ok=True)
        (path / "checkpoints").mkdir(exist_ok=True)
        (path / "plots").mkdir(exist_ok=True)
        run = Run(path)
        if config is not None:
            run.write_config(config)
        return run

    # -- writing --------------------------------------------------------------------------------------------
    def write_config(self, config: Any) -> None:
        atomic_write_json(self.path / "config.json", to_dict(config) if not isinstance(config, dict) else config)

    def log(self, epoch: int, split: str, loss: float | None, metrics: dict[str, float] | None = None,
            lr: float | None = None, seconds: float | None = None) -> EpochRow:
        """Append one line to metrics.jsonl (atomically: the whole file is rewritten, it is small)."""
        row = EpochRow(epoch, split, loss, plain(metrics or {}), lr, seconds)
        line = json.dumps(plain(row.to_json()))
        old = self.metrics_path.read_text() if self.metrics_path.exists() else ""
        atomic_write_text(self.metrics_path, old + line + "\n")
        if os.environ.get("NEURALAB_TENSORBOARD"):
            self._tensorboard(row)
        return row

    def _tensorboard(self, row: EpochRow) -> None:
        """The same numbers as metrics.jsonl, for people who live in TensorBoard (`--tensorboard`)."""
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(str(self.path / "tensorboard")) as w:
            if row.loss is not None:
                w.add_scalar(f"loss/{row.split}", row.loss, row.epoch)
            for k, v in row.metrics.items():
                if isinstance(v, (int, float)):
                    w.add_scalar(f"{k}/{row.split}", v, row.epoch)
            if row.lr is not None and row.split == "train":
                w.add_scalar("lr", row.lr, row.epoch)

    def truncate_metrics(self, last_epoch: int) -> None:
        """Drop metric lines after `last_epoch` (used when resuming from that epoch's checkpoint)."""
        rows = [r for r in self.metrics() if r.epoch <= last_epoch]
        atomic_write_text(self.metrics_path, "".join(json.dumps(plain(r.to_json())) + "\n" for r in rows))

    def write_summary(self, summary: RunSummary) -> None:
        summary.write(self.path / "summary.json")

    def write_report(self, markdown: str) -> Path:
        return atomic_write_text(self.path / "report.md", markdown)

    def save_figure(self, fig: Any, name: str) -> Path:
        """Save a matplotlib figure as plots/<name>.png (atomically) and close it."""
        return atomic_write_bytes(self.plots / f"{name}.png", figure_png(fig))

    # -- reading --------------------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        data = read_json(self.path / "config.json", "run config")
        if not isinstance(data, dict):
            raise NeuralabError(f"{self.path / 'config.json'} must hold a JSON object")
        return data

    def summary(self) -> RunSummary:
        p = self.path / "summary.json"
        return RunSummary.read(p) if p.exists() else RunSummary()

    @property
    def finished(self) -> bool:
        return (self.path / "summary.json").is_file()

    def metrics(self, split: str | None = None) -> list[EpochRow]:
        if not self.metrics_path.exists():
            return []
        rows = []
        for i, line in enumerate(self.metrics_path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    rows.append(EpochRow.from_json(json.loads(line), f"{self.metrics_path}:{i}"))
                except json.JSONDecodeError as e:
                    raise NeuralabError(f"{self.metrics_path}:{i} is not valid JSON ({e})") from None
        return [r for r in rows if split is None or r.split == split]


def figure_png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes (110 dpi, tight), closed afterwards so long runs do not pile up figures."""
    import matplotlib.pyplot as plt  # only runs that draw pay for matplotlib

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def list_runs(runs_dir: str | Path) -> list[Run]:
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    return [Run(p) for p in sorted(root.iterdir()) if not p.name.startswith(".") and (p / "config.json").is_file()]


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
