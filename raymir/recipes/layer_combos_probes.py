"""``layer_combos``' probe stage: one Ray Tune trial per (task, feature, batch of layer combinations);
whole SVM grids run inside.

Batching matters twice. One Tune trial costs about a second of overhead, one small SVM fit a
millisecond, so a trial fits whole grids. And the layer combinations of a batch share their
kernels: each training set's per-layer Gram matrices are computed once and every combination's
kernel is a sum of them (``raymir.probes.kernels``). Features go to the object store once
(``with_parameters``). Each combination writes its full grid as CSV (grid.csv) and logs a child MLflow run.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from raymir import tracking
from raymir.config import ProbeConfig, SearchConfig
from raymir.probes.svm import GridResult, engine_for, grid_points, grid_search_combos


@dataclass(frozen=True)
class TaskData:
    """Everything a probe trial needs about one task: labels, folds and feature blocks."""

    kind: str  # the task's kind: classification | regression
    labels: np.ndarray  # [n]
    folds: list[np.ndarray]  # test indices per fold
    # "convnet"/"random": [n, layers, channels] (raymir's nets: [n, 5, 32]) or a list of per-layer [n, d_i] arrays
    # (given embeddings, whose widths may differ); "mfcc": [n, 120]
    features: dict[str, np.ndarray | list[np.ndarray]]


@dataclass(frozen=True)
class ProbeGrid:
    """One probe grid: a task, a feature and a layer combination ("135"; "-" for MFCC alone)."""

    task: str
    feature: str
    layers: str

    @property
    def key(self) -> str:
        """The MLflow key of the grid's child run: ``task/feature/layers``."""
        return f"{self.task}/{self.feature}/{self.layers}"


@dataclass(frozen=True)
class ProbeTrial:
    """One Ray Tune trial: the grids of a task and feature over several layer combinations."""

    task: str
    feature: str
    combos: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.task}/{self.feature}/{'+'.join(self.combos)}"

    def grids(self) -> list[ProbeGrid]:
        return [ProbeGrid(self.task, self.feature, layers) for layers in self.combos]


def batch_grids(grids: Sequence[ProbeGrid], *, per_trial: int) -> list[ProbeTrial]:
    """Group grids into trials of up to ``per_trial`` layer combinations of one task and feature."""
    groups: dict[tuple[str, str], list[str]] = {}
    for g in grids:
        groups.setdefault((g.task, g.feature), []).append(g.layers)
    return [ProbeTrial(t, f, tuple(combos[i:i + per_trial]))
            for (t, f), combos in groups.items() for i in range(0, len(combos), per_trial)]


def layer_block(source: np.ndarray | list[np.ndarray], layer: str) -> np.ndarray:
    """Layer ``"1"``…``"5"`` of a feature: from [n, layers, channels], or from a list of per-layer [n, d_i] → [n, d]."""
    i = int(layer) - 1
    return source[i] if isinstance(source, (list, tuple)) else source[:, i]


def feature_blocks(data: TaskData, feature: str, layers: str) -> dict[str, np.ndarray]:
    """The named blocks a feature concatenates, in order: layer ``"1"``…``"5"`` [n, d], ``"mfcc"`` [n, 120]."""
    blocks = {}
    if feature in ("convnet", "random", "convnet+mfcc"):
        source = data.features["random" if feature == "random" else "convnet"]
        blocks |= {d: layer_block(source, d) for d in layers}
    if feature in ("mfcc", "convnet+mfcc"):
        blocks["mfcc"] = data.features["mfcc"]
    return blocks


def feature_matrix(data: TaskData, feature: str, layers: str) -> np.ndarray:
    """Concatenate the chosen layers' pooled features (and/or MFCCs): → [n, d]."""
    return np.concatenate(list(feature_blocks(data, feature, layers).values()), axis=1)


def _summary(grid: ProbeGrid, n_features: int, result: GridResult, kind: str) -> dict:
    best = result.points[result.best]
    metric = "accuracy" if kind == "classification" else "r2"
    return {
        "task": grid.task, "feature": grid.feature, "layers": grid.layers,
        "n_features": n_features, "kernel": best.kernel, "C": best.C,
        "gamma": "-" if best.gamma is None else best.gamma, "scaler": best.scaler, "metric": metric,
        f"cv_{metric}": result.cv_mean, f"cv_{metric}_std": result.cv_std, f"nested_{metric}": result.nested_mean,
        "capped_fits": int(result.capped.sum()), "engine": result.engine,
    }


