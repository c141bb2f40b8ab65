"""Adapters from datasets' own on-disk layouts to :class:`raymir.data.clips.Clip` lists.

Each adapter is ``scan(root, **options) -> list[Clip]``: it reads only metadata and file names
(no audio) and raises :class:`raymir.data.clips.DatasetError` naming the file or column when the
layout is not what it expects. :func:`raymir.data.clips.ingest` then decodes and caches.
"""

from __future__ import annotations

from collections.abc import Callable

from raymir.data.clips import Clip
from raymir.data.datasets import fma, gtzan, manifest, urbansound8k

DATASETS: dict[str, Callable[..., list[Clip]]] = {
    "gtzan": gtzan.scan_genre,
    "gtzan_speech_music": gtzan.scan_speech_music,
    "urbansound8k": urbansound8k.scan,
    "fma": fma.scan,
    "manifest": manifest.scan,
}
