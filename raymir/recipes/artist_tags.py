"""``python -m raymir.sweep artist_tags``: Wang et al. 2019 as a sweep.

The Choi convnet is trained twice on the same source tracks: once on artist tags (tags that
describe the artist, copied to each of the artist's tracks; Wang et al.) and once on track tags
(Choi et al.). Wang's feature is the last conv layer; Choi's is every layer concatenated. Both,
and MFCCs, go through the same probes (genre SVM, arousal / valence SVR). Each model is a Ray
Tune trial (the two convnets train in parallel as Ray Train jobs) and an MLflow child run.

A given encoder (the ``encoder:`` section, ``--encoder choi2017_keras:model_best.hdf5``,
``park2017_keras:FILE.h5``, ``torch:FILE.py:FACTORY`` or ``hear:MODULE``) replaces the pretraining: the
trials are its feature (the Choi tagger's ``encoder.layers``, all five by default as Choi et al.; Park's
track feature; a torch / HEAR encoder's ``encoder.layers``, its last layer by default), its random-weights
twin (none for a HEAR module or a torch module without weights: that trial is dropped with a log line)
and, if ``models`` lists it, MFCC; ``artist_tags`` / ``choi_tags`` do not apply. Clips a torch / HEAR
encoder fails on are left out of that trial's probes and recorded (``<probe>_skipped_clips``, the list
under ``encoder_skipped/``).

``probe.repeats`` R: each trial runs all R repeats. Repeat r probes on folds drawn with ``probe.seed + r`` (the
same folds for every model: comparisons are paired fold by fold) and, unless ``probe.repeat_training`` is false,
pretrains its convnet with ``pretrain.seed + r`` (a given encoder's random twin: ``pretrain.seed + 1 + r``; the
given encoder and MFCC have nothing to re-draw but the folds). Repeat 0 is the single run, with its seeds and cache
keys. A trial's child run logs each metric's mean over folds × repeats, its 95 % interval (``<metric>_ci95``)
and per-fold scores (``<metric>_folds``, a JSON list; also ``folds.json``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from raymir import tracking
from raymir.config import ArtistTagsConfig, combo_layers
from raymir.config.artist import GIVEN_ENCODERS
from raymir.config.common import CHOI_LAYERS
from raymir.data.subset import Subset
from raymir.extract import cached_features, cached_mfcc, layer_features, state_digest
from raymir.models import MODELS
from raymir.probes.suite import ProbeScores, ProbeSet, pooled_row, probe_scores
from raymir.recipes import given_encoder
from raymir.recipes.artist_data import artist_subsets, leave_out_failed, record_skipped, repeat_probe_sets
from raymir.recipes.artist_labels import repeats_text, training_offset
from raymir.recipes.artist_report import row_key, split_row, write_artist_report, write_fold_lists
from raymir.session import RunOptions, finish_sweep, log, log_datasets, open_sweep, parent_params, parent_run
from raymir.train.choi import cached_pretrain

LABELS = {"artist_tags": "artist_tags", "choi_tags": "tags"}  # model → the source label it learns


@dataclass(frozen=True)
class TagsRun:
    """One trial: a model ("artist_tags" | "choi_tags" | "mfcc") and the layers its feature concatenates."""

    model: str
    layers: str  # "5", "12345"; "-" for MFCC

    @property
    def key(self) -> str:
        return self.model if self.layers == "-" else f"{self.model}/{self.layers}"


def layers_of(cfg: ArtistTagsConfig, model: str) -> str:
    """The layers a model's feature concatenates; a given encoder (keyed by its kind) and its random twin: the Choi
    tagger's ``encoder.layers`` (all five by default), Park's track feature "-" (its last layer), a torch / HEAR
    encoder's ``encoder.layers`` ("-" for its default, the last layer: how many it has is known once loaded)."""
    given = (given_encoder.choi_layers(cfg.encoder) if cfg.encoder.kind == "choi2017_keras"
             else cfg.encoder.layers or "-")
    return {"artist_tags": cfg.artist_tags_layers, "choi_tags": cfg.choi_tags_layers, cfg.encoder.kind: given,
            "random": given}.get(model, "-")


