"""Plain-words findings computed from a run's numbers, for the HTML report (never typed by hand).

Every sentence here is a function of metrics.jsonl, so it changes when the numbers change.
"""

from __future__ import annotations

from neuralab.records import EpochRow

GAP_SMALL, GAP_LARGE = 0.02, 0.08  # train-validation accuracy gaps that we call small / large


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def curve_findings(rows: list[EpochRow]) -> list[str]:
    """What the training curves say: best epoch, whether validation still improved, the overfitting gap."""
    train = {r.epoch: r for r in rows if r.split == "train"}
    val = {r.epoch: r for r in rows if r.split == "val"}
    epochs = sorted(set(train) & set(val))
    if not epochs:
        return []
    if "accuracy" not in val[epochs[-1]].metrics:
        losses = [(e, val[e].loss) for e in epochs if val[e].loss is not None]
        if not losses:
            return []
        e, best = min(losses, key=lambda el: el[1])
        return [f"Validation loss was lowest ({best:.4g}) in epoch {e} of {epochs[-1]}."]
    accs = [val[e].metric("accuracy") for e in epochs]
    best = max(range(len(accs)), key=lambda i: accs[i])
    out = [f"Validation accuracy peaked at {_pct(accs[best])} in epoch {epochs[best]} of {epochs[-1]}."]
    if len(accs) == 1:
        return out + ["One epoch ran: too few to say whether more would help or whether the model overfits."]
    if best == len(accs) - 1:
        out.append("It was still improving at the last epoch: more epochs would likely help.")
    elif len(accs) - 1 - best >= 2:
        out.append(f"It did not improve over the last {len(accs) - 1 - best} epochs: training longer would "
                   f"not help without more regularization or data.")
    gap = train[epochs[-1]].metric("accuracy", 0.0) - accs[-1]
    if gap > GAP_LARGE:
        out.append(f"Training accuracy ended {100 * gap:.1f} points above validation: the model overfits.")
    elif gap > GAP_SMALL:
        out.append(f"Training accuracy ended {100 * gap:.1f} points above validation: mild overfitting.")
    else:
        out.append(f"Training and validation accuracy ended within {100 * max(gap, 0):.1f} points: "
                   f"no sign of overfitting.")
    return out
