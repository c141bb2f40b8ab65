"""Precomputed per-layer features ("embeddings") and their labels: a probe target without audio.

A folder holds the features in one of two layouts, and one manifest::

    1.npy … L.npy     one float array [n, d_i] per layer (widths may differ); the file name is the layer's number
    features.npy      or one array [n, L, d] (layer l is features[:, l - 1])
    manifest.csv      or manifest.jsonl: row i labels row i of every array

The manifest's columns are the generic audio manifest's (``raymir.data.datasets.manifest``): optional
``group`` (or ``artist``; rows sharing one never straddle a CV fold) and ``split`` (a fold number, or
train / valid / test), an ignored ``track_id`` / ``id`` and ``path``, and every other column a label: numbers
are regression targets, other values classes, ``tags`` / ``*_tags`` lists (not probed). Up to
:data:`MAX_LAYERS` layers (a sanity bound: more is a mistaken layout, e.g. frames saved as layers).
Everything is read and checked in :func:`load_embeddings`; a problem stops with a
:class:`~raymir.errors.DatasetError` naming the file (and the row or layer).
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from raymir.data.clips import Clip, groups_and_folds, label_arrays
from raymir.data.datasets import manifest, target_tasks
from raymir.data.subset import Subset
from raymir.errors import DatasetError

MAX_LAYERS = 1000  # deep encoders have tens of layers; a thousand "layers" is a layout mistake (frames as layers)
STACKED = "features.npy"
MANIFESTS = ("manifest.csv", "manifest.jsonl")
NAME = "embeddings"  # the subset's name: its label columns' probe tasks refer to it


@dataclass(frozen=True)
class Embeddings:
    """A checked embeddings folder: ``layers`` L × [n, d_i] float32, their labels as a :class:`Subset` whose
    audio is [n, 0] (there is none), and ``sha256``, a digest of every file's name and bytes."""

    folder: Path
    layers: list[np.ndarray]
    subset: Subset
    sha256: str

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    def __len__(self) -> int:
        return len(self.subset)


def load_embeddings(folder: Path | str) -> Embeddings:
    """Read and check an embeddings folder (module docstring): → :class:`Embeddings`, or DatasetError."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise DatasetError(f"embeddings: {folder} is not a folder")
    files = layer_files(folder)
    layers = read_layers(files)
    table = manifest_file(folder)
    subset = read_labels(table, n_rows=len(layers[0]))
    return Embeddings(folder, layers, subset, folder_digest([*files, table]))


def layer_files(folder: Path) -> list[Path]:
    """The feature files: ``[features.npy]`` or ``[1.npy, …, L.npy]`` in layer order."""
    npys = sorted(p for p in folder.iterdir() if p.suffix == ".npy" and p.is_file())
    if not npys:
        raise DatasetError(f"embeddings: {folder} holds no features: expected 1.npy … L.npy (one [n, d] array per "
                           f"layer) or {STACKED} [n, layers, d]")
    if any(p.name == STACKED for p in npys):
        if len(npys) > 1:
            raise DatasetError(f"embeddings: {folder} holds {STACKED} and other arrays "
                               f"({', '.join(p.name for p in npys if p.name != STACKED)}); keep one layout")
        return npys
    for p in npys:
        if not (p.stem.isdigit() and p.stem[0] != "0"):
            raise DatasetError(f"embeddings: {p}: not a layer's name; per-layer arrays are named 1.npy … L.npy "
                               f"(or one {STACKED})")
    by_layer = {int(p.stem): p for p in npys}
    missing = [str(i) for i in range(1, max(by_layer) + 1) if i not in by_layer]
    if missing:
        raise DatasetError(f"embeddings: {folder}: layer file(s) {', '.join(m + '.npy' for m in missing)} missing "
                           f"(found {', '.join(p.name for p in npys)}); layers are numbered 1 … L")
    _check_layer_count(folder, len(by_layer))
    return [by_layer[i] for i in sorted(by_layer)]


def _check_layer_count(where: Path, n: int) -> None:
    if n > MAX_LAYERS:
        raise DatasetError(f"embeddings: {where}: {n} layers, more than {MAX_LAYERS}; is another axis saved as the "
                          f"layers (frames, channels)? The layout is one [n, d] array per layer or [n, layers, d]")


def read_array(path: Path, ndim: int) -> np.ndarray:
    """A .npy file of numbers with ``ndim`` axes, none of them empty, as float32."""
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as e:
        raise DatasetError(f"embeddings: {path}: cannot read it as a .npy array ({type(e).__name__}: {e})") from None
    if not isinstance(a, np.ndarray):  # an .npz archive under a .npy name
        raise DatasetError(f"embeddings: {path}: an archive of several arrays, not one .npy array")
    if a.dtype.kind not in "fiu":
        raise DatasetError(f"embeddings: {path}: holds {a.dtype} values, not numbers")
    if a.ndim != ndim or 0 in a.shape:
        want = "[n, d]" if ndim == 2 else "[n, layers, d]"
        raise DatasetError(f"embeddings: {path}: expected a non-empty {want} array, found shape {a.shape}")
    return a.astype(np.float32, copy=False)


def _check_finite(path: Path, a: np.ndarray, *, layer: int | None = None) -> None:
    """a [n, d] (one layer) or [n, L, d]: every value finite (in float32), else name the first bad row (and layer)."""
    ok = np.isfinite(a).all(axis=-1)
    if ok.all():
        return
    row, *at = np.argwhere(~ok)[0]
    where = f"layer {at[0] + 1}" if at else f"layer {layer}" if layer else ""
    raise DatasetError(f"embeddings: {path}: row {row} (counting from 0){', ' + where if where else ''} holds NaN or "
                       f"infinite values ({int((~ok).sum())} such row(s) in all)")


def read_layers(files: list[Path]) -> list[np.ndarray]:
    """The layers of :func:`layer_files`' files: → L × [n, d_i] float32, same n, every value finite."""
    if files[0].name == STACKED:
        a = read_array(files[0], 3)
        _check_layer_count(files[0], a.shape[1])
        _check_finite(files[0], a)
        return [a[:, i] for i in range(a.shape[1])]
    layers = []
    for i, path in enumerate(files, start=1):
        a = read_array(path, 2)
        if layers and len(a) != len(layers[0]):
            raise DatasetError(f"embeddings: {path}: {len(a)} rows, but {files[0].name} has {len(layers[0])}; every "
                               f"layer holds one row per clip, in the manifest's order")
        _check_finite(path, a, layer=i)
        layers.append(a)
    return layers