def tags_runs(cfg: ArtistTagsConfig) -> list[TagsRun]:
    """One trial per model; with a given encoder: it, its random-weights twin (where it has one,
    ``given_encoder.no_twin``), and MFCC if ``models`` lists it."""
    twin = ("random",) if cfg.encoder.kind and not given_encoder.no_twin(cfg.encoder) else ()
    models = (cfg.encoder.kind, *twin, *(m for m in cfg.models if m == "mfcc")) if cfg.encoder.kind else cfg.models
    return [TagsRun(m, layers_of(cfg, m)) for m in models]


def summary(cfg: ArtistTagsConfig) -> str:
    """What the sweep will run, in one line (``--check``)."""
    probes = f"probes {', '.join(cfg.probe.tasks)}{repeats_text(cfg)}"
    if cfg.encoder.kind:
        if cfg.encoder.kind in GIVEN_ENCODERS:  # imported and checked on a test signal, as a run would
            given_encoder.load_release(cfg.encoder)
        twin = "" if given_encoder.no_twin(cfg.encoder) else ", its random-weights twin"
        return (f"the given encoder {cfg.encoder.kind} ({cfg.encoder.path}){twin}"
                f"{', mfcc' if 'mfcc' in cfg.models else ''}; nothing pretrained (models artist_tags and choi_tags, "
                f"pretrain do not apply); {probes}")
    return f"models {', '.join(cfg.models)}; {probes}"


def _features(model: str, cfg: ArtistTagsConfig, subsets: dict[str, Subset], cache_root: Path, storage: Path | str,
              ) -> tuple[dict[str, np.ndarray], dict, list[dict], Path | None, dict[str, dict[int, str]]]:
    """{subset: [n, d]} features of one model, plus its params, training history, weights file and the clips a
    given encoder failed on ({subset: {row: message}}; those rows are NaN)."""
    if model == "mfcc":
        return {n: cached_mfcc(cache_root, s) for n, s in subsets.items() if n != "source"}, {}, [], None, {}
    if cfg.encoder.kind:  # the given encoder, or its twin seeded as layer_combos' random baseline (pretrain.seed + 1)
        tf = (given_encoder.random_twin(cfg.encoder, seed=cfg.pretrain.seed + 1) if model == "random"
              else given_encoder.given_feature(cfg.encoder))
        features, failed = given_encoder.track_features(tf, subsets, cache_root=cache_root)
        return features, tf.info, [], None, failed
    source, label = subsets["source"], LABELS[model]
    state, history, path = cached_pretrain(source, label=label, cfg=cfg.pretrain, mel=cfg.mel,
                                           cache_root=cache_root, storage=storage, log=log)
    n_tags = int(source.labels[label].shape[1])
    net = MODELS[cfg.pretrain.model](n_tags, mel=cfg.mel)
    net.load_state_dict(state)
    layers = [layer - 1 for layer in combo_layers(layers_of(cfg, model), CHOI_LAYERS)]
    feats = {}
    for n, s in subsets.items():
        if n == "source":
            continue
        per_layer = cached_features(  # [n, 5, 32]: the same cache entries as layer_combos' convnet features
            cache_root, feature="convnet", subset_key=s.key, params={"model": state_digest(state), "mel": asdict(cfg.mel)},
            compute=lambda s=s: layer_features(net, s.audio, n_samples=cfg.mel.n_samples, batch_size=8))
        feats[n] = per_layer[:, layers].reshape(len(per_layer), -1)
    params = {"label": label, "n_tags": n_tags, "n_artists": len(np.unique(source.labels["artist"])),
              "epochs": cfg.pretrain.epochs, "final_val_roc_auc": round(history[-1]["val_roc_auc"], 4)}
    return feats, params, history, path / "state_dict.pt", {}


