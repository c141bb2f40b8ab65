"""Confidence intervals and the corrected resampled t-test (Nadeau & Bengio 2003) against hand computation."""

import numpy as np
import pytest
from scipy import stats

from raymir.probes.compare import held_out_fraction, paired_comparison, score_interval


def test_interval_is_the_corrected_t_interval_computed_by_hand():
    scores = np.array([0.70, 0.74, 0.69, 0.77, 0.72, 0.71, 0.75, 0.73, 0.70, 0.78])  # 5 folds × 2 repeats
    got = score_interval(scores, fraction=0.2)
    s2 = scores.var(ddof=1)
    se = np.sqrt((1 / 10 + 0.2 / 0.8) * s2)
    half = stats.t.ppf(0.975, 9) * se
    assert got.mean == pytest.approx(scores.mean())
    assert (got.low, got.high) == pytest.approx((scores.mean() - half, scores.mean() + half))
    naive = stats.t.ppf(0.975, 9) * np.sqrt(s2 / 10)  # the uncorrected interval is narrower: overlap ignored
    assert got.half_width > 1.8 * naive


def test_paired_test_matches_hand_computation_and_detects_a_real_difference():
    rng = np.random.default_rng(0)
    b = rng.uniform(0.6, 0.8, 20)
    a = b + 0.05 + rng.normal(0, 0.01, 20)  # A better on every fold
    got = paired_comparison(a, b, fraction=0.1)
    d = a - b
    t = d.mean() / np.sqrt((1 / 20 + 0.1 / 0.9) * d.var(ddof=1))
    assert got.t == pytest.approx(t) and got.p == pytest.approx(2 * stats.t.sf(abs(t), 19))
    assert got.significant() and got.low > 0
    noise = paired_comparison(b + rng.normal(0, 0.02, 20), b, fraction=0.1)  # no true difference
    assert not noise.significant() and noise.low < 0 < noise.high


def test_a_difference_of_the_same_size_is_not_significant_once_the_folds_overlap():
    """The correction matters: a gain that a naive paired t-test calls significant is not, with 90 % shared training."""
    rng = np.random.default_rng(3)
    b = rng.uniform(0.6, 0.8, 10)
    a = b + 0.01 + rng.normal(0, 0.015, 10)
    naive_p = stats.ttest_rel(a, b).pvalue
    got = paired_comparison(a, b, fraction=0.5)
    assert naive_p < 0.05 < got.p


def test_identical_scores_and_bad_input():
    a = np.array([0.5, 0.6, 0.7])
    same = paired_comparison(a, a, fraction=0.2)
    assert (same.diff, same.p, same.significant()) == (0.0, 1.0, False)
    with pytest.raises(ValueError, match="share folds"):
        paired_comparison(a, a[:2], fraction=0.2)
    with pytest.raises(ValueError, match="NaN"):
        score_interval([0.5, np.nan], fraction=0.2)
    with pytest.raises(ValueError, match="at least 2"):
        score_interval([0.5], fraction=0.2)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\)"):
        score_interval(a, fraction=1.0)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\)"):
        paired_comparison(a, a + 0.1, fraction=-0.1)
    assert held_out_fraction([np.arange(3), np.arange(3, 10)], 10) == pytest.approx(0.5)


def test_fraction_zero_is_the_plain_paired_t_test_of_independent_units():
    """Retrieval's queries are scored once each, fitted on nothing: no correction, scipy's paired t-test exactly."""
    rng = np.random.default_rng(5)
    b = rng.uniform(0.2, 0.6, 40)  # e.g. per-query average precision
    a = b + 0.03 + rng.normal(0, 0.05, 40)
    got = paired_comparison(a, b, fraction=0)
    plain = stats.ttest_rel(a, b)
    assert got.t == pytest.approx(plain.statistic) and got.p == pytest.approx(plain.pvalue)
    low, high = stats.t.interval(0.95, 39, loc=(a - b).mean(), scale=stats.sem(a - b))
    assert (got.low, got.high) == pytest.approx((low, high))
    one = score_interval(a, fraction=0)
    assert (one.low, one.high) == pytest.approx(stats.t.interval(0.95, 39, loc=a.mean(), scale=stats.sem(a)))
