"""The artist sweeps' probe suite: one feature matrix per probe set in, named metrics out.

- ``genre``: SVM grid (scaler × kernel × C × γ), CV folds grouped by artist → ``genre_accuracy``.
- ``arousal`` / ``valence``: SVR grids, folds grouped by artist → ``arousal_r2``, ``valence_r2``.
- any other label of a real dataset: SVM (``<name>_accuracy``) or SVR (``<name>_r2``) by its kind.
- ``tagging``: linear or MLP multi-label head, artist-grouped folds → ``tag_roc_auc``, ``tag_pr_auc``.
- ``retrieval``: tracks of artists never seen in pretraining, each the query against all others
  by cosine similarity → ``retrieval_map``, ``retrieval_recall_at_<k>`` (and the chance MAP).

The SVM numbers follow Choi et al.: the mean CV score of the best grid point, with nested CV
(``*_nested``) beside it as the unbiased estimate.

Repeated (``probe.repeats``): :func:`probe_scores` scores one repeat (its folds, its features) fold by fold and
:func:`pooled_row` pools the repeats into one row: each metric's mean over J = folds × repeats, its 95 % interval
(``<metric>_ci95``, corrected for overlapping training sets, ``raymir.probes.compare``), the per-fold scores
(``<metric>_folds``, a JSON list, repeat-major) and the share of clips a fold tests (``<metric>_test_fraction``),
which the reports' paired tests read. Retrieval has no folds: its units are the queries (test fraction 0).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field, replace

import numpy as np

from raymir.probes.compare import held_out_fraction, score_interval
from raymir.probes.retrieval import chance_map, query_scores
from raymir.probes.svm import GridResult, engine_for, grid_points, grid_search, pooled_repeats
from raymir.probes.tagging import tagging_folds

KINDS = {"genre": "classification", "arousal": "regression", "valence": "regression", "tagging": "tagging",
         "retrieval": "retrieval"}  # the synthetic suite's probes; a real dataset's carry their kind
GRID_SCORES = {"classification": "accuracy", "regression": "r2"}


@dataclass(frozen=True)
class ProbeSet:
    """One probe: rows ``rows`` of feature matrix ``source`` with their labels and CV folds."""

    source: str  # the feature matrix the rows index (e.g. a subset name)
    rows: np.ndarray  # [n]
    labels: np.ndarray  # [n] class ids, [n] values, [n, k] multi-hot tags, or [n] artist ids (retrieval)
    folds: tuple[np.ndarray, ...] = ()  # test positions (into ``rows``) per fold; none for retrieval
    kind: str = ""  # classification | regression | tagging | retrieval; empty: by the probe's name (KINDS)


def drop_rows(sets: dict[str, ProbeSet], failed: dict[str, Collection[int]]
              ) -> tuple[dict[str, ProbeSet], dict[str, int]]:
    """The probe sets without the rows listed in ``failed`` ({source: rows of that feature matrix}, e.g. the clips an
    encoder could not embed): → (the sets, {probe: how many of its rows were dropped}).

    A set's rows [n] and labels [n, …] lose the same positions; its folds (test positions into rows) lose them too
    and are renumbered into the kept rows, so every fold keeps its other clips. A set with nothing dropped is
    returned as it is. ValueError naming the probe when fewer rows than folds (or no rows) are left, or a fold is
    left empty.
    """
    out, dropped = {}, {}
    for name, s in sets.items():
        keep = ~np.isin(s.rows, np.fromiter(failed.get(s.source, ()), dtype=int))
        dropped[name] = int((~keep).sum())
        if keep.all():
            out[name] = s
            continue
        position = np.cumsum(keep) - 1  # a kept row's position among the kept rows
        folds = tuple(position[f[keep[f]]] for f in s.folds)
        n_kept = int(keep.sum())
        if n_kept < max(len(s.folds), 1) or any(not len(f) for f in folds):
            raise ValueError(f"probe {name}: the encoder failed on {dropped[name]} of its {len(s.rows)} clips; the "
                             f"{n_kept} left cannot fill its {len(s.folds)} folds" if s.folds else
                             f"probe {name}: the encoder failed on all {len(s.rows)} of its clips")
        out[name] = replace(s, rows=s.rows[keep], labels=np.asarray(s.labels)[keep], folds=folds)
    return out, dropped


@dataclass(frozen=True)
class ProbeScores:
    """One probe's scores on one repeat: an SVM/SVR grid over its folds, or per-unit scores."""

    fraction: float  # the share of the probe's rows a fold tests on; 0: the units are independent queries
    metric: str = ""  # the grid's metric name (genre_accuracy, arousal_r2, …); empty without a grid
    grid: GridResult | None = None  # SVM/SVR probes: every grid point on every fold
    units: dict[str, np.ndarray] = field(default_factory=dict)  # {metric: [units]} per fold (tagging) / query
    queries: bool = False  # units are retrieval queries (the same in every repeat) rather than CV folds
    extra: dict[str, float] = field(default_factory=dict)  # numbers reported as they are (retrieval_chance_map)


