"""``python -m raymir.sweep agf_combos``: Kim et al. 2018 as a sweep.

corpus → splits → log-mel spectrograms → artist group factors (train tracks only) → source nets
→ transfer → tables. Source nets: a single-task net (STN) per task, a multi-task net (MTN) per
combination of ≥ 2 tasks, and a widened genre net (wSTN) per number of tasks N ≥ 2. Each is a
Ray Tune trial that runs a Ray Train job (train, embed, evaluate the transfer MLP).

An STN over several tasks is one independent net per task; trained jointly with task sampling,
as the paper's code did, its nets never interact (no shared weights; Adam skips a branch with no
gradient), so it is exactly the single-task nets with the same number of updates each. The 26
multi-task STN runs therefore reuse the five single-task nets' embeddings and train only their
MLP (Ray Tune trials of their own), which saves about half of the training.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from raymir import cache, tracking
from raymir.audio import MelSpectrogram, spectrograms
from raymir.config import AgfSweepConfig, task_combos
from raymir.data.sources import artist_source, load_data
from raymir.data.subset import Subset
from raymir.errors import DatasetError
from raymir.models.kim2018 import KimNet, n_params, widened
from raymir.probes.compare import score_interval
from raymir.probes.transfer import SCORE_NAMES, SPLITS, evaluate, transfer_splits
from raymir.recipes.agf_combos_report import write_agf_report
from raymir.session import RunOptions, finish_sweep, log, log_dataset, open_sweep, parent_params, parent_run
from raymir.targets.agf import artist_group_factors
from raymir.train.kim import EMBEDDINGS_FILE, prepare_inputs, train_source

ENCODER_FILES = ("state_dict.pt", "encoder.json")
SCORES = tuple(f"{s}_{m}" for s in SPLITS for m in SCORE_NAMES)  # val_f1_macro, …, val_artist_accuracy


@dataclass(frozen=True)
class SourceRun:
    """One source setup: its tasks ("gsedm"), architecture (STN | MTN | wSTN) and width; a wSTN also
    names the parameter count it matches and the number of tasks N of the nets it is compared with."""

    tasks: str
    arch: str
    width: float = 1.0
    target_params: int = 0  # wSTN only
    n: int = 0  # wSTN only

    @property
    def key(self) -> str:
        """The MLflow/Tune identity of a run, e.g. "gsedm/MTN", "g/wSTN-5"."""
        return f"{self.tasks}/{self.arch}" + (f"-{self.n}" if self.arch == "wSTN" else "")

    @property
    def n_tasks(self) -> int:
        return self.n or len(self.tasks)


# --- stages (driver) ----------------------------------------------------------------------------

def load_corpus(cfg: AgfSweepConfig, *, cache_root: Path) -> tuple[Subset, list | None]:
    """(corpus, skipped clips): the FMA-like synthetic subset, or a dataset in its own layout
    (``data.dataset``: FMA, or a manifest with path, artist, genre[, subgenres]); skipped is None
    for the synthetic corpus."""
    d = cfg.data
    if d.dataset:
        corpus, skipped = load_data(d, sr=cfg.mel.sr, duration=d.duration or cfg.mel.duration, cache_root=cache_root)
        if "genre" not in corpus.labels or np.ndim(corpus.labels["genre"]) != 1 or "genre" not in corpus.classes:
            raise DatasetError(f"{d.dataset} at {d.path}: agf_combos needs a genre class label (a 'genre' column)")
        corpus = artist_source(corpus, cache_root=cache_root)
        if "subgenres" in corpus.labels:  # multi-hot, stored as lists
            corpus.labels["subgenres"] = corpus.labels["subgenres"].astype(np.float32)
        return corpus, skipped
    from raymir.data.synthetic import load_synthetic

    return load_synthetic(cfg.corpus, sr=cfg.mel.sr, cache_root=cache_root, names=("fma",))["fma"], None


def targets_for(cfg: AgfSweepConfig, corpus: Subset, splits: dict[str, np.ndarray], *, cache_root: Path
                ) -> dict[str, np.ndarray]:
    """{"g": one-hot genre, "s"/"e"/"d"/"m": AGF topic distributions}: [n_tracks, K] each.

    Factors are built from the training tracks only. Held-out tracks of training artists get their
    artist's factors (for source-task validation losses); unseen artists' tracks get NaN rows.
    """
    genre = corpus.labels["genre"]
    n_genres = len(corpus.classes.get("genre", [])) or int(genre.max()) + 1
    out = {"g": np.eye(n_genres, dtype=np.float32)[genre]}
    factors = [t for t in cfg.tasks if t != "g"]
    if not factors:
        return out
    if "s" in factors and "subgenres" not in corpus.labels:
        raise DatasetError(f"{corpus.name}: task 's' needs subgenre labels (a 'subgenres' column); "
                        "drop 's' from tasks or add the labels")
    train = splits["train"]
    key = agf_key(cfg, corpus.key, train)

    def build(d: Path) -> None:
        t0 = time.time()
        subs = corpus.labels.get("subgenres")
        agf = artist_group_factors(np.asarray(corpus.audio[train]), corpus.sr, corpus.labels["artist"][train],
                                   None if subs is None else subs[train], cfg.agf)
        np.savez(d / "agf.npz", **agf)
        log(f"artist group factors for {len(train)} training tracks in {time.time() - t0:.0f} s")

    path = cache.cached(cache_root, "agf", key, build)
    artists = corpus.labels["artist"]
    with np.load(path / "agf.npz") as z:
        for name in factors:
            # An AGF belongs to an artist: every track of a training artist (held-out tracks too) carries it.
            per_artist = dict(zip(artists[train], z[name]))
            full = np.full((len(genre), z[name].shape[1]), np.nan, dtype=np.float32)
            for i, a in enumerate(artists):
                if a in per_artist:
                    full[i] = per_artist[a]
            out[name] = full
    return out


def agf_key(cfg: AgfSweepConfig, corpus_key: str, train: np.ndarray) -> dict:
    """What the artist group factors depend on: the corpus, its training tracks and the AGF settings."""
    return {"corpus": corpus_key, "train": np.asarray(train).tolist(), "agf": asdict(cfg.agf)}


def inputs_key(cfg: AgfSweepConfig, corpus_key: str, splits: dict[str, np.ndarray]) -> dict:
    """What the training jobs' inputs (spectrograms, targets, splits) depend on."""
    return {"corpus": corpus_key, "mel": asdict(cfg.mel), "splits": {k: np.asarray(v).tolist() for k, v in splits.items()},
            "agf": asdict(cfg.agf), "tasks": cfg.tasks}


