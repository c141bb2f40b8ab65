"""The Choi probe grid: raymir vs plain scikit-learn GridSearchCV over the same grid, folds and
features, in the same run; then how raymir's time grows with the number of clips; with
``--solver lssvm``, the whole grid with the LS-SVM (on a GPU when one is visible: 8.7k clips,
UrbanSound8K's size).

Features: the genre task of the synthetic corpus (``--clips`` clips, grouped 10-fold CV), pooled
layer features of the random-weights Choi convnet, all 31 layer combinations, the full grid
(scaler on/off × {linear, rbf × 7 γ} × 4 C = 64 points), libsvm capped at ``--max-iter``
iterations per fit on both sides. Both sides use every core (GridSearchCV n_jobs=-1; Ray).
Beside them, libsvm's own fits, timed one by one on fold 1: the floor under any exact engine.

    python benchmarks/bench_probes.py [--clips 1000] [--combos 31] [--sizes 500,1000,2000,4000,8000]
                                      [--solver lssvm] [--solver-max-clips 4000] [--solver-full-clips N]
                                      [--solver-precision auto,mixed,fp64]
                                      [--nested] [--skip-sklearn]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import ray
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from raymir import tracking
from raymir.audio import MelParams
from raymir.config import ProbeConfig, SearchConfig, all_layer_combos
from raymir.data.synthetic import SyntheticParams, load_synthetic
from raymir.extract import layer_features
from raymir.models.choi2017 import Choi2017
from raymir.probes import svm
from raymir.probes.folds import make_folds
from raymir.probes.lssvm import lssvm_predict
from raymir.probes.svm import Engine, grid_points, grid_search_combos
from raymir.recipes.layer_combos_probes import ProbeGrid, TaskData, feature_matrix, run_probe_trials


def sklearn_grid(X: np.ndarray, y: np.ndarray, folds: list[np.ndarray], probe: ProbeConfig) -> GridSearchCV:
    """Plain GridSearchCV: StandardScaler (or passthrough) + SVC, the same points in raymir's order."""
    test_fold = np.empty(len(y), int)
    for i, f in enumerate(folds):
        test_fold[f] = i
    grid = [{"sc": [StandardScaler() if p.scaler else "passthrough"], "svm__kernel": [p.kernel], "svm__C": [p.C]}
            | ({"svm__gamma": [p.gamma]} if p.kernel == "rbf" else {}) for p in grid_points(probe, X.shape[1])]
    gs = GridSearchCV(Pipeline([("sc", StandardScaler()), ("svm", SVC(max_iter=probe.max_iter))]), grid,
                      cv=PredefinedSplit(test_fold), n_jobs=-1, refit=False)
    with warnings.catch_warnings():  # scikit-learn hands the caller's filters to its worker processes
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gs.fit(X, y)


