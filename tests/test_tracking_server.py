"""MLflow from several processes at once, and the UI server: 8 concurrent trial processes lose
nothing in one sqlite store (created once by the driver); `python -m raymir ui` serves on 127.0.0.1."""

import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from raymir import tracking

pytestmark = pytest.mark.integration  # MLflow stores and servers


def _trial(args):
    tracker, i = args
    history = [{"epoch": e, "loss": 1.0 / (e + 1 + i)} for e in range(20)]
    params = {"trial": i, "feature": f"f{i}"}
    return tracking.log_trial(tracker, f"trial-{i}", name=f"trial {i}", params=params,
                              metrics={"score": i / 10, "other": float(i)}, history=history)


def test_eight_concurrent_trial_processes_lose_no_run_or_metric(tmp_path):
    uri, artifacts = tracking.resolve_uri(None, tmp_path)
    tracker = tracking.setup_experiment(uri, "concurrent", artifacts)  # the driver creates the store first
    tracker = tracking.start_parent(tracker, sweep="concurrent", params={"n": 8})
    with mp.get_context("spawn").Pool(8) as pool:
        ids = pool.map(_trial, [(tracker, i) for i in range(8)])
    assert len(set(ids)) == 8
    client = tracker.client
    runs = client.search_runs([tracker.experiment_id],
                              filter_string=f"tags.mlflow.parentRunId = '{tracker.parent_run_id}'")
    assert sorted(r.data.tags["raymir.trial"] for r in runs) == [f"trial-{i}" for i in range(8)]
    for r in runs:
        i = int(r.data.params["trial"])
        assert r.data.metrics["score"] == i / 10 and r.data.metrics["other"] == i and r.info.status == "FINISHED"
        assert len(client.get_metric_history(r.info.run_id, "loss")) == 20
    # a retried trial (the same key) finds its run instead of adding one
    assert _trial((tracker, 3)) == ids[3]


def _listening(port: int) -> set[str]:
    """IPv4 addresses with a listening TCP socket on ``port`` (Linux /proc/net/tcp)."""
    out = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        ip_hex, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            out.add(socket.inet_ntoa(bytes.fromhex(ip_hex)[::-1]))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ui_serves_the_sweep_database_on_localhost(tmp_path):
    uri, artifacts = tracking.resolve_uri(None, tmp_path)
    tracking.setup_experiment(uri, "some_sweep", artifacts)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "raymir", "ui", "--output", str(tmp_path), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        body = ""
        for _ in range(120):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert body.strip() == "OK"
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search",
                                     data=b'{"max_results": 10}', headers={"Content-Type": "application/json"})
        assert "some_sweep" in urllib.request.urlopen(req, timeout=5).read().decode()
        assert _listening(port) == {"127.0.0.1"}  # bound to loopback only, not 0.0.0.0
    finally:  # the server and its workers: the process group this test started, nothing else
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_ui_without_a_database_says_where_it_looked(tmp_path):
    out = subprocess.run([sys.executable, "-m", "raymir", "ui", "--output", str(tmp_path / "none")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and f"no MLflow database at {tmp_path / 'none' / 'mlflow.db'}" in out.stderr
