"""Content-addressed artifacts: a stage's output lives under a hash of its inputs and parameters.

An artifact is a directory built in a private temporary sibling, completed with a
``.done`` marker, then renamed into place — so a crash leaves no half-written artifact
and concurrent builders (Ray workers) never see each other's partial output.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

DONE = ".done"


def _canonical(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _canonical(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def key_of(params: Any) -> str:
    """A short stable hash of (nested) parameters: dataclasses, dicts, lists, scalars."""
    blob = json.dumps(_canonical(params), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def is_done(path: Path) -> bool:
    return (Path(path) / DONE).exists()


def path_of(root: Path, artifact: str, params: Any) -> Path:
    """Where the ``artifact`` (stage output: "pretrain", "features", "source", …) for ``params`` lives."""
    return Path(root) / artifact / key_of(params)


def cached(root: Path, artifact: str, params: Any, build: Callable[[Path], None]) -> Path:
    """Return the ``artifact`` directory for ``params``, building it with ``build(tmp_dir)`` if absent.

    ``build`` writes its files into the directory it is given; the directory is published
    atomically only after ``build`` returns.
    """
    final = path_of(root, artifact, params)
    if is_done(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        build(tmp)
        (tmp / "params.json").write_text(json.dumps(_canonical(params), indent=1, default=str))
        (tmp / DONE).touch()
        if final.exists() and not is_done(final):
            shutil.rmtree(final, ignore_errors=True)  # a stale partial artifact from a crash
        try:
            os.rename(tmp, final)
        except OSError:  # another worker published the same artifact first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final



def _size(path: Path, seen: set[tuple[int, int]]) -> int:
    """Bytes under ``path``; a file hard-linked from several entries (a relabelled subset's audio) counts once."""
    total = 0
    for f in path.rglob("*"):
        if f.is_file():
            st = f.stat()
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def report(root: Path) -> list[tuple[str, int, int]]:
    """(artifact, finished entries, bytes) per artifact under ``root``, largest first."""
    rows, seen = [], set()
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()) if Path(root).is_dir() else ():
        entries = [e for e in folder.iterdir() if e.is_dir()]
        rows.append((folder.name, sum(is_done(e) for e in entries), _size(folder, seen)))
    return sorted(rows, key=lambda r: -r[2])


def clear(root: Path, *, artifacts: tuple[str, ...] = ()) -> int:
    """Delete the cached ``artifacts`` (all of them when empty); returns the bytes freed."""
    freed = 0
    for artifact, _, size in report(root):
        if not artifacts or artifact in artifacts:
            shutil.rmtree(Path(root) / artifact)
            freed += size
    return freed
