"""The artist sweeps' probe suite: one feature matrix per probe set in, named metrics out.

- ``genre``: SVM grid (scaler × kernel × C × γ), CV folds grouped by artist → ``genre_accuracy``.
- ``arousal`` / ``valence``: SVR grids, folds grouped by artist → ``arousal_r2``, ``valence_r2``.
- any other label of a real dataset: SVM (``<name>_accuracy``) or SVR (``<name>_r2``) by its kind.
- ``tagging``: linear or MLP multi-label head, artist-grouped folds → ``tag_roc_auc``, ``tag_pr_auc``.
- ``retrieval``: tracks of artists never seen in pretraining, each the query against all others
  by cosine similarity → ``retrieval_map``, ``retrieval_recall_at_<k>`` (and the chance MAP).

The SVM numbers follow Choi et al.: the mean CV score of the best grid point, with nested CV
(``*_nested``) beside it as the unbiased estimate.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

import numpy as np

from raymir.probes.retrieval import chance_map, retrieval_scores
from raymir.probes.svm import engine_for, grid_points, grid_search
from raymir.probes.tagging import tagging_cv

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


def run_suite(features: dict[str, np.ndarray], sets: dict[str, ProbeSet], probe) -> dict[str, float]:
    """Every probe in ``sets`` (genre, arousal, valence, tagging, retrieval, or any named kind) → {metric: value}.

    features: {source: [n_tracks, d]}. ``probe`` carries the SVM grid (scaler, kernels, C, gamma,
    nested, max_iter), ``tagger`` (linear | mlp), ``retrieval_k`` and ``seed``.
    """
    out: dict[str, float] = {}
    for name, s in sets.items():
        X = np.asarray(features[s.source][s.rows], dtype=np.float64)
        if not np.isfinite(X).all():
            raise ValueError(f"probe {name}: the {s.source} features contain NaN or inf")
        kind = s.kind or KINDS.get(name, "")
        if kind in GRID_SCORES:
            metric = f"{name}_{GRID_SCORES[kind]}"
            res = grid_search(X, s.labels, list(s.folds), grid_points(probe, X.shape[1]), kind=kind,
                              nested=probe.nested, engine=engine_for(probe))
            out[metric] = res.cv_mean
            if res.nested_mean is not None:
                out[f"{metric}_nested"] = res.nested_mean
        elif kind == "tagging":
            scores = tagging_cv(X, s.labels, list(s.folds), kind=probe.tagger, seed=probe.seed)
            out["tag_roc_auc"], out["tag_pr_auc"] = scores["roc_auc"], scores["pr_auc"]
        elif kind == "retrieval":
            scores = retrieval_scores(X, s.labels, k=probe.retrieval_k)
            out["retrieval_map"] = scores["map"]
            out[f"retrieval_recall_at_{probe.retrieval_k}"] = scores["recall_at_k"]
            out["retrieval_chance_map"] = chance_map(s.labels)
        else:
            raise KeyError(f"probe {name!r}: unknown kind {kind!r} (give ProbeSet.kind, or name it one of "
                           f"{', '.join(KINDS)})")
    return out
