"""Jamendo vocal detection: audio in ``{train,valid,test}/`` (or ``audio/{train,valid,test}/``) and one
``.lab`` file per song (``labels/`` or ``jamendo_lab/``: lines ``start end sing|nosing``). Each
labelled segment is one clip (label ``vocal``: vocal | non-vocal), grouped by song, in the
song's predefined set."""

from __future__ import annotations

from pathlib import Path

from raymir.data.clips import Clip, DatasetError

SETS = ("train", "valid", "test")
AUDIO = (".ogg", ".mp3", ".wav", ".flac")
LAB_DIRS = ("labels", "jamendo_lab", "lab")


def scan(root: Path | str) -> list[Clip]:
    root = Path(root)
    base = root / "audio" if (root / "audio").is_dir() else root
    labs = next((root / d for d in LAB_DIRS if (root / d).is_dir()), None)
    if labs is None:
        raise DatasetError(f"jamendo: no label folder ({', '.join(LAB_DIRS)}) under {root}")
    clips = []
    for split in SETS:
        if not (base / split).is_dir():
            raise DatasetError(f"jamendo: {base / split} not found (expected train/, valid/, test/)")
        for f in sorted(p for p in (base / split).iterdir() if p.suffix.lower() in AUDIO):
            lab = labs / f"{f.stem}.lab"
            rel = str(f.relative_to(root))
            if not lab.is_file():
                clips.append(Clip(rel, {"vocal": ""}, group=f.stem, split=split))  # skipped: missing label
                continue
            for n, line in enumerate(lab.read_text().splitlines(), start=1):
                parts = line.split()
                if not parts:
                    continue
                try:
                    start, end, tag = float(parts[0]), float(parts[1]), parts[2]
                except (ValueError, IndexError):
                    raise DatasetError(f"jamendo: {lab}:{n}: expected 'start end sing|nosing', got {line!r}") from None
                vocal = {"sing": "vocal", "nosing": "non-vocal"}.get(tag, "")
                clips.append(Clip(rel, {"vocal": vocal}, group=f.stem, split=split, offset=start,
                                  duration=max(end - start, 0.0)))
    return clips
