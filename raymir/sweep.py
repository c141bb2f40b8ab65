"""``python -m raymir.sweep NAME``: load the sweep file → validate → run its recipe.

Recipes: ``layer_combos`` (Choi 2017), ``agf_combos`` (Kim 2018), ``artist_labels`` (Park 2017),
``artist_tags`` (Wang 2019). Each stage's output is a content-addressed artifact under
``<output>/cache``, so a re-run skips finished stages; every run is tracked in MLflow.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path

from raymir.config import SCHEMAS, ConfigError, SweepConfigs, list_sweeps, load_sweep
from raymir.config.loader import read_sweep
from raymir.config.sections import ENCODER_KINDS
from raymir.data.datasets import DATASETS
from raymir.errors import DatasetError, ModelFileError
from raymir.recipes import RECIPES
from raymir.session import RunOptions


def run(cfg: SweepConfigs, *, tracking_uri: str | None = None, address: str | None = None,
        output: str | None = None, storage: str | None = None, fresh: bool = False) -> dict:
    """Run a whole sweep (any recipe); returns at least {"rows", "errors", "tracker", "report_dir"}.

    An unfinished earlier run of the same settings is resumed unless ``fresh``."""
    opts = RunOptions(tracking_uri=tracking_uri, address=address, output=output, storage=storage, fresh=fresh)
    return RECIPES[cfg.recipe].load().run(cfg, opts)


def encoder_overrides(parser: argparse.ArgumentParser, value: str, *, features: bool = True) -> list[str]:
    """``--encoder KIND:PATH`` → the settings it stands for; embeddings, having no audio, probe their own layers only
    (``features.kinds``, where the sweep has a ``features:`` section: ``features``)."""
    kind, _, path = value.partition(":")
    if kind not in ENCODER_KINDS or not kind or not path:
        parser.error(f"--encoder {value}: expected KIND:PATH, KIND one of {', '.join(k for k in ENCODER_KINDS if k)}")
    # a torch encoder's path is module.path:factory (file.py:factory: the file part is resolved)
    module, _, factory = path.rpartition(":") if kind == "torch" else ("", "", "")
    if kind in ("torch", "hear") and not module.endswith(".py") and not path.endswith(".py"):
        where = path
    elif kind == "torch":
        where = f"{Path(module).expanduser().resolve()}:{factory}"
    else:
        where = str(Path(path).expanduser().resolve())
    sets = [f"encoder.kind={kind}", f"encoder.path={where}"]
    return sets + (["features.kinds=[convnet]"] if kind == "embeddings" and features else [])


def _schema(name: str) -> type | None:
    """Sweep ``name``'s config class; None when it cannot be read (its problems are reported on loading)."""
    try:
        _, data, _ = read_sweep(name, preset=None, overrides=())
    except ConfigError:
        return None
    schema = SCHEMAS.get(data.get("recipe"))
    return None if schema is None else schema[0]


def has_features(name: str) -> bool:
    """Whether sweep ``name``'s schema has a ``features:`` section (its problems, if any, are reported on loading)."""
    schema = _schema(name)
    return schema is None or "features" in {f.name for f in fields(schema)}


# What --repeats sets: the probes' repeated CV, or agf_combos' repeated split and training.
REPEAT_SETTINGS = ("probe.repeats", "transfer.repeats")


