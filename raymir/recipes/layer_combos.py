"""``python -m raymir.sweep layer_combos``: Choi et al. 2017 as a sweep.

corpus (synthetic, or real datasets: ``data.source`` to pretrain, ``data.dataset`` to probe)
→ pretrain the convnet on tagging (Ray Train) → per-layer features of every target clip
(trained, random-weights, MFCC) → one Ray Tune trial per (task, feature, layer combination), each
fitting the whole SVM/SVR grid → tables and figures. Every stage's output is a content-addressed
artifact under ``<output>/cache``, so a re-run skips finished stages.

A given encoder (the ``encoder:`` section, ``--encoder KIND:PATH``) replaces the first stages:
``choi2017_keras`` takes the features from the released Choi model (no source corpus, no pretraining;
the random-weights and MFCC baselines stay); ``torch`` and ``hear`` take them from any encoder in those
two forms (``raymir.encoders``: no pretraining; the random baseline is the torch factory's module without
``encoder.weights``, and there is none for a HEAR module or a torch module without weights; clips the
encoder fails on are left out of the probes and recorded); ``embeddings`` probes a folder of precomputed
per-layer features alone (no audio, no baselines).

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
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from raymir import tracking
from raymir.config import ConfigError, SweepConfig, combo_name, resolve_layer_combos
from raymir.config.common import CHOI_LAYERS
from raymir.data.clips import Skipped
from raymir.data.datasets import predefined_folds, target_tasks
from raymir.data.embeddings import Embeddings, load_embeddings
from raymir.data.sources import load_subsets, tagging_source
from raymir.data.subset import Subset, TargetTask
from raymir.data.synthetic import TARGET_TASKS
from raymir.encoders import AudioEncoder, load_encoder
from raymir.errors import ModelFileError
from raymir.extract import cached_embeddings, cached_features, cached_mfcc, layer_features, state_digest
from raymir.models import MODELS
from raymir.models.choi2017 import Choi2017
from raymir.models.keras_release import ReleaseInfo, load_choi2017
from raymir.probes.folds import make_folds
from raymir.recipes.given_encoder import Extractor, random_choi, release_feature_params
from raymir.recipes.layer_combos_probes import WEIGHTED, ProbeGrid, TaskData, batch_grids, run_probe_trials
from raymir.recipes.layer_combos_report import write_report
from raymir.session import (
    RunOptions,
    SweepRun,
    finish_sweep,
    flat,
    log,
    log_datasets,
    log_encoder_skipped,
    open_sweep,
    parent_params,
    parent_run,
)
from raymir.train.choi import cached_pretrain


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


def release_extractors(cfg: SweepConfig, net: Choi2017, info: ReleaseInfo) -> dict[str, Extractor]:
    """The imported release, and as the random baseline a Choi2017 with the release's options and untrained
    He-normal weights, seeded as raymir's own random baseline (``pretrain.seed + 1``)."""
    return {"convnet": Extractor(net, release_feature_params(info.sha256)), "random": random_choi(cfg.pretrain.seed + 1)}


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
                encoder: str = "raymir's convnet", kinds: tuple[str, ...] | None = None) -> list[ProbeGrid]:
    """One grid per (task, feature, layer combination) of an encoder of ``n_layers`` layers, and with
    ``weighting.enabled`` one weighted grid per task and convnet/random feature; ``tasks`` defaults to
    ``probe.tasks``, ``kinds`` to ``features.kinds``. convnet+mfcc concatenates every layer."""
    combos = sweep_combos(cfg, n_layers, encoder=encoder)
    weighted = (WEIGHTED,) if cfg.weighting.enabled else ()
    grids = []
    for task in cfg.probe.tasks if tasks is None else tasks:
        for feature in cfg.features.kinds if kinds is None else kinds:
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
    tasks, kinds, n_layers, encoder = None, None, CHOI_LAYERS, "raymir's convnet"
    if cfg.encoder.kind == "embeddings":
        emb = load_embeddings(cfg.encoder.path)
        tasks, n_layers, encoder = [t.name for t in target_tasks(emb.subset)], emb.n_layers, embeddings_label(emb)
    if cfg.encoder.kind in GIVEN_ENCODERS:  # imported and checked on a test signal, as a run would
        encoders = load_given_encoders(cfg)
        n_layers, kinds = encoders["convnet"].n_layers, encoder_kinds(cfg, encoders)
        encoder = encoder_label(encoders["convnet"])
    grids = probe_grids(cfg, tasks, n_layers=n_layers, encoder=encoder, kinds=kinds)
    trials = batch_grids(grids, per_trial=cfg.search.combos_per_trial)
    given = {"choi2017_keras": f"; features of the released Choi model {cfg.encoder.path}, no pretraining",
             "torch": f"; features of the torch module {cfg.encoder.path}, no pretraining",
             "park2017_keras": f"; per-block features of the released Park tower {cfg.encoder.path}, no pretraining",
             "hear": f"; features of the HEAR module {cfg.encoder.path}, no pretraining",
             "embeddings": f"; the embeddings in {cfg.encoder.path}, probes only"}.get(cfg.encoder.kind, "")
    retrain = ", each pretraining the convnet again" if not cfg.encoder.kind and training_repeats(cfg) else ""
    repeated = f", cross-validation repeated {cfg.probe.repeats}×{retrain}" if cfg.probe.repeats > 1 else ""
    return f"{len(grids)} probe grids in {len(trials)} Ray Tune trials{repeated}{given}"


