"""Scheduling overhead of a probe sweep: the share of wall time × CPUs not spent fitting, on one
2-CPU node vs two 1-CPU nodes of a real Ray cluster on this machine (ray.cluster_utils.Cluster).

The fitting time is measured by running every trial's grid search serially in this process first;
the sweep then runs as Ray Tune trials (with MLflow logging) on each cluster shape.

    python benchmarks/bench_cluster.py [--trials 32] [--clips 240]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="rb", dir="/tmp"))  # short socket paths

from raymir import tracking  # noqa: E402
from raymir.config import ProbeConfig, SearchConfig  # noqa: E402
from raymir.recipes.layer_combos_probes import ProbeGrid, TaskData, run_probe, run_probe_trials  # noqa: E402


def _task(n: int, seed: int = 0) -> TaskData:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    conv = rng.normal(size=(n, 5, 32)) + 0.5 * y[:, None, None] * rng.normal(size=(1, 5, 32))
    folds = [np.arange(i, n, 5) for i in range(5)]
    return TaskData("classification", y, folds, {"convnet": conv, "random": rng.normal(size=(n, 5, 32)),
                                                 "mfcc": rng.normal(size=(n, 120))})


def _specs(n: int) -> list[ProbeGrid]:
    combos = ["1", "2", "3", "4", "5", "12", "13", "14", "15", "23", "24", "25", "34", "35", "45", "123"]
    return [ProbeGrid("t", f, c) for f in ("convnet", "random") for c in combos][:n]


def _sweep(cluster_nodes: list[int], grids: list[ProbeGrid], tasks: dict, probe: ProbeConfig, out: Path) -> float:
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cluster_nodes[0],
                                                            "object_store_memory": 100 * 1024**2})
    for cpus in cluster_nodes[1:]:
        cluster.add_node(num_cpus=cpus, object_store_memory=100 * 1024**2)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    try:
        uri, art = tracking.resolve_uri(None, out)
        tracker = tracking.start_parent(tracking.setup_experiment(uri, "bench", art), sweep="bench", params={})
        t0 = time.perf_counter()
        search = SearchConfig(max_failures=0, combos_per_trial=1)  # one grid per trial: the overhead this measures
        rows, errors = run_probe_trials(grids, tasks, probe, tracker, search=search, storage=out / "ray", name="bench")
        wall = time.perf_counter() - t0
        assert not errors and len(rows) == len(grids), errors
        return wall
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=32)
    ap.add_argument("--clips", type=int, default=240)
    args = ap.parse_args()
    tasks = {"t": _task(args.clips)}
    grids = _specs(args.trials)
    probe = ProbeConfig(folds=5, nested=False, C=(0.1, 2.0, 8.0), gamma=("2^-5", "1/n_features"))
    t0 = time.perf_counter()
    for grid in grids:
        run_probe(grid, tasks["t"], probe)
    fit = time.perf_counter() - t0
    print(f"{len(grids)} probe trials of {args.clips} clips ({len(probe.kernels) * len(probe.scaler)} kernel/scaler "
          f"× C × γ configs, 5 folds each); serial fitting: {fit:.1f} s ({fit / len(grids):.2f} s per trial)")
    print(f"{'cluster':<22}{'wall':>8}{'ideal':>8}{'overhead':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, nodes in (("1 node × 2 CPUs", [2]), ("2 nodes × 1 CPU", [1, 1])):
            wall = _sweep(nodes, grids, tasks, probe, Path(tmp) / label.split()[0])
            ideal = fit / sum(nodes)
            print(f"{label:<22}{wall:>7.1f}s{ideal:>7.1f}s{1 - ideal / wall:>9.0%}")


if __name__ == "__main__":
    main()
