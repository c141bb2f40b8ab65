"""SVM / SVR grid search with cross-validation and nested CV (Choi et al. 2017's probe).

Pure numpy/scikit-learn: features [n, d] and labels [n] in, a table of scores out.
The paper's number is the mean CV score of the best grid point (optimistic: the same
folds choose and score it). The unbiased number is nested CV: for each outer fold k the
grid point is chosen by CV over the other folds, then scored on fold k. With the inner
folds taken as the other outer folds, an inner fit trains on "all but folds {k, j}",
which is the same set for (k, j) and (j, k) — so each such fit is made once and reused.
Kernels are precomputed per training set: one Gram/distance matrix serves every C and γ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from sklearn.svm import SVC, SVR

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
    nested_scores: np.ndarray | None  # [n_folds] outer-fold scores of nested CV
    nested_choice: list[int] | None  # grid point chosen in each outer fold
    capped: np.ndarray | None = None  # [n_points, n_folds] fits that stopped at the iteration cap

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


GAMMA_POWER = re.compile(r"^2\^(-?\d+)$")


def gamma_value(g: float | str, n_features: int) -> float:
    """Resolve a grid γ: a number, "2^k", or "1/n_features"."""
    if isinstance(g, str):
        if g == "1/n_features":
            return 1.0 / n_features
        return 2.0 ** int(GAMMA_POWER.match(g).group(1))
    return float(g)


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


def _gram_and_distances(a: np.ndarray, b: np.ndarray, *, scaler: bool) -> tuple[np.ndarray, ...]:
    """Linear kernels and squared distances: train a [n, d], test b [m, d] → ([n, n], [m, n], [n, n], [m, n]).

    With ``scaler``, features are standardised with the training part's statistics only.
    """
    if scaler:
        mu, sd = a.mean(axis=0), a.std(axis=0)
        sd[sd == 0] = 1.0
        a, b = (a - mu) / sd, (b - mu) / sd
    lin_a, lin_b = a @ a.T, b @ a.T
    na, nb = (a * a).sum(1), (b * b).sum(1)
    d_a = np.maximum(na[:, None] + na[None, :] - 2 * lin_a, 0)
    d_b = np.maximum(nb[:, None] + na[None, :] - 2 * lin_b, 0)
    return lin_a, lin_b, d_a, d_b


def _fit_scores(X: np.ndarray, y: np.ndarray, train: np.ndarray, tests: list[np.ndarray],
                points: list[GridPoint], kind: str, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit every grid point once on ``train``, score on each test set.

    → (scores [len(tests), n_points], hit the iteration cap [n_points]).
    """
    capped = np.zeros(len(points), dtype=bool)
    test = np.concatenate(tests)
    bounds = np.cumsum([0] + [len(t) for t in tests])
    out = np.empty((len(tests), len(points)))
    # Points sharing (scaler, kernel, γ) share one kernel matrix: build it once, then fit every C.
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(points):
        groups.setdefault((p.scaler, p.kernel, p.gamma), []).append(i)
    prepared: dict[bool, tuple] = {}
    for (scaler, kernel, gamma), members in groups.items():
        if scaler not in prepared:
            prepared[scaler] = _gram_and_distances(X[train], X[test], scaler=scaler)
        lin_a, lin_b, d_a, d_b = prepared[scaler]
        k_a, k_b = (lin_a, lin_b) if kernel == "linear" else (np.exp(-gamma * d_a), np.exp(-gamma * d_b))
        for i in members:
            pred, capped[i] = _fit_predict(k_a, y[train], k_b, C=points[i].C, svr=kind == "regression",
                                           max_iter=max_iter)
            for j in range(len(tests)):
                out[j, i] = score(y[tests[j]], pred[bounds[j]:bounds[j + 1]], kind=kind)
    return out, capped


def grid_search(X: np.ndarray, y: np.ndarray, folds: list[np.ndarray], points: list[GridPoint], *, kind: str,
                nested: bool = True, max_iter: int = -1) -> GridResult:
    """Cross-validated grid search (and nested CV) over ``points``.

    X: [n, d] features; y: [n] labels (class ids) or targets; folds: test indices per fold.
    kind: "classification" (accuracy) or "regression" (r²). max_iter caps libsvm's iterations
    per fit (-1: no cap); fits that hit it are counted in ``GridResult.capped``.
    """
    X = np.asarray(X, dtype=np.float64)
    if kind == "classification":  # class indices 0..c-1, as scikit-learn's SVC encodes them
        y = np.unique(y, return_inverse=True)[1].astype(np.float64)
    else:
        y = np.asarray(y, dtype=np.float64)
    n, k = len(y), len(folds)
    all_idx = np.arange(n)
    in_fold = np.full(n, -1)
    for f, test in enumerate(folds):
        in_fold[test] = f
    scores = np.empty((len(points), k))
    capped = np.zeros((len(points), k), dtype=bool)
    for f, test in enumerate(folds):
        s_f, capped[:, f] = _fit_scores(X, y, all_idx[in_fold != f], [test], points, kind, max_iter)
        scores[:, f] = s_f[0]
    best = int(np.argmax(scores.mean(axis=1)))
    nested_scores = nested_choice = None
    if nested and k >= 3:
        inner = np.zeros((k, k, len(points)))  # inner[outer, held_out] = scores on held_out
        for a in range(k):
            for b in range(a + 1, k):
                train = all_idx[(in_fold != a) & (in_fold != b)]
                (inner[a, b], inner[b, a]), _ = _fit_scores(X, y, train, [folds[b], folds[a]], points, kind, max_iter)
        nested_choice = []
        for a in range(k):
            others = [b for b in range(k) if b != a]
            nested_choice.append(int(np.argmax(inner[a, others].mean(axis=0))))
        nested_scores = np.array([scores[c, a] for a, c in enumerate(nested_choice)])
    return GridResult(points, scores, best, nested_scores, nested_choice, capped)

