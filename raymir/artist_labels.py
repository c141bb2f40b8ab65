"""``python -m raymir.sweep artist_labels``: Park et al. 2017 as a sweep.

corpus → artist-disjoint split → spectrograms → one Ray Tune trial per (model, number of training
artists), each running a Ray Train job (basic softmax or Siamese), then the whole probe suite on
the trained encoder's track features: genre (SVM), arousal / valence (SVR), tagging (linear or
MLP head) and retrieval of artists never seen in training. MFCC and random-weights baselines run
the same probes. Each trial is one MLflow child run; a summary table and figure close the sweep.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from raymir import cache, tracking
from raymir.artist_data import artist_split, artist_subsets, probe_sets, source_genres, training_tracks
from raymir.artist_report import row_key, write_artist_report
from raymir.artist_train import MODES, prepare_artist_inputs, train_artist_model
from raymir.audio import spectrograms
from raymir.config import ArtistLabelsConfig
from raymir.data.clips import DatasetError
from raymir.data.subset import Subset
from raymir.extract import cached_features, mfcc_features
from raymir.models.park2017 import Park2017, ParkFrontend, track_feature
from raymir.probes.suite import ProbeSet, run_suite
from raymir.session import (
    driver_resources,
    finish_sweep,
    flat,
    log,
    log_datasets,
    open_sweep,
    parent_run,
    train_concurrency,
)

ENCODER_FILES = ("state_dict.pt", "encoder.json")
TRACK_SECONDS = 30.0  # seconds read per track of a real dataset unless data.duration says otherwise


def run_key(spec: dict) -> str:
    """The MLflow/Tune identity of a trial, e.g. "basic/80", "mfcc"."""
    return spec["model"] if spec["model"] not in MODES else f"{spec['model']}/{spec['n_artists']}"


def trial_specs(cfg: ArtistLabelsConfig) -> list[dict]:
    specs = [{"model": m, "n_artists": n} for n in cfg.n_artists for m in cfg.models]
    return specs + [{"model": b, "n_artists": 0} for b in cfg.baselines]


def _write_inputs(d: Path, subsets: dict[str, Subset], front: ParkFrontend) -> None:
    """``spec.npy`` + ``artists.npy`` of the source (the training job's inputs), ``<subset>_spec.npy`` of the rest."""
    source = subsets["source"]
    prepare_artist_inputs(d, spec=spectrograms(source.audio, front, path=d / "spec.npy"),
                          artists=source.labels["artist"])
    for name, sub in subsets.items():
        if name != "source":
            spectrograms(sub.audio, front, path=d / f"{name}_spec.npy")


def _rows_needed(sets: dict[str, ProbeSet]) -> dict[str, np.ndarray]:
    need: dict[str, np.ndarray] = {}
    for s in sets.values():
        need[s.source] = np.union1d(need.get(s.source, np.zeros(0, dtype=int)), s.rows).astype(int)
    return need


@torch.no_grad()
def park_features(net: Park2017, inputs: Path, need: dict[str, np.ndarray], *, batch_size: int = 32
                  ) -> dict[str, np.ndarray]:
    """Track features of the rows the probes use: {source: [n_tracks, 256]} (other rows stay zero)."""
    torch.set_num_threads(1)  # trials share the machine with training jobs
    net.eval()
    out = {}
    for source, rows in need.items():
        spec = np.load(inputs / ("spec.npy" if source == "source" else f"{source}_spec.npy"), mmap_mode="r")
        feats = np.zeros((len(spec), 256), dtype=np.float32)
        for i in range(0, len(rows), batch_size):
            idx = rows[i:i + batch_size]
            feats[idx] = track_feature(net, torch.from_numpy(np.asarray(spec[idx], dtype=np.float32))).numpy()
        out[source] = feats
    return out


def _mfcc(subset_paths: dict[str, str], need: dict[str, np.ndarray], cache_root: Path) -> dict[str, np.ndarray]:
    out = {}
    for source in need:
        sub = Subset.load(Path(subset_paths[source]))
        out[source] = cached_features(cache_root, kind="mfcc", subset_key=sub.key, params={"n_mfcc": 20},
                                      compute=lambda sub=sub: mfcc_features(sub.audio, sub.sr))
    return out


def _train(spec: dict, cfg: ArtistLabelsConfig, *, inputs: Path, train_idx: np.ndarray, cache_root: Path,
           storage: Path | str) -> Path:
    """The trained encoder's directory (trained on a cache miss)."""
    key = {"inputs": inputs.name, "mode": spec["model"], "train_idx": train_idx.tolist(), "train": asdict(cfg.train)}

    def build(d: Path) -> None:
        res = train_artist_model(inputs, mode=spec["model"], train_idx=train_idx, train=cfg.train,
                                 storage_path=storage, name=f"park-{cache.key_of(key)}")
        torch.save(res.state_dict, d / "state_dict.pt")
        (d / "history.json").write_text(json.dumps(res.history))
        (d / "encoder.json").write_text(json.dumps({
            "model": "park2017", "mode": spec["model"], "n_artists": res.n_artists, "n_mels": cfg.mel.n_mels,
            "mel": asdict(cfg.mel), "feature": "per 3-s segment: max over time of the last conv layer; mean over "
                                               "segments (raymir.models.park2017.track_feature)",
            "load": "Park2017(n_artists if mode == 'basic' else None, n_mels=n_mels)"
                    ".load_state_dict(torch.load(path, weights_only=True))"}))

    return cache.cached(cache_root, "artist_model", key, build)


def _artist_trial(config: dict, *, cfg: ArtistLabelsConfig, inputs: Path, subset_paths: dict[str, str],
                  sets: dict[str, ProbeSet], pool: np.ndarray, cache_root: Path, storage: Path | str,
                  tracker: tracking.Tracker) -> None:
    """Train one artist model (or take a baseline), run the probe suite, log the child run."""
    import ray.tune as tune

    spec = config["spec"]
    model, n = spec["model"], spec["n_artists"]
    params: dict = {"model": model, "n_artists": n}
    history: list[dict] = []
    artifacts: tuple[Path, ...] = ()
    try:
        need = _rows_needed(sets)
        t0 = time.time()
        if model in MODES:
            artists = np.load(inputs / "artists.npy")
            train_idx = training_tracks(artists, pool, n)
            path = _train(spec, cfg, inputs=inputs, train_idx=train_idx, cache_root=cache_root, storage=storage)
            history = json.loads((path / "history.json").read_text())
            net = Park2017(n if model == "basic" else None, n_mels=cfg.mel.n_mels)
            net.load_state_dict(torch.load(path / "state_dict.pt", weights_only=True))
            params |= {"n_tracks": len(train_idx), "epochs": cfg.train.epochs}
            artifacts = tuple(path / f for f in ENCODER_FILES)
        t1 = time.time()
        if model == "mfcc":
            features = _mfcc(subset_paths, need, cache_root)
        else:
            if model == "random":
                torch.manual_seed(cfg.train.seed + 1)
                net = Park2017(None, n_mels=cfg.mel.n_mels)  # the same tower, untrained
            features = park_features(net, inputs, need)
        t2 = time.time()
        metrics = run_suite(features, sets, cfg.probe)
        metrics |= {"seconds_train": t1 - t0, "seconds_features": t2 - t1, "seconds_probes": time.time() - t2}
    except Exception as exc:  # a FAILED child run with the error; Tune retries or reports it
        tracking.log_trial(tracker, run_key(spec), name=run_key(spec).replace("/", " "), params=params, metrics={},
                           status="FAILED", error=f"{type(exc).__name__}: {exc}")
        raise
    params["feature"] = "mfcc" if model == "mfcc" else "park2017 track feature (256-d)"
    tracking.log_trial(tracker, run_key(spec), name=run_key(spec).replace("/", " "), params=params, metrics=metrics,
                       history=history, artifacts=artifacts, artifact_path="encoder")
    tune.report({"model": model, "n_artists": n} | metrics)


def run(cfg: ArtistLabelsConfig, *, tracking_uri: str | None = None, address: str | None = None,
        output: str | None = None, storage: str | None = None, fresh: bool = False) -> dict:
    """Run the whole sweep; returns {"rows", "errors", "tracker", "report_dir"}."""
    import ray.tune as tune

    from raymir.search import fan_out

    sweep = open_sweep(cfg.name, output=output or cfg.output, tracking_uri=tracking_uri, storage=storage,
                       fresh=fresh)
    cache_root = sweep.cache_root

    subsets, skipped = artist_subsets(cfg, duration=TRACK_SECONDS, cache_root=cache_root, log=log)
    source = subsets["source"]
    artists = source.labels["artist"]
    pool, heldout = artist_split(artists, source_genres(source), heldout_per_genre=cfg.heldout_artists_per_genre,
                                 seed=cfg.train.seed)
    if max(cfg.n_artists) > len(pool):
        raise DatasetError(f"n_artists: {max(cfg.n_artists)} exceeds the {len(pool)} artists of {source.name} left for "
                           f"training ({len(heldout)} held out); lower it, e.g. --set 'n_artists=[{len(pool)}]'")
    heldout_rows = np.flatnonzero(np.isin(artists, heldout))
    sets = probe_sets(subsets, tasks=cfg.probe.tasks, folds=cfg.probe.folds, seed=cfg.probe.seed,
                      heldout_rows=heldout_rows, target=cfg.data.dataset)  # a real dataset's subset has its name
    inputs = cache.cached(cache_root, "park_inputs", {"subsets": {n: s.key for n, s in subsets.items()},
                                                      "mel": asdict(cfg.mel)},
                          lambda d: _write_inputs(d, subsets, ParkFrontend(cfg.mel)))
    specs = trial_specs(cfg)
    log(f"corpus: {len(source)} source tracks by {len(pool) + len(heldout)} artists ({len(heldout)} held out for "
        f"retrieval and tagging), probe sets {', '.join(f'{k} {len(v.rows)}' for k, v in sets.items())}; "
        f"{len(specs)} trials ({time.time() - sweep.t_start:.0f} s of preparation)")

    tr = cfg.train
    with parent_run(sweep, address=address, params=flat(asdict(cfg))) as tracker:
        log_datasets(tracker, subsets, skipped)  # what was left out of each real dataset, and why
        trainable = tune.with_parameters(
            _artist_trial, cfg=cfg, inputs=inputs, subset_paths={n: str(s.path) for n, s in subsets.items()},
            sets=sets, pool=pool, cache_root=cache_root, storage=sweep.storage, tracker=tracker)
        rows, errors = fan_out(
            tune.with_resources(trainable, driver_resources()), specs, key=run_key,
            keep=row_key, name=f"artist-{tracker.parent_run_id[:12]}",
            storage=sweep.storage, max_concurrent=cfg.search.max_concurrent_trials or train_concurrency(
                num_workers=tr.num_workers, cpus_per_worker=tr.cpus_per_worker, use_gpu=tr.use_gpu),
            max_failures=cfg.search.max_failures, label="artist models")
        return finish_sweep(sweep, report=write_artist_report(rows, sweep.report_dir), rows=rows, errors=errors,
                            unit="runs")

