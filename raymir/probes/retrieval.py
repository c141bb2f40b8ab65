"""Artist retrieval by track embedding: every track queries all other tracks by cosine similarity;
relevant results are the other tracks of the query's artist. Scores: MAP and recall@k."""

from __future__ import annotations

import numpy as np


def query_scores(features: np.ndarray, artists: np.ndarray, *, k: int = 10) -> dict[str, np.ndarray]:
    """features [n, d], artists [n] → {"ap", "recall_at_k", "query"}: each query's average precision and recall@k
    [q], and its row in ``features`` [q], over the q queries that have a relevant track, in row order.

    recall@k: the fraction of the query artist's other tracks found among the k nearest tracks. Each query is
    scored once against fixed features (nothing is fitted on the others), so queries are independent test units
    of a paired comparison between two features (``raymir.probes.compare`` with ``fraction=0``).
    """
    x = np.asarray(features, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)  # a track never retrieves itself
    artists = np.asarray(artists)
    aps, recalls, queries = [], [], []
    for q in range(len(x)):
        relevant = artists == artists[q]
        relevant[q] = False
        n_rel = int(relevant.sum())
        if n_rel == 0:
            continue
        order = np.argsort(-sim[q], kind="stable")[:len(x) - 1]
        hits = relevant[order]
        ranks = np.flatnonzero(hits) + 1  # 1-based ranks of the relevant tracks
        aps.append(float(np.mean(np.arange(1, n_rel + 1) / ranks)))
        recalls.append(float(hits[:k].sum() / n_rel))
        queries.append(q)
    if not aps:
        raise ValueError("no query has another track of its artist: retrieval is undefined")
    return {"ap": np.array(aps), "recall_at_k": np.array(recalls), "query": np.array(queries, dtype=int)}


def retrieval_scores(features: np.ndarray, artists: np.ndarray, *, k: int = 10) -> dict[str, float]:
    """features [n, d], artists [n] → {"map", "recall_at_k"} averaged over queries that have a relevant track
    (:func:`query_scores`)."""
    per_query = query_scores(features, artists, k=k)
    return {"map": float(per_query["ap"].mean()), "recall_at_k": float(per_query["recall_at_k"].mean())}


def chance_map(artists: np.ndarray) -> float:
    """Expected MAP of a uniformly random ranking, to report beside the measured one.

    For a query with R relevant tracks among M = n − 1 candidates, E[AP] = H_M / M +
    (R − 1)(M − H_M) / (M (M − 1)) (H_M the M-th harmonic number): the mean over ranks k of
    E[rel_k · precision@k]. Averaged over the queries that have any relevant track.
    """
    artists = np.asarray(artists)
    _, counts = np.unique(artists, return_counts=True)
    m = len(artists) - 1
    h = float(np.sum(1.0 / np.arange(1, m + 1)))
    r = np.repeat(counts - 1, counts)
    r = r[r > 0]
    if not len(r):
        raise ValueError("no query has another track of its artist: retrieval is undefined")
    second = (r - 1) * (m - h) / (m * (m - 1)) if m > 1 else 0.0
    return float(np.mean(h / m + second))
