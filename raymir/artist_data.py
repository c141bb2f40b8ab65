"""Artist-disjoint splits and the probe sets of the artist sweeps (``artist_labels``, ``artist_tags``).

The source subset's artists are split once: some per genre are held out of every pretraining run
(their tracks are the unseen-artist retrieval and tagging sets); the rest form a pool, ordered
round-robin over genres, whose first N artists train the run with ``n_artists = N``, so every
N keeps genres balanced and a larger N extends a smaller one.
"""

from __future__ import annotations

import numpy as np

from raymir.data.subset import Subset
from raymir.probes.folds import make_folds
from raymir.probes.suite import ProbeSet


def artist_split(artists: np.ndarray, genres: np.ndarray, *, heldout_per_genre: int,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """→ (pool: training artists in the order runs take them, held-out artists).

    artists, genres: [n_tracks]. An artist's genre is its most common track genre (labels are noisy).
    """
    rng = np.random.default_rng(seed)
    names = np.unique(artists)
    genre_of = np.array([np.bincount(genres[artists == a]).argmax() for a in names])
    per_genre, heldout = [], []
    for g in np.unique(genre_of):
        mine = rng.permutation(names[genre_of == g])
        heldout += list(mine[:heldout_per_genre])
        per_genre.append(list(mine[heldout_per_genre:]))
    pool = [lst[i] for i in range(max(map(len, per_genre), default=0)) for lst in per_genre if i < len(lst)]
    return np.array(pool), np.array(sorted(heldout))


def training_tracks(artists: np.ndarray, pool: np.ndarray, n_artists: int) -> np.ndarray:
    """Indices of the tracks of the first ``n_artists`` pool artists."""
    if n_artists > len(pool):
        raise ValueError(f"n_artists: {n_artists} exceeds the {len(pool)} artists available for training")
    return np.flatnonzero(np.isin(artists, pool[:n_artists]))


def probe_sets(subsets: dict[str, Subset], *, tasks: tuple[str, ...], folds: int, seed: int,
               heldout_rows: np.ndarray | None = None) -> dict[str, ProbeSet]:
    """The probe sets for ``tasks`` (genre, emotion, tagging, retrieval) from the synthetic subsets.

    genre: the GTZAN-like ``genre`` subset (artists unseen in pretraining); emotion: the
    EmoMusic-like ``emotion`` subset; tagging and retrieval: the source's held-out artists
    (``heldout_rows``). All CV folds keep each artist on one side.
    """
    sets: dict[str, ProbeSet] = {}
    if "genre" in tasks:
        sub = subsets["genre"]
        y = sub.labels["genre"]
        sets["genre"] = ProbeSet("genre", np.arange(len(y)), y, tuple(
            make_folds(y, kind="classification", n_folds=folds, groups=sub.groups, seed=seed)))
    if "emotion" in tasks:
        sub = subsets["emotion"]
        for name in ("arousal", "valence"):
            y = sub.labels[name]
            sets[name] = ProbeSet("emotion", np.arange(len(y)), y, tuple(
                make_folds(y, kind="regression", n_folds=folds, groups=sub.groups, seed=seed)))
    if {"tagging", "retrieval"} & set(tasks):
        if heldout_rows is None:
            raise ValueError("tagging and retrieval probes need held-out artists' tracks")
        source = subsets["source"]
        artists = source.labels["artist"][heldout_rows]
        if "tagging" in tasks:
            tags = source.labels["tags"][heldout_rows]
            sets["tagging"] = ProbeSet("source", heldout_rows, tags, tuple(
                make_folds(artists, kind="regression", n_folds=folds, groups=artists, seed=seed)))
        if "retrieval" in tasks:
            sets["retrieval"] = ProbeSet("source", heldout_rows, artists)
    return sets
