"""`neuralab runs compare`: final numbers side by side and the curves of several runs overlaid."""

from __future__ import annotations

from typing import Any

from neuralab.report.plots import plt
from neuralab.runs import Run


def compare_table(runs: list[Run]) -> tuple[list[str], list[list[Any]]]:
    rows = [r.summary().scalars() for r in runs]
    keys = sorted({k for r in rows for k in r})
    return ["run"] + keys, [[run.name] + [row.get(k, "") for k in keys] for run, row in zip(runs, rows)]


def compare_figure(runs: list[Run]) -> plt.Figure:
    """Validation loss and first validation metric per epoch, one line per run."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        val = run.metrics("val")
        if not val:
            continue
        ep = [r.epoch for r in val]
        axes[0].plot(ep, [r.loss if r.loss is not None else float("nan") for r in val], marker="o", ms=3,
                     label=run.name)
        metric = next(iter(val[-1].metrics), None)
        if metric:
            axes[1].plot(ep, [r.metric(metric) for r in val], marker="o", ms=3, label=run.name)
            axes[1].set_ylabel(f"val {metric}")
    axes[0].set(xlabel="epoch", ylabel="val loss")
    axes[1].set(xlabel="epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