def has_setting(name: str, dotted: str) -> bool:
    """Whether sweep ``name``'s schema has the setting ``dotted`` ("probe.repeats"); True when the sweep cannot be
    read (loading reports why)."""
    owner = _schema(name)
    if owner is None:
        return True
    for part in dotted.split("."):
        field = next((f for f in fields(owner) if f.name == part), None) if is_dataclass(owner) else None
        if field is None:
            return False
        owner = field.default_factory() if field.default is MISSING else field.default
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m raymir.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", default="layer_combos", help="sweep name (see --list) or a YAML path")
    parser.add_argument("--preset", help="a preset defined in the sweep file (e.g. paper, tiny)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set pretrain.epochs=3 (repeatable)")
    parser.add_argument("--check", action="store_true", help="validate the sweep and exit")
    parser.add_argument("--list", action="store_true", help="list the available sweeps")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or "
                                               "sqlite under the output directory)")
    parser.add_argument("--output", help="output directory (cache, Ray state, MLflow database, reports)")
    parser.add_argument("--address", help="Ray cluster address (auto, HOST:PORT); default RAY_ADDRESS or local")
    parser.add_argument("--fresh", action="store_true", help="start a new MLflow parent run even if an unfinished "
                                                             "run of the same settings exists (default: resume it)")
    parser.add_argument("--storage", metavar="PATH_OR_URI", help="where Ray keeps trial state and checkpoints "
                                                                  "(default RAYMIR_STORAGE or <output>/ray); on "
                                                                  "several nodes, shared storage (s3://…, NFS)")
    names = ", ".join(DATASETS)
    parser.add_argument("--data", metavar="PATH", help="the real dataset the sweep is measured on (probe target; "
                                                       "agf_combos: the training corpus): its folder, or a CSV / "
                                                       "JSONL manifest file")
    parser.add_argument("--dataset", metavar="NAME", help=f"the layout of --data ({names}); a .csv/.jsonl --data "
                                                          "alone is a manifest")
    parser.add_argument("--source-data", metavar="PATH", help="the pretraining data: tagged clips (layer_combos, "
                                                              "artist_tags) or clips with artists (artist_labels)")
    parser.add_argument("--source-dataset", metavar="NAME", help="the layout of --source-data (e.g. mtat, fma, manifest)")
    parser.add_argument("--encoder", metavar="KIND:PATH",
                        help="probe a given encoder instead of training one: choi2017_keras:model_best.hdf5, "
                             "park2017_keras:FILE.h5, torch:module:factory, hear:MODULE, embeddings:FOLDER "
                             "(README, 'Probe a released or your own encoder')")
    parser.add_argument("--repeats", type=int, metavar="N",
                        help="repeat the experiment N times, re-drawing what is random: the probes' CV folds "
                             "(probe.repeats; artist_labels and artist_tags also re-train their encoders unless "
                             "probe.repeat_training=false; layer_combos keeps its one pretrained net) or, in "
                             "agf_combos, the split and every net (transfer.repeats)")
    args = parser.parse_args(argv)
    if args.repeats is not None:
        setting = next((s for s in REPEAT_SETTINGS if has_setting(args.name, s)), None)
        if setting is None:
            parser.error(f"--repeats {args.repeats}: sweep {args.name!r} has none of {', '.join(REPEAT_SETTINGS)}")
        args.set.insert(0, f"{setting}={args.repeats}")  # before --set: an explicit setting wins
    if args.encoder:
        # before --set: an explicit setting wins (and is checked)
        args.set[:0] = encoder_overrides(parser, args.encoder, features=has_features(args.name))
    if args.storage and "://" not in args.storage:  # a local folder: say now, not from deep inside Ray Tune
        try:
            Path(args.storage).expanduser().mkdir(parents=True, exist_ok=True)
        except OSError as e:
            parser.error(f"--storage {args.storage}: cannot create the folder ({e.strerror})")
    for prefix, flag, name, path in (("data", "", args.dataset, args.data),
                                     ("data.source", "source-", args.source_dataset, args.source_data)):
        if path and not name and Path(path).suffix.lower() in (".csv", ".jsonl", ".json"):
            name = "manifest"
        if path and not name:
            parser.error(f"--{flag}data {path}: name its layout with --{flag}dataset ({names})")
        if name:
            args.set.append(f"{prefix}.dataset={name}")
        if path:
            args.set.append(f"{prefix}.path={Path(path).expanduser().resolve()}")
    if args.list:
        for name, path in list_sweeps().items():
            print(f"{name:<20} {path}")
        return 0
    try:
        cfg = load_sweep(args.name, preset=args.preset, overrides=tuple(args.set))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.check:
            print(f"{cfg.name}: ok ({RECIPES[cfg.recipe].load().summary(cfg)})")
            return 0
        result = run(cfg, tracking_uri=args.tracking_uri, address=args.address, output=args.output,
                     storage=args.storage, fresh=args.fresh)
    except (ConfigError, DatasetError, ModelFileError) as exc:  # a setting the encoder cannot serve, bad data or
        print(f"error: {exc}", file=sys.stderr)  # model file: name the key / file / row, no traceback; finished
        # stages stay cached
        return 2
    return 0 if not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
