"""report.claims: the one helper that may say "A beats B" — ties, clear wins, one seed, and gaps over two sets."""

import math

import numpy as np
import pytest

from neuralab.report.claims import Sample, best_claim, compare, mean_pm


def outcomes(rate: float, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.arange(n) < round(rate * n)).astype(float)


def one_seed(rate: float, n: int = 2000, seed: int = 0) -> Sample:
    x = outcomes(rate, n, seed)
    return Sample.of([x.mean()], [x])


def test_seeds_use_welch_and_call_only_a_gap_beyond_the_spread():
    win = compare("a", Sample.of([0.70, 0.71, 0.72]), "b", Sample.of([0.60, 0.61, 0.60]))
    assert win.significant and win.winner == "a" and "Welch t over 3 and 3 seeds" in win.sentence()
    tie = compare("a", Sample.of([0.70, 0.60]), "b", Sample.of([0.66, 0.64]))
    assert not tie.significant and tie.winner is None
    assert tie.sentence().startswith("No measurable difference in test accuracy between a and b at this budget")


def test_one_seed_with_outcomes_uses_a_paired_bootstrap_over_the_test_examples():
    win = compare("a", one_seed(0.70), "b", one_seed(0.60, seed=1))
    assert win.winner == "a" and "paired bootstrap over 2,000 test examples, one seed: test-set noise only" in \
        win.sentence()
    assert win.low < 0.10 < win.high
    tie = compare("a", one_seed(0.601), "b", one_seed(0.600, seed=1))
    assert tie.winner is None and "no measurable difference" in tie.sentence().lower()


def test_one_seed_without_outcomes_claims_nothing():
    c = compare("a", Sample.of([0.9]), "b", Sample.of([0.1]))
    assert math.isnan(c.low) and c.winner is None and "run more seeds to tell" in c.sentence()


def test_a_gap_resamples_test_and_training_examples_apart():
    """Minus a gap = mean(test outcomes) + mean(negated training outcomes): both sets' noise enters the interval."""
    def minus_gap(test: float, train: float, seed: int) -> Sample:
        t, tr = outcomes(test, 1000, seed), outcomes(train, 4000, seed + 1)
        return Sample.of([t.mean() - tr.mean()], [t, -tr], sets=("test", "training"))

    narrow, wide = minus_gap(0.60, 0.65, 0), minus_gap(0.60, 0.90, 2)
    c = compare("narrow", narrow, "wide", wide)
    assert c.diff == pytest.approx(0.25) and c.winner == "narrow"
    assert "paired bootstrap over 1,000 test and 4,000 training examples" in c.method
    only_test = compare("narrow", Sample.of(narrow.values, narrow.per_example[:1]), "wide",
                        Sample.of(wide.values, wide.per_example[:1]))
    assert c.high - c.low > only_test.high - only_test.low  # the training set's noise widens the interval
    close = compare("a", minus_gap(0.60, 0.70, 4), "b", minus_gap(0.60, 0.705, 6))
    assert close.winner is None


def test_outcomes_on_different_sets_are_not_paired():
    a = Sample.of([0.7], [outcomes(0.7, 100)])
    b = Sample.of([0.6], [outcomes(0.6, 100)], sets=("validation",))
    assert math.isnan(compare("a", a, "b", b).low)
    with pytest.raises(ValueError, match="name each set"):
        Sample.of([0.1], [np.ones(3), np.ones(4)])


def test_best_claim_and_plus_minus():
    assert best_claim({"a": one_seed(0.80), "b": one_seed(0.60, seed=1)}).startswith("Best: **a**.")
    assert best_claim({"a": one_seed(0.601), "b": one_seed(0.600, seed=1)}).startswith("Highest mean: a (60.10%).")
    assert mean_pm(Sample.of([0.5])) == "50.00 (one seed)"
    assert mean_pm(Sample.of([0.5, 0.6])) == "55.00 ± 7.07 (2 seeds)"
