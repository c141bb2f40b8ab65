"""Artist-disjoint splits, probe sets whose folds never split an artist, and the probe suite."""

import numpy as np
import pytest

from raymir.config import ArtistProbeConfig
from raymir.data.subset import Subset
from raymir.probes.suite import ProbeSet, run_suite
from raymir.recipes.artist_data import artist_split, probe_sets, training_tracks


def _corpus(n_genres=5, per_genre=6, tracks=3, seed=0):
    rng = np.random.default_rng(seed)
    artists = np.repeat(np.arange(n_genres * per_genre) + 1000, tracks)
    genres = (artists - 1000) // per_genre
    noisy = genres.copy()
    noisy[::tracks] = rng.integers(n_genres, size=len(noisy[::tracks]))  # one mislabelled track per artist at most
    return artists, genres, noisy


def test_split_holds_artists_out_and_orders_the_pool_round_robin():
    artists, genres, noisy = _corpus()
    pool, heldout = artist_split(artists, noisy, heldout_per_genre=2, seed=3)
    assert set(pool).isdisjoint(heldout) and set(pool) | set(heldout) == set(artists)
    genre_of = {a: g for a, g in zip(artists, genres)}
    assert np.bincount([genre_of[a] for a in heldout]).tolist() == [2] * 5  # by majority genre, despite noise
    assert sorted(genre_of[a] for a in pool[:5]) == [0, 1, 2, 3, 4]  # any first N is genre-balanced
    assert sorted(genre_of[a] for a in pool[:10]) == sorted([0, 1, 2, 3, 4] * 2)
    for n in (3, 7, len(pool)):
        rows = training_tracks(artists, pool, n)
        assert set(artists[rows]) == set(pool[:n]) and not set(artists[rows]) & set(heldout)
        assert len(rows) == 3 * n
    assert set(training_tracks(artists, pool, 4)) < set(training_tracks(artists, pool, 8))  # nested
    with pytest.raises(ValueError, match="n_artists: 21"):
        training_tracks(artists, pool, 21)
    again, _ = artist_split(artists, noisy, heldout_per_genre=2, seed=3)
    assert np.array_equal(pool, again)


def _subset(name, labels, groups):
    return Subset(name=name, audio=np.zeros((len(groups), 8), dtype=np.float32), sr=8000, labels=labels,
                  groups=groups)


def test_probe_set_folds_keep_each_artist_on_one_side():
    rng = np.random.default_rng(1)
    artists, genres, _ = _corpus(per_genre=8, tracks=4)
    subsets = {
        "genre": _subset("genre", {"genre": genres}, artists),
        "emotion": _subset("emotion", {"arousal": rng.normal(size=len(artists)),
                                       "valence": rng.normal(size=len(artists))}, artists),
        "source": _subset("source", {"artist": artists, "tags": (rng.random((len(artists), 6)) < 0.3).astype(float)},
                          artists),
    }
    held = np.flatnonzero(artists < 1020)
    sets = probe_sets(subsets, tasks=("genre", "emotion", "tagging", "retrieval"), folds=4, seed=0, heldout_rows=held)
    assert set(sets) == {"genre", "arousal", "valence", "tagging", "retrieval"}
    for name, s in sets.items():
        groups = subsets[s.source].groups[s.rows]
        if name == "retrieval":
            assert s.folds == () and np.array_equal(s.labels, groups)
            continue
        assert np.array_equal(np.sort(np.concatenate(s.folds)), np.arange(len(s.rows)))  # a partition
        for test in s.folds:
            train = np.setdiff1d(np.arange(len(s.rows)), test)
            assert not set(groups[test]) & set(groups[train]), name
    with pytest.raises(ValueError, match="held-out"):
        probe_sets(subsets, tasks=("retrieval",), folds=4, seed=0)


def test_probe_suite_scores_informative_features_above_shuffled_ones():
    rng = np.random.default_rng(0)
    n_artists, tracks = 24, 4
    artists = np.repeat(np.arange(n_artists), tracks)
    genre = artists % 3
    centre = rng.normal(size=(n_artists, 16))  # artist identity
    X = centre[artists] * 0.7 + np.eye(3)[genre] @ rng.normal(size=(3, 16)) * 2 + rng.normal(0, 0.3, (len(artists), 16))
    arousal = X[:, 0] + rng.normal(0, 0.1, len(X))
    tags = (np.eye(3)[genre] + (rng.random((len(X), 3)) < 0.05)).clip(0, 1)
    folds = tuple(np.flatnonzero(artists % 4 == f) for f in range(4))  # artist-grouped
    rows = np.arange(len(X))
    sets = {"genre": ProbeSet("x", rows, genre, folds), "arousal": ProbeSet("x", rows, arousal, folds),
            "tagging": ProbeSet("x", rows, tags, folds), "retrieval": ProbeSet("x", rows, artists)}
    probe = ArtistProbeConfig(folds=4, gamma=("2^-5", "1/n_features"), C=(0.1, 8.0), max_iter=10000)
    good = run_suite({"x": X}, sets, probe)
    assert {"genre_accuracy", "genre_accuracy_nested", "arousal_r2", "arousal_r2_nested", "tag_roc_auc",
            "tag_pr_auc", "retrieval_map", "retrieval_recall_at_10", "retrieval_chance_map"} == set(good)
    bad = run_suite({"x": rng.permutation(X)}, sets, probe)
    assert good["genre_accuracy"] > 0.9 and bad["genre_accuracy"] < 0.6
    assert good["arousal_r2"] > 0.9 and bad["arousal_r2"] < 0.3
    assert good["tag_roc_auc"] > 0.9 and bad["tag_roc_auc"] < 0.7
    assert good["retrieval_map"] > 3 * good["retrieval_chance_map"]
    assert bad["retrieval_map"] < 2 * bad["retrieval_chance_map"]
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="genre: the x features contain NaN"):
        run_suite({"x": X_nan}, {"genre": sets["genre"]}, probe)
