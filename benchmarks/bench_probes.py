"""Probe sweep wall time: raymir (Ray Tune trials, precomputed kernels) vs plain scikit-learn
GridSearchCV over the same grid, folds and features, in the same run.

Features: the genre task of the default synthetic corpus, random-weights convnet, all 31 layer
combinations. Both sides use 2 processes (GridSearchCV n_jobs=2; Ray with 2 CPUs).

    python benchmarks/bench_probes.py [--combos 31]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
import torch
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from raymir import tracking
from raymir.audio import MelParams
from raymir.config import ProbeConfig, all_layer_combos, gamma_value
from raymir.data.synthetic import SyntheticParams, load_synthetic
from raymir.extract import layer_features, mfcc_features
from raymir.models.choi2017 import Choi2017
from raymir.probes.folds import make_folds
from raymir.search import TaskData, feature_matrix, run_probe_trials


def sklearn_grid(X: np.ndarray, y: np.ndarray, folds: list[np.ndarray], probe: ProbeConfig, n_jobs: int):
    test_fold = np.empty(len(y), int)
    for i, f in enumerate(folds):
        test_fold[f] = i
    gammas = [gamma_value(g, X.shape[1]) for g in probe.gamma]
    scalers = [StandardScaler() if s else "passthrough" for s in probe.scaler]
    grid = [{"sc": scalers, "svm__kernel": ["linear"], "svm__C": list(probe.C)},
            {"sc": scalers, "svm__kernel": ["rbf"], "svm__C": list(probe.C), "svm__gamma": gammas}]
    gs = GridSearchCV(Pipeline([("sc", StandardScaler()), ("svm", SVC(max_iter=probe.max_iter))]), grid,
                      cv=PredefinedSplit(test_fold),
                      n_jobs=n_jobs)
    return gs.fit(X, y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--combos", type=int, default=31)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        genre = load_synthetic(SyntheticParams(), sr=12000, cache_root=tmp, names=("genre",))["genre"]
        torch.manual_seed(0)
        feats = {"random": layer_features(Choi2017(50), genre.audio, n_samples=MelParams().n_samples),
                 "mfcc": mfcc_features(genre.audio, genre.sr)}
        feats["convnet"] = feats["random"]
        y = genre.labels["genre"]
        probe = ProbeConfig(folds=5)
        folds = make_folds(y, kind="classification", n_folds=5, groups=genre.groups)
        data = TaskData("classification", y, folds, feats)
        combos = all_layer_combos()[: args.combos]
        print(f"genre task: {len(y)} clips, {len(folds)} grouped folds, {len(combos)} layer combinations, "
              f"{2 * len(probe.C) * (1 + len(probe.gamma))} grid points each")

        t0 = time.perf_counter()
        ref = {c: sklearn_grid(feature_matrix(data, "random", c), y, folds, probe, n_jobs=2) for c in combos}
        t_sk = time.perf_counter() - t0

        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        uri, art = tracking.resolve_uri(None, tmp / "out")
        tracker = tracking.start_parent(tracking.setup_experiment(uri, "bench", art), sweep="bench", params={})
        specs = [{"task": "genre", "feature": "random", "layers": c} for c in combos]
        times, rows = {}, {}
        for nested in (False, True):
            p = dataclasses.replace(probe, nested=nested)
            t0 = time.perf_counter()
            out, errors = run_probe_trials(specs, {"genre": data}, p, tracker, storage_path=tmp / "ray",
                                           name=f"bench-{nested}", cpus_per_trial=1, max_concurrent=2, max_failures=0)
            times[nested] = time.perf_counter() - t0
            rows[nested] = {r["layers"]: r for r in out}
            assert not errors, errors
        ray.shutdown()

    agree = same_score = 0
    for c in combos:
        best = ref[c].best_params_
        r = rows[False][c]
        same = (r["kernel"] == best["svm__kernel"] and float(r["C"]) == best["svm__C"]
                and (r["scaler"] == isinstance(best["sc"], StandardScaler))
                and (r["kernel"] == "linear" or abs(float(r["gamma"]) - best["svm__gamma"]) < 1e-12)
                and abs(r["cv_accuracy"] - ref[c].best_score_) < 1e-9)
        agree += same
        same_score += abs(rows[False][c]["cv_accuracy"] - ref[c].best_score_) < 1e-9
        if not same:
            print(f"  {c}: raymir {r['kernel']} C={r['C']} gamma={r['gamma']} scaler={r['scaler']} "
                  f"{r['cv_accuracy']:.6f} | sklearn {best} {ref[c].best_score_:.6f}")
    print(f"{'method':<58}{'wall s':>8}{'vs sklearn':>12}")
    print(f"{'scikit-learn GridSearchCV (n_jobs=2), plain CV':<58}{t_sk:>8.1f}{1.0:>11.2f}x")
    print(f"{'raymir on Ray Tune (2 CPUs), plain CV':<58}{times[False]:>8.1f}{t_sk / times[False]:>11.2f}x")
    print(f"{'raymir on Ray Tune (2 CPUs), plain CV + nested CV':<58}{times[True]:>8.1f}{t_sk / times[True]:>11.2f}x")
    print(f"same best configuration and CV score: {agree}/{len(combos)} combinations; "
          f"same best CV score: {same_score}/{len(combos)} (a tie between grid points is broken by grid order)")


if __name__ == "__main__":
    main()
