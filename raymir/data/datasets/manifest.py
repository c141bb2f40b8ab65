"""A generic manifest for any other dataset: CSV (header row) or JSON Lines, one clip per row.

Columns / keys: ``path`` (required; relative to the manifest's folder), optional ``group`` (or
``artist``: clips sharing one never straddle a split; the artist models' classes) and ``split``
(a fold number or train / valid / test), an ignored ``track_id`` / ``id``, and every other
column a label. Label values: numbers become regression targets; ``tags``, ``subgenres`` and
columns ending in ``_tags`` hold ``;``-separated names (in JSONL, a list; may be empty);
anything else is a class name. An empty cell is a missing label (that clip is skipped).

Example (a corpus for ``agf_combos``)::

    path,artist,genre,subgenres
    audio/so_what.flac,Miles Davis,Jazz,Modal;Cool
    audio/the_model.mp3,Kraftwerk,Electronic,Synth-pop
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from raymir.data.clips import Clip, DatasetError

RESERVED = ("path", "group", "artist", "split", "track_id", "id")
LIST_COLUMNS = ("tags", "subgenres")


def _value(key: str, v):
    if isinstance(v, list):
        return tuple(str(t) for t in v)
    if isinstance(v, str):
        v = v.strip()
        if key in LIST_COLUMNS or key.endswith("_tags"):
            return tuple(t.strip() for t in v.split(";") if t.strip())
        try:
            return float(v)
        except ValueError:
            return v
    return v


def _records(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"manifest: cannot read {path}: {e}") from None
    if path.suffix.lower() in (".jsonl", ".json"):
        out = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DatasetError(f"manifest: {path} line {n}: not JSON: {e}") from None
                if not isinstance(rec, dict):
                    raise DatasetError(f"manifest: {path} line {n}: expected an object")
                out.append(rec)
        return out
    return list(csv.DictReader(text.splitlines()))


def scan(manifest: Path | str, *, audio: bool = True) -> list[Clip]:
    """Clips of a CSV / JSONL manifest; paths are relative to its folder (the dataset root).

    ``audio=False``: rows that describe precomputed features, not files (``raymir.data.embeddings``):
    the ``path`` column is optional and unused."""
    path = Path(manifest)
    records = _records(path)
    if not records:
        raise DatasetError(f"manifest: {path} has no rows")
    if audio and "path" not in (str(k).strip().lower() for k in records[0] if k):
        raise DatasetError(f"manifest: {path}: no 'path' column (has: {', '.join(records[0])})")
    clips = []
    for rec in records:
        rec = {str(k).strip().lower(): v for k, v in rec.items() if k}
        labels = {k: _value(k, v) for k, v in rec.items() if k not in RESERVED}
        group = str(rec.get("group") or rec.get("artist") or "").strip()
        split = str(rec.get("split") or "").strip()
        clips.append(Clip(str(rec.get("path") or "").strip(), labels, group=group or None, split=split or None))
    return clips