def source_key(run: SourceRun, cfg: AgfSweepConfig, inputs_name: str) -> dict:
    """What a trained source net depends on (a wSTN's ``n`` does not: equal widths train one net). ``cfg``: one
    repeat's settings (:func:`repeat_settings`); how many repeats there are is not part of any net."""
    transfer = {k: v for k, v in asdict(cfg.transfer).items() if k != "repeats"}
    return {"inputs": inputs_name, "tasks": run.tasks, "arch": run.arch, "width": run.width,
            "train": asdict(cfg.train), "transfer": transfer}


def repeat_settings(cfg: AgfSweepConfig, r: int) -> AgfSweepConfig:
    """Repeat r's settings: the split and the transfer MLP seeded ``transfer.seed + r``, the source nets
    ``train.seed + r`` (initialisation, crops, batch order). Repeat 0 is the sweep's own settings, so a run with
    one repeat trains exactly the nets it always did."""
    if r == 0:
        return cfg
    return replace(cfg, train=replace(cfg.train, seed=cfg.train.seed + r),
                   transfer=replace(cfg.transfer, seed=cfg.transfer.seed + r))


def source_runs(cfg: AgfSweepConfig, heads: dict[str, int]) -> tuple[list[SourceRun], list[SourceRun]]:
    """(nets to train, multi-task STNs made of the single-task nets)."""
    combos = task_combos(cfg.tasks)
    trained, reused = [], []
    for combo in combos:
        if len(combo) == 1:
            if "STN" in cfg.archs or "wSTN" in cfg.archs:  # wSTN and multi-task STNs build on them
                trained.append(SourceRun(combo, "STN"))
            continue
        if "MTN" in cfg.archs:
            trained.append(SourceRun(combo, "MTN"))
        if "STN" in cfg.archs:
            reused.append(SourceRun(combo, "STN"))
    if "wSTN" in cfg.archs:
        for n in range(2, len(cfg.tasks) + 1):  # as many parameters as the N-task multi-task nets (their mean)
            sizes = [n_params(KimNet({t: heads[t] for t in c}, shared=True)) for c in combos if len(c) == n]
            target = int(np.mean(sizes))
            trained.append(SourceRun("g", "wSTN", widened(heads["g"], target).width, target_params=target, n=n))
    return trained, reused