def genre_features(n_clips: int, cache_root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(layer features [n, 5, 32], genre labels [n], artist groups [n]) of ≥ n_clips synthetic clips."""
    per_genre = max(1, -(-n_clips // 40))  # 10 genres × artists × 4 tracks
    genre = load_synthetic(SyntheticParams(target_artists_per_genre=per_genre), sr=12000, cache_root=cache_root,
                           names=("genre",))["genre"]
    torch.manual_seed(0)
    feats = layer_features(Choi2017(50), genre.audio, n_samples=MelParams().n_samples)
    return feats, genre.labels["genre"], genre.groups


def first(n: int, y: np.ndarray) -> np.ndarray:
    """n clips spread evenly over the classes (the corpus is ordered by genre)."""
    return np.sort(np.concatenate([np.flatnonzero(y == c)[: n // len(np.unique(y))] for c in np.unique(y)]))


def layer_grid(feats: np.ndarray, y: np.ndarray, folds: list[np.ndarray], combos: list[str], probe: ProbeConfig,
               engine: Engine) -> dict:
    """raymir's grid search in this process: feats [n, 5, d] per-layer features, combos such as "135"."""
    blocks = {str(i + 1): feats[:, i] for i in range(feats.shape[1])}
    return grid_search_combos(blocks, {c: tuple(c) for c in combos}, y, folds,
                              {c: grid_points(probe, feats.shape[2] * len(c)) for c in combos}, kind="classification",
                              nested=False, engine=engine)


def libsvm_floor(feats: np.ndarray, combos: list[str], y: np.ndarray, test: np.ndarray,
                 probe: ProbeConfig) -> tuple[float, float, int]:
    """libsvm's own time for one training set's full grid (every combination), timed fit by fit in one process.

    → (seconds in libsvm, of which in fits that stopped at the iteration cap, number of fits). Whatever
    an exact engine does around them, these calls remain: ×folds ÷cores bounds its wall time from below.
    """
    timed = svm._fit_predict
    spent = [0.0, 0.0, 0]

    def fit_predict(*args, **kw):
        t0 = time.perf_counter()
        out = timed(*args, **kw)
        dt = time.perf_counter() - t0
        spent[0] += dt
        spent[1] += dt * out[1]
        spent[2] += 1
        return out

    svm._fit_predict = fit_predict  # the engine calls it through the module: count every fit it makes
    try:
        layer_grid(feats, y, [test], combos, probe, Engine(max_iter=probe.max_iter))
    finally:
        svm._fit_predict = timed
    return spent[0], spent[1], spent[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--combos", type=int, default=31)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--max-iter", type=int, default=10_000, help="libsvm iterations per fit (the sweep's default)")
    ap.add_argument("--sizes", default="500,1000,2000,4000,8000", help="clip counts of the growth curve")
    ap.add_argument("--solver", default="", help="also time this solver for the growth curve (lssvm)")
    ap.add_argument("--solver-max-clips", type=int, default=4000,
                    help="largest growth-curve size for --solver (LS-SVM on a CPU grows as n³)")
    ap.add_argument("--solver-full-clips", type=int, default=-1,
                    help="(c) the full grid with --solver at this many clips (default: 8700 on a GPU, 1000 on CPU; 0: skip)")
    ap.add_argument("--solver-precision", default="auto",
                    help="(c) once per listed LS-SVM precision (auto, mixed, fp64; comma-separated)")
    ap.add_argument("--skip-sklearn", action="store_true")
    ap.add_argument("--nested", action="store_true", help="also time raymir with nested CV (~5x the fits)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    full_n = 0 if not args.solver else args.solver_full_clips if args.solver_full_clips >= 0 else \
        8700 if device == "cuda" else 1000
    probe = ProbeConfig(folds=args.folds, nested=False, max_iter=args.max_iter)
    combos = all_layer_combos()[: args.combos]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        feats, labels, groups = genre_features(max([args.clips if combos else 0, full_n, *sizes]), tmp)
        print(f"{len(labels)} clips rendered and featurised in {time.perf_counter() - t0:.0f} s; {os.cpu_count()} "
              f"cores; grid: {len(grid_points(probe, 32))} points × {args.folds} folds × {len(combos)} combinations")

        if combos:  # --combos 0: the growth curve only
            keep = first(args.clips, labels)
            y, g = labels[keep], groups[keep]
            folds = make_folds(y, kind="classification", n_folds=args.folds, groups=g)
            data = TaskData("classification", y, folds, {"random": feats[keep], "convnet": feats[keep]})

            ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
            uri, art = tracking.resolve_uri(None, tmp / "out")
            tracker = tracking.start_parent(tracking.setup_experiment(uri, "bench", art), sweep="bench", params={})
            grids = [ProbeGrid("genre", "random", c) for c in combos]
            times, rows = {}, {}
            for nested in (False, True) if args.nested else (False,):
                p = dataclasses.replace(probe, nested=nested)
                t0 = time.perf_counter()
                out, errors = run_probe_trials(grids, {"genre": data}, p, tracker, search=SearchConfig(max_failures=0),
                                               storage=tmp / "ray", name=f"bench-{nested}")
                times[nested] = time.perf_counter() - t0
                rows[nested] = {r["layers"]: r for r in out}
                assert not errors, errors
            ray.shutdown()

            t_sk, agree, worst = None, 0, 0.0
            if not args.skip_sklearn:
                t0 = time.perf_counter()
                ref = {c: sklearn_grid(feature_matrix(data, "random", c), y, folds, probe) for c in combos}
                t_sk = time.perf_counter() - t0
                for c in combos:
                    r, best = rows[False][c], ref[c].best_index_
                    pts = grid_points(probe, int(r["n_features"]))
                    diff = abs(r["cv_accuracy"] - ref[c].cv_results_["mean_test_score"][best])
                    worst = max(worst, diff)
                    same = pts[best].kernel == r["kernel"] and pts[best].C == r["C"] and pts[best].scaler == r["scaler"] \
                        and (r["kernel"] == "linear" or pts[best].gamma == r["gamma"])
                    agree += same and diff < 1e-6
                    if not (same and diff < 1e-6):
                        print(f"  {c}: raymir {r['kernel']} C={r['C']} γ={r['gamma']} scaler={r['scaler']} "
                              f"{r['cv_accuracy']:.6f} | GridSearchCV {pts[best]} {ref[c].best_score_:.6f}")

            fit_s, capped_s, n_fits = libsvm_floor(feats[keep], combos, y, folds[0], probe)
            cores = os.cpu_count() or 1
            floor = fit_s * args.folds / cores

            print(f"\n(a) full grid, {len(y)} clips, {len(combos)} layer combinations")
            print(f"{'method':<52}{'wall s':>8}{'vs GridSearchCV':>17}")
            if t_sk is not None:
                print(f"{'scikit-learn GridSearchCV (all cores), plain CV':<52}{t_sk:>8.1f}{1.0:>16.2f}x")
            for nested, label in ((False, "plain CV"), (True, "plain CV + nested CV")):
                if nested not in times:
                    continue
                ratio = f"{t_sk / times[nested]:>16.2f}x" if t_sk else ""
                print(f"{'raymir, Ray Tune trials, ' + label:<52}{times[nested]:>8.1f}{ratio}")
            ratio = f"{t_sk / floor:>16.2f}x" if t_sk else ""
            print(f"{'libsvm fits alone (fold 1 × ' + str(args.folds) + ' folds ÷ ' + str(cores) + ' cores)':<52}"
                  f"{floor:>8.1f}{ratio}")
            print(f"    fold 1: {n_fits} libsvm fits, {fit_s:.1f} s in one process ({1000 * fit_s / n_fits:.1f} ms "
                  f"each), {capped_s:.1f} s of it in fits stopped at {args.max_iter} iterations")
            if t_sk is not None:
                print(f"same best configuration and CV score (to 1e-6): {agree}/{len(combos)}; largest best-score "
                      f"difference {worst:.1e}")

        print(f"\n(b) growth: layer combination 12345, full grid, {args.folds} folds, in one process")
        engines = {"libsvm": Engine(max_iter=args.max_iter)}
        if args.solver == "lssvm":
            engines["lssvm"] = Engine(solver="lssvm", device=device, kernel_memory_gb=64.0 if device == "cuda" else 8.0)
            # torch's one-off start-up (linear-algebra libraries, CUDA context) is not the solver's time
            lssvm_predict(np.eye(4)[None], np.eye(4)[None, :1], np.arange(4) % 2, (1.0,), kind="classification",
                          n_classes=2, device=device)
        print(f"{'clips':>6}" + "".join(f"{e + ' s':>12}{'acc':>8}" for e in engines))
        for n in sizes:
            idx = first(n, labels)
            fo = make_folds(labels[idx], kind="classification", n_folds=args.folds, groups=groups[idx])
            line = f"{len(idx):>6}"
            for name, eng in engines.items():
                if name != "libsvm" and len(idx) > args.solver_max_clips:
                    line += f"{'-':>12}{'-':>8}"
                    continue
                t0 = time.perf_counter()
                res = layer_grid(feats[idx], labels[idx], fo, ["12345"], probe, eng)["12345"]
                line += f"{time.perf_counter() - t0:>12.1f}{res.cv_mean:>8.3f}"
            print(line, flush=True)


        if full_n:
            idx = first(full_n, labels)
            fo = make_folds(labels[idx], kind="classification", n_folds=args.folds, groups=groups[idx])
            every = all_layer_combos()
            print(f"\n(c) full grid with {args.solver} on {device}: {len(idx)} clips, {len(every)} combinations × "
                  f"{len(grid_points(probe, 32))} points × {args.folds} folds in one process")
            for precision in args.solver_precision.split(","):
                t0 = time.perf_counter()
                res = layer_grid(feats[idx], labels[idx], fo, every, probe,
                                 dataclasses.replace(engines["lssvm"], precision=precision))
                wall = time.perf_counter() - t0
                best = np.mean([r.cv_mean for r in res.values()])
                print(f"    {next(iter(res.values())).engine}: {wall:.1f} s; mean best CV accuracy {best:.3f}",
                      flush=True)
            if combos and full_n == args.clips and len(combos) == len(every):
                print(f"    libsvm (a) on the same clips: mean best CV accuracy "
                      f"{np.mean([rows[False][c]['cv_accuracy'] for c in every]):.3f}")


if __name__ == "__main__":
    main()
