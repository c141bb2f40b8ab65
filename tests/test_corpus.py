import numpy as np

from raymir.data.synthetic import (
    SUBSETS,
    TAG_OVERLAP,
    TARGET_TASKS,
    SyntheticParams,
    _plans,
    all_tags,
    build_subset,
    load_synthetic,
    tag_chances,
)
from raymir.extract import mfcc_features
from raymir.probes.folds import make_folds
from raymir.probes.svm import grid_search, make_grid

TINY = SyntheticParams(duration=2.0, source_artists_per_genre=2, source_tracks_per_artist=2,
                       target_artists_per_genre=2, target_tracks_per_artist=2, clips_per_class=4, event_folds=2)


def test_deterministic_from_seed(tmp_path):
    a = build_subset("genre", TINY, sr=8000, out_dir=_mk(tmp_path / "a"), workers=1)
    b = build_subset("genre", TINY, sr=8000, out_dir=_mk(tmp_path / "b"), workers=2)
    np.testing.assert_array_equal(np.asarray(a.audio), np.asarray(b.audio))
    c = build_subset("genre", SyntheticParams(**{**TINY.__dict__, "seed": 1}), sr=8000,
                     out_dir=_mk(tmp_path / "c"), workers=1)
    assert not np.array_equal(np.asarray(a.audio), np.asarray(c.audio))


def _mk(p):
    p.mkdir(parents=True)
    return p


def test_every_task_has_labels_groups_and_cached_subsets(tmp_path):
    subsets = load_synthetic(TINY, sr=8000, cache_root=tmp_path)
    assert set(subsets) == set(SUBSETS)
    for task in TARGET_TASKS.values():
        sub = subsets[task.subset]
        y = sub.labels[task.label]
        assert len(y) == len(sub) and np.isfinite(np.asarray(sub.audio)).all()
        if task.kind == "classification":
            assert len(np.unique(y)) >= 2
        else:
            assert np.std(y) > 0.05
    src = subsets["source"]
    assert src.labels["tags"].shape == (len(src), len(src.classes["tags"]))
    assert 0 < src.labels["tags"].mean() < 0.5  # multi-label and sparse, like last.fm tags
    for key in ("artist", "artist_tags", "genre", "subgenre", "arousal", "valence", "vocal"):
        assert key in src.labels
    # artist tags are artist-level: identical for every track of an artist
    for artist in np.unique(src.labels["artist"]):
        rows = src.labels["artist_tags"][src.labels["artist"] == artist]
        assert (rows == rows[0]).all()
    # artists of the target subsets never appear in the pretraining set
    assert not set(src.labels["artist"]) & set(subsets["genre"].labels["artist"])
    ev = subsets["sound_events"]
    for r in np.unique(ev.groups):  # a recording sits in exactly one predefined fold
        assert len(np.unique(ev.folds[ev.groups == r])) == 1
    again = load_synthetic(TINY, sr=8000, cache_root=tmp_path, names=("genre",))
    assert again["genre"].path == subsets["genre"].path  # cached by content, not rebuilt


def test_mfcc_baseline_is_clearly_below_ceiling_on_default_genre(tmp_path):
    params = SyntheticParams()
    genre = load_synthetic(params, sr=12000, cache_root=tmp_path, names=("genre",))["genre"]
    X = mfcc_features(genre.audio, genre.sr)
    y = genre.labels["genre"]
    folds = make_folds(y, kind="classification", n_folds=5, groups=genre.groups)
    points = make_grid(n_features=X.shape[1], scaler=(True,), kernels=("linear", "rbf"), C=(0.1, 2.0, 8.0, 32.0),
                       gammas=(("2^-5", 2**-5), ("2^-7", 2**-7), ("2^-9", 2**-9)))
    acc = grid_search(X, y, folds, points, kind="classification", nested=False).cv_mean
    assert 0.2 < acc < 0.9, acc  # far above chance (0.1), far below ceiling


def _association(tag_on: np.ndarray, y: np.ndarray, regression: bool) -> float:
    """|Pearson r| with a continuous label; Cramér's V of the tag (on/off) × class table."""
    if tag_on.std() == 0:
        return 0.0
    if regression:
        return float(abs(np.corrcoef(tag_on, y)[0, 1]))
    table = np.array([[np.sum((y == k) & (tag_on == v)) for v in (0, 1)] for k in np.unique(y)])
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    return float(np.sqrt(((table - expected) ** 2 / expected).sum() / len(y)))


def test_tag_overlap_table_matches_the_generator():
    """TAG_OVERLAP, re-derived: on noise-free labels of large subsets, which source tags a clip can get
    (tag_chances; non-music clips get none) against each target task's label."""
    vocab = all_tags()
    assert set(TAG_OVERLAP) == set(TARGET_TASKS)
    p = SyntheticParams(label_noise=0.0, clips_per_class=200, target_artists_per_genre=20)
    for name, overlap in TAG_OVERLAP.items():
        task = TARGET_TASKS[name]
        assert overlap.kind in ("same", "through", "none"), name
        assert set(overlap.tags) <= set(vocab), name
        assert (overlap.kind == "none") == (not overlap.tags), name
        plans, labels, classes, _, _ = _plans(task.subset, p)
        y = np.asarray(labels[task.label], dtype=float)
        if task.kind == "classification" and overlap.kind != "same":
            assert not set(classes[task.label]) & set(vocab), name  # no class is named like a tag
        on = np.array([[float(t in tag_chances(arg)) if kind == "music" else 0.0 for t in vocab]
                       for kind, arg in plans])
        strength = {t: _association(on[:, j], y, task.kind == "regression") for j, t in enumerate(vocab)}
        patterns: dict[tuple, set] = {}
        for row, label in zip(on[:, [vocab.index(t) for t in overlap.tags]], y):
            patterns.setdefault(tuple(row), set()).add(label)
        if overlap.kind == "same":  # the listed tags determine the label
            assert all(len(v) == 1 for v in patterns.values()), name
            assert set().union(*patterns.values()) == set(y), name
        if overlap.kind == "through":  # they move with it but do not determine it
            assert all(strength[t] > 0.15 for t in overlap.tags), (name, strength)
            assert task.kind == "regression" or any(len(v) > 1 for v in patterns.values()), name
        if overlap.kind == "none":  # some class is never music, so it has no tags at all
            assert any(not on[y == k].any() for k in np.unique(y)), name
        if name in ("ballroom", "sound_events"):  # the timbre is drawn apart from the label: nothing else links
            assert all(s < 0.15 for t, s in strength.items() if t not in overlap.tags), (name, strength)
