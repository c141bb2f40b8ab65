"""A real two-node Ray cluster on this machine (a head and a second raylet): a tiny sweep whose
probe trials run on both nodes and whose 2-worker Ray Train pretraining spans the two nodes."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

pytestmark = pytest.mark.integration  # whole sweeps in subprocesses

SCRIPT = textwrap.dedent("""
    import json, socket, sys, time
    from ray.cluster_utils import Cluster
    import ray
    from ray.util.state import list_actors
    from raymir.config import load_sweep
    from raymir.sweep import run

    out = sys.argv[1]
    with socket.socket() as s:  # another Ray on this machine (the test session's) may hold 8265
        s.bind(("127.0.0.1", 0))
        dashboard_port = s.getsockname()[1]
    common = {"num_cpus": 1, "object_store_memory": 80 * 1024**2}
    cluster = Cluster(initialize_head=True, head_node_args=common | {
        "resources": {"raymir_driver": 100}, "include_dashboard": True, "dashboard_host": "127.0.0.1",
        "dashboard_port": dashboard_port})
    cluster.add_node(**common)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
    nodes = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
    t0 = time.time()
    cfg = load_sweep("layer_combos", preset="tiny", overrides=(
        "probe.tasks=[genre,emotion_arousal]", "pretrain.num_workers=2", "pretrain.cpus_per_worker=1"))
    result = run(cfg, address=cluster.address, output=out)
    wall = time.time() - t0
    train_nodes = sorted({a["node_id"] for a in list_actors(filters=[("class_name", "=", "RayTrainWorker")],
                                                           limit=1000)})
    print("RESULT " + json.dumps({"nodes": nodes, "train_nodes": train_nodes, "errors": result["errors"],
                                  "rows": len(result["rows"]), "wall_s": wall}))
    ray.shutdown()
    cluster.shutdown()
""")


@pytest.mark.slow  # ~2 min: two raylets and a tiny sweep
def test_a_sweep_spreads_over_two_nodes(tmp_path):
    ray_tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # Ray's socket paths must stay short
    env = os.environ | {"RAY_TMPDIR": ray_tmp, "RAY_ADDRESS": ""}
    script = tmp_path / "two_nodes.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out"
    try:
        proc = subprocess.run([sys.executable, str(script), str(out)], env=env, capture_output=True, text=True,
                              timeout=900, start_new_session=True)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert proc.returncode == 0 and line, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(line[len("RESULT "):])
    assert len(res["nodes"]) == 2 and not res["errors"] and res["rows"] == 16
    assert res["train_nodes"] == res["nodes"]  # the 2-worker pretraining run: one worker on each node
    probe_nodes = {json.loads(f.read_text().splitlines()[-1])["node_id"]
                   for f in out.glob("ray/probes-*/*/result.json")}
    assert probe_nodes == set(res["nodes"])  # probe trials ran on both nodes
    print(f"two nodes: tiny layer_combos in {res['wall_s']:.1f} s")


ARTIST_SCRIPT = textwrap.dedent("""
    import json, socket, sys
    from ray.cluster_utils import Cluster
    import ray
    from mlflow.tracking import MlflowClient
    from raymir.config import load_sweep
    from raymir.sweep import run

    out = sys.argv[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dashboard_port = s.getsockname()[1]
    # A head that lends no CPU, as on a cluster whose head only orchestrates: the trials' drivers live there
    # (raymir_driver), every CPU is on the worker node.
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "object_store_memory": 80 * 1024**2, "resources": {"raymir_driver": 100},
        "include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": dashboard_port})
    worker = cluster.add_node(num_cpus=2, object_store_memory=80 * 1024**2)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
    head = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("raymir_driver"))
    cfg = load_sweep("artist_labels", preset="tiny", overrides=(
        "models=[basic]", "n_artists=[10]", "probe.tasks=[genre,retrieval]"))
    result = run(cfg, address=cluster.address, output=out)
    tracker = result["tracker"]
    children = MlflowClient(tracker.uri).search_runs(
        [tracker.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{tracker.parent_run_id}'")
    print("RESULT " + json.dumps({"head": head, "worker": worker.node_id, "errors": result["errors"],
                                  "probe_nodes": {r.data.params["model"]: r.data.params.get("probe_node")
                                                  for r in children}}))
    ray.shutdown()
    cluster.shutdown()
""")


@pytest.mark.slow  # ~2 min: two raylets and a tiny artist sweep
def test_an_artist_trial_s_features_and_probes_run_on_a_worker_node(tmp_path):
    ray_tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    env = os.environ | {"RAY_TMPDIR": ray_tmp, "RAY_ADDRESS": ""}
    script = tmp_path / "artist_two_nodes.py"
    script.write_text(ARTIST_SCRIPT)
    try:
        proc = subprocess.run([sys.executable, str(script), str(tmp_path / "out")], env=env, capture_output=True,
                              text=True, timeout=900, start_new_session=True)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert proc.returncode == 0 and line, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(line[len("RESULT "):])
    assert not res["errors"]
    # the trained model's trial and the MFCC baseline's: their drivers sit on the head, their work did not
    assert res["probe_nodes"] == {"basic": res["worker"], "mfcc": res["worker"]} and res["head"] != res["worker"]