def summary(cfg: AgfSweepConfig) -> str:
    """What the sweep will run, in one line (``--check``)."""
    n = cfg.transfer.repeats
    repeats = f", repeated {n}× (split re-drawn, every net retrained)" if n > 1 else ""
    return f"{2 ** len(cfg.tasks) - 1} task combinations × {', '.join(cfg.archs)}{repeats}"


# --- trials (Ray Tune) --------------------------------------------------------------------------

def _params(run: SourceRun, cfg: AgfSweepConfig, metrics: dict) -> dict:
    vf = cfg.transfer.val_fraction
    p = {"tasks": run.tasks, "arch": run.arch, "n_tasks": run.n_tasks, "n_params": int(metrics["n_params"]),
         "width": run.width, "split": f"val: stratified {vf:.0%} of tracks; val_artist: all tracks of {vf:.0%} of artists"}
    if run.arch == "wSTN":
        p["target_params"] = run.target_params
    return p


def _write_encoder(d: Path, state: dict, run: SourceRun, heads: dict[str, int], n_mels: int) -> None:
    torch.save(state, d / "state_dict.pt")
    (d / "encoder.json").write_text(json.dumps({
        "model": "kim2018", "tasks": {t: heads["g" if run.arch == "wSTN" else t] for t in run.tasks},
        "shared": run.arch == "MTN", "width": run.width, "n_mels": n_mels,
        "load": "KimNet(tasks, shared=shared, width=width).load_state_dict(torch.load(path, weights_only=True))"}))


def _failed(run: SourceRun) -> dict[str, dict]:
    """The child run logged if this run's trial raises."""
    return {run.key: {"tasks": run.tasks, "arch": run.arch}}


def _pooled(per_repeat: list[dict], fractions: dict[str, float]) -> dict:
    """One run's metrics over its repeats (one dict each) → every metric's mean; for each transfer score
    (:data:`SCORES`) also ``<score>_ci95``, the half-width of its 95% interval over the repeats (corrected for
    overlapping training sets; none from one repeat), and ``<score>_repeats``, the values as a JSON list; and each
    held-out set's share of the tracks (``<split>_held_out``, :func:`held_out_fractions`)."""
    out = {k: float(np.mean([m[k] for m in per_repeat])) for k in per_repeat[0] if k != "epoch"}
    for k in SCORES:
        if k in out:
            values = [m[k] for m in per_repeat]
            out[f"{k}_repeats"] = json.dumps(values)
            if len(values) > 1:
                out[f"{k}_ci95"] = score_interval(values, fraction=fractions[_split_of(k)]).half_width
    return out | {f"{split}_held_out": f for split, f in fractions.items()}  # what the report's tests correct by


def _split_of(score: str) -> str:
    """The held-out set a score is measured on: "val_artist_f1_macro" → "val_artist"."""
    return max((s for s in SPLITS if score.startswith(f"{s}_")), key=len)


