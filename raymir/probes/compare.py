"""Uncertainty of cross-validated scores and paired comparisons between two features on the same folds.

Scores from k-fold CV, repeated r times with re-drawn folds, are J = k·r numbers that are not
independent: every training set overlaps every other. A plain t-interval over them is too narrow.
Nadeau & Bengio (2003) correct the variance of the mean by the ratio of test to training size,

    var = (1/J + n_test/n_train) · s²,     t = mean / sqrt(var),  J − 1 degrees of freedom,

which is what :func:`score_interval` (one feature's mean score) and :func:`paired_comparison` (the
per-fold differences of two features scored on the same folds) use.

Scores that come from no resampling at all (e.g. retrieval's per-query average precision: every query is
scored once, nothing is fitted on the others) are independent test units: ``fraction=0`` turns the
correction off, leaving the plain t-interval and the plain paired t-test.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean score over J folds × repeats and its confidence interval [low, high]."""

    mean: float
    low: float
    high: float
    n: int  # J: the scores it summarises

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


@dataclass(frozen=True)
class Comparison:
    """A − B over the same J folds × repeats: the mean difference, its confidence interval, t and two-sided p."""

    diff: float
    low: float
    high: float
    t: float
    p: float
    n: int

    def significant(self, alpha: float = 1 - CONFIDENCE) -> bool:
        return self.p < alpha


def held_out_fraction(folds: list[np.ndarray], n: int) -> float:
    """The mean share of the n rows a fold tests on (folds: test indices per fold)."""
    return float(np.mean([len(f) for f in folds]) / n)


def _corrected_se(values: np.ndarray, fraction: float) -> float:
    """Nadeau & Bengio's standard error of the mean of ``values`` [J], CV scores whose test sets hold
    ``fraction`` of the rows (so n_test / n_train = fraction / (1 − fraction)); ``fraction`` 0: independent
    scores (no training sets to overlap), the plain standard error s / √J."""
    if not 0 <= fraction < 1:
        raise ValueError(f"test fraction {fraction}: must lie in [0, 1) (0: independent scores, no correction)")
    j = len(values)
    ratio = fraction / (1 - fraction)
    return float(np.sqrt((1 / j + ratio) * np.var(values, ddof=1)))


def _as_scores(values, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    if len(a) < 2:
        raise ValueError(f"{name}: {len(a)} score(s); an interval needs at least 2 folds × repeats")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: holds NaN or infinite scores")
    return a


def score_interval(scores, *, fraction: float, confidence: float = CONFIDENCE) -> Interval:
    """scores [J] (folds × repeats, flattened) → their mean and corrected t confidence interval (``fraction`` 0:
    the plain t-interval of independent scores)."""
    a = _as_scores(scores, "scores")
    mean, se = float(a.mean()), _corrected_se(a, fraction)
    half = float(stats.t.ppf(0.5 + confidence / 2, len(a) - 1)) * se
    return Interval(mean, mean - half, mean + half, len(a))


def paired_comparison(a, b, *, fraction: float, confidence: float = CONFIDENCE) -> Comparison:
    """Corrected resampled paired t-test of scores a [J] against b [J], fold by fold on the same folds (``fraction``
    0: the plain paired t-test of independent units, e.g. the same queries)."""
    a, b = _as_scores(a, "a"), _as_scores(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired scores differ in number: {len(a)} vs {len(b)} (they must share folds and repeats)")
    d = a - b
    diff, se = float(d.mean()), _corrected_se(d, fraction)
    df = len(d) - 1
    if se == 0:  # identical differences on every fold: no spread to test against
        t = 0.0 if diff == 0 else float(np.sign(diff) * np.inf)
        return Comparison(diff, diff, diff, t, 1.0 if diff == 0 else 0.0, len(d))
    t = diff / se
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return Comparison(diff, diff - half, diff + half, t, float(2 * stats.t.sf(abs(t), df)), len(d))


def write_comparisons(found: list[dict], path: Path, *, fields: tuple[str, ...]) -> Path:
    """A report's paired tests (one dict per comparison) as ``comparisons.csv`` with columns ``fields``: → path."""
    with Path(path).open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(found)
    return Path(path)
