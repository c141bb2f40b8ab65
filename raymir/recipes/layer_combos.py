"""``python -m raymir.sweep layer_combos``: Choi et al. 2017 as a sweep.

corpus (synthetic, or real datasets: ``data.source`` to pretrain, ``data.dataset`` to probe)
→ pretrain the convnet on tagging (Ray Train) → per-layer features of every target clip
(trained, random-weights, MFCC) → one Ray Tune trial per (task, feature, layer combination), each
fitting the whole SVM/SVR grid → tables and figures. Every stage's output is a content-addressed
artifact under ``<output>/cache``, so a re-run skips finished stages.

A given encoder (the ``encoder:`` section, ``--encoder KIND:PATH``) replaces the first stages:
``choi2017_keras`` takes the features from the released Choi model (no source corpus, no pretraining;
the random-weights and MFCC baselines stay); ``embeddings`` probes a folder of precomputed per-layer
features alone (no audio, no baselines).

Layer combinations (``features.layers``) are resolved against the encoder's own layer count L by
:func:`sweep_combos`, the one place every path takes them from: raymir's convnet and the released
Choi model have 5 layers, an embeddings folder as many as its arrays. Up to 9 layers a combination
is a string of digits ("135", as every 5-layer sweep has always keyed its caches and runs); from 10
on its layers are joined with "+" ("1+2+12"). Beside the explicit ones, the keywords ``all`` (the
default, bounded by ``features.max_combinations``), ``singles``, ``cumulative`` and ``windows:K``
name families of them. With ``weighting.enabled``, each task and convnet/random feature also gets
the learned layer weighting probe (``raymir.probes.weighting``) over all its layers: a grid of
layers "weighted", one Ray Tune trial, its mean learned weights logged as ``layer_weight_<l>``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from raymir import tracking
from raymir.config import ConfigError, SweepConfig, WeightingConfig, combo_name, resolve_layer_combos
from raymir.config.common import CHOI_LAYERS, MAX_COMBINATIONS
from raymir.data.clips import Skipped
from raymir.data.datasets import predefined_folds, target_tasks
from raymir.data.embeddings import Embeddings, load_embeddings
from raymir.data.sources import load_subsets, tagging_source
from raymir.data.subset import Subset, TargetTask
from raymir.data.synthetic import TARGET_TASKS
from raymir.extract import cached_features, cached_mfcc, layer_features, state_digest
from raymir.models import MODELS
from raymir.models.choi2017 import Choi2017
from raymir.models.keras_release import CHOI_MEL, CHOI_RELEASE_OPTIONS, CHOI_TAGS, ReleaseInfo, load_choi2017
from raymir.probes.folds import make_folds
from raymir.recipes.layer_combos_probes import WEIGHTED, ProbeGrid, TaskData, batch_grids, run_probe_trials
from raymir.recipes.layer_combos_report import write_report
from raymir.session import RunOptions, SweepRun, finish_sweep, flat, log, log_datasets, open_sweep, parent_run
from raymir.train.choi import cached_pretrain


@dataclass(frozen=True)
class Extractor:
    """A net whose pooled layer features are extracted, and what they depend on beside the clips (the cache key)."""

    net: torch.nn.Module
    params: dict


def extract_stage(cfg: SweepConfig, subsets: dict, extractors: dict[str, Extractor], *,
                  cache_root: Path) -> dict[str, dict[str, np.ndarray]]:
    """Per-subset features: one [n, 5, 32] per extractor ("convnet", "random") and mfcc [n, 120], cached by content."""
    out = {}
    for name, sub in subsets.items():
        t0 = time.time()
        feats = {}
        for feature, ex in extractors.items():
            feats[feature] = cached_features(
                cache_root, feature=feature, subset_key=sub.key, params=ex.params,
                compute=lambda net=ex.net, sub=sub: layer_features(net, sub.audio, n_samples=cfg.mel.n_samples,
                                                                   batch_size=cfg.features.batch_size))
        feats["mfcc"] = cached_mfcc(cache_root, sub)
        out[name] = feats
        log(f"features for {name}: {len(sub)} clips ready in {time.time() - t0:.1f} s")
    return out


def own_extractors(cfg: SweepConfig, trained: torch.nn.Module, random_net: torch.nn.Module) -> dict[str, Extractor]:
    """raymir's pretrained convnet and its random-weights twin, keyed by their weights and the front end."""
    return {feature: Extractor(net, {"model": state_digest(net.state_dict()), "mel": asdict(cfg.mel)})
            for feature, net in (("convnet", trained), ("random", random_net))}


