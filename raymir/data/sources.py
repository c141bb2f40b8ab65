"""Real datasets in the roles the sweeps give them: probe target, tagging source, artist source.

:func:`load_data` ingests one ``data:`` entry of a sweep file; :func:`load_subsets` puts a
sweep's real datasets beside the synthetic subsets they replace. A tagging source (the Choi
convnet's pretraining) needs a multi-label ``tags`` label; an artist source (Park's models,
Wang's artist tags) needs artists, which are the dataset's groups. Labels added here are stored
as a derived subset that shares the audio file (a hard link), so Ray Train workers, which load
the subset from disk, see them too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from raymir import cache
from raymir.data.clips import DatasetError, Skipped
from raymir.data.datasets import load_dataset, target_tasks
from raymir.data.subset import Subset
from raymir.data.synthetic import load_synthetic

ARTIST_TAG_SHARE = 0.25  # an artist carries a tag found on at least this share of its clips


def load_data(d, *, sr: int, duration: float, cache_root: Path) -> tuple[Subset, list[Skipped]]:
    """Ingest the dataset of a ``data:`` entry (``raymir.config.DataSource``): → (subset, skipped clips)."""
    return load_dataset(d.dataset, d.path, sr=sr, duration=duration, cache_root=cache_root, split_dir=d.split_dir,
                        size=d.size)


def load_subsets(data, corpus, *, sr: int, duration: float, cache_root: Path, source: Callable[[Subset], Subset] | None,
                 synthetic_targets: tuple[str, ...], log: Callable[[str], None] = print
                 ) -> tuple[dict[str, Subset], dict[str, list[Skipped]]]:
    """A sweep's subsets: → ({"source": …, <targets>: …}, {subset: skipped clips of each real dataset}).

    ``data`` (``raymir.config.DataConfig``): ``data.source`` replaces the synthetic source, passed
    through ``source`` (e.g. :func:`tagging_source`; None: the sweep pretrains nothing, and no source is
    loaded or generated); ``data.dataset`` replaces the synthetic ``synthetic_targets`` and is stored
    under its name. ``corpus``: the synthetic corpus settings; ``duration``: seconds per real clip when
    ``data.duration`` is 0.
    """
    seconds = data.duration or duration
    subsets: dict[str, Subset] = {}
    skipped: dict[str, list[Skipped]] = {}
    synthetic: tuple[str, ...] = ()
    for key, entry, role in (("source", data.source, "source"), (data.dataset, data, "dataset")):
        if key == "source" and source is None:
            continue
        if not entry.dataset:
            synthetic += ("source",) if key == "source" else synthetic_targets
            continue
        sub, skipped[key] = load_data(entry, sr=sr, duration=seconds, cache_root=cache_root)
        if key == "source":
            sub = source(sub)
        elif not target_tasks(sub):
            raise DatasetError(f"{entry.dataset}: no label to probe (class names or numeric values) in {entry.path}")
        subsets[key] = sub
        log(f"{role} {entry.dataset}: {len(sub)} clips, {len(skipped[key])} skipped (reasons: "
            f"{Path(sub.path) / 'skipped.csv'})")
    if synthetic:
        subsets = load_synthetic(corpus, sr=sr, cache_root=cache_root, names=synthetic) | subsets
    return subsets, skipped


def _describe(subset: Subset) -> str:
    labels = ", ".join(f"{k} {np.shape(v)[1:] or 'per clip'}" for k, v in subset.labels.items() if k != "split")
    return f"labels: {labels or 'none'}; artists/groups: {'yes' if subset.groups is not None else 'no'}"


def tagging_source(subset: Subset) -> Subset:
    """``subset`` if it can pretrain a tagger: a multi-label ``tags`` label [n, k ≥ 2]; else DatasetError."""
    tags = subset.labels.get("tags")
    if tags is None or np.ndim(tags) != 2 or tags.shape[1] < 2:
        raise DatasetError(f"{subset.name}: pretraining on tags needs a multi-label 'tags' label of ≥ 2 tags "
                           f"(MTAT's annotations, or a manifest 'tags' column of ';'-separated tags); {_describe(subset)}")
    return subset


def artist_tags_from_tracks(artists: np.ndarray, tags: np.ndarray, *, share: float = ARTIST_TAG_SHARE) -> np.ndarray:
    """Artist tags copied to every clip: [n_clips, k], the tags found on ≥ ``share`` of the artist's clips.

    artists: [n_clips] artist ids; tags: [n_clips, k] multi-hot track tags. Used when a dataset has
    track tags but no artist-level ones (Wang et al. took theirs from Last.fm artist pages).
    """
    _, inverse = np.unique(artists, return_inverse=True)
    counts = np.zeros((inverse.max() + 1, tags.shape[1]))
    np.add.at(counts, inverse, tags > 0)
    per_artist = counts / np.bincount(inverse)[:, None] >= share
    return per_artist[inverse].astype(np.float32)


def with_labels(subset: Subset, labels: dict[str, np.ndarray], *, classes: dict[str, list[str]],
                cache_root: Path) -> Subset:
    """``subset`` with more labels, stored beside it (cached; the audio is hard-linked, not copied)."""
    digest = hashlib.sha256()
    for name in sorted(labels):
        digest.update(name.encode() + np.ascontiguousarray(labels[name]).tobytes())
    key = {"subset": subset.key, "labels": sorted(labels), "digest": digest.hexdigest()}

    def build(d: Path) -> None:
        src = Path(subset.path)
        try:
            os.link(src / "audio.npy", d / "audio.npy")
        except OSError:  # another file system, or no hard links: a copy
            shutil.copyfile(src / "audio.npy", d / "audio.npy")
        if (src / "skipped.csv").exists():
            shutil.copyfile(src / "skipped.csv", d / "skipped.csv")
        Subset(name=subset.name, audio=subset.audio, sr=subset.sr, labels=subset.labels | labels,
               classes=subset.classes | classes, groups=subset.groups, folds=subset.folds).save_meta(d)

    return Subset.load(cache.cached(cache_root, "labels", key, build))


def artist_source(subset: Subset, *, cache_root: Path, artist_tags: bool = False) -> Subset:
    """``subset`` with an ``artist`` label (its own, else its groups) and, with ``artist_tags``, per-artist tags.

    ``artist_tags`` comes from the dataset when it has one (a manifest ``artist_tags`` column),
    else from its track tags (:func:`artist_tags_from_tracks`).
    """
    if "artist" in subset.labels and np.ndim(subset.labels["artist"]) == 1:  # MTAT: groups are songs
        artists = np.asarray(subset.labels["artist"])
    elif subset.groups is not None:
        artists = np.asarray(subset.groups)
    else:
        raise DatasetError(f"{subset.name}: the artist models need artists (FMA's artist, a manifest 'artist' or "
                           f"'group' column); {_describe(subset)}")
    labels = {"artist": artists}
    classes = {}
    if artist_tags and "artist_tags" not in subset.labels:
        tagging_source(subset)
        labels["artist_tags"] = artist_tags_from_tracks(artists, subset.labels["tags"])
        classes["artist_tags"] = subset.classes.get("tags", [])
    return with_labels(subset, labels, classes=classes, cache_root=cache_root)
