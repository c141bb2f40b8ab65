"""A music corpus of your own, described by a CSV manifest, decoded once and cached as a :class:`Subset`.

The manifest is a CSV file with a header row and one row per track::

    path,artist,genre,album,subgenres,track_id
    audio/miles_so_what.flac,Miles Davis,jazz,Kind of Blue,modal;cool,t001
    audio/miles_blue.flac,Miles Davis,jazz,Kind of Blue,modal,t002
    /data/mp3/kraftwerk_model.mp3,Kraftwerk,electronic,Die Mensch-Maschine,synth-pop,t003

Columns (names are matched case-insensitively, surrounding spaces ignored; extra columns are ignored):

- ``path`` (required): the audio file, relative to the CSV's directory or absolute. Anything
  libsndfile reads (wav, flac, ogg, mp3, aiff, ...); other formats fall back to ``librosa.load``.
- ``artist`` (required): the artist name. Tracks of one artist form one group (never split).
- ``genre`` (required): one genre per track.
- ``album`` (optional): album title; albums are told apart per artist, so two artists'
  "Greatest Hits" are two albums. An empty cell means "no album" (one per artist).
- ``subgenres`` (optional): any number of subgenres separated by ``;`` (may be empty).
- ``track_id`` (optional): an identifier to trace a clip back to its source (defaults to the
  ``path`` cell); explicit ids must be unique.

Every clip is mixed to mono, resampled to ``sr`` and cropped or repeat-padded to
``round(sr * duration)`` samples. Problems with the manifest (missing columns, empty cells,
missing or undecodable files) are collected and raised together as one :class:`ManifestError`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from raymir import cache
from raymir.audio import repeat_pad
from raymir.data.subset import Subset

MANIFEST_VERSION = 1  # bump when decoding or label layout changes: invalidates cached corpora
REQUIRED = ("path", "artist", "genre")
OPTIONAL = ("album", "subgenres", "track_id")
SUBGENRE_SEP = ";"
RES_TYPE = "soxr_hq"


class ManifestError(ValueError):
    """A manifest that cannot be turned into a corpus; ``problems`` lists every problem found.

    Each problem names, where relevant, the row (as a spreadsheet numbers it: the header is
    row 1), the column and the offending value or file.
    """

    def __init__(self, manifest: Path | str, problems: Sequence[str]) -> None:
        self.manifest = Path(manifest)
        self.problems = list(problems)
        n = len(self.problems)
        head = f"manifest {self.manifest}: {n} problem{'' if n == 1 else 's'}"
        super().__init__(head + "".join(f"\n  - {p}" for p in self.problems))

    def __reduce__(self):  # picklable (e.g. across Ray workers) despite the custom signature
        return (type(self), (self.manifest, self.problems))


@dataclass(frozen=True)
class _Row:
    row: int  # spreadsheet row number (header = 1)
    path: Path  # resolved audio file
    path_cell: str
    artist: str
    genre: str
    album: str | None
    subgenres: tuple[str, ...] | None
    track_id: str


def _where(row: int, column: str | None = None) -> str:
    return f"row {row}" + (f", column '{column}'" if column else "")


def _read_manifest(csv_path: Path) -> tuple[bytes, list[_Row], list[str], list[tuple[int, Path]]]:
    """Parse and check the CSV without decoding audio.

    Returns (raw CSV bytes, valid rows, problems, [(row, resolved path)] of every existing audio file).
    """
    try:
        raw = csv_path.read_bytes()
    except OSError as e:
        raise ManifestError(csv_path, [f"cannot read the manifest: {e}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ManifestError(csv_path, [f"the manifest is not UTF-8 text: {e}"]) from None
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise ManifestError(csv_path, [f"malformed CSV: {e}"]) from None
    if not records or not any(c.strip() for c in records[0]):
        raise ManifestError(csv_path, ["empty manifest: no header row (expected columns: path, artist, genre)"])

    header = [c.strip().lower() for c in records[0]]
    problems: list[str] = []
    col: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in col and name in REQUIRED + OPTIONAL:
            problems.append(f"{_where(1, name)}: duplicate column")
        col.setdefault(name, i)
    missing = [c for c in REQUIRED if c not in col]
    if missing:
        problems.append(f"missing required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)} "
                        f"(header has: {', '.join(h for h in header if h) or 'nothing'})")

    base = csv_path.parent
    rows: list[_Row] = []
    existing: list[tuple[int, Path]] = []
    seen_ids: dict[str, int] = {}
    n_data = 0
    for r, rec in enumerate(records[1:], start=2):
        if not any(c.strip() for c in rec):
            continue  # blank line
        n_data += 1

        def cell(name: str, rec: list[str] = rec) -> str | None:
            i = col.get(name)
            if i is None:
                return None
            return rec[i].strip() if i < len(rec) else ""

        ok = not missing
        for name in REQUIRED:
            if cell(name) == "":
                problems.append(f"{_where(r, name)}: empty cell")
                ok = False
        path_cell = cell("path")
        path = None
        if path_cell:
            p = Path(path_cell).expanduser()
            path = (p if p.is_absolute() else base / p).resolve()
            if not path.exists():
                problems.append(f"{_where(r, 'path')}: audio file not found: {path} (cell {path_cell!r})")
                ok = False
            elif not path.is_file():
                problems.append(f"{_where(r, 'path')}: not a file: {path} (cell {path_cell!r})")
                ok = False
            else:
                existing.append((r, path))
        given_id = cell("track_id")
        if given_id and given_id in seen_ids:
            problems.append(f"{_where(r, 'track_id')}: duplicate track id {given_id!r} (also on row {seen_ids[given_id]})")
            ok = False
        if given_id:
            seen_ids.setdefault(given_id, r)
        track_id = given_id or path_cell or ""
        if not ok:
            continue
        subs = cell("subgenres")
        rows.append(_Row(
            row=r, path=path, path_cell=path_cell, artist=cell("artist"), genre=cell("genre"), album=cell("album"),
            subgenres=None if subs is None else tuple(dict.fromkeys(s.strip() for s in subs.split(SUBGENRE_SEP) if s.strip())),
            track_id=track_id,
        ))
    if n_data == 0 and not missing:
        problems.append("no data rows (only a header)")
    return raw, rows, problems, existing


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _decode(path: str, sr: int, n_samples: int) -> tuple[np.ndarray | None, str | None]:
    """Decode one file → (mono float32 [n_samples] at ``sr``, None) or (None, problem)."""
    try:
        y, orig_sr = sf.read(path, dtype="float32", always_2d=True)  # [t, channels]
        y = y.mean(axis=1)
    except Exception as e_sf:  # any decoder failure becomes a reported problem
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y, orig_sr = librosa.load(path, sr=None, mono=True)
        except Exception as e_lr:
            return None, (f"cannot decode: soundfile: {_describe(e_sf)}; "
                          f"librosa: {_describe(e_lr)}")
    y = np.asarray(y, dtype=np.float32)
    if y.size == 0:
        return None, "the file has no audio samples"
    if not np.all(np.isfinite(y)):
        return None, "the audio contains NaN or infinite samples"
    if int(orig_sr) != sr:
        try:
            y = librosa.resample(y, orig_sr=int(orig_sr), target_sr=sr, res_type=RES_TYPE)
        except Exception as e:
            return None, f"cannot resample from {orig_sr} Hz to {sr} Hz: {_describe(e)}"
        if y.size == 0:
            return None, f"no audio samples left after resampling from {orig_sr} Hz to {sr} Hz"
    return repeat_pad(np.asarray(y, dtype=np.float32), n_samples), None


def _decode_star(args: tuple[str, int, int]) -> tuple[np.ndarray | None, str | None]:
    return _decode(*args)


def _probe(path: Path) -> str | None:
    """A cheap decodability check (header only where possible) → problem or None."""
    try:
        info = sf.info(str(path))
        return "the file has no audio samples" if info.frames == 0 else None
    except Exception as e_sf:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y, _ = librosa.load(str(path), sr=None, mono=True, duration=1.0)
        except Exception as e_lr:
            return (f"cannot decode: soundfile: {_describe(e_sf)}; "
                    f"librosa: {_describe(e_lr)}")
        return "the file has no audio samples" if np.size(y) == 0 else None


def _labels(rows: list[_Row]) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Label arrays ([n] int ids; ``subgenres`` float32 [n, S] multi-hot) and class names."""
    labels: dict[str, np.ndarray] = {}
    classes: dict[str, list[str]] = {}
    for name in ("genre", "artist"):
        names = sorted({getattr(r, name) for r in rows})
        idx = {c: i for i, c in enumerate(names)}
        labels[name] = np.array([idx[getattr(r, name)] for r in rows], dtype=np.int64)
        classes[name] = names
    if rows[0].album is not None:
        pairs = sorted({(r.artist, r.album) for r in rows})
        idx = {p: i for i, p in enumerate(pairs)}
        labels["album"] = np.array([idx[(r.artist, r.album)] for r in rows], dtype=np.int64)
        classes["album"] = [f"{artist} / {album or '(no album)'}" for artist, album in pairs]
    if rows[0].subgenres is not None:
        names = sorted({s for r in rows for s in r.subgenres})
        idx = {c: i for i, c in enumerate(names)}
        hot = np.zeros((len(rows), len(names)), dtype=np.float32)
        for i, r in enumerate(rows):
            hot[i, [idx[s] for s in r.subgenres]] = 1.0
        labels["subgenres"] = hot
        classes["subgenres"] = names
    classes["track_id"] = [r.track_id for r in rows]
    return labels, classes