def release_feature_params(sha256: str) -> dict:
    """What the released Choi model's features depend on beside the clips: the file's content (its sha256),
    the options that make a Choi2017 the release, and its front end."""
    return {"encoder": "choi2017_keras", "sha256": sha256, "options": CHOI_RELEASE_OPTIONS, "mel": asdict(CHOI_MEL)}


def release_extractors(cfg: SweepConfig, net: Choi2017, info: ReleaseInfo) -> dict[str, Extractor]:
    """The imported release, and as the random baseline a Choi2017 with the release's options and untrained
    He-normal weights, seeded as raymir's own random baseline (``pretrain.seed + 1``)."""
    torch.manual_seed(cfg.pretrain.seed + 1)
    random_net = Choi2017(len(CHOI_TAGS), mel=CHOI_MEL, **CHOI_RELEASE_OPTIONS)
    random_params = {"model": state_digest(random_net.state_dict()), "options": CHOI_RELEASE_OPTIONS,
                     "mel": asdict(CHOI_MEL)}
    return {"convnet": Extractor(net, release_feature_params(info.sha256)), "random": Extractor(random_net, random_params)}


def load_release(cfg: SweepConfig) -> tuple[Choi2017, ReleaseInfo]:
    """The released Choi model of ``encoder.path`` (a bad file raises ModelFileError naming it)."""
    net, info = load_choi2017(cfg.encoder.path)
    which = "the published model_best.hdf5" if info.published else "not the published model_best.hdf5"
    log(f"encoder: {info.path} ({which}, sha256 {info.sha256[:12]}…); nothing is pretrained")
    return net, info


def load_target_and_source(cfg: SweepConfig, *, cache_root: Path
                           ) -> tuple[dict[str, Subset], list[TargetTask], dict[str, list[Skipped]]]:
    """→ ({"source": the tagging source, <target subset>: …}, probe tasks, {subset: skipped clips}).

    A real ``data.dataset``'s labels become the probe tasks; ``data.source`` must carry tags. With a
    given encoder there is no source (nothing is pretrained).
    """
    synthetic_tasks = [] if cfg.data.dataset else [TARGET_TASKS[t] for t in cfg.probe.tasks]
    subsets, skipped = load_subsets(cfg.data, cfg.corpus, sr=cfg.mel.sr, duration=cfg.mel.duration,
                                    cache_root=cache_root, source=None if cfg.encoder.kind else tagging_source, log=log,
                                    synthetic_targets=tuple(dict.fromkeys(t.subset for t in synthetic_tasks)))
    probe_tasks = target_tasks(subsets[cfg.data.dataset]) if cfg.data.dataset else synthetic_tasks
    return subsets, probe_tasks, skipped


def sweep_combos(cfg: SweepConfig, n_layers: int, *, encoder: str = "raymir's convnet") -> tuple[str, ...]:
    """The layer combinations ``features.layers`` names for an encoder of ``n_layers`` layers (every encoder's path
    calls this with its own count): → their names, in order, each once. A combination or keyword that does not fit
    them (or ``all`` beyond ``features.max_combinations``) raises ConfigError naming it, the encoder and L."""
    try:
        return resolve_layer_combos(cfg.features.layers, n_layers, limit=cfg.features.max_combinations)
    except ValueError as e:
        raise ConfigError(cfg.name, [f"features.layers: {e} (the layers of {encoder})"]) from None


def probe_grids(cfg: SweepConfig, tasks: list[str] | None = None, *, n_layers: int = CHOI_LAYERS,
                encoder: str = "raymir's convnet") -> list[ProbeGrid]:
    """One grid per (task, feature, layer combination) of an encoder of ``n_layers`` layers, and with
    ``weighting.enabled`` one weighted grid per task and convnet/random feature; ``tasks`` defaults to
    ``probe.tasks``. convnet+mfcc concatenates every layer."""
    combos = sweep_combos(cfg, n_layers, encoder=encoder)
    weighted = (WEIGHTED,) if cfg.weighting.enabled else ()
    grids = []
    for task in cfg.probe.tasks if tasks is None else tasks:
        for feature in cfg.features.kinds:
            if feature in ("convnet", "random"):
                grids += [ProbeGrid(task, feature, c) for c in combos + weighted]
            elif feature == "mfcc":
                grids.append(ProbeGrid(task, "mfcc", "-"))
            else:
                grids.append(ProbeGrid(task, "convnet+mfcc", combo_name(tuple(range(1, n_layers + 1)), n_layers)))
    return grids


