"""Extended Ballroom: one folder per dance style (13 classes: Chacha, Foxtrot, Jive, Pasodoble,
Quickstep, Rumba, Salsa, Samba, Slowwaltz, Tango, Viennesewaltz, Waltz, Wcswing), mp3 excerpts inside."""

from __future__ import annotations

from pathlib import Path

from raymir.data.clips import Clip, DatasetError

AUDIO = (".mp3", ".wav", ".flac", ".ogg")


def scan(root: Path | str) -> list[Clip]:
    root = Path(root)
    styles = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    clips = [Clip(f"{d.name}/{f.name}", {"dance": d.name}) for d in styles for f in sorted(d.iterdir())
             if f.suffix.lower() in AUDIO]
    if not clips:
        raise DatasetError(f"ballroom: no audio in style folders under {root} (expected <Style>/<id>.mp3)")
    return clips