def _build(rows: list[_Row], *, csv_path: Path, name: str, sr: int, n_samples: int, out_dir: Path,
           workers: int) -> Subset:
    """Decode every row into ``out_dir`` (audio.npy float32 [n, n_samples] + meta.json)."""
    audio = np.lib.format.open_memmap(Path(out_dir) / "audio.npy", mode="w+", dtype=np.float32,
                                      shape=(len(rows), n_samples))
    jobs = [(str(r.path), sr, n_samples) for r in rows]
    problems: list[str] = []

    def store(i: int, result: tuple[np.ndarray | None, str | None]) -> None:
        y, problem = result
        if problem is not None:
            problems.append(f"{_where(rows[i].row, 'path')}: {rows[i].path}: {problem}")
        else:
            audio[i] = y

    if workers > 1 and len(jobs) > 1:
        chunk = max(1, min(16, len(jobs) // (workers * 4)))
        with ProcessPoolExecutor(min(workers, len(jobs))) as pool:
            for i, result in enumerate(pool.map(_decode_star, jobs, chunksize=chunk)):
                store(i, result)
    else:
        for i, job in enumerate(jobs):
            store(i, _decode(*job))
    if problems:
        raise ManifestError(csv_path, problems)
    audio.flush()
    labels, classes = _labels(rows)
    subset = Subset(name=name, audio=audio, sr=sr, labels=labels, classes=classes, groups=labels["artist"])
    subset.save_meta(out_dir)
    return subset


def load_manifest(csv_path: Path | str, *, sr: int, duration: float, cache_root: Path, workers: int = 0) -> Subset:
    """The corpus a CSV manifest describes, decoded once and cached by content.

    Returns a :class:`Subset` named after the CSV's stem with

    - ``audio``: float32 [n, round(sr * duration)], mono, memory-mapped;
    - ``labels["genre"]``, ``labels["artist"]``: int [n] indices into ``classes["genre"]`` /
      ``classes["artist"]`` (names sorted alphabetically);
    - ``labels["album"]``: int [n] (only with an ``album`` column), one id per (artist, album);
      ``classes["album"]`` names them "artist / album";
    - ``labels["subgenres"]``: float32 [n, S] multi-hot (only with a ``subgenres`` column);
    - ``classes["track_id"]``: [n] the track ids (or ``path`` cells), to trace rows back;
    - ``groups``: int [n] the artist ids.

    The cache key covers the CSV's sha256 and every audio file's resolved path, size and
    mtime, so editing the manifest or any audio file rebuilds; otherwise nothing is decoded.
    ``workers`` > 1 decodes in that many processes (0: ``min(cpu_count, 4)``; 1: in-process);
    the result is the same either way.

    Raises :class:`ManifestError` listing every problem found in the manifest.
    """
    if sr <= 0 or duration <= 0:
        raise ValueError(f"sr and duration must be positive, got sr={sr}, duration={duration}")
    csv_path = Path(csv_path).expanduser().resolve()
    raw, rows, problems, existing = _read_manifest(csv_path)
    if problems:  # report undecodable files as well, without decoding everything
        problems += [f"{_where(r, 'path')}: {p}: {problem}" for r, p in existing if (problem := _probe(p))]
        raise ManifestError(csv_path, sorted(problems, key=_problem_order))
    files = []
    for r in rows:
        st = r.path.stat()
        files.append([str(r.path), st.st_size, st.st_mtime_ns])
    name = csv_path.stem
    n_samples = int(round(sr * duration))
    key = {"manifest_version": MANIFEST_VERSION, "name": name, "csv_sha256": hashlib.sha256(raw).hexdigest(),
           "files": files, "sr": int(sr), "duration": float(duration)}
    workers = workers or min(os.cpu_count() or 1, 4)
    path = cache.cached(cache_root, "corpus", key,
                        lambda d: _build(rows, csv_path=csv_path, name=name, sr=int(sr), n_samples=n_samples,
                                         out_dir=d, workers=workers))
    subset = Subset.load(path)
    if "subgenres" in subset.labels:  # meta.json stores lists: restore the multi-hot dtype
        subset.labels["subgenres"] = subset.labels["subgenres"].astype(np.float32)
    return subset


def _problem_order(problem: str) -> tuple[int, str]:
    """Sort problems by row (file-level problems first), keeping a stable, readable report."""
    if problem.startswith("row "):
        digits = problem[4:].split(",", 1)[0].split(":", 1)[0]
        if digits.isdigit():
            return int(digits), problem
    return 0, problem
