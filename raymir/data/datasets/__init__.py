"""Adapters from datasets' own on-disk layouts to :class:`raymir.data.clips.Clip` lists.

Each adapter is ``scan(root, **options) -> list[Clip]``: it reads only metadata and file names
(no audio) and raises :class:`raymir.data.clips.DatasetError` naming the file or column when the
layout is not what it expects. :func:`raymir.data.clips.ingest` then decodes and caches.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from raymir.data.clips import Clip, DatasetError, Skipped, ingest
from raymir.data.datasets import ballroom, emomusic, fma, gtzan, jamendo, manifest, mtat, urbansound8k
from raymir.data.subset import Subset, TargetTask

DATASETS: dict[str, Callable[..., list[Clip]]] = {
    "gtzan": gtzan.scan_genre,
    "gtzan_speech_music": gtzan.scan_speech_music,
    "ballroom": ballroom.scan,
    "emomusic": emomusic.scan,
    "jamendo": jamendo.scan,
    "urbansound8k": urbansound8k.scan,
    "fma": fma.scan,
    "mtat": mtat.scan,
    "manifest": manifest.scan,
}

NOT_TARGETS = ("album", "artist", "split")  # labels that describe clips but are no probe task


def load_dataset(name: str, path: Path | str, *, sr: int, duration: float, cache_root: Path,
                 split_dir: str = "", size: str = "small", workers: int = 0) -> tuple[Subset, list[Skipped]]:
    """Scan dataset ``name`` at ``path`` and ingest it: → (subset, skipped clips)."""
    if name not in DATASETS:
        raise DatasetError(f"dataset {name!r}: unknown (available: {', '.join(DATASETS)})")
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise DatasetError(f"dataset {name}: {path} does not exist")
    options = {"split_dir": split_dir} if name == "gtzan" and split_dir else {"size": size} if name == "fma" else {}
    clips = DATASETS[name](path, **options)
    root = path.parent if name == "manifest" else path
    return ingest(clips, root=root, name=name, sr=sr, duration=duration, cache_root=cache_root, workers=workers)


def target_tasks(subset: Subset) -> list[TargetTask]:
    """One probe task per label: class labels → classification, values → regression (tags are left out)."""
    tasks = []
    for label, values in subset.labels.items():
        if label in NOT_TARGETS or np.ndim(values) != 1:
            continue
        kind = "classification" if label in subset.classes else "regression"
        tasks.append(TargetTask(label, subset.name, label, kind))
    return tasks


def predefined_folds(subset: Subset) -> np.ndarray | None:
    """The dataset's own folds (UrbanSound8K), else its named sets as folds (GTZAN's filtered split), else None."""
    if subset.folds is not None:
        return subset.folds
    if "split" in subset.labels:
        return np.unique(subset.labels["split"], return_inverse=True)[1]
    return None
