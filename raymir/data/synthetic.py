"""The embedded synthetic corpus: deterministic from a seed, rendered with numpy, cached on disk.

Subsets (each mirrors a dataset the papers use):

- ``source``: tagging pretraining set (MSD-like): top-K multi-label tags, artists, artist tags,
  genre/subgenre, emotion, vocals.
- ``genre`` (GTZAN-like, unseen artists), ``ballroom`` (dance style from rhythm + tempo),
  ``speech_music`` (GTZAN music/speech-like), ``emotion`` (arousal/valence, EmoMusic-like),
  ``vocal`` (Jamendo-like vocal / non-vocal), ``sound_events`` (UrbanSound8K-like, with
  predefined folds by recording).
- ``fma`` (FMA-like, for artist group factors): 16 top genres with a subgenre hierarchy,
  artists with several tracks on one to three albums; labels genre (noisy, one per track),
  artist, album and multi-hot subgenres (see ``raymir.data.taxonomy``).
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import numpy as np

from raymir import cache
from raymir.config.sections import SYNTHETIC_TASKS, SyntheticParams
from raymir.data import music, nonmusic, taxonomy
from raymir.data.subset import Subset, TargetTask

GENERATOR_VERSION = 5

TARGET_TASKS: dict[str, TargetTask] = {
    t.name: t for t in (
        TargetTask("ballroom", "ballroom", "dance", "classification"),
        TargetTask("genre", "genre", "genre", "classification"),
        TargetTask("speech_music", "speech_music", "speech_music", "classification"),
        TargetTask("emotion_arousal", "emotion", "arousal", "regression"),
        TargetTask("emotion_valence", "emotion", "valence", "regression"),
        TargetTask("vocal", "vocal", "vocal", "classification"),
        TargetTask("sound_events", "sound_events", "event", "classification"),
    )
}
# The config names these tasks without importing the data code; the two lists must agree.
assert tuple(TARGET_TASKS) == SYNTHETIC_TASKS, "config.sections.SYNTHETIC_TASKS is out of date"
SUBSETS = ("source", "genre", "ballroom", "speech_music", "emotion", "vocal", "sound_events", "fma")


# --- tags ---------------------------------------------------------------------------------

MOODS = ("happy", "sad", "energetic", "mellow", "chill", "aggressive", "beautiful", "dark")
INSTRUMENT_TAGS = {"guitar": ("acoustic_guitar", "electric_guitar", "distorted_guitar"), "piano": ("piano",),
                   "synth": ("synth_lead", "synth_pad", "synth_bass"), "strings": ("strings",),
                   "acoustic": ("acoustic_guitar", "upright_bass", "flute", "strings"),
                   "electronic": ("synth_lead", "synth_pad", "synth_bass")}


def all_tags() -> list[str]:
    genres = [g.name for g in music.GENRES]
    subs = [s for g in music.GENRES for s in g.subgenres]
    return genres + subs + ["female vocalists", "male vocalists", "instrumental"] + list(MOODS) \
        + ["fast", "slow"] + list(INSTRUMENT_TAGS) + list(music.ERAS)


def tag_chances(t: music.Track) -> dict[str, float]:
    """The source tags a track can get from its latent factors, each with its chance before tag noise."""
    g = music.GENRES[t.genre]
    arousal, valence = t.arousal_valence
    cand = {g.name: 0.85, g.subgenres[t.subgenre]: 0.55, t.era: 0.35}
    cand["instrumental" if not t.vocal else ("female vocalists" if t.voice_gender else "male vocalists")] = 0.7
    if t.tempo > 140:
        cand["fast"] = 0.5
    if t.tempo < 85:
        cand["slow"] = 0.5
    mood = {"happy": valence > 0.3, "sad": valence < -0.3, "energetic": arousal > 0.3,
            "mellow": arousal < -0.3, "chill": arousal < -0.1 and valence > -0.2,
            "aggressive": arousal > 0.4 and valence < 0, "beautiful": valence > 0 and arousal < 0.2,
            "dark": valence < -0.4}
    cand.update({m: 0.5 for m, on in mood.items() if on})
    for tag, insts in INSTRUMENT_TAGS.items():
        if {t.chord, t.lead, t.bass} & set(insts):
            cand[tag] = 0.4
    return cand


def _track_tags(t: music.Track, rng: np.random.Generator, noise: float) -> set[str]:
    """Tags a listener community would give: relevant ones with some probability, plus noise."""
    cand = tag_chances(t)
    tags = {k for k, p in cand.items() if rng.random() < p * (1 - noise)}
    vocab = all_tags()
    while rng.random() < noise * 3:  # spurious tags, as in crowd-sourced tagging
        tags.add(vocab[rng.integers(len(vocab))])
    return tags


class TagOverlap(NamedTuple):
    """How a target task's label relates to the source tags the convnet is pretrained on."""

    kind: str  # "same": the label is a source tag | "through": it moves with tags via a shared factor | "none"
    tags: tuple[str, ...]  # the source tags that are the label ("same") or move with it ("through")
    how: str


