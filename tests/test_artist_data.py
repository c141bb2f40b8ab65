"""Artist-disjoint splits, probe sets whose folds never split an artist, and the probe suite."""

import numpy as np
import pytest

from raymir.config import ArtistProbeConfig
from raymir.data.subset import Subset
from raymir.probes.suite import ProbeSet, run_suite
from raymir.recipes.artist_data import artist_split, probe_sets, repeat_probe_sets, training_tracks


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


def test_repeats_pool_fold_by_fold_and_retrieval_queries_stay_one_unit_each():
    import json

    from raymir.probes.compare import score_interval
    from raymir.probes.suite import pooled_row, probe_scores

    rng = np.random.default_rng(2)
    artists = np.repeat(np.arange(12), 3)
    genre = artists % 3
    X = np.eye(3)[genre] @ rng.normal(size=(3, 8)) + rng.normal(0, 0.8, (len(artists), 8))
    tags = np.eye(3)[genre]
    rows = np.arange(len(X))
    probe = ArtistProbeConfig(folds=3, gamma=("1/n_features",), C=(1.0,), kernels=("linear",), scaler=(True,))

    def sets(seed):
        order = np.random.default_rng(seed).permutation(12)
        folds = tuple(np.flatnonzero(np.isin(artists, order[f::3])) for f in range(3))
        return {"genre": ProbeSet("x", rows, genre, folds), "tagging": ProbeSet("x", rows, tags, folds),
                "retrieval": ProbeSet("x", rows, artists)}

    first, second = probe_scores({"x": X}, sets(0), probe), probe_scores({"x": X}, sets(1), probe)
    # a probe scored in repeat 0 only (predefined folds) pools that repeat
    row = pooled_row([first, {k: v for k, v in second.items() if k != "tagging"}])
    genre_folds = json.loads(row["genre_accuracy_folds"])
    assert genre_folds == [*first["genre"].grid.fold_scores[0], *second["genre"].grid.fold_scores[0]]  # repeat-major
    assert json.loads(row["genre_accuracy_nested_folds"]) == [*first["genre"].grid.nested_scores,
                                                              *second["genre"].grid.nested_scores]
    assert row["genre_accuracy"] == pytest.approx(np.mean(genre_folds))
    assert row["genre_accuracy_test_fraction"] == pytest.approx(1 / 3)
    assert row["genre_accuracy_ci95"] == pytest.approx(score_interval(genre_folds, fraction=1 / 3).half_width)
    assert json.loads(row["tag_roc_auc_folds"]) == first["tagging"].units["tag_roc_auc"].tolist()
    # the same 36 queries in both repeats: averaged per query, not 72 units (identical repeats add no evidence)
    assert len(json.loads(row["retrieval_map_folds"])) == 36 and row["retrieval_map_test_fraction"] == 0
    assert row["retrieval_map_ci95"] == pytest.approx(score_interval(first["retrieval"].units["retrieval_map"],
                                                                     fraction=0).half_width)
    assert row["retrieval_chance_map"] == first["retrieval"].extra["retrieval_chance_map"]


def test_each_repeat_redraws_the_folds_and_a_datasets_predefined_folds_are_used_once():
    rng = np.random.default_rng(4)
    artists, genres, _ = _corpus(per_genre=8, tracks=4)
    source = _subset("source", {"artist": artists}, artists)
    held = np.flatnonzero(artists < 1020)
    free = {"genre": _subset("genre", {"genre": genres}, artists), "source": source}
    sets = repeat_probe_sets(free, tasks=("genre", "retrieval"), folds=4, seed=7, repeats=3, heldout_rows=held)
    assert len(sets) == 3
    for r, s in enumerate(sets):  # repeat r: exactly the single run's sets with seed + r
        alone = probe_sets(free, tasks=("genre", "retrieval"), folds=4, seed=7 + r, heldout_rows=held)
        assert all(np.array_equal(a, b) for a, b in zip(s["genre"].folds, alone["genre"].folds, strict=True))
        assert np.array_equal(s["retrieval"].rows, held)  # the held-out artists stay fixed
    assert not np.array_equal(sets[0]["genre"].folds[0], sets[1]["genre"].folds[0])

    fixed = Subset(name="gtzan", audio=np.zeros((len(artists), 8), dtype=np.float32), sr=8000,
                   labels={"genre": genres, "tempo": rng.normal(size=len(artists))}, groups=artists,
                   folds=(artists - 1000) % 4, classes={"genre": [str(g) for g in range(5)]})
    logged = []
    sets = repeat_probe_sets({"gtzan": fixed, "source": source}, tasks=("genre", "retrieval"), folds=4, seed=0,
                             repeats=2, heldout_rows=held, target="gtzan", log=logged.append)
    assert set(sets[0]) == {"genre", "tempo", "retrieval"} and set(sets[1]) == {"retrieval"}
    assert logged == ["genre, tempo: gtzan's predefined folds, cross-validated once (probe.repeats=2 re-draws the "
                      "other probes' folds)"]
