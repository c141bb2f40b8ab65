"""Artist group factors (Kim et al. 2018): artist-level bags of words → LDA topics → soft track targets.

Four factor sets, each becoming one learning task:

- ``m``: frame MFCCs (22.05 kHz, n_fft 2048, hop 1024) → k-means dictionary → artist bag of words
- ``d``: the same for the MFCCs' first differences over time
- ``e``: song-level descriptors, quantile-normalised to a normal distribution → dictionary → artist BoW
- ``s``: subgenre labels counted per artist

An artist's bag of words is its word counts divided by its number of tracks. LDA turns every
artist's bag into a soft topic distribution, which is copied to each of the artist's tracks as
that task's target. Artists whose bag is empty (no track in the dictionary's support, e.g. no
subgenre labels) are left out of LDA with a warning; their tracks get NaN rows (masked in training).
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ProcessPoolExecutor

import librosa
import numpy as np
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import LatentDirichletAllocation
from sklearn.preprocessing import QuantileTransformer

from raymir.config.sections import AgfParams
from raymir.targets.descriptors import DESCRIPTORS, descriptor_matrix

FACTORS = ("m", "d", "e", "s")


class AgfWarning(UserWarning):
    """Something about the artist group factors a researcher should know (excluded artists, shrunk dictionaries)."""


def frame_mfcc(y: np.ndarray, sr: int, *, n_mfcc: int = 20, n_fft: int = 2048, hop_length: int = 1024
               ) -> tuple[np.ndarray, np.ndarray]:
    """Frame MFCCs and their first differences: y [samples] → ([frames, n_mfcc], [frames, n_mfcc])."""
    y = np.asarray(y, dtype=np.float32)
    if y.size < n_fft:
        y = np.pad(y, (0, n_fft - y.size))
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop_length)
    delta = np.diff(mfcc, axis=1, prepend=mfcc[:, :1])  # first-order difference between frames
    return mfcc.T.astype(np.float32), delta.T.astype(np.float32)


def dictionary_words(vectors: np.ndarray, *, n_words: int, seed: int, max_fit: int = 100_000,
                     name: str = "") -> np.ndarray:
    """Fit a k-means dictionary (MiniBatchKMeans) and give every vector its word: [N, d] → [N] ints."""
    n_words_used = min(n_words, len(vectors))
    if n_words_used < n_words:
        warnings.warn(f"AGF {name}: {n_words} dictionary words requested but only {len(vectors)} vectors; "
                      f"using {n_words_used}", AgfWarning, stacklevel=2)
    rng = np.random.default_rng(seed)
    fit = vectors if len(vectors) <= max_fit else vectors[rng.choice(len(vectors), max_fit, replace=False)]
    km = MiniBatchKMeans(n_clusters=n_words_used, random_state=seed, n_init=3, batch_size=4096)
    km.fit(fit)
    return km.predict(vectors)


def artist_bow(words: np.ndarray, owners: np.ndarray, track_artists: np.ndarray, *, n_words: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Artist bags of words: word counts per artist divided by the artist's number of tracks.

    words [N] (word per vector), owners [N] (track index of each vector), track_artists [n_tracks]
    → (artists [A] sorted ids, bow [A, n_words]).
    """
    artists, track_to_artist = np.unique(track_artists, return_inverse=True)
    bow = np.zeros((len(artists), n_words), dtype=np.float64)
    np.add.at(bow, (track_to_artist[owners], words), 1.0)
    return artists, bow / np.bincount(track_to_artist, minlength=len(artists))[:, None]