def repeat_config(cfg: ArtistTagsConfig, model: str, r: int) -> ArtistTagsConfig:
    """The config repeat r of ``model`` pretrains (or draws the random twin) with: ``pretrain.seed`` +
    :func:`training_offset`; repeat 0, MFCC and a given encoder: ``cfg`` itself (their cache keys unchanged)."""
    offset = 0 if model == "mfcc" or model == cfg.encoder.kind else training_offset(cfg, r)
    return cfg if offset == 0 else replace(cfg, pretrain=replace(cfg.pretrain, seed=cfg.pretrain.seed + offset))


def _tags_repeats(run: TagsRun, cfg: ArtistTagsConfig, *, subset_paths: dict[str, str],
                  sets: list[dict[str, ProbeSet]], cache_root: Path, storage: Path | str) -> tuple:
    """Features and the probe suite of every repeat of one model (``sets``: one dict per repeat; its nets already
    trained and cached): → (the pooled row, repeat 0's params, history and weights file, the skipped-clip counts and
    lists of a given encoder). The work of a trial besides training: it runs as a Ray task (``run_as_task``)."""
    subsets = {n: Subset.load(Path(p)) for n, p in subset_paths.items()}
    seconds = {"seconds_train_features": 0.0, "seconds_probes": 0.0}
    computed: dict[int, tuple] = {}  # by pretrain seed: one set of features per net
    scores: list[dict[str, ProbeScores]] = []
    counts: dict = {}
    skipped: dict = {}
    for r, sets_r in enumerate(sets):
        cfg_r = repeat_config(cfg, run.model, r)
        if cfg_r.pretrain.seed not in computed:
            t0 = time.time()
            computed[cfg_r.pretrain.seed] = _features(run.model, cfg_r, subsets, cache_root, storage)
            seconds["seconds_train_features"] += time.time() - t0
        features, more_r, history_r, weights_r, failed = computed[cfg_r.pretrain.seed]
        if r == 0:  # the run shows repeat 0's net: the single run's
            more, history, weights = more_r, history_r, weights_r
        if cfg.encoder.kind and run.model != "mfcc":  # clips the encoder failed on leave this trial's probes
            sets_r, counts_r, skipped_r = leave_out_failed(sets_r, subsets, failed)
            if r == 0:
                counts, skipped = counts_r, skipped_r
        t1 = time.time()
        scores.append(probe_scores(features, sets_r, cfg.probe))
        seconds["seconds_probes"] += time.time() - t1
    return pooled_row(scores) | counts | seconds, more, history, weights, counts, skipped


