"""What every sweep recipe shares: console lines, flat parameter dicts, and connecting to Ray."""

from __future__ import annotations

import os
import time
from pathlib import Path

from raymir import tracking

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# A custom resource for the small driver process of a Train-inside-Tune trial, so drivers do not
# hold CPUs that their own Ray Train workers need (a local cluster gets plenty of them).
DRIVER_RESOURCE = "raymir_driver"


def log(msg: str) -> None:
    print(f"[raymir] {msg}", flush=True)


def flat(d: dict, prefix: str = "") -> dict:
    """Nested dict → {"a.b.c": value}, for MLflow params."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= flat(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def start_ray(address: str | None) -> None:
    """Connect to ``address`` (or RAY_ADDRESS), else start a private local cluster."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, logging_level="WARNING", log_to_driver=False)
    else:  # the dashboard (State API, used by Ray Train) stays on localhost
        ray.init(include_dashboard=True, dashboard_host="127.0.0.1", logging_level="WARNING", log_to_driver=False,
                 resources={DRIVER_RESOURCE: 1000})


def driver_resources() -> dict[str, float]:
    """Resources for a trial whose work runs in its own Ray Train workers."""
    import ray

    if ray.cluster_resources().get(DRIVER_RESOURCE, 0) > 0:
        return {"cpu": 0, DRIVER_RESOURCE: 1}
    return {"cpu": 0.01}  # clusters started without the resource: a sliver of a CPU


def train_concurrency(*, num_workers: int, cpus_per_worker: float, use_gpu: bool) -> int:
    """How many Ray Train jobs of this shape the cluster holds at once (its CPUs or GPUs over one job's)."""
    import ray

    res = ray.cluster_resources()
    if use_gpu:
        return max(1, int(res.get("GPU", 0) // num_workers))
    return max(1, int(res.get("CPU", 1) // (num_workers * cpus_per_worker)))


def finish_sweep(tracker: tracking.Tracker, *, uri: str, report: tuple[str, list[Path]], report_dir: Path, n: int,
                 errors: list[str], t_start: float, unit: str) -> str:
    """Print and log the report, close the parent run, and say where to look; returns its status."""
    text, files = report
    tracking.log_files(tracker, tracker.parent_run_id, files, artifact_path="report")
    print(text)
    for e in errors:
        log(f"failed: {e}")
    status = "FINISHED" if not errors else "FAILED"
    elapsed = time.time() - t_start
    tracking.finish(tracker, tracker.parent_run_id, status=status,
                    metrics={f"n_{unit}": n, "n_failed": len(errors), "wall_s": elapsed})
    log(f"done in {elapsed:.0f} s: {n} {unit}, {len(errors)} failed; report: {report_dir}")
    log(f"MLflow: mlflow ui --backend-store-uri {uri}   (serves on 127.0.0.1:5000)")
    log(f"runs:   {tracking.runs_url(tracker)}")
    log(f"parent: {tracking.run_url(tracker, tracker.parent_run_id)}")
    return status