def _matrix(features: dict[str, np.ndarray], name: str, s: ProbeSet) -> np.ndarray:
    X = np.asarray(features[s.source][s.rows], dtype=np.float64)
    if not np.isfinite(X).all():
        raise ValueError(f"probe {name}: the {s.source} features contain NaN or inf")
    return X


def probe_scores(features: dict[str, np.ndarray], sets: dict[str, ProbeSet], probe) -> dict[str, ProbeScores]:
    """Every probe in ``sets`` (genre, arousal, valence, tagging, retrieval, or any named kind) scored fold by fold
    (retrieval: query by query) on one repeat's folds: → {probe: its scores}.

    features: {source: [n_tracks, d]}. ``probe`` carries the SVM grid (scaler, kernels, C, gamma,
    nested, max_iter), ``tagger`` (linear | mlp), ``retrieval_k`` and ``seed``.
    """
    out: dict[str, ProbeScores] = {}
    for name, s in sets.items():
        X = _matrix(features, name, s)
        kind = s.kind or KINDS.get(name, "")
        if kind in GRID_SCORES:
            res = grid_search(X, s.labels, list(s.folds), grid_points(probe, X.shape[1]), kind=kind,
                              nested=probe.nested, engine=engine_for(probe))
            out[name] = ProbeScores(held_out_fraction(list(s.folds), len(s.rows)), f"{name}_{GRID_SCORES[kind]}",
                                    grid=res)
        elif kind == "tagging":
            scores = tagging_folds(X, s.labels, list(s.folds), kind=probe.tagger, seed=probe.seed)
            out[name] = ProbeScores(held_out_fraction(list(s.folds), len(s.rows)),
                                    units={"tag_roc_auc": scores["roc_auc"], "tag_pr_auc": scores["pr_auc"]})
        elif kind == "retrieval":
            scores = query_scores(X, s.labels, k=probe.retrieval_k)
            out[name] = ProbeScores(0.0, units={"retrieval_map": scores["ap"],
                                                f"retrieval_recall_at_{probe.retrieval_k}": scores["recall_at_k"]},
                                    queries=True, extra={"retrieval_chance_map": chance_map(s.labels)})
        else:
            raise KeyError(f"probe {name!r}: unknown kind {kind!r} (give ProbeSet.kind, or name it one of "
                           f"{', '.join(KINDS)})")
    return out


def fold_columns(metric: str, values: np.ndarray, *, fraction: float) -> dict:
    """A metric's columns from its scores [J] (folds × repeats, repeat-major; or queries): the mean, the half-width
    of its 95 % interval (none from one score), the scores as a JSON list (exact floats: a report re-reads them)
    and the test fraction the interval and the paired tests correct for."""
    values = np.asarray(values, dtype=np.float64)
    ci95 = score_interval(values, fraction=fraction).half_width if len(values) > 1 else None
    return {metric: float(values.mean()), f"{metric}_ci95": ci95,
            f"{metric}_folds": json.dumps([float(v) for v in values]), f"{metric}_test_fraction": fraction}


def pooled_row(repeats: list[dict[str, ProbeScores]]) -> dict:
    """Every repeat's :func:`probe_scores` pooled into one row of metrics (module docstring).

    A probe missing from later repeats (fixed folds, scored once) pools the repeats it has. SVM/SVR grids are
    pooled by ``raymir.probes.svm.pooled_repeats`` (the best point by its mean over all J folds; the nested
    scores, fold by fold). Per-fold units are concatenated repeat-major. Retrieval's queries are the same in every
    repeat: their scores are averaged over the repeats, query by query, so each query stays one unit (J = queries)
    and repeats that change nothing (MFCC) do not narrow the interval.
    """
    row: dict = {}
    for name in dict.fromkeys(n for r in repeats for n in r):
        mine = [r[name] for r in repeats if name in r]
        first = mine[0]
        if first.grid is not None:
            pooled = pooled_repeats([m.grid for m in mine])
            row |= fold_columns(first.metric, pooled.fold_scores[pooled.best], fraction=first.fraction)
            if pooled.nested_scores is not None:
                row |= fold_columns(f"{first.metric}_nested", pooled.nested_scores, fraction=first.fraction)
        for metric in first.units:
            parts = [m.units[metric] for m in mine]
            if first.queries and len({len(p) for p in parts}) != 1:
                raise ValueError(f"probe {name}: its queries differ between repeats ({[len(p) for p in parts]})")
            values = np.mean(parts, axis=0) if first.queries else np.concatenate(parts)
            row |= fold_columns(metric, values, fraction=first.fraction)
        row |= first.extra
    return {k: v for k, v in row.items() if v is not None}


def run_suite(features: dict[str, np.ndarray], sets: dict[str, ProbeSet], probe) -> dict[str, float]:
    """Every probe in ``sets`` on one repeat → {metric: mean value} (:func:`probe_scores`, pooled)."""
    row = pooled_row([probe_scores(features, sets, probe)])
    return {k: v for k, v in row.items() if not k.endswith(("_ci95", "_folds", "_test_fraction"))}
