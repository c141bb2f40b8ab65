"""Ray Tune: one trial per (task, feature, layer combination); the SVM grid runs inside the trial.

Batching the grid inside a trial matters: one Tune trial costs about a second of overhead,
one small SVM fit a millisecond. Features go to the object store once (``with_parameters``).
Each trial writes its full grid as CSV, logs a child MLflow run and reports a summary.
"""

from __future__ import annotations

import csv
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
from raymir.probes.svm import grid_points, grid_search


@dataclass(frozen=True)
class TaskData:
    """Everything a probe trial needs about one task: labels, folds and feature blocks."""

    kind: str  # classification | regression
    labels: np.ndarray  # [n]
    folds: list[np.ndarray]  # test indices per fold
    features: dict[str, np.ndarray]  # "convnet"/"random": [n, 5, 32]; "mfcc": [n, 120]


def trial_key(spec: dict) -> str:
    return f"{spec['task']}/{spec['feature']}/{spec['layers']}"


def feature_matrix(data: TaskData, feature: str, layers: str) -> np.ndarray:
    """Concatenate the chosen layers' pooled features (and/or MFCCs): → [n, d]."""
    blocks = []
    if feature in ("convnet", "random", "convnet+mfcc"):
        source = data.features["random" if feature == "random" else "convnet"]
        blocks += [source[:, int(d) - 1] for d in layers]
    if feature in ("mfcc", "convnet+mfcc"):
        blocks.append(data.features["mfcc"])
    return np.concatenate(blocks, axis=1)


def run_probe(spec: dict, data: TaskData, probe: ProbeConfig) -> tuple[dict, list[dict]]:
    """Grid search + nested CV for one trial spec: → (summary, full grid table)."""
    X = feature_matrix(data, spec["feature"], spec["layers"])
    points = grid_points(probe, X.shape[1])
    result = grid_search(X, data.labels, data.folds, points, kind=data.kind, nested=probe.nested,
                         max_iter=probe.max_iter)
    best = result.points[result.best]
    metric = "accuracy" if data.kind == "classification" else "r2"
    summary = {
        "task": spec["task"], "feature": spec["feature"], "layers": spec["layers"], "n_features": X.shape[1],
        "kernel": best.kernel, "C": best.C, "gamma": "-" if best.gamma is None else best.gamma,
        "scaler": best.scaler, "metric": metric,
        f"cv_{metric}": result.cv_mean, f"cv_{metric}_std": result.cv_std,
        f"nested_{metric}": result.nested_mean, "capped_fits": int(result.capped.sum()),
    }
    return summary, result.table()


def _logged_summary(params: dict, metrics: dict) -> dict:
    """A finished trial's summary rebuilt from its MLflow child run (params come back as strings)."""
    metric = "accuracy" if "cv_accuracy" in metrics else "r2"
    gamma = params.get("gamma", "-")
    return {"task": params["task"], "feature": params["feature"], "layers": params["layers"],
            "n_features": int(params["n_features"]), "kernel": params["kernel"], "C": float(params["C"]),
            "gamma": gamma if gamma == "-" else float(gamma), "scaler": params["scaler"] == "True",
            "metric": metric, **{k: v for k, v in metrics.items()}, "resumed": 1}


def _probe_trial(config: dict, *, tasks: dict[str, TaskData], probe: ProbeConfig, tracker: tracking.Tracker) -> None:
    spec = config["spec"]
    done = tracking.finished_child(tracker, trial_key(spec)) if tracker.resumed else None
    if done is not None:  # finished before the sweep was interrupted: report it, don't fit it again
        tune.report(_logged_summary(*done))
        return
    try:
        summary, table = run_probe(spec, tasks[spec["task"]], probe)
    except Exception as exc:  # recorded in MLflow as a failed child run, then Tune retries or reports it
        tracking.log_trial(tracker, trial_key(spec), name=trial_key(spec).replace("/", " "), params=spec,
                           metrics={}, status="FAILED", error=f"{type(exc).__name__}: {exc}")
        raise
    trial_dir = Path(tune.get_context().get_trial_dir())
    grid_csv = trial_dir / "grid.csv"
    with grid_csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    metric = summary["metric"]
    params = {k: summary[k] for k in ("task", "feature", "layers", "kernel", "C", "gamma", "scaler", "n_features")}
    metrics = {k: summary[k] for k in (f"cv_{metric}", f"cv_{metric}_std", f"nested_{metric}", "capped_fits")}
    tracking.log_trial(tracker, trial_key(spec), name=trial_key(spec).replace("/", " "), params=params,
                       metrics=metrics, artifacts=(grid_csv,))
    where = {"node_id": ray.get_runtime_context().get_node_id()}  # which cluster node fitted it (Tune's result.json)
    tune.report({k: v for k, v in summary.items() if v is not None} | where)


class ProgressLine(tune.Callback):
    """One progress line for the whole sweep instead of a box per trial."""

    def __init__(self, total: int, label: str = "probes") -> None:
        self.total, self.label, self.done, self.failed = total, label, 0, 0
        self.start = time.time()
        self._last = 0.0

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
                     max_failures: int) -> tuple[list[dict], list[str]]:
    """Fan the probe trials out with Ray Tune; returns (summaries, error messages)."""
    trainable = tune.with_resources(tune.with_parameters(_probe_trial, tasks=tasks, probe=probe, tracker=tracker),
                                    {"cpu": cpus_per_trial})
    return fan_out(trainable, specs, key=trial_key, name=name, storage=storage_path, max_concurrent=max_concurrent,
                   max_failures=max_failures, label="probes",
                   keep=lambda k: k in _SUMMARY_KEYS or k.startswith(("cv_", "nested_")))


_SUMMARY_KEYS = {"task", "feature", "layers", "n_features", "kernel", "C", "gamma", "scaler", "metric", "capped_fits"}
