"""Ray Tune: one trial per (task, feature, batch of layer combinations); whole SVM grids run inside.

Batching matters twice. One Tune trial costs about a second of overhead, one small SVM fit a
millisecond, so a trial fits whole grids. And the layer combinations of a batch share their
kernels: each training set's per-layer Gram matrices are computed once and every combination's
kernel is a sum of them (``raymir.probes.kernels``). Features go to the object store once
(``with_parameters``). Each combination writes its full grid as CSV (grid.csv) and logs a child MLflow run.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The classic reporter honours verbose=0; the newer one prints a configuration box per run.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

import ray  # noqa: E402
import ray.tune as tune  # noqa: E402

from raymir import tracking
from raymir.config import ProbeConfig
from raymir.probes.svm import GridResult, engine_for, grid_points, grid_search_combos


@dataclass(frozen=True)
class TaskData:
    """Everything a probe trial needs about one task: labels, folds and feature blocks."""

    kind: str  # classification | regression
    labels: np.ndarray  # [n]
    folds: list[np.ndarray]  # test indices per fold
    features: dict[str, np.ndarray]  # "convnet"/"random": [n, 5, 32]; "mfcc": [n, 120]


def trial_key(spec: dict) -> str:
    """The MLflow key of one (task, feature, layer combination): ``task/feature/layers``."""
    return f"{spec['task']}/{spec['feature']}/{spec['layers']}"


def batch_key(spec: dict) -> str:
    """A trial's name: its task, feature and layer combinations."""
    return f"{spec['task']}/{spec['feature']}/{'+'.join(spec['combos'])}"


def batch_specs(specs: list[dict], *, per_trial: int) -> list[dict]:
    """Group per-combination specs into trials of up to ``per_trial`` combinations of one task and feature.

    specs: [{"task", "feature", "layers"}] → [{"task", "feature", "combos": [layers, …]}].
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for s in specs:
        groups.setdefault((s["task"], s["feature"]), []).append(s["layers"])
    return [{"task": t, "feature": f, "combos": combos[i:i + per_trial]}
            for (t, f), combos in groups.items() for i in range(0, len(combos), per_trial)]


def feature_blocks(data: TaskData, feature: str, layers: str) -> dict[str, np.ndarray]:
    """The named blocks a feature concatenates, in order: layer ``"1"``…``"5"`` [n, channels], ``"mfcc"`` [n, 120]."""
    blocks = {}
    if feature in ("convnet", "random", "convnet+mfcc"):
        source = data.features["random" if feature == "random" else "convnet"]
        blocks |= {d: source[:, int(d) - 1] for d in layers}
    if feature in ("mfcc", "convnet+mfcc"):
        blocks["mfcc"] = data.features["mfcc"]
    return blocks


def feature_matrix(data: TaskData, feature: str, layers: str) -> np.ndarray:
    """Concatenate the chosen layers' pooled features (and/or MFCCs): → [n, d]."""
    return np.concatenate(list(feature_blocks(data, feature, layers).values()), axis=1)


def _summary(spec: dict, result: GridResult, kind: str) -> dict:
    best = result.points[result.best]
    metric = "accuracy" if kind == "classification" else "r2"
    return {
        "task": spec["task"], "feature": spec["feature"], "layers": spec["layers"],
        "n_features": spec["n_features"], "kernel": best.kernel, "C": best.C,
        "gamma": "-" if best.gamma is None else best.gamma, "scaler": best.scaler, "metric": metric,
        f"cv_{metric}": result.cv_mean, f"cv_{metric}_std": result.cv_std, f"nested_{metric}": result.nested_mean,
        "capped_fits": int(result.capped.sum()), "engine": result.engine,
    }