_MOOD_AXES = {"energetic": "a", "mellow": "a", "happy": "v", "sad": "v", "dark": "v", "chill": "av",
              "aggressive": "av", "beautiful": "av"}  # which of arousal / valence each mood tag thresholds

# Per target task (TARGET_TASKS): is its label a source tag? Derived from tag_chances and the subsets'
# generators, and checked against them by tests/test_corpus.py. "The convnet transfers" on a "same" task
# partly means it learned the label itself in pretraining.
TAG_OVERLAP: dict[str, TagOverlap] = {
    "ballroom": TagOverlap("through", ("fast", "slow") + MOODS,
                           "tempo only: each dance style has a fixed tempo, which sets fast (jive, quickstep, "
                           "Viennese waltz: all of them), slow (part of waltz) and, through arousal and valence, "
                           "the moods; the dance rhythms and 3/4 meter never occur in the source"),
    "genre": TagOverlap("same", tuple(g.name for g in music.GENRES),
                        "each genre name is a source tag (as in MSD's tags); subgenre tags imply it too"),
    "speech_music": TagOverlap("none", (), "no tag names speech or music; the music clips are source-like "
                               "tracks (every source clip is music), the speech clips carry no tags"),
    "emotion_arousal": TagOverlap("through", tuple(m for m, ax in _MOOD_AXES.items() if "a" in ax)
                                  + ("fast", "slow"),
                                  "the mood tags are thresholds of the noise-free arousal; tempo, its largest "
                                  "term, sets fast/slow; genre tags move with it as well"),
    "emotion_valence": TagOverlap("through", tuple(m for m, ax in _MOOD_AXES.items() if "v" in ax)
                                  + ("fast", "slow"),
                                  "the mood tags are thresholds of the noise-free valence; tempo is one of its "
                                  "terms (fast/slow); genre tags move with it as well"),
    "vocal": TagOverlap("same", ("instrumental", "female vocalists", "male vocalists"),
                        "instrumental is the non-vocal class; the vocalist tags split the vocal one by gender"),
    "sound_events": TagOverlap("none", (), "no source tag: the clips are not music"),
}


ARTIST_TAGS = tuple(all_tags()[:30]) + ("female vocalists", "male vocalists", "instrumental", "fast",
                                        "mid-tempo", "slow") + tuple(INSTRUMENT_TAGS) + music.ERAS


def _artist_tags(a: dict) -> set[str]:
    """Artist-level tags (Wang et al. 2019): describe the artist, copied to each of their tracks."""
    g = music.GENRES[a["genre"]]
    tags = {g.name, g.subgenres[a["subgenre"]], a["era"]}
    tags.add("instrumental" if not a["vocal"] else ("female vocalists" if a["voice_gender"] else "male vocalists"))
    tags.add("fast" if a["tempo"] > 130 else "slow" if a["tempo"] < 90 else "mid-tempo")
    for tag, insts in INSTRUMENT_TAGS.items():
        if {a["chord"], a["lead"], a["bass"]} & set(insts):
            tags.add(tag)
    return tags


# --- clip plans ----------------------------------------------------------------------------

def _music_tracks(rng, p: SyntheticParams, *, artists_per_genre: int, tracks: int, artist_offset: int,
                  vocal: bool | None = None) -> tuple[list[music.Track], list[dict]]:
    out, artists = [], []
    for g in range(len(music.GENRES)):
        for i in range(artists_per_genre):
            a = music.sample_artist(g, artist_offset + len(artists), rng, overlap=p.overlap)
            if vocal is not None:
                a["vocal"] = bool(i % 2 == 0) if vocal else a["vocal"]
            artists.append(a)
            out += [music.sample_track(a, rng) for _ in range(tracks)]
    return out, artists


