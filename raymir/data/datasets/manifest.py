"""A generic manifest for any other dataset: CSV (header row) or JSON Lines, one clip per row.

Columns / keys: ``path`` (required; relative to the manifest's folder), optional ``group`` and
``split``, and every other column a label. Label values: numbers become regression targets;
a column named ``tags`` or ending in ``_tags`` holds ``;``-separated tags (in JSONL, a list);
anything else is a class name. An empty cell is a missing label (that clip is skipped).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from raymir.data.clips import Clip, DatasetError

RESERVED = ("path", "group", "split")


def _value(key: str, v):
    if isinstance(v, list):
        return tuple(str(t) for t in v)
    if isinstance(v, str):
        v = v.strip()
        if key == "tags" or key.endswith("_tags"):
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


def scan(manifest: Path | str) -> list[Clip]:
    """Clips of a CSV / JSONL manifest; paths are relative to its folder (the dataset root)."""
    path = Path(manifest)
    records = _records(path)
    if not records:
        raise DatasetError(f"manifest: {path} has no rows")
    if "path" not in records[0]:
        raise DatasetError(f"manifest: {path}: no 'path' column (has: {', '.join(records[0])})")
    clips = []
    for rec in records:
        labels = {k.strip(): _value(k.strip(), v) for k, v in rec.items() if k and k.strip() not in RESERVED}
        group, split = rec.get("group"), rec.get("split")
        clips.append(Clip(str(rec.get("path") or "").strip(), labels, group=str(group) if group not in (None, "") else None,
                          split=str(split) if split not in (None, "") else None))
    return clips
