"""MLflow tracking: the only module that imports mlflow.

Contract (sweeps, tests and the MLflow UI comparisons rely on it):
experiment = sweep name; one parent run per invocation (tag ``raymir.sweep``; an interrupted
invocation's parent is reopened by the next run of the same settings, tag ``raymir.config``); one child run
per trial (tags ``raymir.trial`` = trial key, ``mlflow.parentRunId``); the pretraining run is a
child with tag ``raymir.stage = pretrain``. Trials log through ``log_trial``, which is
idempotent: a retried or resumed trial finds its finished child run instead of adding one.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME  # noqa: E402

from raymir import cache  # noqa: E402


@dataclass(frozen=True)
class Tracker:
    """Everything a process (driver or Ray trial) needs to log into one sweep's parent run."""

    uri: str
    experiment_id: str
    parent_run_id: str = ""
    resumed: int = 0  # how many times this parent run was reopened (0: a new sweep, no child to look up)

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.uri)


EXPERIMENT_KIND, MODEL_DEVELOPMENT = "mlflow.experimentKind", "custom_model_development"
DESCRIPTION = "mlflow.note.content"  # a run's description, shown as markdown on its page
TRAINING_VIEW = "workflowType=machine_learning"  # the UI's URL switch to its "Model training" workspace
IDENTITY = ("task", "feature", "layers", "model", "tasks", "arch", "n_artists", "stage")  # also tags: group and filter by


