"""Dataset clips → a cached :class:`Subset`, skipping (and recording) every clip that cannot be used.

An adapter (``raymir.data.datasets``) lists :class:`Clip` records; :func:`ingest` checks them,
decodes the good ones in parallel and stores one memory-mapped subset. A clip is skipped, with
its reason in ``skipped.csv`` beside the subset, when its path escapes the dataset root, repeats
an earlier clip, lacks a label, is missing or unreadable, or does not decode (see
``raymir.data.decode``). Only a dataset with no usable clip at all stops, before any training.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from raymir import cache
from raymir.data.decode import DecodeError, decode
from raymir.data.subset import Subset
from raymir.errors import DatasetError  # noqa: F401 (adapters raise it from here)

INGEST_VERSION = 1  # bump when decoding or the label layout changes: invalidates cached subsets


@dataclass(frozen=True)
class Clip:
    """One clip as an adapter describes it.

    ``labels`` maps a label name to a class name (str), a value (float) or tags (tuple of str).
    ``group`` (artist, recording, song) keeps related clips on one side of every split;
    ``split`` is a predefined fold ("1" … "10") or set ("train", "valid", "test").
    """

    path: str  # relative to the dataset root
    labels: dict = field(default_factory=dict)
    group: str | None = None
    split: str | None = None
    offset: float = 0.0  # seconds into the file (e.g. Jamendo segments)
    duration: float | None = None  # seconds to read; None: the sweep's clip length


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _index_file(cache_root: Path, root: Path) -> Path:
    return Path(cache_root) / "hashes" / f"{cache.key_of(str(root))}.json"


def read_hash_index(path: Path) -> dict[str, str]:
    """``"<path>|<size>|<mtime_ns>" → sha256`` of the files hashed before ({} when absent or unreadable)."""
    try:
        index = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}


def write_hash_index(path: Path, new: dict[str, str]) -> None:
    """Add ``new`` entries; written to a temporary file and renamed, so a reader never sees half a file.
    Two writers at once may drop each other's new entries: those files are hashed again next time."""
    if not new:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    index = read_hash_index(path) | new
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(index))
    os.replace(tmp, path)


def check_clips(clips: list[Clip], root: Path, *, index: dict[str, str] | None = None
                ) -> tuple[list[tuple[Clip, Path, str]], list[Skipped]]:
    """→ ([(clip, resolved path, content hash)], skipped) without decoding anything.

    ``index`` (see :func:`read_hash_index`) spares re-reading files whose path, size and
    modification time are unchanged (as make and rsync judge files); new hashes are added to it.
    """
    root = Path(root).resolve()
    index = {} if index is None else index
    names = sorted({k for c in clips for k in c.labels})
    good, skipped, seen = [], [], {}
    for c in clips:
        p = (root / c.path).resolve()
        if not p.is_relative_to(root):
            skipped.append(Skipped(c.path, f"outside the dataset root {root}"))
            continue
        key = (p, c.offset, c.duration)
        if key in seen:
            skipped.append(Skipped(c.path, f"duplicate of an earlier clip ({seen[key]})"))
            continue
        seen[key] = c.path
        missing = [n for n in names if c.labels.get(n) in (None, "")]
        if missing:
            skipped.append(Skipped(c.path, f"missing label {', '.join(missing)}"))
            continue
        try:
            st = p.stat()
            stamp = f"{p}|{st.st_size}|{st.st_mtime_ns}"
            digest = index.get(stamp) or _sha256(p)
            index[stamp] = digest
        except FileNotFoundError:
            skipped.append(Skipped(c.path, "file not found"))
            continue
        except OSError as e:  # permissions, a directory, …
            skipped.append(Skipped(c.path, f"cannot read the file: {type(e).__name__}: {e}"))
            continue
        good.append((c, p, digest))
    return good, skipped


def _decode_one(args: tuple[str, int, float, float]) -> tuple[np.ndarray | None, str | None]:
    path, sr, duration, offset = args
    try:
        return decode(path, sr=sr, duration=duration, offset=offset), None
    except DecodeError as e:
        return None, str(e)
    except Exception as e:  # a decoder bug must not end the ingest: the clip is skipped with the error
        return None, f"decoder failed: {type(e).__name__}: {e}"


