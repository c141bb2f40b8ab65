"""``python -m raymir.sweep NAME``: load → validate → corpus → pretrain → extract → probe → report.

Each stage's output is a content-addressed artifact under ``<output>/cache``, so a re-run
skips finished stages; every run is tracked in MLflow (see ``raymir.tracking``).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from raymir import agf_combos, tracking
from raymir.agf_combos import DataError
from raymir.config import (
    AgfSweepConfig,
    ArtistLabelsConfig,
    ArtistTagsConfig,
    ConfigError,
    SweepConfig,
    SweepConfigs,
    list_sweeps,
    load_sweep,
)
from raymir.data.manifest import ManifestError
from raymir.data.synthetic import TARGET_TASKS, load_synthetic
from raymir.extract import cached_features, layer_features, mfcc_features, state_digest
from raymir.models import MODELS
from raymir.pretrain import cached_pretrain
from raymir.probes.folds import make_folds
from raymir.report import write_report
from raymir.search import TaskData, run_probe_trials
from raymir.session import finish_sweep, log, start_ray
from raymir.session import flat as _flat


def extract_stage(cfg: SweepConfig, subsets: dict, trained: torch.nn.Module, random_net: torch.nn.Module, *,
                  cache_root: Path) -> dict[str, dict[str, np.ndarray]]:
    """Per-subset features: convnet/random [n, 5, 32] and mfcc [n, 120], cached by content."""
    digests = {"convnet": state_digest(trained.state_dict()), "random": state_digest(random_net.state_dict())}
    nets = {"convnet": trained, "random": random_net}
    out = {}
    for name, sub in subsets.items():
        t0 = time.time()
        feats = {}
        for kind in ("convnet", "random"):
            feats[kind] = cached_features(
                cache_root, kind=kind, subset_key=sub.key, params={"model": digests[kind], "mel": asdict(cfg.mel)},
                compute=lambda net=nets[kind], sub=sub: layer_features(net, sub.audio, n_samples=cfg.mel.n_samples,
                                                                       batch_size=cfg.features.batch_size))
        feats["mfcc"] = cached_features(cache_root, kind="mfcc", subset_key=sub.key, params={"n_mfcc": 20},
                                        compute=lambda sub=sub: mfcc_features(sub.audio, sub.sr))
        out[name] = feats
        log(f"features for {name}: {len(sub)} clips ready in {time.time() - t0:.1f} s")
    return out


def trial_specs(cfg: SweepConfig) -> list[dict]:
    specs = []
    for task in cfg.probe.tasks:
        for kind in cfg.features.kinds:
            if kind in ("convnet", "random"):
                specs += [{"task": task, "feature": kind, "layers": c} for c in cfg.layer_combos]
            elif kind == "mfcc":
                specs.append({"task": task, "feature": "mfcc", "layers": "-"})
            else:
                specs.append({"task": task, "feature": "convnet+mfcc", "layers": "12345"})
    return specs


def run(cfg: SweepConfigs, *, tracking_uri: str | None = None, address: str | None = None,
        output: str | None = None) -> dict:
    """Run a whole sweep (any recipe); returns at least {"rows", "errors", "tracker", "report_dir"}."""
    if isinstance(cfg, AgfSweepConfig):
        return agf_combos.run(cfg, tracking_uri=tracking_uri, address=address, output=output)
    if isinstance(cfg, ArtistLabelsConfig):
        from raymir import artist_labels

        return artist_labels.run(cfg, tracking_uri=tracking_uri, address=address, output=output)
    if isinstance(cfg, ArtistTagsConfig):
        from raymir import artist_tags

        return artist_tags.run(cfg, tracking_uri=tracking_uri, address=address, output=output)
    return run_layer_combos(cfg, tracking_uri=tracking_uri, address=address, output=output)


def run_layer_combos(cfg: SweepConfig, *, tracking_uri: str | None = None, address: str | None = None,
                     output: str | None = None) -> dict:
    """Choi et al. 2017; returns {"rows", "errors", "tracker", "report_dir", "history"}."""
    t_start = time.time()
    out = Path(output or cfg.output).resolve()
    cache_root = out / "cache"
    uri, artifacts = tracking.resolve_uri(tracking_uri, out)
    tracker = tracking.setup_experiment(uri, cfg.name, artifacts)

    needed = ("source",) + tuple(dict.fromkeys(TARGET_TASKS[t].subset for t in cfg.probe.tasks))
    t0 = time.time()
    subsets = load_synthetic(cfg.corpus, sr=cfg.mel.sr, cache_root=cache_root, names=needed)
    n_clips = sum(len(s) for s in subsets.values())
    log(f"corpus: {n_clips} clips in {len(subsets)} subsets ready in {time.time() - t0:.1f} s (cache: {cache_root})")

    start_ray(address)
    tracker = tracking.start_parent(tracker, sweep=cfg.name, params=_flat(asdict(cfg)))
    status = "FAILED"
    try:
        state, history, pre_dir = cached_pretrain(subsets["source"], label="tags", pretrain_cfg=cfg.pretrain,
                                                  mel=cfg.mel, cache_root=cache_root, storage=out / "ray", log=log)
        n_classes = subsets["source"].labels["tags"].shape[1]
        trained = MODELS[cfg.pretrain.model](n_classes, mel=cfg.mel)
        trained.load_state_dict(state)
        log(f"pretraining: val ROC-AUC per epoch {[round(h['val_roc_auc'], 3) for h in history]}")
        pre_run = tracking.log_trial(
            tracker, "pretrain", name=f"pretrain {cfg.pretrain.model}",
            params=_flat({"model": cfg.pretrain.model, **asdict(cfg.pretrain), "n_clips": len(subsets["source"]),
                          "n_tags": n_classes}) | {"stage": "pretrain"},
            metrics={})
        tracking.log_history(tracker, pre_run, history)  # per epoch; the last epoch is the run's value
        tracking.log_model(tracker, pre_run, trained, pre_dir / "state_dict.pt")

        torch.manual_seed(cfg.pretrain.seed + 1)
        random_net = MODELS[cfg.pretrain.model](n_classes, mel=cfg.mel)  # same structure, untrained He-normal
        targets = {n: s for n, s in subsets.items() if n != "source"}
        features = extract_stage(cfg, targets, trained, random_net, cache_root=cache_root)

        tasks = {}
        for name in cfg.probe.tasks:
            t = TARGET_TASKS[name]
            sub = subsets[t.subset]
            labels = sub.labels[t.label]
            folds = make_folds(labels, kind=t.kind, n_folds=cfg.probe.folds, groups=sub.groups,
                               predefined=sub.folds, seed=cfg.probe.seed)
            tasks[name] = TaskData(kind=t.kind, labels=labels, folds=folds, features=features[t.subset])
        specs = trial_specs(cfg)
        log(f"probing: {len(specs)} Ray Tune trials ({len(cfg.probe.tasks)} tasks)")
        rows, errors = run_probe_trials(
            specs, tasks, cfg.probe, tracker, storage_path=out / "ray", name=f"probes-{tracker.parent_run_id[:12]}",
            cpus_per_trial=cfg.search.cpus_per_trial, max_concurrent=cfg.search.max_concurrent_trials,
            max_failures=cfg.search.max_failures)
        report_dir = out / "reports" / tracker.parent_run_id
        status = finish_sweep(tracker, uri=uri, report=write_report(rows, report_dir), report_dir=report_dir,
                              n=len(rows), errors=errors, t_start=t_start, unit="trials")
        return {"rows": rows, "errors": errors, "tracker": tracker, "report_dir": report_dir, "history": history}
    except BaseException:
        if status != "FINISHED":
            tracking.finish(tracker, tracker.parent_run_id, status="FAILED")
        raise


DATA_ERRORS = (DataError, ManifestError)  # bad corpus input, reported without a traceback


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
    parser.add_argument("--data", metavar="CSV", help="a real corpus instead of the synthetic one: a CSV manifest "
                                                      "with path, artist, genre (and subgenres, album) columns")
    args = parser.parse_args(argv)
    if args.data:
        args.set.append(f"data.manifest={Path(args.data).resolve()}")
    if args.list:
        for name, path in list_sweeps().items():
            print(f"{name:<20} {path}")
        return 0
    try:
        cfg = load_sweep(args.name, preset=args.preset, overrides=tuple(args.set))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if isinstance(cfg, AgfSweepConfig):
            print(f"{cfg.name}: ok ({2 ** len(cfg.tasks) - 1} task combinations × {', '.join(cfg.archs)})")
        elif isinstance(cfg, ArtistLabelsConfig):
            print(f"{cfg.name}: ok ({len(cfg.models)} models × {len(cfg.n_artists)} artist counts + "
                  f"{len(cfg.baselines)} baselines; probes {', '.join(cfg.probe.tasks)})")
        elif isinstance(cfg, ArtistTagsConfig):
            print(f"{cfg.name}: ok (models {', '.join(cfg.models)}; probes {', '.join(cfg.probe.tasks)})")
        else:
            print(f"{cfg.name}: ok ({len(trial_specs(cfg))} probe trials)")
        return 0
    try:
        result = run(cfg, tracking_uri=args.tracking_uri, address=args.address, output=args.output)
    except DATA_ERRORS as exc:  # bad corpus: name the file/row, no traceback; finished stages stay cached
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
