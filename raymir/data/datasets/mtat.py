"""MagnaTagATune: ``annotations_final.csv`` (tab-separated: clip_id, 188 tag columns of 0/1, mp3_path)
and the mp3s in folders ``0``-``f``. Label ``tags``: the clip's tags among the 50 most frequent;
``artist``: the file name's first field; group: the song (clips of one song never split);
split: the usual one by folder, 0-b train (12 folders), c valid, d-f test."""

from __future__ import annotations

import csv
from pathlib import Path

from raymir.data.clips import Clip, DatasetError

TOP = 50


def _split(folder: str) -> str:
    return "train" if folder in "0123456789ab" else "valid" if folder == "c" else "test"


def scan(root: Path | str, *, top: int = TOP) -> list[Clip]:
    root = Path(root)
    meta = root / "annotations_final.csv"
    try:
        with meta.open(newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except OSError as e:
        raise DatasetError(f"mtat: cannot read {meta}: {e}") from None
    if not rows or "mp3_path" not in rows[0] or "clip_id" not in rows[0]:
        raise DatasetError(f"mtat: {meta}: expected tab-separated columns clip_id, <tags>, mp3_path")
    tags = [c for c in rows[0] if c not in ("clip_id", "mp3_path")]
    counts = {t: sum(r[t].strip() == "1" for r in rows) for t in tags}
    vocab = sorted(tags, key=lambda t: (-counts[t], t))[:top]
    clips = []
    for r in rows:
        path = r["mp3_path"].strip()
        song = path.rsplit("-", 2)[0]  # ".../artist-album-NN-track-30-59.mp3" → the song
        artist = Path(path).name.split("-", 1)[0]
        clips.append(Clip(path, {"tags": tuple(t for t in vocab if r[t].strip() == "1"), "artist": artist},
                          group=song, split=_split(path[:1])))
    return clips
