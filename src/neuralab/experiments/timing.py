"""Whether a run's seconds mean anything: on a machine shared with other work, training time measures that work too.

Linux counts, per thread, the time it ran and the time it sat ready but waiting for a CPU (/proc/self/task/*/
schedstat). `CpuWatch` takes both around a measurement; when the waiting is more than a tenth of the running, other
programs were competing for the CPUs and a page shows accuracies but says its timing was not measured. Elsewhere (no
/proc) nothing can be told, and seconds are shown as measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import resource
except ImportError:  # Windows: no child-process accounting
    resource = None  # type: ignore[assignment]

BUSY = 0.1  # waiting for a CPU more than this share of the running time: the seconds are not this run's own


@dataclass(frozen=True)
class Contention:
    """CPU seconds this process's threads ran and waited for a CPU during a measurement (nan: not measurable)."""

    cpu_seconds: float = float("nan")
    wait_seconds: float = float("nan")

    @property
    def quiet(self) -> bool:
        """True unless the threads measurably waited for other programs (unknown counts as quiet)."""
        return not self.wait_seconds > BUSY * self.cpu_seconds

    def note(self) -> str:
        """The sentence a page shows instead of seconds on a busy machine ('' on a quiet one)."""
        if self.quiet:
            return ""
        share = 100 * self.wait_seconds / max(self.cpu_seconds, 1e-9)
        return (f"Timing not measured: other programs were using the CPUs (this run's threads waited for a CPU "
                f"{share:.0f}% as long as they ran), so seconds would measure them too. Accuracies are unaffected.")


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its finished child processes: the parts of a run that
    happen in a fresh interpreter (the Keras twin on TensorFlow, a reload check) cost CPU time too, and
    `/usr/bin/time` counts them."""
    if resource is None:
        return time.process_time()
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + child.ru_utime + child.ru_stime


def _schedstat() -> tuple[float, float] | None:
    """(seconds run, seconds waiting) summed over this process's live threads; None without /proc."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return None
    ran = waited = 0
    for f in tasks.glob("*/schedstat"):
        try:
            a, b, _ = f.read_text().split()
        except (OSError, ValueError):  # a thread that ended while being read
            continue
        ran, waited = ran + int(a), waited + int(b)
    return ran / 1e9, waited / 1e9


class CpuWatch:
    """`with CpuWatch() as w: ...` then `w.contention`: how much this process waited for a CPU meanwhile."""

    def __enter__(self) -> "CpuWatch":
        self.start = _schedstat()
        self.contention = Contention()
        return self

    def __exit__(self, *exc: Any) -> None:
        end = _schedstat()
        if self.start is not None and end is not None:
            self.contention = Contention(end[0] - self.start[0], end[1] - self.start[1])
