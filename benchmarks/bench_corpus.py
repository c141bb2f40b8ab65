"""Synthetic corpus generation speed: clips per second, per subset kind and overall.

    python benchmarks/bench_corpus.py [--duration 6] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from raymir.data.synthetic import SUBSETS, SyntheticParams, build_subset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--sr", type=int, default=12000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    p = SyntheticParams(duration=args.duration)
    total_n, total_s = 0, 0.0
    print(f"{'subset':<14}{'clips':>7}{'seconds':>10}{'clips/s':>10}   ({args.duration:g}-s clips at {args.sr} Hz, "
          f"{args.workers} worker(s))")
    with tempfile.TemporaryDirectory() as tmp:
        for name in SUBSETS:
            d = Path(tmp) / name
            d.mkdir()
            t0 = time.perf_counter()
            sub = build_subset(name, p, sr=args.sr, out_dir=d, workers=args.workers)
            dt = time.perf_counter() - t0
            total_n, total_s = total_n + len(sub), total_s + dt
            print(f"{name:<14}{len(sub):>7}{dt:>10.2f}{len(sub) / dt:>10.1f}")
    print(f"{'all':<14}{total_n:>7}{total_s:>10.2f}{total_n / total_s:>10.1f}")


if __name__ == "__main__":
    main()