def _music_labels(tracks: list[music.Track], artists: list[dict], rng, p: SyntheticParams) -> tuple[dict, dict]:
    n_genres = len(music.GENRES)
    genre = np.array([t.genre for t in tracks])
    flip = rng.random(len(tracks)) < p.label_noise
    genre = np.where(flip, rng.integers(n_genres, size=len(tracks)), genre)
    av = np.array([t.arousal_valence for t in tracks]) + rng.normal(0, 0.08, (len(tracks), 2))
    by_id = {a["artist"]: a for a in artists}
    labels = {
        "genre": genre, "subgenre": np.array([t.genre * 2 + t.subgenre for t in tracks]),
        "artist": np.array([t.artist for t in tracks]),
        "arousal": av[:, 0].astype(np.float32), "valence": av[:, 1].astype(np.float32),
        "vocal": np.array([int(t.vocal) for t in tracks]),
    }
    tag_sets = [_track_tags(t, rng, p.label_noise) for t in tracks]
    atag_sets = [_artist_tags(by_id[t.artist]) for t in tracks]
    classes = {"genre": [g.name for g in music.GENRES],
               "subgenre": [s for g in music.GENRES for s in g.subgenres], "vocal": ["non-vocal", "vocal"]}
    # Top-K tags by frequency in this subset (as the MSD top-50); artist tags: a fixed vocabulary.
    counts = Counter(tag for s in tag_sets for tag in s)
    tag_vocab = [tag for tag, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:p.n_tags]
    for key, sets, vocab in (("tags", tag_sets, tag_vocab), ("artist_tags", atag_sets, ARTIST_TAGS)):
        labels[key] = np.array([[float(tag in s) for tag in vocab] for s in sets], dtype=np.float32)
        classes[key] = list(vocab)
    return labels, classes


