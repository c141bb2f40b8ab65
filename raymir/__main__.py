"""``python -m raymir cache``: what the artifact cache under an output directory holds, or clear it;
``python -m raymir ui``: the MLflow UI on a sweep's database, on 127.0.0.1;
``python -m raymir tags``: a clip's top tags from the released Choi et al. 2017 model.

    python -m raymir cache                       # size per artifact under ./raymir_out/cache
    python -m raymir cache --output DIR --clear  # delete all of it
    python -m raymir cache --clear features      # delete only some artifacts
    python -m raymir ui [--output DIR] [--port 5000]
    python -m raymir tags song.mp3 --model model_best.hdf5 [--top 10]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from raymir import cache


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TB"


def _ui(args: argparse.Namespace) -> int:
    from raymir import tracking

    if args.tracking_uri:
        uri = args.tracking_uri
    else:
        db = Path(args.output).resolve() / "mlflow.db"
        if not db.is_file():
            print(f"error: no MLflow database at {db}: run a sweep with --output {args.output} first, "
                  "or give --tracking-uri", file=sys.stderr)
            return 2
        uri = f"sqlite:///{db}"
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}: anyone who can reach this address can read and change the runs",
              file=sys.stderr)
    print(f"MLflow UI for {uri} at http://{args.host}:{args.port} (Ctrl-C stops it)", flush=True)
    os.execv(sys.executable, tracking.ui_command(uri, host=args.host, port=args.port))  # the server replaces us
    return 0


def _tags(args: argparse.Namespace) -> int:
    from raymir.data.decode import DecodeError, decode
    from raymir.errors import ModelFileError
    from raymir.models.keras_release import CHOI_MEL, load_choi2017, top_tags

    try:
        net, info = load_choi2017(args.model)
    except ModelFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not info.published:
        print(f"note: {args.model} is not the published model_best.hdf5 (sha256 {info.sha256})", file=sys.stderr)
    try:  # the release's input: 12 kHz mono, 29 s (shorter clips repeated, longer ones cut)
        y = decode(args.audio, sr=CHOI_MEL.sr, duration=CHOI_MEL.duration)
    except (DecodeError, OSError) as e:
        print(f"error: {args.audio}: {e}", file=sys.stderr)
        return 2
    for tag, score in top_tags(net, y, info.tags, top=args.top):
        print(f"{score:.3f}  {tag}")
    return 0


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m raymir", description="raymir utilities")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache", help="report or clear the artifact cache")
    c.add_argument("--output", default="raymir_out", help="the sweep output directory (default: raymir_out)")
    c.add_argument("--clear", nargs="*", metavar="ARTIFACT", help="delete the cache (or only these artifacts, e.g. features)")
    u = sub.add_parser("ui", help="serve the MLflow UI for a sweep's runs (127.0.0.1:5000)")
    u.add_argument("--output", default="raymir_out", help="the sweep output directory holding mlflow.db")
    u.add_argument("--tracking-uri", help="serve this store instead (e.g. a database elsewhere)")
    u.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    u.add_argument("--port", type=int, default=5000)
    t = sub.add_parser("tags", help="a clip's top tags from the released Choi et al. 2017 model (model_best.hdf5)")
    t.add_argument("audio", help="an audio file (wav, flac, mp3, …)")
    t.add_argument("--model", required=True, help="the released Keras file, keras2_model/model_best.hdf5")
    t.add_argument("--top", type=_positive, default=10, help="how many tags to print (default: 10)")
    args = parser.parse_args(argv)
    if args.command == "ui":
        return _ui(args)
    if args.command == "tags":
        return _tags(args)
    root = Path(args.output) / "cache"
    rows = cache.report(root)
    if args.clear is not None:
        unknown = sorted(set(args.clear) - {k for k, _, _ in rows})
        if unknown:
            have = ", ".join(k for k, _, _ in rows) or "nothing"
            print(f"error: no cached artifact {', '.join(unknown)} under {root} (has: {have})", file=sys.stderr)
            return 2
        print(f"cleared {_human(cache.clear(root, artifacts=tuple(args.clear)))} from {root}")
        return 0
    if not rows:
        print(f"{root}: empty")
        return 0
    for artifact, n, size in rows:
        print(f"{artifact:<16}{n:>7} entries {_human(size):>12}")
    print(f"{'total':<16}{sum(r[1] for r in rows):>7} entries {_human(sum(r[2] for r in rows)):>12}   ({root})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