def held_out_fractions(splits: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Each held-out set's share of the tracks the transfer MLP sees (its set + the training tracks), averaged over
    the repeats' splits: the n_test / (n_test + n_train) of the corrected interval."""
    return {s: float(np.mean([len(sp[s]) / (len(sp[s]) + len(sp["train"])) for sp in splits])) for s in SPLITS}


def _log(tracker: tracking.Tracker, run: SourceRun, cfg: AgfSweepConfig, metrics: dict, *, history: list[dict],
         encoders: list[Path], reused: bool = False) -> None:
    """The run's child run: its mean scores and intervals, repeat 0's training history and every repeat's encoder
    (``encoder/``: repeat 0, ``encoder/repeat_<r>``: the others)."""
    params = _params(run, cfg, metrics) | {"repeats": len(encoders)}
    params |= {k: v for k, v in metrics.items() if k.endswith("_repeats")}  # the per-repeat values, for the report
    numbers = {k: v for k, v in metrics.items() if not k.endswith("_repeats")}
    run_id = tracking.log_trial(tracker, run.key, params=params,
                                metrics=numbers | ({"reused_single_task_nets": 1.0} if reused else {}),
                                history=history, artifacts=tuple(encoders[0] / f for f in ENCODER_FILES),
                                artifact_path="encoder")
    for r, d in enumerate(encoders[1:], 1):
        tracking.log_files(tracker, run_id, [d / f for f in ENCODER_FILES], artifact_path=f"encoder/repeat_{r}")


def _source_trial(config: dict, *, cfg: AgfSweepConfig, inputs: list[Path], fractions: dict[str, float],
                  heads: dict[str, int], cache_root: Path, storage: Path | str, tracker: tracking.Tracker) -> None:
    """Train one STN/MTN/wSTN per repeat (each cached by content), evaluate its transfer, log the child run."""
    import ray.tune as tune

    run: SourceRun = config["trial"]
    paths = []
    with tracking.failures_logged(tracker, _failed(run)):
        for r, repeat_inputs in enumerate(inputs):
            cfg_r = repeat_settings(cfg, r)
            key = source_key(run, cfg_r, repeat_inputs.name)

            def build(d: Path, cfg_r=cfg_r, repeat_inputs=repeat_inputs, key=key) -> None:
                res = train_source(repeat_inputs, tasks=list(run.tasks), shared=run.arch == "MTN", width=run.width,
                                   train=cfg_r.train, transfer=cfg_r.transfer, storage_path=storage,
                                   name=f"kim-{cache.key_of(key)}")
                _write_encoder(d, res.state_dict, run, heads, cfg.mel.n_mels)
                np.save(d / EMBEDDINGS_FILE, res.embeddings)
                (d / "history.json").write_text(json.dumps(res.history))
                (d / "metrics.json").write_text(json.dumps({k: v for k, v in res.metrics.items() if k != "epoch"}))

            paths.append(cache.cached(cache_root, "source", key, build))
        metrics = _pooled([json.loads((p / "metrics.json").read_text()) for p in paths], fractions)
    history = json.loads((paths[0] / "history.json").read_text())
    _log(tracker, run, cfg, metrics, history=history, encoders=paths)
    tune.report(_row(run, metrics))


def _combo_trial(config: dict, *, cfg: AgfSweepConfig, inputs: list[Path], fractions: dict[str, float],
                 heads: dict[str, int], cache_root: Path, tracker: tracking.Tracker) -> None:
    """A multi-task STN: in each repeat, that repeat's single-task nets' embeddings, concatenated, into the
    transfer MLP."""
    import ray.tune as tune

    run: SourceRun = config["trial"]
    per_repeat, encoders = [], []
    trial_dir = Path(tune.get_context().get_trial_dir())
    with tracking.failures_logged(tracker, _failed(run)):
        for r, repeat_inputs in enumerate(inputs):
            cfg_r = repeat_settings(cfg, r)
            parts = [cache.path_of(cache_root, "source", source_key(SourceRun(t, "STN"), cfg_r, repeat_inputs.name))
                     for t in run.tasks]
            emb = [np.load(p / EMBEDDINGS_FILE, mmap_mode="r") for p in parts]  # concatenated batch by batch
            genre = np.load(repeat_inputs / "genre.npy")
            splits = {k: np.asarray(v, dtype=int)
                      for k, v in json.loads((repeat_inputs / "splits.json").read_text()).items()}
            metrics = evaluate(emb, genre, splits, int(genre.max()) + 1, cfg_r.transfer)
            state: dict = {}
            metrics["n_params"] = 0
            for p, t in zip(parts, run.tasks):  # the combination's encoder: the single-task nets side by side
                state |= torch.load(p / "state_dict.pt", weights_only=True)
                part = json.loads((p / "metrics.json").read_text())
                metrics["n_params"] += part["n_params"]
                metrics |= {k: v for k, v in part.items() if k.endswith(f"_loss_{t}")}
            d = trial_dir / f"repeat_{r}"
            d.mkdir(exist_ok=True)
            _write_encoder(d, state, run, heads, cfg.mel.n_mels)
            per_repeat.append(metrics)
            encoders.append(d)
        metrics = _pooled(per_repeat, fractions)
    _log(tracker, run, cfg, metrics, history=[], encoders=encoders, reused=True)
    tune.report(_row(run, metrics))


_ROW_KEYS = {"tasks", "arch", "n_tasks", "n_params", "target_params"}


def _keep(key: str) -> bool:
    return key in _ROW_KEYS or key.startswith(SPLITS)


def _row(run: SourceRun, metrics: dict) -> dict:
    """A run's summary row: its identity, every held-out score (mean, ``_ci95``, ``_repeats``) and source loss."""
    row = {"tasks": run.tasks, "arch": run.arch, "n_tasks": run.n_tasks, "n_params": int(metrics["n_params"])}
    if run.arch == "wSTN":
        row["target_params"] = run.target_params
    return row | {k: v if k.endswith("_repeats") else float(v) for k, v in metrics.items()
                  if k.startswith(tuple(f"{s}_" for s in SPLITS))}


# --- the recipe ---------------------------------------------------------------------------------

def prepare_repeats(cfg: AgfSweepConfig, corpus: Subset, *, cache_root: Path
                    ) -> tuple[list[dict[str, np.ndarray]], list[Path], dict[str, int]]:
    """Each repeat's split, targets and training inputs (cached by content): → (splits, inputs directories, the
    heads {task: outputs}). The spectrograms do not depend on the split: computed once, the later repeats' inputs
    link to the first one's file."""
    genre, artists = corpus.labels["genre"], corpus.labels["artist"]
    all_splits, inputs, heads = [], [], {}
    spec_file: Path | None = None
    for r in range(cfg.transfer.repeats):
        cfg_r = repeat_settings(cfg, r)
        splits = transfer_splits(genre, artists, val_fraction=cfg.transfer.val_fraction, seed=cfg_r.transfer.seed)
        targets = targets_for(cfg_r, corpus, splits, cache_root=cache_root)

        def build(d: Path, splits=splits, targets=targets, earlier=spec_file) -> None:
            if earlier is not None and earlier.exists():
                _link(earlier, d / "spec.npy")
            else:
                spectrograms(corpus.audio, MelSpectrogram(cfg.mel), path=d / "spec.npy")
            prepare_inputs(d, spec=np.load(d / "spec.npy", mmap_mode="r"), targets=targets, genre=genre,
                           splits=splits)

        inputs.append(cache.cached(cache_root, "agf_inputs", inputs_key(cfg, corpus.key, splits), build))
        spec_file = inputs[-1] / "spec.npy"
        all_splits.append(splits)
        heads = {t: v.shape[1] for t, v in targets.items()}
    return all_splits, inputs, heads


def _link(src: Path, dst: Path) -> None:
    """dst as a hard link to src (the same spectrograms, stored once), a copy where the filesystem has none."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def run(cfg: AgfSweepConfig, opts: RunOptions = RunOptions()) -> dict:
    """Run the whole sweep; returns {"rows", "errors", "tracker", "report_dir"}."""
    import ray.tune as tune

    from raymir.fanout import fan_out, fan_out_jobs

    sweep = open_sweep(cfg, opts)
    cache_root = sweep.cache_root
    t0 = time.time()
    corpus, skipped = load_corpus(cfg, cache_root=cache_root)
    genre, artists = corpus.labels["genre"], corpus.labels["artist"]
    all_splits, inputs, heads = prepare_repeats(cfg, corpus, cache_root=cache_root)
    splits = all_splits[0]
    repeats = (f"; {cfg.transfer.repeats} repeats, each a new split and new nets (seeds + r)"
               if cfg.transfer.repeats > 1 else "")
    log(f"corpus {corpus.name}: {len(corpus)} tracks, {len(np.unique(artists))} artists, "
        f"{len(np.unique(genre))} genres; train {len(splits['train'])}, val {len(splits['val'])}, "
        f"val_artist {len(splits['val_artist'])}{repeats} ({time.time() - t0:.0f} s)")
    trained, reused = source_runs(cfg, heads)
    log(f"{len(trained)} source nets to train (Ray Train jobs in Ray Tune trials) × {cfg.transfer.repeats} "
        f"repeat(s), {len(reused)} multi-task STNs from the single-task nets; {time.time() - t0:.0f} s of preparation")

    storage = sweep.storage
    with parent_run(sweep, params=parent_params(cfg)) as tracker:
        if skipped is not None:
            log_dataset(tracker, corpus, skipped)
        common = {"cfg": cfg, "inputs": inputs, "fractions": held_out_fractions(all_splits), "heads": heads,
                  "cache_root": cache_root, "tracker": tracker}
        name = f"agf-{tracker.parent_run_id[:12]}"
        rows, errors = fan_out_jobs(_source_trial, trained, scaling=cfg.train, search=cfg.search, keep=_keep,
                                    name=f"{name}-train", storage=storage, label="source nets", **common)
        if reused:
            more, errs = fan_out(
                tune.with_resources(tune.with_parameters(_combo_trial, **common), {"cpu": cfg.search.cpus_per_trial}),
                reused, search=cfg.search, keep=_keep, name=f"{name}-stn", storage=storage, label="multi-task STNs")
            rows, errors = rows + more, errors + errs
        return finish_sweep(sweep, report=write_agf_report(rows, sweep.report_dir), rows=rows, errors=errors,
                            unit="runs")
