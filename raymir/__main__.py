"""``python -m raymir cache``: what the artifact cache under an output directory holds, or clear it.

    python -m raymir cache                       # size per kind under ./raymir_out/cache
    python -m raymir cache --output DIR --clear  # delete all of it
    python -m raymir cache --clear features      # delete only some kinds
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from raymir import cache


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m raymir", description="raymir utilities")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache", help="report or clear the artifact cache")
    c.add_argument("--output", default="raymir_out", help="the sweep output directory (default: raymir_out)")
    c.add_argument("--clear", nargs="*", metavar="KIND", help="delete the cache (or only these kinds)")
    args = parser.parse_args(argv)
    root = Path(args.output) / "cache"
    rows = cache.report(root)
    if args.clear is not None:
        unknown = sorted(set(args.clear) - {k for k, _, _ in rows})
        if unknown:
            have = ", ".join(k for k, _, _ in rows) or "nothing"
            print(f"error: no cached kind {', '.join(unknown)} under {root} (has: {have})", file=sys.stderr)
            return 2
        print(f"cleared {_human(cache.clear(root, kinds=tuple(args.clear)))} from {root}")
        return 0
    if not rows:
        print(f"{root}: empty")
        return 0
    for kind, n, size in rows:
        print(f"{kind:<16}{n:>7} entries {_human(size):>12}")
    print(f"{'total':<16}{sum(r[1] for r in rows):>7} entries {_human(sum(r[2] for r in rows)):>12}   ({root})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