def embeddings_label(emb: Embeddings) -> str:
    return f"the embeddings in {emb.folder}, {emb.n_layers} layer{'s' if emb.n_layers > 1 else ''}"


def summary(cfg: SweepConfig) -> str:
    """What the sweep will run, in one line (``--check``); given embeddings are read and checked."""
    tasks, n_layers, encoder = None, CHOI_LAYERS, "raymir's convnet"
    if cfg.encoder.kind == "embeddings":
        emb = load_embeddings(cfg.encoder.path)
        tasks, n_layers, encoder = [t.name for t in target_tasks(emb.subset)], emb.n_layers, embeddings_label(emb)
    grids = probe_grids(cfg, tasks, n_layers=n_layers, encoder=encoder)
    trials = batch_grids(grids, per_trial=cfg.search.combos_per_trial)
    given = {"choi2017_keras": f"; features of the released Choi model {cfg.encoder.path}, no pretraining",
             "embeddings": f"; the embeddings in {cfg.encoder.path}, probes only"}.get(cfg.encoder.kind, "")
    return f"{len(grids)} probe grids in {len(trials)} Ray Tune trials{given}"


def parent_params(cfg: SweepConfig, *, encoder_sha256: str = "") -> dict:
    """The parent MLflow run's params: every setting, flat, and a given encoder's sha256.

    Settings added after the first sweeps ran are left out while at their defaults: the default encoder
    (pretrain raymir's own convnet), ``features.max_combinations`` and the ``weighting:`` section. A
    default sweep's params are then exactly those it had before they existed, and so is their hash, the
    tag under which a re-run finds an interrupted parent run to resume (``raymir.config``).
    """
    params = flat(asdict(cfg))
    at_default = {"encoder.": not cfg.encoder.kind, "weighting.": cfg.weighting == WeightingConfig(),
                  "features.max_combinations": cfg.features.max_combinations == MAX_COMBINATIONS}
    left_out = tuple(prefix for prefix, default in at_default.items() if default)
    params = {k: v for k, v in params.items() if not k.startswith(left_out)}
    return params | ({"encoder.sha256": encoder_sha256} if cfg.encoder.kind else {})


def pretrain_stage(cfg: SweepConfig, source: Subset, *, sweep: SweepRun, tracker: tracking.Tracker
                   ) -> tuple[dict[str, Extractor], list[dict]]:
    """Pretrain raymir's convnet on the source's tags (Ray Train, cached) and log it as the pretraining child
    run: → its extractors (trained and random weights) and the per-epoch history."""
    state, history, pre_dir = cached_pretrain(source, label="tags", cfg=cfg.pretrain, mel=cfg.mel,
                                              cache_root=sweep.cache_root, storage=sweep.storage, log=log)
    n_classes = source.labels["tags"].shape[1]
    trained = MODELS[cfg.pretrain.model](n_classes, mel=cfg.mel)
    trained.load_state_dict(state)
    log(f"pretraining: val ROC-AUC per epoch {[round(h['val_roc_auc'], 3) for h in history]}")
    pre_run = tracking.log_trial(
        tracker, "pretrain", name=f"pretrain {cfg.pretrain.model}",
        params=flat({"model": cfg.pretrain.model, **asdict(cfg.pretrain), "n_clips": len(source),
                      "n_tags": n_classes}) | {"stage": "pretrain"},
        metrics={})
    tracking.log_history(tracker, pre_run, history)  # per epoch; the last epoch is the run's value
    tracking.log_model(tracker, pre_run, trained, pre_dir / "state_dict.pt")

    torch.manual_seed(cfg.pretrain.seed + 1)
    random_net = MODELS[cfg.pretrain.model](n_classes, mel=cfg.mel)  # same structure, untrained He-normal
    return own_extractors(cfg, trained, random_net), history


def task_data(cfg: SweepConfig, subsets: dict[str, Subset], probe_tasks: list[TargetTask],
              features: dict[str, dict]) -> dict[str, TaskData]:
    """Each probe task's labels, CV folds and its subset's features."""
    tasks = {}
    for t in probe_tasks:
        sub = subsets[t.subset]
        labels = sub.labels[t.label]
        folds = make_folds(labels, kind=t.kind, n_folds=cfg.probe.folds, groups=sub.groups,
                           predefined=predefined_folds(sub), seed=cfg.probe.seed)
        tasks[t.name] = TaskData(kind=t.kind, labels=labels, folds=folds, features=features[t.subset])
    return tasks