def label_bow(labels: np.ndarray, track_artists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Artist bags of labels (e.g. subgenres): multi-hot [n_tracks, L] → (artists [A], bow [A, L])."""
    owners, words = np.nonzero(np.asarray(labels) > 0)
    return artist_bow(words, owners, track_artists, n_words=np.asarray(labels).shape[1])


def artist_topics(bow: np.ndarray, *, n_topics: int, seed: int, artists: np.ndarray | None = None,
                  name: str = "") -> tuple[np.ndarray, np.ndarray]:
    """LDA over artist bags: bow [A, V] → (topics [A, n_topics] rows summing to 1, valid [A] bool).

    Empty bags are not fitted (an all-zero document only drags LDA's estimates); they are
    reported in a warning and their rows are NaN.
    """
    valid = bow.sum(axis=1) > 0
    if not valid.all():
        who = artists[~valid] if artists is not None else np.flatnonzero(~valid)
        shown = ", ".join(map(str, who[:10])) + (" …" if len(who) > 10 else "")
        warnings.warn(f"AGF {name}: {len(who)} artist(s) have no words in the dictionary's support and get no "
                      f"target: {shown}", AgfWarning, stacklevel=2)
    topics = np.full((len(bow), n_topics), np.nan)
    if valid.sum() == 0:
        return topics, valid
    lda = LatentDirichletAllocation(n_components=n_topics, learning_method="batch", max_iter=50,
                                    random_state=seed)
    doc = lda.fit_transform(bow[valid])
    topics[valid] = doc / doc.sum(axis=1, keepdims=True)
    return topics, valid


def track_targets(artists: np.ndarray, topics: np.ndarray, track_artists: np.ndarray) -> np.ndarray:
    """Copy each artist's topic distribution to its tracks: → [n_tracks, n_topics] float32."""
    index = {a: i for i, a in enumerate(artists)}
    return topics[[index[a] for a in track_artists]].astype(np.float32)


def _analyse(args: tuple) -> tuple[np.ndarray, np.ndarray, object]:
    y, sr, p = args
    mfcc, delta = frame_mfcc(y, sr, n_mfcc=p.n_mfcc, n_fft=p.n_fft, hop_length=p.hop_length)
    return mfcc, delta, DESCRIPTORS[p.descriptors](y, sr)


def artist_group_factors(audio: np.ndarray, sr: int, track_artists: np.ndarray, subgenres: np.ndarray | None,
                         params: AgfParams = AgfParams(), *, workers: int = 0) -> dict[str, np.ndarray]:
    """All four factor sets for a set of tracks.

    audio [n, samples], track_artists [n], subgenres [n, S] multi-hot (or None: no ``s``)
    → {"m"|"d"|"e"|"s": [n, n_topics] soft targets; NaN rows for artists left out}.
    """
    p = params
    workers = workers or min(os.cpu_count() or 1, 4)
    jobs = [(np.asarray(y), sr, p) for y in audio]
    if workers > 1 and len(jobs) > 8:
        with ProcessPoolExecutor(workers) as pool:
            analysed = list(pool.map(_analyse, jobs, chunksize=8))
    else:
        analysed = [_analyse(j) for j in jobs]
    owners = np.concatenate([np.full(len(a[0]), i) for i, a in enumerate(analysed)])
    out = {}
    for name, col in (("m", 0), ("d", 1)):
        frames = np.concatenate([a[col] for a in analysed])
        words = dictionary_words(frames, n_words=p.n_words, seed=p.seed, max_fit=p.max_fit_frames, name=name)
        artists, bow = artist_bow(words, owners, track_artists, n_words=int(words.max()) + 1)
        topics, _ = artist_topics(bow, n_topics=p.n_topics, seed=p.seed, artists=artists, name=name)
        out[name] = track_targets(artists, topics, track_artists)
    desc = descriptor_matrix([a[2] for a in analysed])
    normal = QuantileTransformer(output_distribution="normal", n_quantiles=min(1000, len(desc)),
                                 random_state=p.seed).fit_transform(desc)
    words = dictionary_words(normal, n_words=p.descriptor_words, seed=p.seed, name="e")
    artists, bow = artist_bow(words, np.arange(len(words)), track_artists, n_words=int(words.max()) + 1)
    topics, _ = artist_topics(bow, n_topics=p.n_topics, seed=p.seed, artists=artists, name="e")
    out["e"] = track_targets(artists, topics, track_artists)
    if subgenres is not None:
        artists, bow = label_bow(subgenres, track_artists)
        topics, _ = artist_topics(bow, n_topics=p.n_topics, seed=p.seed, artists=artists, name="s")
        out["s"] = track_targets(artists, topics, track_artists)
    return out