def training_repeats(cfg: SweepConfig) -> range:
    """The repeats that pretrain a net of their own (``probe.repeat_training``): 1 … repeats − 1, or none."""
    return range(1, cfg.probe.repeats) if cfg.probe.repeat_training else range(0)


def repeat_config(cfg: SweepConfig, r: int) -> SweepConfig:
    """The settings repeat r pretrains with: ``pretrain.seed + r`` (its random-weights net: ``pretrain.seed + 1 + r``);
    repeat 0 is ``cfg`` itself, so its cache keys are the single run's."""
    return cfg if r == 0 else replace(cfg, pretrain=replace(cfg.pretrain, seed=cfg.pretrain.seed + r))


def pretrain_stage(cfg: SweepConfig, source: Subset, *, sweep: SweepRun, tracker: tracking.Tracker, repeat: int = 0
                   ) -> tuple[dict[str, Extractor], list[dict]]:
    """Pretrain raymir's convnet on the source's tags (Ray Train, cached) and log it as the pretraining child
    run (repeat r > 0: ``pretrain/repeat_<r>``, with ``cfg`` from :func:`repeat_config`): → its extractors (trained
    and random weights) and the per-epoch history."""
    state, history, pre_dir = cached_pretrain(source, label="tags", cfg=cfg.pretrain, mel=cfg.mel,
                                              cache_root=sweep.cache_root, storage=sweep.storage, log=log)
    n_classes = source.labels["tags"].shape[1]
    trained = MODELS[cfg.pretrain.model](n_classes, mel=cfg.mel)
    trained.load_state_dict(state)
    which = f" (repeat {repeat}, seed {cfg.pretrain.seed})" if repeat else ""
    log(f"pretraining{which}: val ROC-AUC per epoch {[round(h['val_roc_auc'], 3) for h in history]}")
    pre_run = tracking.log_trial(
        tracker, f"pretrain/repeat_{repeat}" if repeat else "pretrain",
        name=f"pretrain {cfg.pretrain.model}" + (f" repeat {repeat}" if repeat else ""),
        params=flat({"model": cfg.pretrain.model, **asdict(cfg.pretrain), "n_clips": len(source),
                      "n_tags": n_classes}) | {"stage": "pretrain", "repeat": repeat},
        metrics={})
    tracking.log_history(tracker, pre_run, history)  # per epoch; the last epoch is the run's value
    tracking.log_encoder(tracker, pre_run, pre_dir / "state_dict.pt", {
        "model": cfg.pretrain.model, "n_classes": n_classes, "mel": asdict(cfg.mel),
        "feature": "global average pool of each conv layer's output (raymir.extract.layer_features)",
        "load": "MODELS[model](n_classes, mel=MelParams(**mel)).load_state_dict(torch.load(path, weights_only=True))"})

    torch.manual_seed(cfg.pretrain.seed + 1)
    random_net = MODELS[cfg.pretrain.model](n_classes, mel=cfg.mel)  # same structure, untrained He-normal
    return own_extractors(cfg, trained, random_net), history


def repeat_features(cfg: SweepConfig, r: int, source: Subset, targets: dict[str, Subset], *, sweep: SweepRun,
                    tracker: tracking.Tracker) -> dict[str, dict[str, np.ndarray]]:
    """Repeat r's own nets (:func:`repeat_config`: pretrained and logged as ``pretrain/repeat_<r>``) → their features
    of every target subset, as :func:`extract_stage`."""
    extractors, _ = pretrain_stage(repeat_config(cfg, r), source, sweep=sweep, tracker=tracker, repeat=r)
    return extract_stage(cfg, targets, extractors, cache_root=sweep.cache_root)


