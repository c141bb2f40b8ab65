"""Artist retrieval by track embedding: every track queries all other tracks by cosine similarity;
relevant results are the other tracks of the query's artist. Scores: MAP and recall@k."""

from __future__ import annotations

import numpy as np


def retrieval_scores(features: np.ndarray, artists: np.ndarray, *, k: int = 10) -> dict[str, float]:
    """features [n, d], artists [n] → {"map", "recall_at_k"} averaged over queries that have a relevant track.

    recall@k: the fraction of the query artist's other tracks found among the k nearest tracks.
    """
    x = np.asarray(features, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)  # a track never retrieves itself
    artists = np.asarray(artists)
    aps, recalls = [], []
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
    if not aps:
        raise ValueError("no query has another track of its artist: retrieval is undefined")
    return {"map": float(np.mean(aps)), "recall_at_k": float(np.mean(recalls))}


def chance_map(artists: np.ndarray) -> float:
    """Approximate MAP of a random ranking, to report beside the measured one: the share of relevant
    tracks, n_rel / (n − 1), averaged over the queries that have any."""
    artists = np.asarray(artists)
    _, counts = np.unique(artists, return_counts=True)
    n = len(artists)
    per_track = np.repeat((counts - 1) / (n - 1), counts)
    return float(per_track[np.repeat(counts, counts) > 1].mean())
