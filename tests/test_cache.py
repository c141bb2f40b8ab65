"""Content-addressed cache: several processes filling one entry at once leave one valid entry."""

import multiprocessing as mp
import time
from pathlib import Path

import numpy as np

from raymir import cache


def _fill(args):
    root, i = args

    def build(d: Path) -> None:
        arr = np.full(100_000, i, dtype=np.float32)
        np.save(d / "x.npy", arr[:50_000])  # a slow, two-step write: a reader must never see half of it
        time.sleep(0.2)
        np.save(d / "x.npy", arr)
        (d / "writer.txt").write_text(str(i))

    path = cache.cached(Path(root), "test", {"same": "key"}, build)
    x = np.load(path / "x.npy")
    return str(path), int((path / "writer.txt").read_text()), x.shape[0], float(x[0])


def test_concurrent_writers_leave_one_valid_entry(tmp_path):
    with mp.get_context("spawn").Pool(4) as pool:
        results = pool.map(_fill, [(str(tmp_path), i) for i in range(4)])
    paths = {r[0] for r in results}
    assert len(paths) == 1
    entries = [p for p in (tmp_path / "test").iterdir()]
    assert [p.name for p in entries] == [Path(next(iter(paths))).name]  # no temp directories left
    assert cache.is_done(entries[0])
    for _, writer, n, first in results:  # whoever won, every reader sees the full, consistent entry
        assert n == 100_000 and first == writer == results[0][1]


def test_cache_command_reports_and_clears(tmp_path, capsys):
    from raymir.__main__ import main

    root = tmp_path / "cache"
    for kind, size in (("features", 2000), ("corpus", 50_000)):
        cache.cached(root, kind, {"k": 1}, lambda d, size=size: (d / "a.bin").write_bytes(b"x" * size))
    assert main(["cache", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["corpus", "1"] and out[1].split()[:2] == ["features", "1"]  # largest first
    assert main(["cache", "--output", str(tmp_path), "--clear", "nosuch"]) == 2
    assert "no cached artifact nosuch" in capsys.readouterr().err
    assert main(["cache", "--output", str(tmp_path), "--clear", "features"]) == 0
    assert [k for k, _, _ in cache.report(root)] == ["corpus"]
    assert main(["cache", "--output", str(tmp_path), "--clear"]) == 0
    assert cache.report(root) == [] and "cleared" in capsys.readouterr().out
