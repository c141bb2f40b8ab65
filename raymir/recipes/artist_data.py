"""Artist-disjoint splits and the probe sets of the artist sweeps (``artist_labels``, ``artist_tags``).

The source subset (synthetic, or ``data.source``: a real dataset with artists) is split once:
some artists per genre are held out of every pretraining run (their tracks are the unseen-artist
retrieval and tagging sets); the rest form a pool, ordered round-robin over genres, whose first
N artists train the run with ``n_artists = N``, so every N keeps genres balanced and a larger N
extends a smaller one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from raymir.data.clips import DatasetError, Skipped
from raymir.data.datasets import predefined_folds, target_tasks
from raymir.data.sources import artist_source, load_subsets
from raymir.data.subset import Subset
from raymir.probes.folds import make_folds
from raymir.probes.suite import ProbeSet, drop_rows
from raymir.recipes.layer_combos import clip_names
from raymir.session import write_skipped


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


def artist_subsets(cfg, *, duration: float, cache_root: Path, artist_tags: bool = False, source: bool = True,
                   log: Callable[[str], None] = print) -> tuple[dict[str, Subset], dict[str, list[Skipped]]]:
    """→ ({"source": clips with artists, then the probe subsets}, {subset: skipped clips of a real dataset}).

    ``cfg``: an artist sweep's config. ``data.source`` replaces the synthetic source and
    ``data.dataset`` the synthetic genre / emotion sets; ``duration``: seconds per real clip when
    ``data.duration`` is 0. ``artist_tags``: the source must also carry per-artist tags; ``source=False``:
    no source at all (nothing is pretrained and no probe uses it).
    """
    return load_subsets(cfg.data, cfg.corpus, sr=cfg.mel.sr, duration=duration, cache_root=cache_root,
                        source=(lambda sub: artist_source(sub, cache_root=cache_root, artist_tags=artist_tags))
                        if source else None,
                        synthetic_targets=tuple(t for t in ("genre", "emotion") if t in cfg.probe.tasks), log=log)


def source_genres(source: Subset) -> np.ndarray:
    """[n] the source's genre ids for the per-genre hold-out (all 0 when it has no genre label)."""
    genre = source.labels.get("genre")
    return np.asarray(genre) if genre is not None and np.ndim(genre) == 1 else np.zeros(len(source), dtype=int)


def _folds(probe: str, y: np.ndarray, *, kind: str, n_folds: int, groups: np.ndarray | None,
           predefined: np.ndarray | None = None, seed: int) -> tuple[np.ndarray, ...]:
    try:
        return tuple(make_folds(y, kind=kind, n_folds=n_folds, groups=groups, predefined=predefined, seed=seed))
    except ValueError as e:  # e.g. fewer artists than folds
        n_groups = len(np.unique(groups)) if groups is not None else len(y)
        raise DatasetError(f"probe {probe}: cannot make {n_folds} folds of {len(y)} clips by {n_groups} artists/groups "
                           f"({e}); lower probe.folds or give it more artists") from None


def probe_sets(subsets: dict[str, Subset], *, tasks: tuple[str, ...], folds: int, seed: int,
               heldout_rows: np.ndarray | None = None, target: str = "") -> dict[str, ProbeSet]:
    """The probe sets for ``tasks`` (genre, emotion, tagging, retrieval).

    genre: the GTZAN-like ``genre`` subset (artists unseen in pretraining); emotion: the
    EmoMusic-like ``emotion`` subset; with ``target`` (a real dataset's subset name) every label
    of that dataset instead, on its own folds where it has them. Tagging and retrieval: the
    source's held-out artists (``heldout_rows``). All CV folds keep each artist (group) on one side.
    """
    sets: dict[str, ProbeSet] = {}
    if target:
        sub = subsets[target]
        for t in target_tasks(sub):
            y = sub.labels[t.label]
            sets[t.name] = ProbeSet(target, np.arange(len(y)), y, _folds(
                t.name, y, kind=t.kind, n_folds=folds, groups=sub.groups, predefined=predefined_folds(sub), seed=seed),
                kind=t.kind)
        tasks = tuple(t for t in tasks if t not in ("genre", "emotion"))
    if "genre" in tasks:
        sub = subsets["genre"]
        y = sub.labels["genre"]
        sets["genre"] = ProbeSet("genre", np.arange(len(y)), y, _folds(
            "genre", y, kind="classification", n_folds=folds, groups=sub.groups, seed=seed))
    if "emotion" in tasks:
        sub = subsets["emotion"]
        for name in ("arousal", "valence"):
            y = sub.labels[name]
            sets[name] = ProbeSet("emotion", np.arange(len(y)), y, _folds(
                name, y, kind="regression", n_folds=folds, groups=sub.groups, seed=seed))
    if {"tagging", "retrieval"} & set(tasks):
        if heldout_rows is None:
            raise ValueError("tagging and retrieval probes need held-out artists' tracks")
        source = subsets["source"]
        if "tagging" in tasks and np.ndim(source.labels.get("tags")) != 2:
            raise DatasetError(f"{source.name}: the tagging probe needs track tags on the source (a 'tags' label); "
                               "drop it: --set 'probe.tasks=[retrieval]'")
        artists = source.labels["artist"][heldout_rows]
        if "tagging" in tasks:
            tags = source.labels["tags"][heldout_rows]
            sets["tagging"] = ProbeSet("source", heldout_rows, tags, _folds(
                "tagging (held-out artists)", artists, kind="regression", n_folds=folds, groups=artists, seed=seed))
        if "retrieval" in tasks:
            sets["retrieval"] = ProbeSet("source", heldout_rows, artists)
    return sets