def run_probes(spec: dict, data: TaskData, probe: ProbeConfig) -> list[tuple[dict, list[dict]]]:
    """Grid search + nested CV for every layer combination of a trial spec: → [(summary, full grid table)].

    All combinations share one set of per-layer kernels per training set.
    """
    blocks: dict[str, np.ndarray] = {}
    combos: dict[str, tuple[str, ...]] = {}
    n_features: dict[str, int] = {}
    for layers in spec["combos"]:
        parts = feature_blocks(data, spec["feature"], layers)
        blocks |= parts
        combos[layers] = tuple(parts)
        n_features[layers] = sum(b.shape[1] for b in parts.values())
    points = {layers: grid_points(probe, d) for layers, d in n_features.items()}
    results = grid_search_combos(blocks, combos, data.labels, data.folds, points, kind=data.kind,
                                 nested=probe.nested, engine=engine_for(probe))
    return [(_summary({"task": spec["task"], "feature": spec["feature"], "layers": layers,
                       "n_features": n_features[layers]}, res, data.kind), res.table())
            for layers, res in results.items()]


def run_probe(spec: dict, data: TaskData, probe: ProbeConfig) -> tuple[dict, list[dict]]:
    """Grid search + nested CV for one (task, feature, layers) spec: → (summary, full grid table)."""
    return run_probes({"task": spec["task"], "feature": spec["feature"], "combos": [spec["layers"]]}, data, probe)[0]


def _logged_summary(params: dict, metrics: dict) -> dict:
    """A finished trial's summary rebuilt from its MLflow child run (params come back as strings)."""
    metric = "accuracy" if "cv_accuracy" in metrics else "r2"
    gamma = params.get("gamma", "-")
    return {"task": params["task"], "feature": params["feature"], "layers": params["layers"],
            "n_features": int(params["n_features"]), "kernel": params["kernel"], "C": float(params["C"]),
            "gamma": gamma if gamma == "-" else float(gamma), "scaler": params["scaler"] == "True",
            "metric": metric, **{k: v for k, v in metrics.items()}, "engine": params.get("engine", ""), "resumed": 1}


def _log_combo(tracker: tracking.Tracker, summary: dict, table: list[dict], trial_dir: Path) -> None:
    key = trial_key(summary)
    grid_csv = trial_dir / summary["layers"] / "grid.csv"  # one folder per combination: each run's grid.csv
    grid_csv.parent.mkdir(parents=True, exist_ok=True)
    with grid_csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    metric = summary["metric"]
    params = {k: summary[k] for k in ("task", "feature", "layers", "kernel", "C", "gamma", "scaler", "n_features",
                                      "engine")}
    metrics = {k: summary[k] for k in (f"cv_{metric}", f"cv_{metric}_std", f"nested_{metric}", "capped_fits")}
    tracking.log_trial(tracker, key, name=key.replace("/", " "), params=params, metrics=metrics,
                       artifacts=(grid_csv,))


def _probe_trial(config: dict, *, tasks: dict[str, TaskData], probe: ProbeConfig, tracker: tracking.Tracker) -> None:
    spec = config["spec"]
    one = {layers: {"task": spec["task"], "feature": spec["feature"], "layers": layers} for layers in spec["combos"]}
    rows, todo = [], []
    for layers, combo in one.items():
        done = tracking.finished_child(tracker, trial_key(combo)) if tracker.resumed else None
        if done is not None:  # finished before the sweep was interrupted: keep it, don't fit it again
            rows.append(_logged_summary(*done))
        else:
            todo.append(layers)
    if todo:
        try:
            results = run_probes(spec | {"combos": todo}, tasks[spec["task"]], probe)
        except Exception as exc:  # recorded in MLflow as failed child runs, then Tune retries or reports it
            for layers in todo:
                key = trial_key(one[layers])
                tracking.log_trial(tracker, key, name=key.replace("/", " "), params=one[layers],
                                   metrics={}, status="FAILED", error=f"{type(exc).__name__}: {exc}")
            raise
        trial_dir = Path(tune.get_context().get_trial_dir())
        for summary, table in results:
            _log_combo(tracker, summary, table, trial_dir)
            rows.append({k: v for k, v in summary.items() if v is not None})
    where = ray.get_runtime_context().get_node_id()  # which cluster node fitted it (Tune's result.json)
    tune.report({"rows": json.dumps(rows), "n_combos": len(rows), "node_id": where})


