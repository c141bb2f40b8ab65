"""UrbanSound8K: ``metadata/UrbanSound8K.csv`` and ``audio/fold<N>/<slice_file_name>``.

The official 10 folds are the split (``split`` = the fold number), never random folds: slices of
one recording (``fsID``, the group) would otherwise land on both sides.
"""

from __future__ import annotations

import csv
from pathlib import Path

from raymir.data.clips import Clip, DatasetError

COLUMNS = ("slice_file_name", "fsID", "fold", "class")


def scan(root: Path | str) -> list[Clip]:
    meta = Path(root) / "metadata" / "UrbanSound8K.csv"
    try:
        with meta.open(newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise DatasetError(f"urbansound8k: cannot read {meta}: {e}") from None
    missing = [c for c in COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise DatasetError(f"urbansound8k: {meta}: missing column(s) {', '.join(missing or COLUMNS)}")
    clips = []
    for n, r in enumerate(rows, start=2):
        fold = r["fold"].strip()
        if not fold.isdigit():
            raise DatasetError(f"urbansound8k: {meta} row {n}: fold {fold!r} is not a number")
        clips.append(Clip(f"audio/fold{fold}/{r['slice_file_name'].strip()}", {"event": r["class"].strip()},
                          group=r["fsID"].strip(), split=fold))
    return clips