def task_data(cfg: SweepConfig, subsets: dict[str, Subset], probe_tasks: list[TargetTask],
              features: dict[str, dict], *, more_features: tuple[dict[str, dict], ...] = ()) -> dict[str, TaskData]:
    """Each probe task's labels, CV folds (of each of ``probe.repeats`` repeats: seed ``probe.seed + r``) and its
    subset's features; ``more_features``: the features of repeats 1 … R−1 where each has nets of its own
    (:func:`training_repeats`)."""
    tasks = {}
    for t in probe_tasks:
        sub = subsets[t.subset]
        labels, predefined = sub.labels[t.label], predefined_folds(sub)
        # repeats of fixed folds on the same features would be identical; on a repeat's own nets they are not
        repeats = cfg.probe.repeats if predefined is None or more_features else 1
        if repeats < cfg.probe.repeats:
            log(f"{t.name}: predefined folds, cross-validated once (probe.repeats={cfg.probe.repeats} re-draws "
                "random folds only)")
        folds = [make_folds(labels, kind=t.kind, n_folds=cfg.probe.folds, groups=sub.groups, predefined=predefined,
                            seed=cfg.probe.seed + r) for r in range(repeats)]
        tasks[t.name] = TaskData(kind=t.kind, labels=labels, folds=folds[0], features=features[t.subset],
                                 more_folds=tuple(folds[1:]),
                                 more_features=tuple(f[t.subset] for f in more_features[:repeats - 1]))
    return tasks


def probe_and_report(cfg: SweepConfig, sweep: SweepRun, tracker: tracking.Tracker, tasks: dict[str, TaskData], *,
                     kinds: tuple[str, ...] | None = None, n_layers: int = CHOI_LAYERS,
                     encoder: str = "raymir's convnet") -> dict:
    """The probe trials (Ray Tune) and the report; closes the parent run: → the sweep's result."""
    grids = probe_grids(cfg, list(tasks), n_layers=n_layers, encoder=encoder, kinds=kinds)
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


# --- a given torch or HEAR encoder ---------------------------------------------------------------

GIVEN_ENCODERS = ("torch", "hear", "park2017_keras")  # encoder kinds loaded by raymir.encoders


def load_given_encoders(cfg: SweepConfig) -> dict[str, AudioEncoder]:
    """{"convnet": the encoder, "random": its random-weights twin} — the twin for the Park release (its tower
    untrained) and for a torch module with ``encoder.weights`` (the factory's module), seeded as raymir's own
    random baseline, ``pretrain.seed + 1``: a HEAR module, or a torch module without weights, has no untrained
    form raymir can build."""
    encoder = load_encoder(cfg.encoder)
    out = {"convnet": encoder}
    if cfg.encoder.kind == "park2017_keras" or (cfg.encoder.kind == "torch" and cfg.encoder.weights):
        out["random"] = load_encoder(cfg.encoder, random_seed=cfg.pretrain.seed + 1)
    return out


def encoder_kinds(cfg: SweepConfig, encoders: dict[str, AudioEncoder]) -> tuple[str, ...]:
    """``features.kinds`` less "random" where the encoder has no random-weights twin."""
    return tuple(k for k in cfg.features.kinds if k != "random" or "random" in encoders)


def encoder_label(encoder: AudioEncoder) -> str:
    return f"the {encoder.kind} encoder {encoder.name}, {encoder.n_layers} layer{'s' if encoder.n_layers > 1 else ''}"


def load_encoders(cfg: SweepConfig) -> dict[str, AudioEncoder]:
    """:func:`load_given_encoders`, saying what was loaded and which baseline is dropped."""
    encoders = load_given_encoders(cfg)
    e = encoders["convnet"]
    log(f"encoder: {cfg.encoder.kind} {e.name} at {e.sr} Hz, {e.n_layers} layers of {', '.join(map(str, e.widths))} "
        f"dims (sha256 {e.sha256[:12]}…); nothing is pretrained")
    if "random" in cfg.features.kinds and "random" not in encoders:
        why = "a HEAR module" if cfg.encoder.kind == "hear" else "a torch module without encoder.weights"
        log(f"features: no 'random' baseline for {why} (no untrained twin to build); its grids are left out")
    return encoders


def clip_names(subset: Subset) -> list[str]:
    """Each row's name in skipped lists: its file (real datasets), else ``<subset> row <i>``."""
    paths = subset.classes.get("path")
    return list(paths) if paths is not None else [f"{subset.name} row {i}" for i in range(len(subset))]


def take_rows(subset: Subset, keep: np.ndarray) -> Subset:
    """``subset`` restricted to the rows ``keep`` [k]: audio, labels, groups, predefined folds and clip paths
    alike, so a task's labels, groups and folds stay row-aligned with its features."""
    classes = dict(subset.classes)
    if "path" in classes:
        classes["path"] = [classes["path"][i] for i in keep]
    return replace(subset, audio=subset.audio[keep], labels={k: np.asarray(v)[keep] for k, v in subset.labels.items()},
                   classes=classes, groups=None if subset.groups is None else subset.groups[keep],
                   folds=None if subset.folds is None else subset.folds[keep])


