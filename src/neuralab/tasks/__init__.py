"""Tasks by name: `TASKS.get("classification")`, or the task of a dataset (`for_dataset`) or a model (`for_card`)."""

from neuralab.tasks import dense, detection  # noqa: F401  (registration)
from neuralab.tasks.registry import TASKS, Task, for_card, for_dataset

__all__ = ["TASKS", "Task", "for_card", "for_dataset"]