def _tags_trial(config: dict, *, cfg: ArtistTagsConfig, subset_paths: dict[str, str],
                sets: list[dict[str, ProbeSet]], cache_root: Path, storage: Path | str,
                tracker: tracking.Tracker) -> None:
    """Every repeat of one model (``sets``: one dict per repeat): its features, the probes on the repeat's folds;
    the pooled scores as one child run (repeat 0's net, params and history).

    The trial's driver holds no CPU (Train-inside-Tune): it only runs the pretraining jobs (Ray Train); features
    and probes run as a Ray task holding ``search.cpus_per_trial`` CPUs and ``search.gpus_per_trial`` GPUs wherever
    Ray finds them (its node is logged as ``probe_node``)."""
    import ray.tune as tune

    from raymir.fanout import run_as_task

    run: TagsRun = config["trial"]
    params: dict = {"model": run.model, "layers": run.layers, "repeats": len(sets),
                    "repeat_training": cfg.probe.repeat_training}
    with tracking.failures_logged(tracker, {run.key: params}):
        if run.model in LABELS and not cfg.encoder.kind:  # each repeat's net, trained here (a Ray Train job) once
            source = Subset.load(Path(subset_paths["source"]))
            for seed in dict.fromkeys(repeat_config(cfg, run.model, r).pretrain.seed for r in range(len(sets))):
                cached_pretrain(source, label=LABELS[run.model], cfg=replace(cfg.pretrain, seed=seed), mel=cfg.mel,
                                cache_root=cache_root, storage=storage, log=log)
        (metrics, more, history, weights, counts, skipped), node = run_as_task(
            _tags_repeats, run, cfg, subset_paths=subset_paths, sets=sets, cache_root=cache_root, storage=storage,
            search=cfg.search)
    params["probe_node"] = node
    artifacts: tuple[Path, ...] = ()
    trial_dir = Path(tune.get_context().get_trial_dir())
    if counts:
        artifacts = record_skipped(skipped, trial_dir / "encoder_skipped", trial=run.key, log=log)
    if weights is not None:
        encoder = trial_dir / "encoder.json"
        encoder.write_text(json.dumps({
            "model": cfg.pretrain.model, "n_classes": more["n_tags"], "mel": asdict(cfg.mel), "layers": run.layers,
            "feature": "global average pool of each chosen layer, concatenated (raymir.extract.layer_features)",
            "load": "MODELS[model](n_classes, mel=MelParams(**mel))"
                    ".load_state_dict(torch.load(path, weights_only=True))"}))
        artifacts = (weights, encoder)
    numbers, lists = split_row(metrics)
    run_id = tracking.log_trial(tracker, run.key, params=params | more | lists, metrics=numbers, history=history,
                                artifacts=artifacts,
                                artifact_path="encoder" if weights is not None else "encoder_skipped")
    tracking.log_files(tracker, run_id, [write_fold_lists(metrics, trial_dir)])
    tune.report({"model": run.model, "layers": more.get("layers", run.layers), "n_artists": more.get("n_artists", 0),
                 "repeats": len(sets)} | metrics)


def run(cfg: ArtistTagsConfig, opts: RunOptions = RunOptions()) -> dict:
    """Run the whole sweep; returns {"rows", "errors", "tracker", "report_dir"}."""
    from raymir.fanout import fan_out_jobs

    release = given_encoder.load_release(cfg.encoder) if cfg.encoder.kind else None  # a bad file or module stops here
    if cfg.encoder.kind and given_encoder.no_twin(cfg.encoder):
        log(f"models: no 'random' trial for {given_encoder.no_twin(cfg.encoder)} (no untrained twin to build)")
    sweep = open_sweep(cfg, opts)
    cache_root = sweep.cache_root

    subsets, skipped = artist_subsets(cfg, duration=cfg.mel.duration, cache_root=cache_root, artist_tags=True,
                                      source=not cfg.encoder.kind, log=log)  # a given encoder needs no source
    sets = repeat_probe_sets(subsets, tasks=cfg.probe.tasks, folds=cfg.probe.folds, seed=cfg.probe.seed,
                             repeats=cfg.probe.repeats, target=cfg.data.dataset,
                             log=log)  # a real dataset's subset has its name
    runs = tags_runs(cfg)
    source = subsets.get("source")
    sources = f"{len(source)} source tracks by {len(np.unique(source.labels['artist']))} artists; " if source is not None else ""
    log(f"corpus: {sources}probe sets {', '.join(f'{k} {len(v.rows)}' for k, v in sets[0].items())}; models "
        f"{', '.join(r.model for r in runs)}{repeats_text(cfg)} ({time.time() - sweep.t_start:.0f} s of preparation)")

    with parent_run(sweep, params=parent_params(cfg, encoder_sha256=release.sha256 if release else "")) as tracker:
        log_datasets(tracker, subsets, skipped)  # what was left out of each real dataset, and why
        rows, errors = fan_out_jobs(
            _tags_trial, runs, scaling=cfg.pretrain, search=cfg.search, keep=row_key,
            name=f"artist-tags-{tracker.parent_run_id[:12]}", storage=sweep.storage, label="models",
            cfg=cfg, subset_paths={n: str(s.path) for n, s in subsets.items()}, sets=sets, cache_root=cache_root,
            tracker=tracker)
        return finish_sweep(sweep, report=write_artist_report(rows, sweep.report_dir), rows=rows, errors=errors,
                            unit="runs")