def repeat_probe_sets(subsets: dict[str, Subset], *, tasks: tuple[str, ...], folds: int, seed: int, repeats: int,
                      heldout_rows: np.ndarray | None = None, target: str = "",
                      log: Callable[[str], None] = print) -> list[dict[str, ProbeSet]]:
    """The probe sets of each of ``repeats`` repeats (:func:`probe_sets`), repeat r's folds drawn with seed
    ``seed + r``: repeat 0's are the single run's. Every feature of a sweep is probed on these same folds, so its
    comparisons are paired fold by fold.

    A real dataset's predefined folds would be drawn identically every time: its probes are in repeat 0 only
    (logged). The held-out artists (tagging and retrieval rows) are the same in every repeat.
    """
    sets = [probe_sets(subsets, tasks=tasks, folds=folds, seed=seed + r, heldout_rows=heldout_rows, target=target)
            for r in range(repeats)]
    fixed = [t.name for t in target_tasks(subsets[target])] if target and predefined_folds(subsets[target]) is not None \
        else []
    if fixed and repeats > 1:
        log(f"{', '.join(fixed)}: {target}'s predefined folds, cross-validated once (probe.repeats={repeats} re-draws "
            "the other probes' folds)")
        sets = [sets[0]] + [{k: v for k, v in s.items() if k not in fixed} for s in sets[1:]]
    return sets


def leave_out_failed(sets: dict[str, ProbeSet], subsets: dict[str, Subset], failed: dict[str, dict[int, str]]
                     ) -> tuple[dict[str, ProbeSet], dict[str, int], dict[str, list[Skipped]]]:
    """The probe sets less the clips a given encoder failed on (``failed``: {subset: {row: message}}, as
    ``given_encoder.track_features`` gives it): → (the sets, {"<probe>_skipped_clips": clips dropped from that
    probe}, {subset: [Skipped(clip, reason)]} for each subset with a failed clip).

    Only the trial whose encoder failed loses those clips: the MFCC trial keeps them, so its probes may hold
    a few more clips than the encoder's (the skipped counts say how many)."""
    kept, dropped = drop_rows(sets, failed)
    skipped = {}
    for name, lost in failed.items():
        if lost:
            names = clip_names(subsets[name])
            skipped[name] = [Skipped(names[r], m) for r, m in sorted(lost.items())]
    return kept, {f"{p}_skipped_clips": n for p, n in dropped.items()}, skipped


def record_skipped(skipped: dict[str, list[Skipped]], folder: Path, *, trial: str,
                   log: Callable[[str], None] = print) -> tuple[Path, ...]:
    """One console line per subset with clips the encoder failed on, and their list (path, reason) as
    ``<folder>/<subset>.csv``: → those files, for the trial's MLflow run (``encoder_skipped/``)."""
    files = []
    for name, lost in skipped.items():
        log(f"{trial}: the encoder failed on {len(lost)} clips of {name}, left out of its probes (first: "
            f"{lost[0].path}: {lost[0].reason})")
        files.append(write_skipped(Path(folder) / f"{name}.csv", lost))
    return tuple(files)
