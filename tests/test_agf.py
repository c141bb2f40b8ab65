import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from raymir.targets.agf import (
    AgfParams,
    AgfWarning,
    artist_bow,
    artist_group_factors,
    artist_topics,
    dictionary_words,
    label_bow,
    track_targets,
)


def _latent_group_frames(seed=0, n_groups=4, artists_per_group=8, tracks=3, frames=60, n_sounds=12, dim=6):
    """Artists drawn from a few latent groups; each group prefers its own few 'sounds' (Gaussian clusters)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (n_sounds, dim))
    prefs = [rng.choice(n_sounds, 3, replace=False) for _ in range(n_groups)]
    vectors, owners, track_artists, artist_group = [], [], [], []
    for g in range(n_groups):
        for a in range(artists_per_group):
            artist = g * 100 + a
            artist_group.append(g)
            for _ in range(tracks):
                t = len(track_artists)
                track_artists.append(artist)
                sounds = np.where(rng.random(frames) < 0.8, rng.choice(prefs[g], frames), rng.integers(n_sounds, size=frames))
                vectors.append(centres[sounds] + rng.normal(0, 0.5, (frames, dim)))
                owners.append(np.full(frames, t))
    return np.concatenate(vectors), np.concatenate(owners), np.array(track_artists), np.array(artist_group)


def test_lda_topics_recover_latent_artist_groups():
    vectors, owners, track_artists, artist_group = _latent_group_frames()
    words = dictionary_words(vectors, n_words=24, seed=0)
    artists, bow = artist_bow(words, owners, track_artists, n_words=24)
    assert bow.shape == (32, 24)
    np.testing.assert_allclose(bow.sum(axis=1), 60.0)  # counts divided by tracks per artist
    topics, valid = artist_topics(bow, n_topics=4, seed=0, artists=artists)
    assert valid.all()
    np.testing.assert_allclose(topics.sum(axis=1), 1.0, atol=1e-6)
    ari = adjusted_rand_score(artist_group, topics.argmax(axis=1))
    shuffled = adjusted_rand_score(np.random.default_rng(1).permutation(artist_group), topics.argmax(axis=1))
    assert ari > 0.6, ari  # chance is ~0
    assert shuffled < 0.2
    targets = track_targets(artists, topics, track_artists)
    assert targets.shape == (len(track_artists), 4)
    # every track of an artist carries the artist's distribution
    np.testing.assert_array_equal(targets[track_artists == 0][0], targets[track_artists == 0][-1])


def test_artist_without_words_is_warned_and_left_out():
    labels = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0], [1, 1, 0]], dtype=float)
    track_artists = np.array([10, 11, 12, 12, 13])
    artists, bow = label_bow(labels, track_artists)
    with pytest.warns(AgfWarning, match=r"1 artist\(s\).*12"):
        topics, valid = artist_topics(bow, n_topics=2, seed=0, artists=artists, name="s")
    assert valid.tolist() == [True, True, False, True]
    assert np.isnan(topics[2]).all() and np.isfinite(topics[[0, 1, 3]]).all()


def test_artist_group_factors_on_audio():
    rng = np.random.default_rng(0)
    sr, n = 22050, 12
    t = np.arange(sr) / sr
    artists = np.repeat(np.arange(4), 3)
    # two kinds of artists: low sine tones vs bright noise bursts
    audio = np.stack([0.3 * np.sin(2 * np.pi * (110 + 20 * rng.random()) * t) if a % 2 == 0
                      else 0.3 * rng.standard_normal(sr) * (np.sin(2 * np.pi * 3 * t) > 0) for a in artists])
    subgenres = np.eye(3)[[0, 0, 0, 1, 1, 1, 0, 0, 2, 1, 1, 1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AgfWarning)  # tiny corpus: dictionaries shrink to the data
        out = artist_group_factors(audio.astype(np.float32), sr, artists, subgenres,
                                   AgfParams(n_words=8, descriptor_words=4, n_topics=2), workers=1)
    assert set(out) == {"m", "d", "e", "s"}
    for v in out.values():
        assert v.shape == (n, 2)
        np.testing.assert_allclose(v.sum(axis=1), 1.0, atol=1e-5)
        for a in range(4):
            assert np.allclose(v[artists == a], v[artists == a][0])
    m = out["m"].argmax(axis=1)[::3]
    assert m[0] == m[2] and m[1] == m[3] and m[0] != m[1]  # timbre groups found by the MFCC factor