def encoder_stage(cfg: SweepConfig, targets: dict[str, Subset], encoders: dict[str, AudioEncoder], *,
                  cache_root: Path) -> tuple[dict[str, Subset], dict[str, dict], dict[str, list[Skipped]]]:
    """Per target subset: the encoders' per-layer features (L × [n, d_i], cached by content) and MFCCs [n, 120]
    → (the subsets less the clips an encoder failed on, their features, {subset: those clips and why})."""
    kept, features, skipped = {}, {}, {}
    for name, sub in targets.items():
        t0 = time.time()
        feats, failed = {}, {}
        for feature, enc in encoders.items():
            feats[feature], lost = cached_embeddings(cache_root, sub, enc, feature=feature,
                                                     batch_size=cfg.features.batch_size)
            failed |= {r: m for r, m in lost.items() if r not in failed}
        feats["mfcc"] = cached_mfcc(cache_root, sub)
        keep = np.setdiff1d(np.arange(len(sub)), list(failed))
        if len(keep) < len(sub):
            names = clip_names(sub)
            skipped[name] = [Skipped(names[r], m) for r, m in sorted(failed.items())]
            log(f"features for {name}: the encoder failed on {len(failed)} of {len(sub)} clips, left out of its probes "
                f"(first: {skipped[name][0].path}: {skipped[name][0].reason})")
            sub = take_rows(sub, keep)
            feats = {k: [a[keep] for a in v] if isinstance(v, list) else v[keep] for k, v in feats.items()}
        if not len(keep):
            raise ModelFileError(f"the encoder {cfg.encoder.path} failed on every clip of {name} (first: "
                                 f"{skipped[name][0].path}: {skipped[name][0].reason})")
        kept[name], features[name] = sub, feats
        log(f"features for {name}: {len(sub)} clips ready in {time.time() - t0:.1f} s")
    return kept, features, skipped


def run_encoder(cfg: SweepConfig, opts: RunOptions = RunOptions()) -> dict:
    """Probe a given torch or HEAR encoder's layers on the target clips: no source corpus, no pretraining."""
    encoders = load_encoders(cfg)  # a module that does not import or misbehaves stops here, before MLflow and Ray
    encoder = encoders["convnet"]
    kinds, label = encoder_kinds(cfg, encoders), encoder_label(encoder)
    sweep_combos(cfg, encoder.n_layers, encoder=label)  # every layer combination its layers lack stops here too
    sweep = open_sweep(cfg, opts)
    t0 = time.time()
    subsets, probe_tasks, skipped = load_target_and_source(cfg, cache_root=sweep.cache_root)
    log(f"corpus: {sum(len(s) for s in subsets.values())} clips in {len(subsets)} subsets ready in "
        f"{time.time() - t0:.1f} s (cache: {sweep.cache_root})")
    with parent_run(sweep, params=parent_params(cfg, encoder_sha256=encoder.sha256)) as tracker:
        log_datasets(tracker, subsets, skipped)
        subsets, features, failed = encoder_stage(cfg, subsets, encoders, cache_root=sweep.cache_root)
        for name, lost in failed.items():
            log_encoder_skipped(tracker, name, lost, sweep.report_dir / "encoder_skipped")
        tasks = task_data(cfg, subsets, probe_tasks, features)
        return probe_and_report(cfg, sweep, tracker, tasks, kinds=kinds, n_layers=encoder.n_layers,
                                encoder=label) | {"history": []}


def run(cfg: SweepConfig, opts: RunOptions = RunOptions()) -> dict:
    """Choi et al. 2017; returns {"rows", "errors", "tracker", "report_dir", "history"}."""
    if cfg.encoder.kind == "embeddings":
        return run_embeddings(cfg, opts)
    if cfg.encoder.kind in GIVEN_ENCODERS:
        return run_encoder(cfg, opts)
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
        more_features = ()
        targets = {n: s for n, s in subsets.items() if n != "source"}
        if release is None:
            extractors, history = pretrain_stage(cfg, subsets["source"], sweep=sweep, tracker=tracker)
            more_features = tuple(repeat_features(cfg, r, subsets["source"], targets, sweep=sweep, tracker=tracker)
                                  for r in training_repeats(cfg))
        else:
            extractors, history = release_extractors(cfg, *release), []
        features = extract_stage(cfg, targets, extractors, cache_root=sweep.cache_root)
        tasks = task_data(cfg, subsets, probe_tasks, features, more_features=more_features)
        return probe_and_report(cfg, sweep, tracker, tasks) | {"history": history}