def label_arrays(clips: list[Clip]) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Every label of ``clips`` as an array: → ({label: [n] class index or value, or [n, k] multi-hot}, {label: names}).

    Tuples of names become multi-hot rows, numbers values, anything else class indices (names sorted)."""
    labels, classes = {}, {}
    for name in sorted({k for c in clips for k in c.labels}):
        values = [c.labels[name] for c in clips]
        if all(isinstance(v, (tuple, list)) for v in values):
            vocab = sorted({t for v in values for t in v})
            idx = {t: i for i, t in enumerate(vocab)}
            hot = np.zeros((len(values), len(vocab)), dtype=np.float32)
            for i, v in enumerate(values):
                hot[i, [idx[t] for t in v]] = 1.0
            labels[name], classes[name] = hot, vocab
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            labels[name] = np.asarray(values, dtype=np.float32)
        else:
            names = sorted({str(v) for v in values})
            idx = {v: i for i, v in enumerate(names)}
            labels[name], classes[name] = np.array([idx[str(v)] for v in values]), names
    return labels, classes


def groups_and_folds(clips: list[Clip]) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """→ (group index [n] or None, predefined fold [n] where every split is a number, else None,
    split names [n] where some clips name a set (train / valid / test), else None)."""
    groups = folds = sets = None
    if any(c.group is not None for c in clips):
        names = sorted({str(c.group) for c in clips})
        groups = np.array([names.index(str(c.group)) for c in clips])
    splits = [c.split for c in clips]
    if all(s is not None and str(s).isdigit() for s in splits):
        folds = np.array([int(s) for s in splits])
    elif any(s is not None for s in splits):
        sets = np.array([str(s) for s in splits])
    return groups, folds, sets


def _build(good: list[tuple[Clip, Path, str]], skipped: list[Skipped], *, name: str, sr: int, duration: float,
           out_dir: Path, workers: int) -> None:
    jobs = [(str(p), sr, duration if c.duration is None else c.duration, c.offset) for c, p, _ in good]
    results = []
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(min(workers, len(jobs))) as pool:
            results = list(pool.map(_decode_one, jobs, chunksize=max(1, len(jobs) // (workers * 8))))
    else:
        results = [_decode_one(j) for j in jobs]
    kept = [i for i, (y, _) in enumerate(results) if y is not None]
    skipped = skipped + [Skipped(good[i][0].path, r) for i, (_, r) in enumerate(results) if r is not None]
    _write_skipped(out_dir / "skipped.csv", skipped)
    if not kept:
        raise DatasetError(f"{name}: no usable clips ({len(skipped)} skipped; first: "
                           + "; ".join(f"{s.path}: {s.reason}" for s in skipped[:3]) + ")")
    n = int(round(sr * duration))
    audio = np.lib.format.open_memmap(out_dir / "audio.npy", mode="w+", dtype=np.float32, shape=(len(kept), n))
    for row, i in enumerate(kept):
        audio[row] = np.resize(results[i][0], n)  # segments shorter than the clip length are tiled
    audio.flush()
    clips = [good[i][0] for i in kept]
    labels, classes = label_arrays(clips)
    groups, folds, sets = groups_and_folds(clips)
    if sets is not None:
        labels["split"] = sets
    classes["path"] = [c.path for c in clips]
    Subset(name=name, audio=audio, sr=sr, labels=labels, classes=classes, groups=groups, folds=folds).save_meta(out_dir)


def _write_skipped(path: Path, skipped: list[Skipped]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "reason"])
        w.writerows((s.path, s.reason) for s in skipped)


def read_skipped(subset: Subset) -> list[Skipped]:
    """The clips skipped when ``subset`` was built (path, reason)."""
    with (Path(subset.path) / "skipped.csv").open(newline="") as f:
        return [Skipped(r["path"], r["reason"]) for r in csv.DictReader(f)]


def ingest(clips: list[Clip], *, root: Path, name: str, sr: int, duration: float, cache_root: Path,
           workers: int = 0) -> tuple[Subset, list[Skipped]]:
    """Check, decode and cache ``clips``: → (subset with audio [n_kept, round(sr·duration)], skipped clips).

    The cache key holds every clip's content hash (not its path or mtime), the labels and the
    decoding parameters, so a copied or touched dataset is reused and an edited file rebuilds.
    Hashes are remembered per (path, size, mtime) under ``<cache_root>/hashes``, so a warm start
    on a large collection reads no audio at all.
    """
    if not clips:
        raise DatasetError(f"{name}: the dataset lists no clips under {root}")
    index_file = _index_file(cache_root, Path(root).resolve())
    index = read_hash_index(index_file)
    known = dict(index)
    good, skipped = check_clips(clips, root, index=index)
    write_hash_index(index_file, {k: v for k, v in index.items() if known.get(k) != v})
    if not good:
        raise DatasetError(f"{name}: no usable clips ({len(skipped)} skipped; first: "
                           + "; ".join(f"{s.path}: {s.reason}" for s in skipped[:3]) + ")")
    key = {"version": INGEST_VERSION, "name": name, "sr": int(sr), "duration": float(duration),
           "clips": [[c.path, digest, c.labels, c.group, c.split, c.offset, c.duration] for c, _, digest in good],
           "skipped": [[s.path, s.reason] for s in skipped]}
    workers = workers or min(os.cpu_count() or 1, 4)
    path = cache.cached(cache_root, "dataset", key, lambda d: _build(good, skipped, name=name, sr=int(sr),
                                                                     duration=float(duration), out_dir=d,
                                                                     workers=workers))
    subset = Subset.load(path)
    return subset, read_skipped(subset)