def manifest_file(folder: Path) -> Path:
    """``manifest.csv`` or ``manifest.jsonl`` beside the arrays (exactly one)."""
    found = [folder / name for name in MANIFESTS if (folder / name).is_file()]
    if not found:
        raise DatasetError(f"embeddings: {folder}: no {' or '.join(MANIFESTS)} beside the arrays (the labels of their "
                           f"rows, in the same order)")
    if len(found) > 1:
        raise DatasetError(f"embeddings: {folder}: both {' and '.join(MANIFESTS)}; keep one")
    return found[0]


def _check_rows(path: Path, clips: list[Clip], n_rows: int) -> None:
    """Row count equal to the arrays', at least one label column, a value for every label in every row."""
    if len(clips) != n_rows:
        raise DatasetError(f"embeddings: {path}: {len(clips)} rows, but the arrays have {n_rows}; row i of the "
                           f"manifest labels row i of every array")
    names = sorted({k for c in clips for k in c.labels})
    if not names:
        raise DatasetError(f"embeddings: {path}: no label column (beside {', '.join(manifest.RESERVED)}): nothing to "
                           f"probe")
    for i, c in enumerate(clips):
        missing = [n for n in names if c.labels.get(n) in (None, "")]
        if missing:
            raise DatasetError(f"embeddings: {path}: row {i} (counting from 0) has no value for label "
                               f"{', '.join(missing)}")


def read_labels(path: Path, *, n_rows: int) -> Subset:
    """The manifest's labels, groups and folds for ``n_rows`` rows: → a :class:`Subset` with audio [n, 0]."""
    clips = manifest.scan(path, audio=False)
    _check_rows(path, clips, n_rows)
    labels, classes = label_arrays(clips)
    groups, folds, sets = groups_and_folds(clips)
    if sets is not None:
        labels["split"] = sets
    subset = Subset(NAME, np.zeros((n_rows, 0), dtype=np.float32), sr=0, labels=labels, classes=classes,
                    groups=groups, folds=folds)
    if not target_tasks(subset):
        raise DatasetError(f"embeddings: {path}: no label to probe (a column of class names or numeric values; "
                           f"has: {', '.join(labels)})")
    return subset


def folder_digest(files: list[Path]) -> str:
    """sha256 over every file's name and the sha256 of its bytes, in the order given."""
    h = hashlib.sha256()
    for path in files:
        content = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                content.update(block)
        h.update(f"{path.name}\0{content.hexdigest()}\n".encode())
    return h.hexdigest()
