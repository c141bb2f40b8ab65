"""Fault tolerance: a sweep whose driver is SIGKILLed mid-run is finished by running the same
command again, and the MLflow experiment ends with exactly one child run per trial."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from raymir.config import load_sweep
from raymir.recipes.layer_combos import probe_grids

pytestmark = pytest.mark.integration  # whole sweeps in subprocesses

ARGS = ["layer_combos", "--preset", "tiny", "--set", "probe.tasks=[genre,emotion_arousal]"]


def _finished_probes(db: Path) -> int:
    """Probe child runs finished so far (read straight from the database while the sweep writes it)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("select count(*) from runs r join tags t on t.run_uuid = r.run_uuid "
                               "where t.key = 'raymir.trial' and t.value != 'pretrain' "
                               "and r.status = 'FINISHED'").fetchone()[0]
    except sqlite3.Error:  # the schema is still being created
        return 0


def _session_pids(sid: int) -> list[int]:
    """Processes of one session (the driver and the Ray processes it started)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:
            pids.append(int(stat.parent.name))
    return pids


def _kill_session(sid: int) -> None:
    for _ in range(20):
        pids = _session_pids(sid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.25)


@pytest.mark.slow  # two tiny sweeps in their own Ray instances: ~2-3 min
def test_a_killed_driver_is_resumed_by_the_same_command(tmp_path):
    out = tmp_path / "out"
    ray_tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # Ray's socket paths must stay short
    env = os.environ | {"RAY_TMPDIR": ray_tmp, "RAY_ADDRESS": ""}
    cmd = [sys.executable, "-m", "raymir.sweep", *ARGS, "--output", str(out)]
    n_trials = len(probe_grids(load_sweep(ARGS[0], preset="tiny", overrides=("probe.tasks=[genre,emotion_arousal]",))))
    try:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.time() + 300
        while _finished_probes(out / "mlflow.db") < 4 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.3)
        assert proc.poll() is None, "the sweep ended before it could be killed"
        done_before = _finished_probes(out / "mlflow.db")
        _kill_session(proc.pid)  # the driver and everything it started, nothing else
        proc.wait()
        assert 4 <= done_before < n_trials

        t0 = time.time()
        again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        resume_s = time.time() - t0
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert "resuming the unfinished run" in again.stdout
        print("\n".join(line for line in again.stdout.splitlines() if "probe" in line or "resum" in line))
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)

    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    exp = client.get_experiment_by_name("layer_combos")
    parents = [r for r in client.search_runs([exp.experiment_id]) if "raymir.sweep" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.tags["raymir.resumed"] == "1"
    children = client.search_runs([exp.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parents[0].info.run_id}'")
    keys = [r.data.tags["raymir.trial"] for r in children]
    assert len(keys) == len(set(keys)) == n_trials + 1  # every trial once, plus the pretraining run
    assert all(r.info.status == "FINISHED" for r in children)
    # trials finished before the kill were not fitted again: their result came from their MLflow run
    # (a Ray Tune trial runs several layer combinations and reports one row per combination)
    last = [json.loads(f.read_text().splitlines()[-1]) for f in (out / "ray").glob("probes-*/*/result.json")]
    rows = [row for r in last for row in json.loads(r["rows"])]
    assert len(rows) == n_trials
    resumed = sum(row.get("resumed", 0) for row in rows)
    assert done_before <= resumed < n_trials
    print(f"resume after SIGKILL: {resume_s:.1f} s; {resumed} of {n_trials} trials taken from MLflow, "
          f"{n_trials - resumed} fitted")