def _plans(name: str, p: SyntheticParams) -> tuple[list[tuple], dict, dict, np.ndarray | None, np.ndarray | None]:
    """Clip plans (renderer, args) plus labels, class names, groups and folds of one subset."""
    rng = np.random.default_rng([p.seed, SUBSETS.index(name)])
    offset = 100_000 * SUBSETS.index(name)  # artist ids never collide across subsets
    if name in ("source", "genre", "emotion", "vocal"):
        per, tr = ((p.source_artists_per_genre, p.source_tracks_per_artist) if name == "source"
                   else (p.target_artists_per_genre, p.target_tracks_per_artist))
        tracks, artists = _music_tracks(rng, p, artists_per_genre=per, tracks=tr, artist_offset=offset,
                                        vocal=True if name == "vocal" else None)
        labels, classes = _music_labels(tracks, artists, rng, p)
        return [("music", t) for t in tracks], labels, classes, labels["artist"], None
    if name == "fma":
        return _fma_plans(rng, p, offset)
    if name == "ballroom":
        styles = list(music.DANCES)
        plans, dance = [], []
        for s_i, style in enumerate(styles):
            for _ in range(p.clips_per_class):
                a = music.sample_artist(int(rng.integers(len(music.GENRES))), -1, rng, overlap=1.0)
                plans.append(("music", music.dance_track(style, a, rng)))
                dance.append(s_i if rng.random() >= p.label_noise else int(rng.integers(len(styles))))
        return plans, {"dance": np.array(dance)}, {"dance": styles}, None, None
    if name == "speech_music":
        plans = [("speech", int(rng.integers(2**31))) for _ in range(p.clips_per_class)]
        for _ in range(p.clips_per_class):
            a = music.sample_artist(int(rng.integers(len(music.GENRES))), -1, rng, overlap=p.overlap)
            plans.append(("music", music.sample_track(a, rng)))
        y = np.array([0] * p.clips_per_class + [1] * p.clips_per_class)
        return plans, {"speech_music": y}, {"speech_music": ["speech", "music"]}, None, None
    if name == "sound_events":
        plans, ev, rec = [], [], []
        clips_per_recording = max(1, min(4, p.clips_per_class // p.event_folds))
        for c in range(len(nonmusic.EVENTS)):
            for i in range(p.clips_per_class):
                recording = c * 10_000 + i // clips_per_recording
                plans.append(("event", (c, int(rng.integers(2**31)), recording)))
                ev.append(c)
                rec.append(recording)
        rec = np.array(rec)
        # Official-style folds: whole recordings go to one fold, cycling within each class.
        folds = np.array([(r % 10_000) % p.event_folds for r in rec]) + 1
        return plans, {"event": np.array(ev)}, {"event": list(nonmusic.EVENTS)}, rec, folds
    raise KeyError(name)


def _fma_plans(rng, p: SyntheticParams, offset: int) -> tuple[list[tuple], dict, dict, np.ndarray, None]:
    tracks, genre, artist, album, subs = [], [], [], [], []
    n_subs = len(taxonomy.SUBGENRE_NAMES)
    for g in range(len(taxonomy.TOP_GENRES)):
        for _ in range(p.fma_artists_per_genre):
            a = taxonomy.sample_fma_artist(g, offset + len(set(artist)), rng, overlap=p.overlap)
            for i in range(p.fma_tracks_per_artist):
                alb = i % len(a["albums"])
                tracks.append(taxonomy.sample_fma_track(a, alb, rng))
                artist.append(a["artist"])
                album.append(a["artist"] * 4 + alb)
                genre.append(g if rng.random() >= p.label_noise else int(rng.integers(len(taxonomy.TOP_GENRES))))
                row = np.zeros(n_subs, dtype=np.float32)
                row[a["subgenres"][0]] = 1.0  # the primary subgenre always; a secondary one on half the tracks
                for extra in a["subgenres"][1:]:
                    row[extra] = float(rng.random() < 0.5)
                subs.append(row)
    labels = {"genre": np.array(genre), "artist": np.array(artist), "album": np.array(album),
              "subgenres": np.stack(subs)}
    classes = {"genre": [g.name for g in taxonomy.TOP_GENRES], "subgenres": list(taxonomy.SUBGENRE_NAMES)}
    return [("music", t) for t in tracks], labels, classes, labels["artist"], None


def _render(plan: tuple, sr: int, duration: float) -> np.ndarray:
    renderer, arg = plan
    if renderer == "music":
        return music.render_music(arg, sr=sr, duration=duration)
    if renderer == "speech":
        return nonmusic.render_speech(arg, sr=sr, duration=duration)
    cls, seed, recording = arg
    return nonmusic.render_event(cls, seed, sr=sr, duration=duration, recording=recording)


def _render_chunk(args: tuple) -> list[np.ndarray]:
    plans, sr, duration = args
    return [_render(s, sr, duration) for s in plans]


def build_subset(name: str, p: SyntheticParams, *, sr: int, out_dir: Path, workers: int = 0) -> Subset:
    """Render one subset into ``out_dir`` (audio.npy + meta.json) and return it (memory-mapped)."""
    plans, labels, classes, groups, folds = _plans(name, p)
    n = int(round(sr * p.duration))
    audio = np.lib.format.open_memmap(Path(out_dir) / "audio.npy", mode="w+", dtype=np.float32,
                                      shape=(len(plans), n))
    workers = workers or min(os.cpu_count() or 1, 4)
    chunks = [plans[i:i + 16] for i in range(0, len(plans), 16)]
    if workers > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = pool.map(_render_chunk, [(c, sr, p.duration) for c in chunks])
            for i, ys in enumerate(results):
                audio[i * 16:i * 16 + len(ys)] = np.stack(ys)
    else:
        for i, c in enumerate(chunks):
            audio[i * 16:i * 16 + len(c)] = np.stack(_render_chunk((c, sr, p.duration)))
    audio.flush()
    subset = Subset(name=name, audio=audio, sr=sr, labels=labels, classes=classes, groups=groups, folds=folds)
    subset.save_meta(out_dir)
    return subset


def corpus_key(p: SyntheticParams, *, sr: int, name: str) -> dict:
    """What a rendered subset depends on: the generator's version, the corpus settings, the sample rate."""
    return {"generator": GENERATOR_VERSION, "params": asdict(p), "sr": sr, "subset": name}


def load_synthetic(p: SyntheticParams, *, sr: int, cache_root: Path, names: tuple[str, ...] = SUBSETS,
                   workers: int = 0) -> dict[str, Subset]:
    """Subsets of the synthetic corpus at sample rate ``sr``, rendered once and cached by content."""
    out = {}
    for name in names:
        path = cache.cached(cache_root, "corpus", corpus_key(p, sr=sr, name=name),
                            lambda d, name=name: build_subset(name, p, sr=sr, out_dir=d, workers=workers))
        out[name] = Subset.load(path)
    return out