def run_probes(trial: ProbeTrial, data: TaskData, probe: ProbeConfig) -> list[tuple[dict, list[dict]]]:
    """Grid search + nested CV for every layer combination of a trial: → [(summary, full grid table)].

    All combinations share one set of per-layer kernels per training set.
    """
    blocks: dict[str, np.ndarray] = {}
    combos: dict[str, tuple[str, ...]] = {}
    n_features: dict[str, int] = {}
    for layers in trial.combos:
        parts = feature_blocks(data, trial.feature, layers)
        blocks |= parts
        combos[layers] = tuple(parts)
        n_features[layers] = sum(b.shape[1] for b in parts.values())
    points = {layers: grid_points(probe, d) for layers, d in n_features.items()}
    results = grid_search_combos(blocks, combos, data.labels, data.folds, points, kind=data.kind,
                                 nested=probe.nested, engine=engine_for(probe))
    return [(_summary(ProbeGrid(trial.task, trial.feature, layers), n_features[layers], res, data.kind), res.table())
            for layers, res in results.items()]


def run_probe(grid: ProbeGrid, data: TaskData, probe: ProbeConfig) -> tuple[dict, list[dict]]:
    """Grid search + nested CV for one grid: → (summary, full grid table)."""
    return run_probes(ProbeTrial(grid.task, grid.feature, (grid.layers,)), data, probe)[0]


def _logged_summary(params: dict, metrics: dict) -> dict:
    """A finished trial's summary rebuilt from its MLflow child run (params come back as strings)."""
    metric = "accuracy" if "cv_accuracy" in metrics else "r2"
    gamma = params.get("gamma", "-")
    return {"task": params["task"], "feature": params["feature"], "layers": params["layers"],
            "n_features": int(params["n_features"]), "kernel": params["kernel"], "C": float(params["C"]),
            "gamma": gamma if gamma == "-" else float(gamma), "scaler": params["scaler"] == "True",
            "metric": metric, **{k: v for k, v in metrics.items()}, "engine": params.get("engine", ""), "resumed": 1}


def _log_grid(tracker: tracking.Tracker, grid: ProbeGrid, summary: dict, table: list[dict], trial_dir: Path) -> None:
    grid_csv = trial_dir / grid.layers / "grid.csv"  # one folder per combination: each run's grid.csv
    grid_csv.parent.mkdir(parents=True, exist_ok=True)
    with grid_csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    metric = summary["metric"]
    params = {k: summary[k] for k in ("task", "feature", "layers", "kernel", "C", "gamma", "scaler", "n_features",
                                      "engine")}
    metrics = {k: summary[k] for k in (f"cv_{metric}", f"cv_{metric}_std", f"nested_{metric}", "capped_fits")}
    tracking.log_trial(tracker, grid.key, params=params, metrics=metrics, artifacts=(grid_csv,))


def _probe_trial(config: dict, *, tasks: dict[str, TaskData], probe: ProbeConfig, tracker: tracking.Tracker) -> None:
    import ray
    import ray.tune as tune

    trial: ProbeTrial = config["trial"]
    rows, todo = [], []
    for grid in trial.grids():
        done = tracking.finished_child(tracker, grid.key) if tracker.resumed else None
        if done is not None:  # finished before the sweep was interrupted: keep it, don't fit it again
            rows.append(_logged_summary(*done))
        else:
            todo.append(grid)
    if todo:
        with tracking.failures_logged(tracker, {g.key: {"task": g.task, "feature": g.feature, "layers": g.layers}
                                                for g in todo}):
            results = run_probes(ProbeTrial(trial.task, trial.feature, tuple(g.layers for g in todo)),
                                 tasks[trial.task], probe)
        trial_dir = Path(tune.get_context().get_trial_dir())
        by_layers = {summary["layers"]: (summary, table) for summary, table in results}
        for grid in todo:
            summary, table = by_layers[grid.layers]
            _log_grid(tracker, grid, summary, table, trial_dir)
            rows.append({k: v for k, v in summary.items() if v is not None})
    where = ray.get_runtime_context().get_node_id()  # which cluster node fitted it (Tune's result.json)
    tune.report({"rows": json.dumps(rows), "n_combos": len(rows), "node_id": where})


def run_probe_trials(grids: Sequence[ProbeGrid], tasks: dict[str, TaskData], probe: ProbeConfig,
                     tracker: tracking.Tracker, *, search: SearchConfig, storage: Path | str,
                     name: str) -> tuple[list[dict], list[str]]:
    """Fan the probe grids out with Ray Tune: → (one summary per grid, error messages).

    Up to ``search.combos_per_trial`` combinations of a task and feature share a trial, which holds
    ``search.cpus_per_trial`` CPUs (and ``search.gpus_per_trial`` GPUs).
    """
    import ray.tune as tune

    from raymir.fanout import fan_out

    resources = {"cpu": search.cpus_per_trial} | ({"gpu": search.gpus_per_trial} if search.gpus_per_trial else {})
    trainable = tune.with_resources(tune.with_parameters(_probe_trial, tasks=tasks, probe=probe, tracker=tracker),
                                    resources)
    trials = batch_grids(grids, per_trial=search.combos_per_trial)
    batches, errors = fan_out(trainable, trials, search=search, name=name, storage=storage, label="probe trials",
                              keep=lambda k: k == "rows")
    return [row for b in batches for row in json.loads(b["rows"])], errors
