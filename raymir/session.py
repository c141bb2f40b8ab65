"""What every sweep recipe shares: console lines, flat parameter dicts, and connecting to Ray."""

from __future__ import annotations

import csv
import dataclasses
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
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


# Settings added after the first sweeps ran: left out of the parent params while at their defaults.
LATER_SETTINGS = ("encoder", "weighting", "features.max_combinations", "probe.repeats", "probe.repeat_training",
                  "transfer.repeats")


def _field_default(owner, name: str):
    f = next(f for f in dataclasses.fields(owner) if f.name == name)
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def _at_default(cfg, dotted: str) -> bool:
    """Whether the setting ``dotted`` ("encoder", "features.max_combinations") exists on ``cfg`` at its default."""
    *path, name = dotted.split(".")
    owner = cfg
    for part in path:
        owner = getattr(owner, part, None)
    if owner is None or not dataclasses.is_dataclass(owner) or not hasattr(owner, name):
        return False
    return getattr(owner, name) == _field_default(owner, name)


def parent_params(cfg, *, encoder_sha256: str = "") -> dict:
    """The parent MLflow run's params: every setting, flat, and a given encoder's sha256.

    The settings of :data:`LATER_SETTINGS` are left out while at their defaults (the default encoder: raymir
    trains its own nets): a default sweep's params are then exactly those it had before they existed, and so
    is their hash, the tag under which a re-run finds an interrupted parent run to resume (``raymir.config``).
    """
    params = flat(asdict(cfg))
    left_out = tuple(f"{d}." if "." not in d else d for d in LATER_SETTINGS if _at_default(cfg, d))
    params = {k: v for k, v in params.items() if not (k.startswith(left_out))}
    given = getattr(cfg, "encoder", None) is not None and cfg.encoder.kind  # agf_combos has no encoder section
    return params | ({"encoder.sha256": encoder_sha256} if given else {})


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


@dataclass(frozen=True)
class RunOptions:
    """Where and how one invocation runs (the command line's flags), as opposed to what it computes (the sweep file)."""

    tracking_uri: str | None = None  # MLflow; default MLFLOW_TRACKING_URI or sqlite under the output directory
    address: str | None = None  # Ray cluster; default RAY_ADDRESS or a private local one
    output: str | None = None  # default: the sweep file's ``output``
    storage: str | None = None  # Ray Train / Tune state; default RAYMIR_STORAGE or <output>/ray
    fresh: bool = False  # a new parent run even when an unfinished one of the same settings exists


@dataclass
class SweepRun:
    """One sweep invocation: where it writes, and its MLflow experiment (the parent run once opened)."""

    name: str
    out: Path
    uri: str
    tracker: tracking.Tracker
    storage: str = ""  # Ray Train / Tune state and checkpoints: a path or URI every node sees
    address: str | None = None  # the Ray cluster to connect to (None: RAY_ADDRESS or a local one)
    fresh: bool = False  # a new parent run even when an unfinished one of the same settings exists
    t_start: float = field(default_factory=time.time)

    @property
    def cache_root(self) -> Path:
        return self.out / "cache"

    @property
    def report_dir(self) -> Path:
        return self.out / "reports" / self.tracker.parent_run_id


def resolve_storage(storage: str | None, out: Path) -> str:
    """Ray's storage_path: ``--storage``, else RAYMIR_STORAGE, else ``<output>/ray``; local paths made absolute
    (trials run in their own working directories); URIs (s3://, gs://, …) as given."""
    storage = storage or os.environ.get("RAYMIR_STORAGE") or str(Path(out) / "ray")
    return storage if "://" in storage else str(Path(storage).expanduser().resolve())


def open_sweep(cfg, opts: RunOptions) -> SweepRun:
    """Resolve the output directory (``opts.output``, else the sweep's ``output``), Ray's storage and the
    MLflow store, and create (once, before any trial) the sweep's MLflow experiment."""
    out = Path(opts.output or cfg.output).resolve()
    uri, artifacts = tracking.resolve_uri(opts.tracking_uri, out)
    return SweepRun(cfg.name, out, uri, tracking.setup_experiment(uri, cfg.name, artifacts),
                    storage=resolve_storage(opts.storage, out), address=opts.address, fresh=opts.fresh)


