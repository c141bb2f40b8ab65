"""EmoMusic (1000 songs): ``clips_45seconds/<song_id>.mp3`` and the static annotations CSV
(``annotations/static_annotations.csv``: song_id, mean_arousal, …, mean_valence, …). As in
Choi et al., the first 29 s of each 45-s clip are used; labels ``arousal`` and ``valence``
(the annotators' means), group = the song."""

from __future__ import annotations

import csv
from pathlib import Path

from raymir.data.clips import Clip, DatasetError

SECONDS = 29.0


def _find(root: Path, name: str) -> Path:
    hits = sorted(root.rglob(name))
    if not hits:
        raise DatasetError(f"emomusic: no {name} under {root}")
    return hits[0]


def scan(root: Path | str) -> list[Clip]:
    root = Path(root)
    meta = _find(root, "static_annotations.csv")
    with meta.open(newline="") as f:
        rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in csv.DictReader(f)]
    need = ("song_id", "mean_arousal", "mean_valence")
    if not rows or any(k not in rows[0] for k in need):
        raise DatasetError(f"emomusic: {meta}: needs columns {', '.join(need)}")
    audio = _find(root, "clips_45seconds")
    clips = []
    for r in rows:
        try:
            labels = {"arousal": float(r["mean_arousal"]), "valence": float(r["mean_valence"])}
        except ValueError:
            labels = {"arousal": "", "valence": ""}  # an unreadable value is a missing label: the clip is skipped
        clips.append(Clip(str((audio / f"{r['song_id']}.mp3").relative_to(root)), labels, group=r["song_id"],
                          duration=SECONDS))
    return clips
