"""Markdown for run reports, written from the run's own numbers (nothing hand-typed)."""

from __future__ import annotations

from typing import Any, Sequence

from neuralab.records import RunSummary
from neuralab.runs import Run


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def run_report(run: Run, summary: RunSummary) -> str:
    """The short report.md of a training run: what, the final numbers, the curves."""
    d = summary.details
    val, test = summary.val, summary.test  # only scalars go in the table: per-class lists live in summary.json
    keys = sorted(k for k in set(val) | set(test) if isinstance(val.get(k, test.get(k)), (int, float)))
    plots = sorted(p.name for p in run.plots.glob("*.png"))
    parts = [
        f"# {run.name}",
        f"{d.get('model')} on {d.get('dataset')}: {d.get('params', 0):,} parameters, {d.get('epochs_run')} epochs "
        f"({d.get('images_seen', 0):,} training images seen) on {d.get('device')} in "
        f"{d.get('train_seconds', 0):.1f} s ({d.get('stopped')}). Model chosen on validation at epoch "
        f"{d.get('best_epoch')}; the test split was evaluated once, at the end.",
        table(["metric", "validation", "test"], [[k, val.get(k, ""), test.get(k, "")] for k in keys]),
    ]
    parts += [f"![{p}](plots/{p})" for p in plots]
    parts.append("Files: `config.json`, `metrics.jsonl`, `summary.json`, `checkpoints/model.safetensors` "
                 "(+ `model.json`, its model card), `checkpoints/last.safetensors` (resume state).")
    return "\n\n".join(parts) + "\n"
