"""Plain-words findings computed from a run's numbers, for the HTML report (never typed by hand).

Every sentence here is a function of summary.json and metrics.jsonl, so it changes when the numbers change.
"""

from __future__ import annotations

from typing import Any

GAP_SMALL, GAP_LARGE = 0.02, 0.08  # train-validation accuracy gaps that we call small / large


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def headline(summary: dict[str, Any]) -> str:
    """One number that says how well a run did: its own `headline`, else test accuracy / RMSE / mAP."""
    if isinstance(summary.get("headline"), str):
        return summary["headline"]
    test = summary.get("test")
    if isinstance(test, dict):
        if isinstance(test.get("accuracy"), (int, float)):
            return f"{_pct(test['accuracy'])} test accuracy"
        if isinstance(test.get("rmse"), (int, float)):
            return f"test RMSE {test['rmse']:.3f}"
        if isinstance(test.get("map50"), (int, float)):
            return f"mAP@0.5 {test['map50']:.3f}"
    return ""


def curve_findings(rows: list[dict[str, Any]]) -> list[str]:
    """What the training curves say: best epoch, whether validation still improved, the overfitting gap."""
    train = {r["epoch"]: r for r in rows if r.get("split") == "train"}
    val = {r["epoch"]: r for r in rows if r.get("split") == "val"}
    epochs = sorted(set(train) & set(val))
    if not epochs:
        return []
    out = []
    metric = "accuracy" if "accuracy" in val[epochs[-1]].get("metrics", {}) else None
    if metric:
        accs = [val[e]["metrics"][metric] for e in epochs]
        best = max(range(len(accs)), key=lambda i: accs[i])
        out.append(f"Validation accuracy peaked at {_pct(accs[best])} in epoch {epochs[best]} of {epochs[-1]}.")
        if best == len(accs) - 1 and len(accs) > 1:
            out.append("It was still improving at the last epoch: more epochs would likely help.")
        elif len(accs) - 1 - best >= 2:
            out.append(f"It did not improve over the last {len(accs) - 1 - best} epochs: training longer would "
                       f"not help without more regularization or data.")
        gap = train[epochs[-1]]["metrics"].get(metric, 0) - accs[-1]
        if gap > GAP_LARGE:
            out.append(f"Training accuracy ended {100 * gap:.1f} points above validation: the model overfits.")
        elif gap > GAP_SMALL:
            out.append(f"Training accuracy ended {100 * gap:.1f} points above validation: mild overfitting.")
        else:
            out.append(f"Training and validation accuracy ended within {100 * max(gap, 0):.1f} points: "
                       f"no sign of overfitting.")
    else:
        losses = [val[e]["loss"] for e in epochs if val[e].get("loss") is not None]
        if losses:
            best = min(range(len(losses)), key=lambda i: losses[i])
            out.append(f"Validation loss was lowest ({losses[best]:.4g}) in epoch {epochs[best]} of {epochs[-1]}.")
    return out
