"""SVM / SVR grid search with cross-validation and nested CV (Choi et al. 2017's probe).

Pure numpy/scikit-learn: features [n, d] and labels [n] in, a table of scores out.
The paper's number is the mean CV score of the best grid point (optimistic: the same
folds choose and score it). The unbiased number is nested CV: for each outer fold k the
grid point is chosen by CV over the other folds, then scored on fold k. With the inner
folds taken as the other outer folds, an inner fit trains on "all but folds {k, j}",
which is the same set for (k, j) and (j, k) — so each such fit is made once and reused.

Kernels are precomputed per training set from per-block Gram matrices (``raymir.probes.kernels``):
one set of block Grams serves every layer combination, one distance matrix every γ, one kernel
every C. Unscaled Grams do not depend on the training set and are computed once for all folds.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import SVC, SVR

from raymir.config.sections import gamma_value
from raymir.probes.kernels import BYTES, BlockGrams, block_grams, kernel_bytes, rbf, standardised
from raymir.probes.lssvm import lssvm_predict, on_device, solve_label, solver_device

try:  # libsvm as scikit-learn calls it, without its per-call validation (~80% of a small fit's time)
    from sklearn.svm import _libsvm
except ImportError:  # pragma: no cover - layout of a future scikit-learn
    _libsvm = None

_EMPTY = np.empty(0, dtype=np.float64)


def _fit_predict(k_train: np.ndarray, y_train: np.ndarray, k_test: np.ndarray, *, C: float, svr: bool,
                 max_iter: int = -1) -> tuple[np.ndarray, bool]:
    """Fit a precomputed-kernel SVC (y = class indices 0..c-1) or SVR, predict the test rows.

    k_train: [n_train, n_train]; k_test: [n_test, n_train] → (predictions [n_test], hit the
    iteration cap). Same libsvm call, arguments and defaults as
    ``SVC/SVR(kernel="precomputed", C=C, max_iter=max_iter)``.
    """
    if _libsvm is None:
        model = (SVR if svr else SVC)(kernel="precomputed", C=C, max_iter=max_iter).fit(k_train, y_train)
        return model.predict(k_test), bool(model.fit_status_)
    svm_type = 3 if svr else 0
    _libsvm.set_verbosity_wrap(0)  # libsvm's global flag: quiet unless asked, as scikit-learn does
    k_train = np.ascontiguousarray(k_train, dtype=np.float64)
    fitted = _libsvm.fit(k_train, np.asarray(y_train, dtype=np.float64), svm_type=svm_type, kernel="precomputed",
                         C=C, epsilon=0.1, tol=1e-3, cache_size=200.0, class_weight=_EMPTY, sample_weight=_EMPTY,
                         shrinking=1, probability=0, degree=3, gamma=0.0, coef0=0.0, nu=0.5, max_iter=max_iter,
                         random_seed=0)
    support, sv, n_sv, dual, intercept, prob_a, prob_b, status = fitted[:8]
    return _libsvm.predict(np.ascontiguousarray(k_test, dtype=np.float64), support, sv, n_sv, dual, intercept,
                           prob_a, prob_b, svm_type=svm_type, kernel="precomputed", degree=3, coef0=0.0,
                           gamma=0.0, cache_size=200.0), bool(status)


def score(y_true: np.ndarray, y_pred: np.ndarray, *, kind: str) -> float:
    """Accuracy (classification) or coefficient of determination r² (regression)."""
    if kind == "classification":
        return float(np.mean(y_true == y_pred))
    ss_res = float(np.sum((y_true - y_pred) ** 2))
    ss_tot = float(np.sum((y_true - np.mean(y_true)) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0


@dataclass(frozen=True)
class GridPoint:
    scaler: bool
    kernel: str
    C: float
    gamma: float | None  # None for the linear kernel
    gamma_name: str = ""

    def as_dict(self) -> dict:
        return {"scaler": self.scaler, "kernel": self.kernel, "C": self.C,
                "gamma": "-" if self.gamma is None else self.gamma_name or self.gamma}


@dataclass
class GridResult:
    """Scores of every grid point on every fold, and the two summary numbers."""

    points: list[GridPoint]
    fold_scores: np.ndarray  # [n_points, n_folds]
    best: int  # index of the best grid point by mean CV score (first on ties, as GridSearchCV)
    # [n_folds] outer-fold scores of nested CV (several repeats pooled: [repeats · folds], see ``pooled_repeats``)
    nested_scores: np.ndarray | None
    nested_choice: list[int] | None  # grid point chosen in each outer fold
    capped: np.ndarray | None = None  # [n_points, n_folds] fits that stopped at the iteration cap
    engine: str = ""  # how it was computed (solver, precomputed or on-the-fly kernels)
    # [n_folds] the inner-CV mean score that chose each outer fold's point: lets a choice among several feature
    # combinations be nested too (pick, per outer fold, the combination whose choice scored best inside)
    nested_inner: np.ndarray | None = None

    @property
    def cv_mean(self) -> float:
        return float(self.fold_scores[self.best].mean())

    @property
    def cv_std(self) -> float:
        return float(self.fold_scores[self.best].std())

    @property
    def nested_mean(self) -> float | None:
        return None if self.nested_scores is None else float(self.nested_scores.mean())

    def table(self) -> list[dict]:
        """One row per grid point: its settings, mean and std of the CV score, per-fold scores."""
        rows = []
        for i, p in enumerate(self.points):
            row = p.as_dict() | {"mean": float(self.fold_scores[i].mean()), "std": float(self.fold_scores[i].std())}
            if self.capped is not None:
                row["capped_folds"] = int(self.capped[i].sum())
            row |= {f"fold{k}": float(s) for k, s in enumerate(self.fold_scores[i])}
            rows.append(row)
        return rows


def pooled_repeats(runs: list[GridResult]) -> GridResult:
    """The grids of one combination over r repeats of CV (the same points, folds re-drawn) as one grid over
    J = r·k folds, repeat-major (fold j = repeat · k + fold): fold scores and capped fits [points, J], nested
    scores, choices and inner means [J], the best point by its mean over all J. One repeat comes back as it is."""
    if len(runs) == 1:
        return runs[0]
    fold_scores = np.concatenate([g.fold_scores for g in runs], axis=1)
    nested = runs[0].nested_scores is not None
    return GridResult(
        runs[0].points, fold_scores, int(np.argmax(fold_scores.mean(axis=1))),
        np.concatenate([g.nested_scores for g in runs]) if nested else None,
        [c for g in runs for c in g.nested_choice] if nested else None,
        None if runs[0].capped is None else np.concatenate([g.capped for g in runs], axis=1),
        engine="; ".join(dict.fromkeys(g.engine for g in runs)),  # one name unless kernels fitted in one repeat only
        nested_inner=np.concatenate([g.nested_inner for g in runs]) if nested else None)


def grid_points(probe, n_features: int) -> list[GridPoint]:
    """The grid a probe config names (its ``scaler``, ``kernels``, ``C``, ``gamma``) for ``n_features``-d inputs."""
    gammas = tuple((str(g), gamma_value(g, n_features)) for g in probe.gamma)
    return make_grid(n_features=n_features, scaler=probe.scaler, kernels=probe.kernels, C=probe.C, gammas=gammas)


def make_grid(*, n_features: int, scaler: tuple[bool, ...], kernels: tuple[str, ...], C: tuple[float, ...],
              gammas: tuple[tuple[str, float], ...]) -> list[GridPoint]:
    """All grid points: (scaler × linear × C) ∪ (scaler × rbf × C × γ), in a fixed order."""
    pts = []
    for s in scaler:
        if "linear" in kernels:
            pts += [GridPoint(s, "linear", float(c), None) for c in C]
        if "rbf" in kernels:
            pts += [GridPoint(s, "rbf", float(c), float(g), name) for c in C for name, g in gammas]
    return pts


def _libsvm_scores(k_a: np.ndarray, k_b: np.ndarray, y_train: np.ndarray, C: list[float], *, kind: str,
                   max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """One precomputed kernel, every C: → (test predictions [len(C), m], hit the iteration cap [len(C)]).

    A C listed twice is fitted once: "1/n_features" is one of the 2^k γ when n_features is a power
    of two (32-d layers), and the two grid points are then the same fit.
    """
    k_a = np.ascontiguousarray(k_a)
    k_b = np.ascontiguousarray(k_b)
    fits = {}
    for c in C:
        if c not in fits:
            fits[c] = _fit_predict(k_a, y_train, k_b, C=c, svr=kind == "regression", max_iter=max_iter)
    return np.array([fits[c][0] for c in C]), np.array([fits[c][1] for c in C])


def _direct_predict(x: np.ndarray, n_train: int, y_train: np.ndarray, p: GridPoint, *, kind: str,
                    max_iter: int) -> tuple[np.ndarray, bool]:
    """libsvm computing kernel rows itself (memory O(n·d)): x [n_rows, d] with the training rows first."""
    est = (SVR if kind == "regression" else SVC)(kernel=p.kernel, C=p.C, gamma=p.gamma or "scale",
                                                  max_iter=max_iter)
    with warnings.catch_warnings():  # the cap is counted in GridResult.capped, not warned about per fit
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(x[:n_train], y_train)
    return est.predict(x[n_train:]), bool(est.fit_status_)


@dataclass(frozen=True)
class Engine:
    """How a grid is computed: the solver, where the LS-SVM runs, and the kernel memory budget."""

    solver: str = "libsvm"  # libsvm (exact, scikit-learn's SVC/SVR) | lssvm (least-squares SVM, torch)
    device: str = "cpu"  # lssvm only: cpu | cuda
    kernel_memory_gb: float = 4.0  # above this, libsvm computes kernel rows itself (same results, slower)
    max_iter: int = -1
    precision: str = "auto"  # lssvm only: auto | mixed | fp64 (see ``lssvm_predict``)


def engine_for(probe) -> Engine:
    """The engine a probe config asks for (its ``solver``, ``device``, ``kernel_memory_gb``, ``max_iter``,
    ``solver_precision``)."""
    return Engine(solver=probe.solver, device=solver_device(probe.device), kernel_memory_gb=probe.kernel_memory_gb,
                  max_iter=probe.max_iter, precision=probe.solver_precision)


Fit = tuple[int, np.ndarray, bool]  # (grid point index, predictions of the test rows [m], hit the iteration cap)
KernelOf = Callable[[tuple], np.ndarray]  # (kernel, γ) → kernel [n_rows, n_train] (numpy, or torch for the LS-SVM)


def _kernel_groups(points: list[GridPoint], scaler: bool) -> dict[tuple, list[int]]:
    """Indices of the ``scaler`` grid points by (kernel, γ): the points that share one kernel matrix."""
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(points):
        if p.scaler == scaler:
            groups.setdefault((p.kernel, p.gamma), []).append(i)
    return groups


def _kernels(grams: BlockGrams, parts: tuple[str, ...], groups: dict[tuple, list[int]]) -> KernelOf:
    """→ kernel(key): the [n_rows, n_train] kernel of one (kernel, γ) group of combination ``parts``.

    Built when asked for, so one RBF kernel at a time is in memory beside the linear one and the distances.
    """
    lin = grams.linear(parts)
    dist = grams.sqdist(parts, lin) if any(k == "rbf" for k, _ in groups) else None
    return lambda key: lin if key[0] == "linear" else rbf(dist, key[1])


def _fits_libsvm(kernel: KernelOf, groups: dict[tuple, list[int]], points: list[GridPoint], y_train: np.ndarray, *,
                 kind: str, engine: Engine) -> Iterator[Fit]:
    """libsvm on precomputed kernels: each kernel built once and fitted for every C of its group."""
    n_train = len(y_train)
    for key, members in groups.items():
        k = kernel(key)
        preds, caps = _libsvm_scores(k[:n_train], k[n_train:], y_train, [points[i].C for i in members], kind=kind,
                                     max_iter=engine.max_iter)
        yield from zip(members, preds, caps, strict=True)


def _fits_lssvm(kernel: KernelOf, groups: dict[tuple, list[int]], points: list[GridPoint], y_train: np.ndarray, *,
                kind: str, engine: Engine, n_classes: int, per_batch: int) -> Iterator[Fit]:
    """The LS-SVM on its device: ``per_batch`` kernels solved together, every C of the grid at once."""
    n_train = len(y_train)
    Cs = sorted({points[i].C for members in groups.values() for i in members})
    keys = list(groups)
    for lo in range(0, len(keys), per_batch):
        ks = [kernel(key) for key in keys[lo:lo + per_batch]]
        pred = lssvm_predict([k[:n_train] for k in ks], [k[n_train:] for k in ks], y_train, tuple(Cs), kind=kind,
                             n_classes=n_classes, device=engine.device, precision=engine.precision)
        for g, key in enumerate(keys[lo:lo + per_batch]):
            for i in groups[key]:
                yield i, pred[g, Cs.index(points[i].C)], False


def _fits_on_the_fly(x: np.ndarray, groups: dict[tuple, list[int]], points: list[GridPoint], y_train: np.ndarray, *,
                     kind: str, engine: Engine) -> Iterator[Fit]:
    """libsvm computing kernel rows itself (over the memory budget): x [n_rows, d], training rows first."""
    for members in groups.values():
        for i in members:
            pred, cap = _direct_predict(x, len(y_train), y_train, points[i], kind=kind, max_iter=engine.max_iter)
            yield i, pred, cap


def _evaluate(blocks: dict[str, np.ndarray], combos: dict[str, tuple[str, ...]], points: dict[str, list[GridPoint]],
              y: np.ndarray, train: np.ndarray, tests: list[np.ndarray], *, kind: str, engine: Engine,
              n_classes: int, raw: BlockGrams | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], bool]:
    """Fit every grid point of every combination once on ``train``, score each test set.

    ``raw``: unscaled block Grams of all clips [n, n], sliced instead of recomputed when given.
    → ({combo: scores [len(tests), n_points]}, {combo: capped [n_points]}, kernels were precomputed).
    """
    rows = np.concatenate([train, *tests])
    n_train = len(train)
    bounds = np.cumsum([0] + [len(t) for t in tests])  # test set j: predictions[bounds[j]:bounds[j + 1]]
    y_train = y[train]
    used = sorted({b for c in combos.values() for b in c})
    budget = engine.kernel_memory_gb * 2**30
    need = kernel_bytes(len(rows), n_train, len(used))
    precompute = need <= budget
    lssvm = engine.solver == "lssvm"
    if lssvm and not precompute:  # it has no kernel-free path: say so instead of running out of memory
        raise ValueError(f"probe.solver: lssvm needs {need / 2**30:.1f} GB of kernels for {len(rows)} clips, over "
                         f"probe.kernel_memory_gb={engine.kernel_memory_gb:g}: raise it (memory permitting) or use "
                         "probe.solver: libsvm, which computes kernel rows on the fly")
    # LS-SVM kernels solved together: each needs itself, a stacked copy and two factorisation buffers
    per_batch = max(1, int((budget - need) // (4 * len(rows) * n_train * BYTES)))
    scores = {c: np.empty((len(tests), len(points[c]))) for c in combos}
    capped = {c: np.zeros(len(points[c]), dtype=bool) for c in combos}
    run = dict(kind=kind, engine=engine)

    for scaler in sorted({p.scaler for c in combos for p in points[c]}, reverse=True):
        if not precompute:
            grams = None
        elif not scaler and raw is not None:
            grams = BlockGrams({b: raw.grams[b][np.ix_(rows, train)] for b in used},
                               {b: raw.sq[b][rows] for b in used}, n_train)
        else:  # the LS-SVM's on its device (GPU), libsvm's in numpy
            grams = block_grams({b: blocks[b] for b in used}, rows, n_train, scaler=scaler,
                                to=on_device(engine.device) if lssvm else None)
        for combo, parts in combos.items():
            groups = _kernel_groups(points[combo], scaler)
            if not groups:
                continue
            if not precompute:
                x = standardised(np.concatenate([blocks[b][rows] for b in parts], axis=1), n_train, scaler=scaler)
                fits = _fits_on_the_fly(x, groups, points[combo], y_train, **run)
            elif lssvm:
                fits = _fits_lssvm(_kernels(grams, parts, groups), groups, points[combo], y_train, **run,
                                   n_classes=n_classes, per_batch=per_batch)
            else:
                fits = _fits_libsvm(_kernels(grams, parts, groups), groups, points[combo], y_train, **run)
            for i, pred, cap in fits:
                capped[combo][i] = cap
                for j, test in enumerate(tests):
                    scores[combo][j, i] = score(y[test], pred[bounds[j]:bounds[j + 1]], kind=kind)
    return scores, capped, precompute


def grid_search_combos(blocks: dict[str, np.ndarray], combos: dict[str, tuple[str, ...]], y: np.ndarray,
                       folds: list[np.ndarray], points: dict[str, list[GridPoint]], *, kind: str, nested: bool = True,
                       engine: Engine = Engine()) -> dict[str, GridResult]:
    """Cross-validated grid search (and nested CV) of several feature combinations at once.

    blocks: {name: [n, d_b]} feature blocks (e.g. one per convnet layer); combos: {combo name:
    block names concatenated in order}; points: {combo name: its grid}; y: [n] labels (class ids)
    or targets; folds: test indices per fold; kind: "classification" (accuracy) or "regression"
    (r²). Each training set's per-block Gram matrices are computed once and shared by every
    combination and grid point (see ``raymir.probes.kernels``).
    """
    if kind == "classification":  # class indices 0..c-1, as scikit-learn's SVC encodes them
        y = np.unique(y, return_inverse=True)[1].astype(np.float64)
        n_classes = int(y.max()) + 1 if len(y) else 0
    else:
        y = np.asarray(y, dtype=np.float64)
        n_classes = 0
    n, k = len(y), len(folds)
    all_idx = np.arange(n)
    in_fold = np.full(n, -1)
    for f, test in enumerate(folds):
        in_fold[test] = f
    scores = {c: np.empty((len(points[c]), k)) for c in combos}
    capped = {c: np.zeros((len(points[c]), k), dtype=bool) for c in combos}
    used = sorted({b for c in combos.values() for b in c})
    raw = None  # unscaled Grams are the same for every training set: once, if they fit beside the kernels
    if engine.solver == "libsvm" and any(not p.scaler for c in combos for p in points[c]) and \
            kernel_bytes(n, n, 2 * len(used)) <= engine.kernel_memory_gb * 2**30:
        raw = block_grams({b: blocks[b] for b in used}, all_idx, n, scaler=False)
    run = dict(kind=kind, engine=engine, n_classes=n_classes, raw=raw)
    precomputed = True
    for f, test in enumerate(folds):
        s_f, cap_f, pre = _evaluate(blocks, combos, points, y, all_idx[in_fold != f], [test], **run)
        precomputed &= pre
        for c in combos:
            scores[c][:, f], capped[c][:, f] = s_f[c][0], cap_f[c]
    inner = {c: np.zeros((k, k, len(points[c]))) for c in combos}  # inner[outer, held_out] = scores on held_out
    do_nested = nested and k >= 3
    if do_nested:
        for a in range(k):
            for b in range(a + 1, k):
                train = all_idx[(in_fold != a) & (in_fold != b)]
                s_ab, _, pre = _evaluate(blocks, combos, points, y, train, [folds[b], folds[a]], **run)
                precomputed &= pre
                for c in combos:
                    inner[c][a, b], inner[c][b, a] = s_ab[c]
    out = {}
    for c in combos:
        best = int(np.argmax(scores[c].mean(axis=1)))
        nested_scores = nested_choice = nested_inner = None
        if do_nested:
            inner_means = [inner[c][a, [b for b in range(k) if b != a]].mean(axis=0) for a in range(k)]
            nested_choice = [int(np.argmax(m)) for m in inner_means]
            nested_scores = np.array([scores[c][ch, a] for a, ch in enumerate(nested_choice)])
            nested_inner = np.array([m[ch] for m, ch in zip(inner_means, nested_choice)])
        engine_name = _engine_name(engine, precomputed, n_c=len({p.C for p in points[c]}))
        out[c] = GridResult(points[c], scores[c], best, nested_scores, nested_choice, capped[c],
                            nested_inner=nested_inner, engine=engine_name)
    return out


def _engine_name(engine: Engine, precomputed: bool, *, n_c: int) -> str:
    """What computed a grid: libsvm on precomputed or on-the-fly kernels, or the LS-SVM with its device and the
    way its ``n_c`` C values were solved (``_fits_lssvm`` solves every C of the grid at once)."""
    if engine.solver == "lssvm":
        return f"lssvm ({engine.device}, {solve_label(n_c, engine.precision, engine.device)})"
    return "libsvm, precomputed kernels" if precomputed else \
        f"libsvm, kernels on the fly (over probe.kernel_memory_gb={engine.kernel_memory_gb:g})"


def grid_search(X: np.ndarray, y: np.ndarray, folds: list[np.ndarray], points: list[GridPoint], *, kind: str,
                nested: bool = True, max_iter: int = -1, engine: Engine | None = None) -> GridResult:
    """Cross-validated grid search (and nested CV) over ``points`` for one feature matrix.

    X: [n, d] features; y: [n] labels (class ids) or targets; folds: test indices per fold.
    kind: "classification" (accuracy) or "regression" (r²). max_iter caps libsvm's iterations
    per fit (-1: no cap); fits that hit it are counted in ``GridResult.capped``.
    """
    engine = engine or Engine(max_iter=max_iter)
    return grid_search_combos({"x": np.asarray(X)}, {"x": ("x",)}, y, folds, {"x": points}, kind=kind,
                              nested=nested, engine=engine)["x"]