def probe_and_report(cfg: SweepConfig, sweep: SweepRun, tracker: tracking.Tracker, tasks: dict[str, TaskData], *,
                     n_layers: int = CHOI_LAYERS) -> dict:
    """The probe trials (Ray Tune) and the report; closes the parent run: → the sweep's result."""
    grids = probe_grids(cfg, list(tasks), n_layers=n_layers)
    n_trials = len(batch_grids(grids, per_trial=cfg.search.combos_per_trial))
    log(f"probing: {len(grids)} grids in {n_trials} Ray Tune trials (tasks {', '.join(tasks)})")
    rows, errors = run_probe_trials(grids, tasks, cfg.probe, tracker, search=cfg.search, storage=sweep.storage,
                                    name=f"probes-{tracker.parent_run_id[:12]}", weighting=cfg.weighting)
    engines = sorted({r.get("engine", "") for r in rows} - {""})
    log(f"probe engine: {'; '.join(engines)}")  # says when kernels did not fit probe.kernel_memory_gb
    return finish_sweep(sweep, report=write_report(rows, sweep.report_dir), rows=rows, errors=errors,
                        unit="probe_grids")


def run_embeddings(cfg: SweepConfig, opts: RunOptions = RunOptions()) -> dict:
    """Probe a folder of precomputed per-layer features alone: no corpus, no pretraining, no baselines."""
    emb = load_embeddings(cfg.encoder.path)  # every problem with the folder stops here, before MLflow and Ray
    sweep_combos(cfg, emb.n_layers, encoder=embeddings_label(emb))  # and every layer combination its layers lack
    probe_tasks = target_tasks(emb.subset)
    log(f"embeddings: {len(emb)} rows, {emb.n_layers} layers of {', '.join(str(a.shape[1]) for a in emb.layers)} "
        f"dims (tasks {', '.join(t.name for t in probe_tasks)}); no corpus, no pretraining")
    sweep = open_sweep(cfg, opts)
    with parent_run(sweep, params=parent_params(cfg, encoder_sha256=emb.sha256)) as tracker:
        tracking.log_metrics(tracker, tracker.parent_run_id, {"n_clips": len(emb)})
        tasks = task_data(cfg, {emb.subset.name: emb.subset}, probe_tasks, {emb.subset.name: {"convnet": emb.layers}})
        return probe_and_report(cfg, sweep, tracker, tasks, n_layers=emb.n_layers) | {"history": []}


def run(cfg: SweepConfig, opts: RunOptions = RunOptions()) -> dict:
    """Choi et al. 2017; returns {"rows", "errors", "tracker", "report_dir", "history"}."""
    if cfg.encoder.kind == "embeddings":
        return run_embeddings(cfg, opts)
    release = load_release(cfg) if cfg.encoder.kind == "choi2017_keras" else None  # a bad file stops before anything
    sweep_combos(cfg, CHOI_LAYERS)  # the config check did so too; a combination the net lacks stops before Ray
    sweep = open_sweep(cfg, opts)

    t0 = time.time()
    subsets, probe_tasks, skipped = load_target_and_source(cfg, cache_root=sweep.cache_root)
    n_clips = sum(len(s) for s in subsets.values())
    log(f"corpus: {n_clips} clips in {len(subsets)} subsets ready in {time.time() - t0:.1f} s (cache: {sweep.cache_root})")

    params = parent_params(cfg, encoder_sha256=release[1].sha256 if release else "")
    with parent_run(sweep, params=params) as tracker:
        log_datasets(tracker, subsets, skipped)  # what was left out of each real dataset, and why
        if release is None:
            extractors, history = pretrain_stage(cfg, subsets["source"], sweep=sweep, tracker=tracker)
        else:
            extractors, history = release_extractors(cfg, *release), []
        targets = {n: s for n, s in subsets.items() if n != "source"}
        features = extract_stage(cfg, targets, extractors, cache_root=sweep.cache_root)
        tasks = task_data(cfg, subsets, probe_tasks, features)
        return probe_and_report(cfg, sweep, tracker, tasks) | {"history": history}
