"""A subset is a set of clips with their labels, stored as one memory-mapped audio array.

On disk (one directory per subset)::

    audio.npy   float32 [n_clips, n_samples]   (memory-mapped on load)
    meta.json   sr, label arrays, class names, groups, predefined folds
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Subset:
    """Clips and labels. ``labels[name]`` is [n] (class index or value) or [n, k] (multi-label)."""

    name: str
    audio: np.ndarray  # [n, samples]
    sr: int
    labels: dict[str, np.ndarray]
    classes: dict[str, list[str]] = field(default_factory=dict)  # class / tag names per label
    groups: np.ndarray | None = None  # [n] artist or recording id; clips sharing one never split
    folds: np.ndarray | None = None  # [n] predefined fold id (e.g. UrbanSound8K's official folds)
    path: Path | None = None  # directory it was loaded from; its name is the content key

    @property
    def key(self) -> str:
        """Content key of the stored subset (its cache directory name)."""
        return self.path.name if self.path is not None else self.name

    def __len__(self) -> int:
        return int(self.audio.shape[0])

    def save_meta(self, directory: Path) -> None:
        meta = {
            "name": self.name, "sr": self.sr, "classes": self.classes,
            "labels": {k: np.asarray(v).tolist() for k, v in self.labels.items()},
            "groups": None if self.groups is None else np.asarray(self.groups).tolist(),
            "folds": None if self.folds is None else np.asarray(self.folds).tolist(),
        }
        (Path(directory) / "meta.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: Path) -> Subset:
        directory = Path(directory)
        meta = json.loads((directory / "meta.json").read_text())
        return cls(
            name=meta["name"], sr=int(meta["sr"]),
            audio=np.load(directory / "audio.npy", mmap_mode="r"),
            labels={k: np.asarray(v) for k, v in meta["labels"].items()},
            classes=meta["classes"],
            groups=None if meta["groups"] is None else np.asarray(meta["groups"]),
            folds=None if meta["folds"] is None else np.asarray(meta["folds"]),
            path=directory,
        )


@dataclass(frozen=True)
class TargetTask:
    """A probe target: which subset, which label, classification or regression."""

    name: str
    subset: str
    label: str
    kind: str  # "classification" | "regression"