@contextmanager
def parent_run(run: SweepRun, *, params: dict) -> Iterator[tracking.Tracker]:
    """Connect to Ray and open the parent MLflow run; if the sweep raises, the run is marked FAILED.

    An unfinished parent run of the same settings (a killed driver, failed trials) is reopened
    unless ``run.fresh``: its trials' Ray Tune state and child runs are found again, so only what
    did not finish runs.
    """
    start_ray(run.address)
    run.tracker = tracking.start_parent(run.tracker, sweep=run.name, params=params, resume=not run.fresh)
    if run.tracker.resumed:
        log(f"resuming the unfinished run {run.tracker.parent_run_id} (resume #{run.tracker.resumed}); "
            "--fresh starts anew")
    try:
        yield run.tracker
    except BaseException:
        tracking.finish(run.tracker, run.tracker.parent_run_id, status="FAILED")
        raise


def log_dataset(tracker: tracking.Tracker, subset, skipped: list, *, role: str = "") -> None:
    """On the parent run: how many clips a real dataset gave, how many were skipped, and why (skipped.csv).

    ``role`` "source" (the pretraining data) prefixes the metrics (``source_n_clips``) and files (data/source/).
    """
    prefix = f"{role}_" if role else ""
    tracking.log_metrics(tracker, tracker.parent_run_id,
                         {f"{prefix}n_clips": len(subset), f"{prefix}n_skipped": len(skipped)})
    tracking.log_files(tracker, tracker.parent_run_id, [Path(subset.path) / "skipped.csv"],
                       artifact_path=f"data/{role}" if role else "data")


def log_datasets(tracker: tracking.Tracker, subsets: dict, skipped: dict[str, list]) -> None:
    """:func:`log_dataset` for each real dataset of a sweep (``skipped``: subset name → skipped clips;
    the one named "source" is the pretraining data)."""
    for name, lost in skipped.items():
        log_dataset(tracker, subsets[name], lost, role="source" if name == "source" else "")


def write_skipped(path: Path, skipped: list) -> Path:
    """Clips left out (``raymir.data.clips.Skipped``: path, reason) as a CSV file with those two columns: → path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "reason"])
        w.writerows((s.path, s.reason) for s in skipped)
    return path


def log_encoder_skipped(tracker: tracking.Tracker, name: str, skipped: list, folder: Path) -> None:
    """On the parent run: the clips of subset ``name`` that a given encoder failed on (``raymir.data.clips.Skipped``:
    path, reason), left out of its probes — the metric ``n_encoder_skipped.<name>`` and
    ``data/encoder_skipped/<name>.csv``, as :func:`log_dataset` records a dataset's unreadable clips."""
    path = write_skipped(Path(folder) / f"{name}.csv", skipped)
    tracking.log_metrics(tracker, tracker.parent_run_id, {f"n_encoder_skipped.{name}": len(skipped)})
    tracking.log_files(tracker, tracker.parent_run_id, [path], artifact_path="data/encoder_skipped")


def finish_sweep(run: SweepRun, *, report: tuple[str, list[Path]], rows: list[dict], errors: list[str],
                 unit: str) -> dict:
    """Print and log the report, close the parent run, say where to look: → the sweep's result
    {"rows", "errors", "tracker", "report_dir"}."""
    text, files = report
    tracker = run.tracker
    tracking.log_files(tracker, tracker.parent_run_id, files, artifact_path="report")
    # the parent run's page opens on its description: the report's tables, monospaced as printed
    tracking.describe(tracker, tracker.parent_run_id, f"```\n{text.strip()}\n```" if text.strip() else "(no rows)")
    print(text)
    for e in errors:
        log(f"failed: {e}")
    elapsed = time.time() - run.t_start
    tracking.finish(tracker, tracker.parent_run_id, status="FINISHED" if not errors else "FAILED",
                    metrics={f"n_{unit}": len(rows), "n_failed": len(errors), "wall_s": elapsed})
    log(f"done in {elapsed:.0f} s: {len(rows)} {unit.replace('_', ' ')}, {len(errors)} failed; report: {run.report_dir}")
    if run.uri == f"sqlite:///{run.out / 'mlflow.db'}":
        log(f"MLflow: python -m raymir ui --output {run.out}   (serves on 127.0.0.1:5000)")
    elif run.uri.startswith(("sqlite:", "file:")):
        log(f"MLflow: python -m raymir ui --tracking-uri {run.uri}   (serves on 127.0.0.1:5000)")
    else:
        log(f"MLflow: {run.uri}")
    log(f"runs:   {tracking.runs_url(tracker)}")
    log(f"parent: {tracking.run_url(tracker, tracker.parent_run_id)}")
    return {"rows": rows, "errors": errors, "tracker": tracker, "report_dir": run.report_dir}
