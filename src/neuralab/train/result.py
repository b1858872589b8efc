"""What one training run measured, as a typed record (experiments read its fields, not dictionary guesses)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from neuralab.records import RunSummary


@dataclass(frozen=True)
class TrainResult:
    run: str
    dataset: str
    model: str
    params: int
    device: str
    world_size: int
    precision: str  # the compute dtype that ran: float32, bfloat16, float16
    epochs_run: int
    best_epoch: int  # the epoch whose weights were kept (chosen on validation)
    stopped: str  # "completed", or why training ended early
    train_seconds: float
    train_images: int  # examples in the training set as trained on (after --limit-train)
    images_seen: int  # training examples processed: train_images x epochs run
    val: dict[str, Any] = field(default_factory=dict)  # metrics of the kept epoch
    test: dict[str, Any] = field(default_factory=dict)  # measured once, at the end (empty for a warm-up stage)

    def test_metric(self, name: str = "accuracy") -> float:
        return float(self.test[name])

    def summary(self) -> RunSummary:
        details = {k: v for k, v in asdict(self).items() if k not in ("val", "test")}
        return RunSummary(test=self.test, val=self.val, details=details)
