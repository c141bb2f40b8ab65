import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from raymir.probes.folds import make_folds
from raymir.probes.svm import grid_search, make_grid

C = (0.1, 2.0, 8.0, 32.0)
GAMMAS = (("2^-3", 2**-3), ("2^-7", 2**-7), ("2^-11", 2**-11))


def _data(kind, n=90, d=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 5, d)  # unequal scales: the scaler matters
    if kind == "classification":
        y = rng.integers(0, 3, n)
        X[:, :3] += y[:, None] * 0.8
    else:
        y = X[:, 0] * 0.3 - X[:, 1] * 0.1 + rng.normal(0, 0.5, n)
    return X, y


def _sklearn_grid(X, y, folds, kind, scaler):
    test_fold = np.empty(len(y), int)
    for i, f in enumerate(folds):
        test_fold[f] = i
    est = SVC() if kind == "classification" else SVR()
    steps = ([("sc", StandardScaler())] if scaler else []) + [("svm", est)]
    grid = [{"svm__kernel": ["linear"], "svm__C": list(C)},
            {"svm__kernel": ["rbf"], "svm__C": list(C), "svm__gamma": [g for _, g in GAMMAS]}]
    scoring = "accuracy" if kind == "classification" else "r2"
    return GridSearchCV(Pipeline(steps), grid, cv=PredefinedSplit(test_fold), scoring=scoring).fit(X, y)


@pytest.mark.parametrize("kind", ["classification", "regression"])
@pytest.mark.parametrize("scaler", [True, False])
def test_grid_matches_scikit_learn_gridsearchcv(kind, scaler):
    X, y = _data(kind)
    folds = make_folds(y, kind=kind, n_folds=5, seed=1)
    points = make_grid(n_features=X.shape[1], scaler=(scaler,), kernels=("linear", "rbf"), C=C, gammas=GAMMAS)
    ours = grid_search(X, y, folds, points, kind=kind, nested=False)
    ref = _sklearn_grid(X, y, folds, kind, scaler)
    # same ordering of grid points → identical per-point mean scores and the same best point
    ref_means = ref.cv_results_["mean_test_score"]
    # precomputed vs built-in kernels differ in the last bits, and libsvm stops at tol=1e-3
    np.testing.assert_allclose(ours.fold_scores.mean(axis=1), ref_means, atol=1e-3)
    best = ours.points[ours.best]
    assert best.kernel == ref.best_params_["svm__kernel"] and best.C == ref.best_params_["svm__C"]
    assert abs(ours.cv_mean - ref.best_score_) < 1e-4


def test_nested_cv_equals_explicit_nested_loop():
    X, y = _data("classification", n=80, seed=3)
    folds = make_folds(y, kind="classification", n_folds=4, seed=0)
    points = make_grid(n_features=X.shape[1], scaler=(True,), kernels=("linear", "rbf"), C=C, gammas=GAMMAS)
    ours = grid_search(X, y, folds, points, kind="classification", nested=True)
    outer_scores = []
    for k, test in enumerate(folds):
        inner_folds = [f for j, f in enumerate(folds) if j != k]
        train = np.concatenate(inner_folds)
        # re-index the inner folds into the training subset, then the plain GridSearchCV
        pos = {int(i): p for p, i in enumerate(train)}
        inner = [np.array([pos[int(i)] for i in f]) for f in inner_folds]
        gs = _sklearn_grid(X[train], y[train], inner, "classification", True)
        outer_scores.append(gs.best_estimator_.score(X[test], y[test]))
    np.testing.assert_allclose(ours.nested_scores, outer_scores, atol=1e-9)
    assert ours.nested_mean <= ours.cv_mean + 1e-12  # the paper's number is the optimistic one


def test_grouped_folds_never_split_a_group_and_predefined_folds_win():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), 4)
    y = groups % 3
    folds = make_folds(y, kind="classification", n_folds=5, groups=groups)
    assert sorted(np.concatenate(folds).tolist()) == list(range(120))
    for f in folds:
        assert not set(groups[f]) & set(groups[np.setdiff1d(np.arange(120), f)])
    pre = rng.integers(1, 4, 120)
    folds = make_folds(y, kind="classification", n_folds=10, groups=groups, predefined=pre)
    assert len(folds) == 3 and all((pre[f] == pre[f][0]).all() for f in folds)