class ProgressLine(tune.Callback):
    """One progress line for the whole sweep instead of a box per trial."""

    def __init__(self, total: int, label: str = "probes") -> None:
        self.total, self.label, self.done, self.failed = total, label, 0, 0
        self.start = time.time()
        self._last = 0.0

    def setup(self, *args, **info) -> None:
        # A restored run unpickles this callback: time this driver's part, not the killed one's too.
        self.start = time.time()

    def _print(self, final: bool = False) -> None:
        now = time.time()
        if not final and now - self._last < 2.0:
            return
        self._last = now
        msg = f"{self.label}: {self.done}/{self.total} trials done, {self.failed} failed, {now - self.start:.0f} s"
        if sys.stdout.isatty():
            print("\r" + msg, end="\n" if final else "", flush=True)
        else:
            print(msg, flush=True)

    def _count(self, trials, trial, status: str) -> None:
        """From the trials' states, so a restored run starts part done; ``trial`` is not marked yet."""
        others = [t for t in trials if t is not trial]
        self.done = sum(t.status == "TERMINATED" for t in others) + (status == "TERMINATED")
        self.failed = sum(t.status == "ERROR" for t in others) + (status == "ERROR")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._count(trials, trial, "TERMINATED")
        self._print(self.done == self.total)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._count(trials, trial, "ERROR")
        self._print()


def fan_out(trainable, specs: list[dict], *, key: Callable[[dict], str], keep: Callable[[str], bool], name: str,
            storage: Path | str, max_concurrent: int, max_failures: int, label: str) -> tuple[list[dict], list[str]]:
    """One Ray Tune trial per spec (``config["spec"]``): → (the reported rows, "key: error" per failed trial).

    ``keep`` picks a row's fields out of what the trial reported (Tune adds its own bookkeeping).
    When ``storage``/``name`` already holds this Tune run (its driver was killed, or trials failed),
    it is restored: finished trials keep their results, the rest (errored ones too) run again.
    """
    path = f"{str(storage).rstrip('/')}/{name}"
    if tune.Tuner.can_restore(path):
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable, param_space={"spec": tune.grid_search(specs)},
            tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent or None, reuse_actors=True),
            run_config=tune.RunConfig(name=name, storage_path=str(storage), verbose=0,
                                      callbacks=[ProgressLine(len(specs), label=label)],
                                      failure_config=tune.FailureConfig(max_failures=max_failures)))
    rows, errors = [], []
    for result in tuner.fit():
        spec = (result.config or {}).get("spec", {})
        if result.error is not None:
            errors.append(f"{key(spec) if spec else '?'}: {result.error}")
        elif result.metrics:
            rows.append({k: v for k, v in result.metrics.items() if keep(k)})
    return rows, errors


def run_probe_trials(specs: list[dict], tasks: dict[str, TaskData], probe: ProbeConfig, tracker: tracking.Tracker,
                     *, storage_path: Path | str, name: str, cpus_per_trial: float, max_concurrent: int,
                     max_failures: int, combos_per_trial: int = 8,
                     gpus_per_trial: float = 0.0) -> tuple[list[dict], list[str]]:
    """Fan the probe trials out with Ray Tune: specs [{"task", "feature", "layers"}] → (one summary per
    spec, error messages). Up to ``combos_per_trial`` combinations of a task and feature share a trial."""
    trainable = tune.with_resources(tune.with_parameters(_probe_trial, tasks=tasks, probe=probe, tracker=tracker),
                                    {"cpu": cpus_per_trial} | ({"gpu": gpus_per_trial} if gpus_per_trial else {}))
    batches, errors = fan_out(trainable, batch_specs(specs, per_trial=combos_per_trial), key=batch_key, name=name,
                              storage=storage_path, max_concurrent=max_concurrent, max_failures=max_failures,
                              label="probe trials", keep=lambda k: k == "rows")
    return [row for b in batches for row in json.loads(b["rows"])], errors
