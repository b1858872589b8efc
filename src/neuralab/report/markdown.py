"""Markdown for run reports, written from the run's own numbers (nothing hand-typed)."""

from __future__ import annotations

from typing import Any, Sequence

from neuralab.runs import Run


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def run_report(run: Run, summary: dict[str, Any]) -> str:
    """The short report.md of a training run: what, the final numbers, the curves."""
    val, test = summary.get("val", {}), summary.get("test", {})
    scalar = lambda d: {k: v for k, v in d.items() if isinstance(v, (int, float))}  # noqa: E731
    val, test = scalar(val), scalar(test)  # per-class lists and the confusion matrix live in summary.json
    keys = sorted(set(val) | set(test))
    plots = sorted(p.name for p in run.plots.glob("*.png"))
    parts = [
        f"# {run.name}",
        f"{summary.get('model')} on {summary.get('dataset')}: {summary.get('params', 0):,} parameters, "
        f"{summary.get('epochs_run')} epochs on {summary.get('device')} in {summary.get('train_seconds', 0):.1f} s "
        f"({summary.get('stopped')}). Model chosen on validation at epoch {summary.get('best_epoch')}; the test "
        f"split was evaluated once, at the end.",
        table(["metric", "validation", "test"], [[k, val.get(k, ""), test.get(k, "")] for k in keys]),
    ]
    parts += [f"![{p}](plots/{p})" for p in plots]
    parts.append("Files: `config.json`, `metrics.jsonl`, `summary.json`, `checkpoints/model.safetensors` "
                 "(+ `model.json`), `checkpoints/last.safetensors` (resume state).")
    return "\n\n".join(parts) + "\n"
