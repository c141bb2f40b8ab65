"""``python -m raymir.sweep layer_combos``: Choi et al. 2017 as a sweep.

corpus (synthetic, or real datasets: ``data.source`` to pretrain, ``data.dataset`` to probe)
→ pretrain the convnet on tagging (Ray Train) → per-layer features of every target clip
(trained, random-weights, MFCC) → one Ray Tune trial per (task, feature, layer combination), each
fitting the whole SVM/SVR grid → tables and figures. Every stage's output is a content-addressed
artifact under ``<output>/cache``, so a re-run skips finished stages.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from raymir import tracking
from raymir.config import SweepConfig
from raymir.data.clips import Skipped
from raymir.data.datasets import predefined_folds, target_tasks
from raymir.data.sources import load_subsets, tagging_source
from raymir.data.subset import Subset, TargetTask
from raymir.data.synthetic import TARGET_TASKS
from raymir.extract import cached_features, cached_mfcc, layer_features, state_digest
from raymir.models import MODELS
from raymir.probes.folds import make_folds
from raymir.recipes.layer_combos_probes import ProbeGrid, TaskData, batch_grids, run_probe_trials
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


def load_target_and_source(cfg: SweepConfig, *, cache_root: Path
                           ) -> tuple[dict[str, Subset], list[TargetTask], dict[str, list[Skipped]]]:
    """→ ({"source": the tagging source, <target subset>: …}, probe tasks, {subset: skipped clips}).

    A real ``data.dataset``'s labels become the probe tasks; ``data.source`` must carry tags.
    """
    synthetic_tasks = [] if cfg.data.dataset else [TARGET_TASKS[t] for t in cfg.probe.tasks]
    subsets, skipped = load_subsets(cfg.data, cfg.corpus, sr=cfg.mel.sr, duration=cfg.mel.duration,
                                    cache_root=cache_root, source=tagging_source, log=log,
                                    synthetic_targets=tuple(dict.fromkeys(t.subset for t in synthetic_tasks)))
    probe_tasks = target_tasks(subsets[cfg.data.dataset]) if cfg.data.dataset else synthetic_tasks
    return subsets, probe_tasks, skipped


def probe_grids(cfg: SweepConfig, tasks: list[str] | None = None) -> list[ProbeGrid]:
    """One grid per (task, feature, layer combination); ``tasks`` defaults to ``probe.tasks``."""
    grids = []
    for task in cfg.probe.tasks if tasks is None else tasks:
        for feature in cfg.features.kinds:
            if feature in ("convnet", "random"):
                grids += [ProbeGrid(task, feature, c) for c in cfg.layer_combos]
            elif feature == "mfcc":
                grids.append(ProbeGrid(task, "mfcc", "-"))
            else:
                grids.append(ProbeGrid(task, "convnet+mfcc", "12345"))
    return grids


def summary(cfg: SweepConfig) -> str:
    """What the sweep will run, in one line (``--check``)."""
    grids = probe_grids(cfg)
    trials = batch_grids(grids, per_trial=cfg.search.combos_per_trial)
    return f"{len(grids)} probe grids in {len(trials)} Ray Tune trials"


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


def probe_and_report(cfg: SweepConfig, sweep: SweepRun, tracker: tracking.Tracker, tasks: dict[str, TaskData]) -> dict:
    """The probe trials (Ray Tune) and the report; closes the parent run: → the sweep's result."""
    grids = probe_grids(cfg, list(tasks))
    n_trials = len(batch_grids(grids, per_trial=cfg.search.combos_per_trial))
    log(f"probing: {len(grids)} grids in {n_trials} Ray Tune trials (tasks {', '.join(tasks)})")
    rows, errors = run_probe_trials(grids, tasks, cfg.probe, tracker, search=cfg.search, storage=sweep.storage,
                                    name=f"probes-{tracker.parent_run_id[:12]}")
    engines = sorted({r.get("engine", "") for r in rows} - {""})
    log(f"probe engine: {'; '.join(engines)}")  # says when kernels did not fit probe.kernel_memory_gb
    return finish_sweep(sweep, report=write_report(rows, sweep.report_dir), rows=rows, errors=errors,
                        unit="probe_grids")


def run(cfg: SweepConfig, opts: RunOptions = RunOptions()) -> dict:
    """Choi et al. 2017; returns {"rows", "errors", "tracker", "report_dir", "history"}."""
    sweep = open_sweep(cfg, opts)

    t0 = time.time()
    subsets, probe_tasks, skipped = load_target_and_source(cfg, cache_root=sweep.cache_root)
    n_clips = sum(len(s) for s in subsets.values())
    log(f"corpus: {n_clips} clips in {len(subsets)} subsets ready in {time.time() - t0:.1f} s (cache: {sweep.cache_root})")

    with parent_run(sweep, params=flat(asdict(cfg))) as tracker:
        log_datasets(tracker, subsets, skipped)  # what was left out of each real dataset, and why
        extractors, history = pretrain_stage(cfg, subsets["source"], sweep=sweep, tracker=tracker)
        targets = {n: s for n, s in subsets.items() if n != "source"}
        features = extract_stage(cfg, targets, extractors, cache_root=sweep.cache_root)
        tasks = task_data(cfg, subsets, probe_tasks, features)
        return probe_and_report(cfg, sweep, tracker, tasks) | {"history": history}
