"""FMA: ``fma_metadata/tracks.csv`` (a two-row column header: section, field), ``genres.csv``, and
audio in ``fma_<size>/NNN/NNNNNN.mp3``.

Labels: ``genre`` (the top genre), ``subgenres`` (every genre of the track, by title), ``album``;
group: the artist; split: the ``set/split`` column (training / validation / test). ``size``
selects the subset as FMA nests them (small ⊂ medium ⊂ large ⊂ full).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd

from raymir.data.clips import Clip, DatasetError

SIZES = ("small", "medium", "large", "full")
NEEDED = (("track", "genre_top"), ("track", "genres_all"), ("artist", "id"), ("album", "id"), ("set", "split"),
          ("set", "subset"))


def _genre_titles(meta: Path) -> dict[int, str]:
    path = meta / "genres.csv"
    try:
        g = pd.read_csv(path, index_col=0)
    except (OSError, ValueError) as e:
        raise DatasetError(f"fma: cannot read {path}: {e}") from None
    if "title" not in g.columns:
        raise DatasetError(f"fma: {path}: no 'title' column")
    return {int(i): str(t) for i, t in g["title"].items()}


def scan(root: Path | str, *, size: str = "small") -> list[Clip]:
    if size not in SIZES:
        raise DatasetError(f"fma: size {size!r} is not one of {', '.join(SIZES)}")
    meta = Path(root) / "fma_metadata"
    path = meta / "tracks.csv"
    try:
        tracks = pd.read_csv(path, index_col=0, header=[0, 1])
    except (OSError, ValueError) as e:
        raise DatasetError(f"fma: cannot read {path} (a two-row header: section, field): {e}") from None
    missing = [f"{a}/{b}" for a, b in NEEDED if (a, b) not in tracks.columns]
    if missing:
        raise DatasetError(f"fma: {path}: missing column(s) {', '.join(missing)}")
    titles = _genre_titles(meta)
    allowed = set(SIZES[:SIZES.index(size) + 1]) if size != "full" else None
    clips = []
    for tid, row in tracks.iterrows():
        if allowed is not None and row[("set", "subset")] not in allowed:
            continue
        tid = int(tid)
        try:
            ids = ast.literal_eval(str(row[("track", "genres_all")]))  # "[21, 12]": a literal, never evaluated code
        except (ValueError, SyntaxError):
            ids = []
        top = row[("track", "genre_top")]
        clips.append(Clip(
            f"fma_{size}/{tid // 1000:03d}/{tid:06d}.mp3",
            {"genre": "" if pd.isna(top) else str(top),
             "subgenres": tuple(sorted(titles.get(int(i), str(i)) for i in ids)),
             "album": str(row[("album", "id")])},
            group=str(row[("artist", "id")]), split=str(row[("set", "split")])))
    return clips