def resolve_uri(flag: str | None, output_dir: Path) -> tuple[str, str | None]:
    """Tracking URI and artifact root: ``--tracking-uri``, else MLFLOW_TRACKING_URI, else an
    absolute sqlite file under the output directory (a relative one would create a database
    per Ray trial, because trials run in their own working directories)."""
    uri = flag or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
            uri = "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
        elif "://" not in uri:
            uri = Path(uri).resolve().as_uri()
        return uri, None
    out = Path(output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{out / 'mlflow.db'}", (out / "mlartifacts").as_uri()


def setup_experiment(uri: str, name: str, artifact_location: str | None) -> Tracker:
    """Create (or find) the experiment — in the driver, before any trial starts: creating a
    fresh sqlite database from several processes at once corrupts it."""
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else client.create_experiment(name, artifact_location=artifact_location)
    if (exp.tags if exp else {}).get(EXPERIMENT_KIND) != MODEL_DEVELOPMENT:
        # without it MLflow 3's UI guesses the kind and may open the experiment in its GenAI views
        client.set_experiment_tag(exp_id, EXPERIMENT_KIND, MODEL_DEVELOPMENT)
    return Tracker(uri=uri, experiment_id=exp_id)


def unfinished_parent(tracker: Tracker, *, sweep: str, params: dict) -> str | None:
    """The latest parent run of this sweep with these settings that did not finish (its driver was
    killed, or some of its trials failed), or None."""
    runs = tracker.client.search_runs(
        [tracker.experiment_id], filter_string=f"tags.`raymir.sweep` = '{sweep}' and "
                                               f"tags.`raymir.config` = '{cache.key_of(params)}'",
        order_by=["attributes.start_time DESC"], max_results=20)
    return next((r.info.run_id for r in runs if r.info.status != "FINISHED"), None)


def start_parent(tracker: Tracker, *, sweep: str, params: dict, tags: dict | None = None,
                 resume: bool = False) -> Tracker:
    """Open the parent run of one sweep invocation; returns a tracker bound to it.

    ``resume``: reopen the latest unfinished parent run of the same sweep and settings instead, so
    a re-run adds only the missing child runs to it.
    """
    client = tracker.client
    run_id = unfinished_parent(tracker, sweep=sweep, params=params) if resume else None
    if run_id:
        client.update_run(run_id, status="RUNNING")
        resumed = int(client.get_run(run_id).data.tags.get("raymir.resumed", "0")) + 1
        client.set_tag(run_id, "raymir.resumed", str(resumed))
        return Tracker(tracker.uri, tracker.experiment_id, run_id, resumed=resumed)
    run = client.create_run(tracker.experiment_id, run_name=f"{sweep}@{socket.gethostname()}",
                            tags={"raymir.sweep": sweep, "raymir.config": cache.key_of(params), **(tags or {})})
    _log(client, run.info.run_id, params=params)
    return Tracker(tracker.uri, tracker.experiment_id, run.info.run_id)


def _log(client: MlflowClient, run_id: str, *, params: dict | None = None, metrics: dict | None = None,
         tags: dict | None = None, step: int = 0) -> None:
    ps = [Param(str(k), str(v)[:6000]) for k, v in (params or {}).items()]
    now = int(time.time() * 1000)  # distinct real timestamps: MLflow keys logged-model metrics on them
    ms = [Metric(str(k), float(v), now, step) for k, v in (metrics or {}).items() if v is not None]
    ts = [RunTag(str(k), str(v)) for k, v in (tags or {}).items()]
    for i in range(0, max(len(ps), 1), 100):  # MLflow caps a batch at 100 params
        client.log_batch(run_id, metrics=ms if i == 0 else [], params=ps[i:i + 100], tags=ts if i == 0 else [])


def find_child(tracker: Tracker, trial_key: str) -> tuple[str, str] | None:
    """(run id, status) of this parent's child run for ``trial_key``, preferring a finished one."""
    runs = tracker.client.search_runs(
        [tracker.experiment_id],
        filter_string=f"tags.`raymir.trial` = '{trial_key}' and tags.`{MLFLOW_PARENT_RUN_ID}` = '{tracker.parent_run_id}'",
        max_results=10)
    runs = sorted(runs, key=lambda r: r.info.status != "FINISHED")
    return (runs[0].info.run_id, runs[0].info.status) if runs else None


def finished_child(tracker: Tracker, trial_key: str) -> tuple[dict, dict] | None:
    """(params, metrics) of this parent's finished child run for ``trial_key``, or None: a resumed
    sweep's trial that already finished takes its result from here instead of computing it again."""
    found = find_child(tracker, trial_key)
    if found is None or found[1] != "FINISHED":
        return None
    data = tracker.client.get_run(found[0]).data
    return dict(data.params), dict(data.metrics)


def log_trial(tracker: Tracker, trial_key: str, *, name: str = "", params: dict, metrics: dict,
              artifacts: tuple[Path, ...] = (), artifact_path: str | None = None, history: list[dict] = (),
              status: str = "FINISHED", error: str | None = None) -> str:
    """Log one trial as a child run; returns its run id.

    Idempotent by ``trial_key``: a finished child is returned as it is; a failed attempt's run is
    reused by the retry, so each trial ends with exactly one child run. ``name`` defaults to the key
    with spaces for slashes ("genre convnet 135").
    """
    name = name or trial_key.replace("/", " ")
    client = tracker.client
    existing = find_child(tracker, trial_key)
    if existing and existing[1] == "FINISHED":
        return existing[0]
    if existing:
        run_id = existing[0]
        if not error and "raymir.error" in client.get_run(run_id).data.tags:
            client.delete_tag(run_id, "raymir.error")  # the retry succeeded: the old error no longer applies
    else:
        run_id = client.create_run(tracker.experiment_id, run_name=name,
                                   tags={MLFLOW_PARENT_RUN_ID: tracker.parent_run_id, "raymir.trial": trial_key,
                                         MLFLOW_RUN_NAME: name}).info.run_id
    tags = {k: str(params[k]) for k in IDENTITY if k in params}  # the UI groups runs by tag as well as by param
    _log(client, run_id, params=params, metrics=metrics, tags=tags | ({"raymir.error": error[:5000]} if error else {}))
    if history:
        log_history(tracker, run_id, list(history))
    for path in artifacts:
        client.log_artifact(run_id, str(path), artifact_path=artifact_path)
    client.set_terminated(run_id, status=status)
    return run_id


@contextmanager
def failures_logged(tracker: Tracker, children: dict[str, dict]) -> Iterator[None]:
    """Run the block; if it raises, log each child (trial key → params) as a FAILED run carrying the
    error, then re-raise, so Ray Tune retries the trial or reports it."""
    try:
        yield
    except Exception as exc:
        for trial_key, params in children.items():
            log_trial(tracker, trial_key, params=params, metrics={}, status="FAILED",
                      error=f"{type(exc).__name__}: {exc}")
        raise


def log_history(tracker: Tracker, run_id: str, history: list[dict]) -> None:
    """Per-epoch metrics (epoch is the step)."""
    now = int(time.time() * 1000)
    ms = [Metric(k, float(v), now, int(row["epoch"])) for row in history for k, v in row.items() if k != "epoch"]
    for i in range(0, len(ms), 1000):
        tracker.client.log_batch(run_id, metrics=ms[i:i + 1000])


def log_encoder(tracker: Tracker, run_id: str, state_dict_path: Path, description: dict) -> None:
    """Log a trained encoder as ``encoder/state_dict.pt`` (loads with ``torch.load(weights_only=True)``) and
    ``encoder/encoder.json`` (``description``: what the net is and how to rebuild it). No MLflow PyTorch model:
    that format is a pickle, which can run code when loaded, and raymir never unpickles."""
    with tempfile.TemporaryDirectory() as tmp:
        described = Path(tmp) / "encoder.json"
        described.write_text(json.dumps(description, indent=1))
        log_files(tracker, run_id, [state_dict_path, described], artifact_path="encoder")


def log_metrics(tracker: Tracker, run_id: str, metrics: dict) -> None:
    _log(tracker.client, run_id, metrics=metrics)


def log_files(tracker: Tracker, run_id: str, paths: list[Path], *, artifact_path: str | None = None) -> None:
    for p in paths:
        tracker.client.log_artifact(run_id, str(p), artifact_path=artifact_path)


def describe(tracker: Tracker, run_id: str, text: str) -> None:
    """Set a run's description (markdown): the parent run's holds the sweep's report tables."""
    tracker.client.set_tag(run_id, DESCRIPTION, text)


def finish(tracker: Tracker, run_id: str, *, status: str = "FINISHED", metrics: dict | None = None) -> None:
    if metrics:
        _log(tracker.client, run_id, metrics=metrics)
    tracker.client.set_terminated(run_id, status=status)


def runs_url(tracker: Tracker, *, host: str = "http://127.0.0.1:5000") -> str:
    """Direct link to the experiment's runs table in the UI's "Model training" workspace (it otherwise opens in
    its GenAI workspace, whatever the experiment's kind)."""
    return f"{host}/#/experiments/{tracker.experiment_id}/runs?{TRAINING_VIEW}"


def run_url(tracker: Tracker, run_id: str, *, host: str = "http://127.0.0.1:5000") -> str:
    return f"{host}/#/experiments/{tracker.experiment_id}/runs/{run_id}?{TRAINING_VIEW}"


def ui_command(uri: str, *, host: str = "127.0.0.1", port: int = 5000) -> list[str]:
    """The ``mlflow server`` command line that serves ``uri`` (one worker; host-header checks stay on)."""
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", host, "--port", str(port),
            "--workers", "1"]
