"""The one place that decides whether "A beats B": every page's comparison goes through here.

A difference is called only when its 95% interval excludes zero. The interval comes from what was measured:
- several seeds per side: Welch's t interval on the difference of the seed means (training noise included);
- one seed per side, with per-example outcomes on the same examples: a paired bootstrap over the examples
  (test-set noise only — the page says so). A value that is a sum of means over independent sets of examples (a
  train−test gap: clean training accuracy minus test accuracy) resamples each set on its own;
- one seed and nothing per example: no interval can be had, so nothing is called.
Otherwise the sentence is "no measurable difference at this budget", with what would tell (more seeds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

BOOTSTRAP = 2000


@dataclass(frozen=True)
class Sample:
    """What one side measured: one value per seed, and optionally per-example outcomes of its first seed (1 correct,
    0 wrong), in the same order for every side. Usually one set, the test examples; several when the value is the
    sum of their means (minus a gap: test outcomes plus the negated outcomes on training images), named in `sets`."""

    values: tuple[float, ...]
    per_example: tuple[np.ndarray, ...] = ()
    sets: tuple[str, ...] = ("test",)

    @classmethod
    def of(cls, values: Sequence[float], per_example: Sequence[np.ndarray] = (),
           sets: Sequence[str] = ("test",)) -> "Sample":
        per_example = tuple(np.asarray(p, dtype=np.float64) for p in per_example)
        if per_example and len(sets) != len(per_example):
            raise ValueError(f"name each set of per-example outcomes: {len(per_example)} sets, names {list(sets)}")
        return cls(tuple(float(v) for v in values), per_example, tuple(sets))

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    diff: float  # mean of a minus mean of b
    low: float  # 95% interval of the difference (nan when none could be had)
    high: float
    method: str  # how the interval was made, in words

    @property
    def significant(self) -> bool:
        return math.isfinite(self.low) and (self.low > 0 or self.high < 0)

    @property
    def winner(self) -> str | None:
        return (self.a if self.diff > 0 else self.b) if self.significant else None

    def sentence(self, what: str = "test accuracy", scale: float = 100.0, unit: str = "points") -> str:
        d, lo, hi = scale * self.diff, scale * self.low, scale * self.high
        if not math.isfinite(self.low):
            return (f"{self.a} and {self.b} differ by {d:+.2f} {unit} of {what} on one seed each: no measurable "
                    f"difference can be claimed at this budget (run more seeds to tell).")
        interval = f"95% interval {lo:+.2f} to {hi:+.2f} {unit}, {self.method}"
        if not self.significant:
            return (f"No measurable difference in {what} between {self.a} and {self.b} at this budget "
                    f"({d:+.2f} {unit}, {interval}); more seeds or epochs would tell.")
        win, lose = (self.a, self.b) if self.diff > 0 else (self.b, self.a)
        if self.diff < 0:  # the interval of win minus lose: positive, like the difference it qualifies
            interval = f"95% interval {-hi:+.2f} to {-lo:+.2f} {unit}, {self.method}"
        return f"{win} beats {lose} on {what} by {abs(d):.2f} {unit} ({interval})."


def _welch(a: Sample, b: Sample) -> tuple[float, float]:
    from scipy import stats

    va, vb = np.var(a.values, ddof=1) / len(a.values), np.var(b.values, ddof=1) / len(b.values)
    se = math.sqrt(va + vb)
    if se == 0:
        return (a.mean - b.mean,) * 2
    df = (va + vb) ** 2 / (va**2 / (len(a.values) - 1) + vb**2 / (len(b.values) - 1))
    half = float(stats.t.ppf(0.975, df)) * se
    return a.mean - b.mean - half, a.mean - b.mean + half


def _paired_bootstrap(a: Sequence[np.ndarray], b: Sequence[np.ndarray], seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the sum over sets of mean(a - b): each set's examples resampled with replacement,
    the same draws for both sides (paired), the sets independently of each other."""
    rng = np.random.default_rng(seed)
    means = np.zeros(BOOTSTRAP)
    for x, y in zip(a, b):
        d = x - y
        means += d[rng.integers(0, len(d), size=(BOOTSTRAP, len(d)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _paired(a: Sample, b: Sample) -> bool:
    """Per-example outcomes on the same sets of examples on both sides."""
    return bool(a.per_example) and a.sets == b.sets and [len(p) for p in a.per_example] == [
        len(p) for p in b.per_example]


def _examples(s: Sample) -> str:
    """'2,000 test examples', or '2,000 test and 7,500 training examples'."""
    sets = [f"{len(p):,} {name}" for p, name in zip(s.per_example, s.sets)]
    return (", ".join(sets[:-1]) + " and " + sets[-1] if len(sets) > 1 else sets[0]) + " examples"


def compare(a_name: str, a: Sample, b_name: str, b: Sample) -> Comparison:
    """a versus b, with the best interval what they measured allows (see the module's docstring)."""
    diff = a.mean - b.mean
    if len(a.values) > 1 and len(b.values) > 1:
        low, high = _welch(a, b)
        return Comparison(a_name, b_name, diff, low, high, f"Welch t over {len(a.values)} and {len(b.values)} seeds")
    if _paired(a, b):
        low, high = _paired_bootstrap(a.per_example, b.per_example)
        return Comparison(a_name, b_name, diff, low, high,
                          f"paired bootstrap over {_examples(a)}, one seed: "
                          + ("test-set noise only" if a.sets == ("test",) else "the examples' sampling noise only"))
    return Comparison(a_name, b_name, diff, math.nan, math.nan, "one seed each")


def rank(samples: Mapping[str, Sample]) -> tuple[list[str], Comparison | None]:
    """Names from best to worst mean, and the comparison of the best with the runner-up (None for one name)."""
    order = sorted(samples, key=lambda n: -samples[n].mean)
    if len(order) < 2:
        return order, None
    return order, compare(order[0], samples[order[0]], order[1], samples[order[1]])


def best_claim(samples: Mapping[str, Sample], what: str = "test accuracy") -> str:
    """One sentence about the top of a ranking: a winner only when it beats the runner-up beyond the noise."""
    order, c = rank(samples)
    if c is None:
        return ""
    if c.significant:
        return f"Best: **{order[0]}**. " + c.sentence(what)
    return f"Highest mean: {order[0]} ({100 * samples[order[0]].mean:.2f}%). " + c.sentence(what)


def mean_pm(sample: Sample, scale: float = 100.0, digits: int = 2) -> str:
    """'90.12 ± 0.31 (3 seeds)', or '90.12 (one seed)': never a ± for a single run."""
    if len(sample.values) == 1:
        return f"{scale * sample.mean:.{digits}f} (one seed)"
    return f"{scale * sample.mean:.{digits}f} ± {scale * sample.std:.{digits}f} ({len(sample.values)} seeds)"
