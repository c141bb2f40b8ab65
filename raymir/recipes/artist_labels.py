"""``python -m raymir.sweep artist_labels``: Park et al. 2017 as a sweep.

corpus → artist-disjoint split → spectrograms → one Ray Tune trial per (model, number of training
artists), each running a Ray Train job (basic softmax or Siamese), then the whole probe suite on
the trained encoder's track features: genre (SVM), arousal / valence (SVR), tagging (linear or
MLP head) and retrieval of artists never seen in training. MFCC and random-weights baselines run
the same probes. Each trial is one MLflow child run; a summary table and figure close the sweep.

A given encoder (the ``encoder:`` section: a released Keras model, a torch module or a HEAR module;
``raymir.recipes.given_encoder``) replaces the artist models: its trial, MFCC and its random-weights twin
(none for a HEAR module or a torch module without weights: that baseline is dropped with a log line).
Clips a torch / HEAR encoder fails on are left out of that trial's probes and recorded
(``<probe>_skipped_clips``, the list under ``encoder_skipped/``).

``probe.repeats`` R: each trial runs all R repeats. Repeat r probes on folds drawn with ``probe.seed + r`` (the
same folds for every trial: comparisons are paired fold by fold) and, unless ``probe.repeat_training`` is false,
trains its artist model with ``train.seed + r`` (the random baseline: ``train.seed + 1 + r``); repeat 0 is the
single run, with its seeds and cache keys. The artist split (held-out artists) is drawn once, with ``train.seed``,
and stays fixed. A trial's child run logs each metric's mean over folds × repeats, its 95 % interval
(``<metric>_ci95``) and per-fold scores (``<metric>_folds``, a JSON list; also ``folds.json``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from raymir import cache, tracking
from raymir.audio import spectrograms
from raymir.config import ARTIST_MODELS, ArtistLabelsConfig
from raymir.config.artist import GIVEN_ENCODERS
from raymir.data.subset import Subset
from raymir.errors import DatasetError
from raymir.extract import cached_mfcc
from raymir.models.park2017 import Park2017, ParkFrontend, track_feature
from raymir.probes.suite import ProbeScores, ProbeSet, pooled_row, probe_scores
from raymir.recipes import given_encoder
from raymir.recipes.artist_data import (
    artist_split,
    artist_subsets,
    leave_out_failed,
    record_skipped,
    repeat_probe_sets,
    source_genres,
    training_tracks,
)
from raymir.recipes.artist_report import row_key, split_row, write_artist_report, write_fold_lists
from raymir.session import RunOptions, SweepRun, finish_sweep, log, log_datasets, open_sweep, parent_params, parent_run
from raymir.train.park import prepare_artist_inputs, train_artist_model

ENCODER_FILES = ("state_dict.pt", "encoder.json")
TRACK_SECONDS = 30.0  # seconds read per track of a real dataset unless data.duration says otherwise


@dataclass(frozen=True)
class ArtistRun:
    """One trial: an artist model ("basic" | "siamese") trained on ``n_artists`` artists, or a baseline
    ("mfcc" | "random", ``n_artists`` 0)."""

    model: str
    n_artists: int = 0

    @property
    def key(self) -> str:
        """The MLflow/Tune identity of a trial, e.g. "basic/80", "mfcc"."""
        return self.model if self.model not in ARTIST_MODELS else f"{self.model}/{self.n_artists}"


def artist_runs(cfg: ArtistLabelsConfig) -> list[ArtistRun]:
    """Every (model, number of artists) and the baselines; with a given encoder, it (keyed by its kind) and the
    baselines, less "random" where it has no random-weights twin (``given_encoder.no_twin``)."""
    if not cfg.encoder.kind:
        return [ArtistRun(m, n) for n in cfg.n_artists for m in cfg.models] + [ArtistRun(b) for b in cfg.baselines]
    no_random = bool(given_encoder.no_twin(cfg.encoder))
    return [ArtistRun(cfg.encoder.kind)] + [ArtistRun(b) for b in cfg.baselines if not (b == "random" and no_random)]


def training_offset(cfg, r: int) -> int:
    """What repeat r adds to the training seeds: r, or 0 with ``probe.repeat_training`` off (every repeat probes
    repeat 0's encoders)."""
    return r if cfg.probe.repeat_training else 0


def repeats_text(cfg) -> str:
    """How the probes repeat, for ``--check`` and the log ("" for one repeat)."""
    if cfg.probe.repeats == 1:
        return ""
    how = "encoders re-trained" if cfg.probe.repeat_training else "the same encoders"
    return f", repeated {cfg.probe.repeats}× (folds re-drawn, {how})"


def summary(cfg: ArtistLabelsConfig) -> str:
    """What the sweep will run, in one line (``--check``)."""
    probes = f"probes {', '.join(cfg.probe.tasks)}{repeats_text(cfg)}"
    if cfg.encoder.kind:
        if cfg.encoder.kind in GIVEN_ENCODERS:  # imported and checked on a test signal, as a run would
            given_encoder.load_release(cfg.encoder)
        n_baselines = len(artist_runs(cfg)) - 1
        return (f"the given encoder {cfg.encoder.kind} ({cfg.encoder.path}) + {n_baselines} baselines, no artist "
                f"model trained (models and n_artists do not apply); {probes}")
    return f"{len(cfg.models)} models × {len(cfg.n_artists)} artist counts + {len(cfg.baselines)} baselines; {probes}"


def inputs_key(cfg: ArtistLabelsConfig, subset_keys: dict[str, str]) -> dict:
    """What the training jobs' spectrograms depend on: every subset's content and the front end."""
    return {"subsets": subset_keys, "mel": asdict(cfg.mel)}


def model_key(cfg: ArtistLabelsConfig, inputs_name: str, model: str, train_idx: np.ndarray) -> dict:
    """What a trained artist model depends on: its inputs, the model, its training tracks and settings."""
    # "mode" is the key's historical name for the model: renaming it would miss every cached model.
    return {"inputs": inputs_name, "mode": model, "train_idx": np.asarray(train_idx).tolist(),
            "train": asdict(cfg.train)}


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
    return {source: cached_mfcc(cache_root, Subset.load(Path(subset_paths[source]))) for source in need}


def _train(run: ArtistRun, cfg: ArtistLabelsConfig, *, inputs: Path, train_idx: np.ndarray, cache_root: Path,
           storage: Path | str) -> Path:
    """The trained encoder's directory (trained on a cache miss)."""
    key = model_key(cfg, inputs.name, run.model, train_idx)

    def build(d: Path) -> None:
        res = train_artist_model(inputs, model=run.model, train_idx=train_idx, cfg=cfg.train,
                                 storage_path=storage, name=f"park-{cache.key_of(key)}")
        torch.save(res.state_dict, d / "state_dict.pt")
        (d / "history.json").write_text(json.dumps(res.history))
        (d / "encoder.json").write_text(json.dumps({
            "model": "park2017", "variant": run.model, "n_artists": res.n_artists, "n_mels": cfg.mel.n_mels,
            "mel": asdict(cfg.mel), "feature": "per 3-s segment: max over time of the last conv layer; mean over "
                                               "segments (raymir.models.park2017.track_feature)",
            "load": "Park2017(n_artists if variant == 'basic' else None, n_mels=n_mels)"
                    ".load_state_dict(torch.load(path, weights_only=True))"}))

    return cache.cached(cache_root, "artist_model", key, build)


def _trained(run: ArtistRun, cfg: ArtistLabelsConfig, *, inputs: Path, pool: np.ndarray, cache_root: Path,
             storage: Path | str) -> tuple[Path, int]:
    """A trained artist model's directory (``cfg.train.seed`` seeds it; trained by a Ray Train job on a cache
    miss) and its number of training tracks."""
    train_idx = training_tracks(np.load(inputs / "artists.npy"), pool, run.n_artists)
    return _train(run, cfg, inputs=inputs, train_idx=train_idx, cache_root=cache_root, storage=storage), len(train_idx)


def _artist_net(run: ArtistRun, cfg: ArtistLabelsConfig, model_dir: Path | None) -> Park2017:
    """The trained artist model in ``model_dir``, or (``run.model`` random) the same tower untrained, seeded
    ``cfg.train.seed + 1``."""
    if run.model == "random":
        torch.manual_seed(cfg.train.seed + 1)
        return Park2017(None, n_mels=cfg.mel.n_mels)
    net = Park2017(run.n_artists if run.model == "basic" else None, n_mels=cfg.mel.n_mels)
    net.load_state_dict(torch.load(model_dir / "state_dict.pt", weights_only=True))
    return net


def repeat_config(cfg: ArtistLabelsConfig, r: int) -> ArtistLabelsConfig:
    """The config repeat r trains with: ``train.seed`` + :func:`training_offset` (repeat 0: ``cfg`` itself, so its
    models' cache keys are the single run's)."""
    offset = training_offset(cfg, r)
    return cfg if offset == 0 else replace(cfg, train=replace(cfg.train, seed=cfg.train.seed + offset))


def _probe_repeats(run: ArtistRun, cfg: ArtistLabelsConfig, *, inputs: Path, model_dirs: dict[int, Path],
                   subset_paths: dict[str, str], sets: list[dict[str, ProbeSet]], cache_root: Path) -> dict:
    """Features and the probe suite of every repeat (``sets``: one dict per repeat; ``model_dirs``: the trained
    model of each training offset, none for the baselines): → the pooled row (means, intervals, per-fold lists)
    and the seconds spent. The work of an artist trial besides training: it runs as a Ray task (``run_as_task``)."""
    need = _rows_needed(sets[0])
    seconds = {"seconds_features": 0.0, "seconds_probes": 0.0}
    features: dict[int, dict[str, np.ndarray]] = {}  # by training offset: one set of features per encoder
    scores: list[dict[str, ProbeScores]] = []
    for r, sets_r in enumerate(sets):
        offset = 0 if run.model == "mfcc" else training_offset(cfg, r)  # MFCC: nothing trained, the same features
        if offset not in features:
            t0 = time.time()
            if run.model == "mfcc":
                features[offset] = _mfcc(subset_paths, need, cache_root)
            else:
                net = _artist_net(run, repeat_config(cfg, r), model_dirs.get(offset))
                features[offset] = park_features(net, inputs, need)
            seconds["seconds_features"] += time.time() - t0
        t1 = time.time()
        scores.append(probe_scores(features[offset], sets_r, cfg.probe))
        seconds["seconds_probes"] += time.time() - t1
    return pooled_row(scores) | seconds


def _artist_trial(config: dict, *, cfg: ArtistLabelsConfig, inputs: Path, subset_paths: dict[str, str],
                  sets: list[dict[str, ProbeSet]], pool: np.ndarray, cache_root: Path, storage: Path | str,
                  tracker: tracking.Tracker) -> None:
    """Every repeat of one trial: train its artist model (or take a baseline), run the probe suite on the repeat's
    folds (``sets``: one dict per repeat); log the pooled scores as one child run.

    The trial's driver holds no CPU (Train-inside-Tune): it only starts the Ray Train jobs; the features and
    probes run as a Ray task holding ``search.cpus_per_trial`` CPUs and ``search.gpus_per_trial`` GPUs, wherever
    Ray finds them (its node is logged as ``probe_node``)."""
    import ray.tune as tune

    from raymir.fanout import run_as_task

    run: ArtistRun = config["trial"]
    model, n = run.model, run.n_artists
    params: dict = {"model": model, "n_artists": n, "repeats": len(sets),
                    "repeat_training": cfg.probe.repeat_training}
    history: list[dict] = []
    artifacts: tuple[Path, ...] = ()
    with tracking.failures_logged(tracker, {run.key: params}):
        t0 = time.time()
        model_dirs: dict[int, Path] = {}
        if model in ARTIST_MODELS:
            for r in range(len(sets)):
                offset = training_offset(cfg, r)
                if offset not in model_dirs:
                    model_dirs[offset], n_tracks = _trained(run, repeat_config(cfg, r), inputs=inputs, pool=pool,
                                                            cache_root=cache_root, storage=storage)
            path = model_dirs[0]  # the run shows repeat 0's model: the single run's
            params |= {"n_tracks": n_tracks, "epochs": cfg.train.epochs}
            history = json.loads((path / "history.json").read_text())
            artifacts = tuple(path / f for f in ENCODER_FILES)
        seconds_train = time.time() - t0
        metrics, node = run_as_task(_probe_repeats, run, cfg, inputs=inputs, model_dirs=model_dirs,
                                    subset_paths=subset_paths, sets=sets, cache_root=cache_root, search=cfg.search)
        metrics["seconds_train"] = seconds_train
    params |= {"feature": "mfcc" if model == "mfcc" else "park2017 track feature (256-d)", "probe_node": node}
    numbers, lists = split_row(metrics)
    run_id = tracking.log_trial(tracker, run.key, params=params | lists, metrics=numbers, history=history,
                                artifacts=artifacts, artifact_path="encoder")
    tracking.log_files(tracker, run_id, [write_fold_lists(metrics, Path(tune.get_context().get_trial_dir()))])
    tune.report({"model": model, "n_artists": n, "repeats": len(sets)} | metrics)


def _given_trial(config: dict, *, cfg: ArtistLabelsConfig, subset_paths: dict[str, str],
                 sets: list[dict[str, ProbeSet]], cache_root: Path, tracker: tracking.Tracker) -> None:
    """The given encoder's track feature (or a baseline: MFCC, the encoder's net untrained), the probe suite on each
    repeat's folds, the child run. Nothing is trained: the given encoder's repeats re-draw only the folds; its random
    twin is re-drawn too (``train.seed + 1 + r``) unless ``probe.repeat_training`` is false. Clips the encoder
    fails on leave this trial's probes (``<probe>_skipped_clips``) and are listed under the run's
    ``encoder_skipped/``."""
    import ray
    import ray.tune as tune

    run: ArtistRun = config["trial"]
    params: dict = {"model": run.model, "n_artists": 0, "repeats": len(sets),
                    "repeat_training": cfg.probe.repeat_training}
    with tracking.failures_logged(tracker, {run.key: params}):
        need = _rows_needed(sets[0])
        t0 = time.time()
        skipped, counts, more = {}, {}, {}
        features: dict[int, dict[str, np.ndarray]] = {}
        scores: list[dict[str, ProbeScores]] = []
        seconds = {"seconds_features": 0.0, "seconds_probes": 0.0}
        for r, sets_r in enumerate(sets):
            offset = training_offset(cfg, r) if run.model == "random" else 0  # only the twin has a seed to re-draw
            if offset not in features:
                t0 = time.time()
                if run.model == "mfcc":
                    features[offset], more = _mfcc(subset_paths, need, cache_root), {"feature": "mfcc"}
                else:  # seeded as the random baseline of a default sweep (train.seed + 1)
                    tf = (given_encoder.random_twin(cfg.encoder, seed=cfg.train.seed + 1 + offset)
                          if run.model == "random" else given_encoder.given_feature(cfg.encoder))
                    subsets = {n: Subset.load(Path(subset_paths[n])) for n in need}
                    features[offset], failed = given_encoder.track_features(tf, subsets, rows=need,
                                                                            cache_root=cache_root)
                    more = more or tf.info  # repeat 0's
                seconds["seconds_features"] += time.time() - t0
            if run.model != "mfcc":
                sets_r, counts_r, skipped_r = leave_out_failed(sets_r, subsets, failed)
                counts, skipped = (counts_r, skipped_r) if r == 0 else (counts, skipped)
            t1 = time.time()
            scores.append(probe_scores(features[offset], sets_r, cfg.probe))
            seconds["seconds_probes"] += time.time() - t1
        metrics = pooled_row(scores) | counts | seconds
        skipped_files = record_skipped(skipped, Path(tune.get_context().get_trial_dir()) / "encoder_skipped",
                                       trial=run.key, log=log)
    numbers, lists = split_row(metrics)
    params["probe_node"] = ray.get_runtime_context().get_node_id()  # the trial holds its CPUs and computes itself
    run_id = tracking.log_trial(tracker, run.key, params=params | more | lists, metrics=numbers,
                                artifacts=skipped_files, artifact_path="encoder_skipped")
    tracking.log_files(tracker, run_id, [write_fold_lists(metrics, Path(tune.get_context().get_trial_dir()))])
    tune.report({"model": run.model, "n_artists": 0, "repeats": len(sets)} | metrics)


def _probe_setup(cfg: ArtistLabelsConfig, sweep: SweepRun):
    """The subsets, the artist split and the probe sets: → (subsets, skipped clips, sets of each repeat, pool,
    held-out artists).

    A given encoder is probed on the same sets as the trained models (the same held-out artists). The split is
    drawn once (``train.seed``): repeats re-draw folds and models, never which artists are held out."""
    subsets, skipped = artist_subsets(cfg, duration=TRACK_SECONDS, cache_root=sweep.cache_root, log=log)
    source = subsets["source"]
    artists = source.labels["artist"]
    pool, heldout = artist_split(artists, source_genres(source), heldout_per_genre=cfg.heldout_artists_per_genre,
                                 seed=cfg.train.seed)
    if not cfg.encoder.kind and max(cfg.n_artists) > len(pool):  # before the probe sets: their folds need artists too
        raise DatasetError(f"n_artists: {max(cfg.n_artists)} exceeds the {len(pool)} artists of {source.name} left for "
                           f"training ({len(heldout)} held out); lower it, e.g. --set 'n_artists=[{len(pool)}]'")
    heldout_rows = np.flatnonzero(np.isin(artists, heldout))
    sets = repeat_probe_sets(subsets, tasks=cfg.probe.tasks, folds=cfg.probe.folds, seed=cfg.probe.seed,
                             repeats=cfg.probe.repeats, heldout_rows=heldout_rows,
                             target=cfg.data.dataset, log=log)  # a real dataset's subset has its name
    return subsets, skipped, sets, pool, heldout


def _log_corpus(sweep: SweepRun, subsets: dict[str, Subset], sets: list[dict[str, ProbeSet]], n_artists: int,
                n_heldout: int, n_runs: int, *, repeats: str = "") -> None:
    log(f"corpus: {len(subsets['source'])} source tracks by {n_artists} artists ({n_heldout} held out for "
        f"retrieval and tagging), probe sets {', '.join(f'{k} {len(v.rows)}' for k, v in sets[0].items())}; "
        f"{n_runs} trials{repeats} "
        f"({time.time() - sweep.t_start:.0f} s of preparation)")


def run_given(cfg: ArtistLabelsConfig, opts: RunOptions = RunOptions()) -> dict:
    """Probe a given encoder and the baselines: no artist model is trained."""
    import ray.tune as tune

    from raymir.fanout import fan_out, trial_resources

    loaded = given_encoder.load_release(cfg.encoder)  # a bad file or module stops here, before MLflow and Ray
    no_twin = given_encoder.no_twin(cfg.encoder)
    if "random" in cfg.baselines and no_twin:
        log(f"baselines: no 'random' trial for {no_twin} (no untrained twin to build)")
    sweep = open_sweep(cfg, opts)
    subsets, skipped, sets, pool, heldout = _probe_setup(cfg, sweep)
    runs = artist_runs(cfg)
    _log_corpus(sweep, subsets, sets, len(pool) + len(heldout), len(heldout), len(runs),
                repeats=repeats_text(cfg))
    with parent_run(sweep, params=parent_params(cfg, encoder_sha256=loaded.sha256)) as tracker:
        log_datasets(tracker, subsets, skipped)  # what was left out of each real dataset, and why
        trainable = tune.with_resources(tune.with_parameters(
            _given_trial, cfg=cfg, subset_paths={n: str(s.path) for n, s in subsets.items()}, sets=sets,
            cache_root=sweep.cache_root, tracker=tracker), trial_resources(cfg.search))  # it computes itself
        rows, errors = fan_out(trainable, runs, search=cfg.search, keep=row_key, storage=sweep.storage,
                               name=f"artist-{tracker.parent_run_id[:12]}", label="encoders")
        return finish_sweep(sweep, report=write_artist_report(rows, sweep.report_dir), rows=rows, errors=errors,
                            unit="runs")


def run(cfg: ArtistLabelsConfig, opts: RunOptions = RunOptions()) -> dict:
    """Run the whole sweep; returns {"rows", "errors", "tracker", "report_dir"}."""
    from raymir.fanout import fan_out_jobs

    if cfg.encoder.kind:
        return run_given(cfg, opts)
    sweep = open_sweep(cfg, opts)
    cache_root = sweep.cache_root
    subsets, skipped, sets, pool, heldout = _probe_setup(cfg, sweep)
    inputs = cache.cached(cache_root, "park_inputs", inputs_key(cfg, {n: s.key for n, s in subsets.items()}),
                          lambda d: _write_inputs(d, subsets, ParkFrontend(cfg.mel)))
    runs = artist_runs(cfg)
    _log_corpus(sweep, subsets, sets, len(pool) + len(heldout), len(heldout), len(runs),
                repeats=repeats_text(cfg))

    with parent_run(sweep, params=parent_params(cfg)) as tracker:
        log_datasets(tracker, subsets, skipped)  # what was left out of each real dataset, and why
        rows, errors = fan_out_jobs(
            _artist_trial, runs, scaling=cfg.train, search=cfg.search, keep=row_key,
            name=f"artist-{tracker.parent_run_id[:12]}", storage=sweep.storage, label="artist models",
            cfg=cfg, inputs=inputs, subset_paths={n: str(s.path) for n, s in subsets.items()}, sets=sets, pool=pool,
            cache_root=cache_root, tracker=tracker)
        return finish_sweep(sweep, report=write_artist_report(rows, sweep.report_dir), rows=rows, errors=errors,
                            unit="runs")
