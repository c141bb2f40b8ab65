import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from raymir.config import ProbeConfig
from raymir.probes import lssvm
from raymir.probes.folds import make_folds
from raymir.probes.lssvm import lssvm_predict
from raymir.probes.svm import Engine, engine_for, grid_search, grid_search_combos, make_grid

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


def _sklearn_grid(X, y, folds, kind, points):
    """Plain GridSearchCV (StandardScaler + SVC/SVR pipeline, kernels computed by libsvm) over ``points``, in
    their order, so that a tie between grid points is broken the same way."""
    test_fold = np.empty(len(y), int)
    for i, f in enumerate(folds):
        test_fold[f] = i
    est = SVC() if kind == "classification" else SVR()
    grid = [{"sc": [StandardScaler() if p.scaler else "passthrough"], "svm__kernel": [p.kernel], "svm__C": [p.C]}
            | ({"svm__gamma": [p.gamma]} if p.kernel == "rbf" else {}) for p in points]
    scoring = "accuracy" if kind == "classification" else "r2"
    return GridSearchCV(Pipeline([("sc", StandardScaler()), ("svm", est)]), grid, cv=PredefinedSplit(test_fold),
                        scoring=scoring).fit(X, y)


def _blocks(kind, n=120, seed=0):
    """Three feature blocks of unequal scale (like convnet layers) and labels that depend on two of them."""
    rng = np.random.default_rng(seed)
    blocks = {str(b): rng.normal(size=(n, 6)) * rng.uniform(0.2, 4, 6) + rng.normal(0, 3, 6) for b in (1, 2, 3)}
    if kind == "classification":
        y = rng.integers(0, 3, n)
        blocks["1"][:, :2] += y[:, None] * 0.9
        blocks["3"][:, 0] -= y * 1.5
    else:
        y = blocks["1"][:, 0] * 0.3 - blocks["3"][:, 1] * 0.2 + rng.normal(0, 0.5, n)
    return blocks, y


@pytest.mark.parametrize("kind", ["classification", "regression"])
@pytest.mark.parametrize("scaler", [True, False])
def test_combination_kernels_from_per_layer_grams_match_gridsearchcv(kind, scaler):
    """Every layer combination's grid from summed per-block Grams = plain GridSearchCV on the concatenated
    features: every grid point's mean CV score to 1e-6, the same best point and best score."""
    blocks, y = _blocks(kind)
    folds = make_folds(y, kind=kind, n_folds=5, seed=1)
    combos = {"1": ("1",), "13": ("1", "3"), "123": ("1", "2", "3")}
    points = {c: make_grid(n_features=6 * len(parts), scaler=(scaler,), kernels=("linear", "rbf"), C=C,
                           gammas=GAMMAS + (("1/n_features", 1 / (6 * len(parts))),))
              for c, parts in combos.items()}
    ours = grid_search_combos(blocks, combos, y, folds, points, kind=kind, nested=False,
                              engine=Engine())
    for c, parts in combos.items():
        X = np.concatenate([blocks[b] for b in parts], axis=1)
        ref = _sklearn_grid(X, y, folds, kind, points[c])
        # Accuracies are identical. An r² moves with the last bits of the solution: BLAS sums the kernels in
        # another order than libsvm does, and libsvm stops at tol=1e-3, so r² agrees to ~1e-5 off the best point.
        np.testing.assert_allclose(ours[c].fold_scores.mean(axis=1), ref.cv_results_["mean_test_score"],
                                   atol=1e-6 if kind == "classification" else 1e-4)
        assert ours[c].best == ref.best_index_
        assert abs(ours[c].cv_mean - ref.best_score_) < 1e-6
        assert ours[c].engine == "libsvm, precomputed kernels"


def test_both_scaler_branches_in_one_grid_match_gridsearchcv():
    X, y = _data("classification", n=100, seed=4)
    folds = make_folds(y, kind="classification", n_folds=4, seed=0)
    points = make_grid(n_features=X.shape[1], scaler=(True, False), kernels=("linear", "rbf"), C=C, gammas=GAMMAS)
    ours = grid_search(X, y, folds, points, kind="classification", nested=False)
    ref = _sklearn_grid(X, y, folds, "classification", points)
    np.testing.assert_allclose(ours.fold_scores.mean(axis=1), ref.cv_results_["mean_test_score"], atol=1e-6)
    assert ours.best == ref.best_index_


def test_over_the_kernel_memory_budget_libsvm_computes_kernels_itself_with_the_same_scores():
    blocks, y = _blocks("classification", n=80, seed=2)
    folds = make_folds(y, kind="classification", n_folds=4, seed=0)
    combos = {"12": ("1", "2"), "3": ("3",)}
    points = {c: make_grid(n_features=6 * len(p), scaler=(True, False), kernels=("linear", "rbf"), C=(0.1, 8.0),
                           gammas=GAMMAS) for c, p in combos.items()}
    kw = dict(kind="classification", nested=True)
    full = grid_search_combos(blocks, combos, y, folds, points, engine=Engine(), **kw)
    tiny = grid_search_combos(blocks, combos, y, folds, points, engine=Engine(kernel_memory_gb=1e-5),
                              **kw)
    for c in combos:
        assert "kernels on the fly" in tiny[c].engine and "kernel_memory_gb" in tiny[c].engine
        np.testing.assert_allclose(tiny[c].fold_scores, full[c].fold_scores, atol=1e-6)
        assert tiny[c].best == full[c].best
        np.testing.assert_allclose(tiny[c].nested_scores, full[c].nested_scores, atol=1e-6)


@pytest.mark.parametrize("method,precision", [("cholesky", "mixed"), ("cholesky", "fp64"), ("eigh", "auto")])
def test_lssvm_solves_the_bordered_system_for_every_c(method, precision):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = rng.integers(0, 3, 40)
    k = np.exp(-0.2 * ((X[:, None] - X[None]) ** 2).sum(-1))
    train, test = np.arange(30), np.arange(30, 40)
    Cs = (0.5, 8.0)

    def direct(targets, c):  # [0 1ᵀ; 1 K+I/C] [b; α] = [0; Y], solved as one system
        A = np.zeros((31, 31))
        A[0, 1:] = A[1:, 0] = 1
        A[1:, 1:] = k[np.ix_(train, train)] + np.eye(30) / c
        sol = np.linalg.solve(A, np.vstack([np.zeros((1, targets.shape[1])), targets]))
        return k[np.ix_(test, train)] @ sol[1:] + sol[0]

    kt, ks = k[None][:, train][:, :, train], k[None][:, test][:, :, train]
    pred = lssvm_predict(kt, ks, y[train], Cs, kind="classification", n_classes=3, method=method,
                         precision=precision)
    Y = -np.ones((30, 3))
    Y[np.arange(30), y[train]] = 1
    for i, c in enumerate(Cs):
        np.testing.assert_array_equal(pred[0, i], direct(Y, c).argmax(1))
    reg = lssvm_predict(kt, ks, X[train, 0], Cs, kind="regression", method=method, precision=precision)
    assert reg.shape == (1, 2, 10)
    for i, c in enumerate(Cs):
        np.testing.assert_allclose(reg[0, i], direct(X[train, :1], c)[:, 0], rtol=1e-9, atol=1e-9)


def test_mixed_precision_solve_reaches_float64_accuracy_and_hands_ill_conditioned_kernels_to_float64(monkeypatch):
    rng = np.random.default_rng(0)
    n = 60
    X = rng.normal(size=(n, 5))
    good = np.exp(-0.1 * ((X[:, None] - X[None]) ** 2).sum(-1))
    W = 3.0 * rng.normal(size=(n, 8))
    bad = W @ W.T  # rank 8: with I/C = 1e-4 its condition number is ~1e7, beyond float32 refinement
    h = torch.tensor(np.stack([good, bad])) + torch.eye(n, dtype=torch.float64) * 1e-4
    rhs = torch.tensor(rng.normal(size=(2, n, 3)))
    exact = np.linalg.solve(h.numpy(), rhs.numpy())
    calls = []
    solve = lssvm._spd_solve
    monkeypatch.setattr(lssvm, "_spd_solve", lambda h, r, *, mixed: calls.append((len(h), mixed)) or
                        solve(h, r, mixed=mixed))
    z = lssvm._spd_solve(h, rhs, mixed=True).numpy()
    assert calls == [(2, True), (1, False)]  # the RBF kernel refined; only the other one factorised in float64
    for i in range(2):
        assert np.abs(z[i] - exact[i]).max() <= 1e-8 * np.abs(exact[i]).max()
    chol = torch.linalg.cholesky(h[1].float())  # float32 alone would be far off
    z32 = torch.cholesky_solve(rhs[1].float(), chol).double().numpy()
    assert np.abs(z32 - exact[1]).max() > 1e-3 * np.abs(exact[1]).max()


def test_lssvm_grid_is_close_to_the_exact_svm_on_an_easy_task():
    blocks, y = _blocks("classification", n=150, seed=5)
    blocks["3"][:, :3] += 8.0 * y[:, None]  # well separated classes
    folds = make_folds(y, kind="classification", n_folds=5, seed=0)
    combos = {"13": ("1", "3")}
    points = {"13": make_grid(n_features=12, scaler=(True,), kernels=("linear", "rbf"), C=C, gammas=GAMMAS)}
    exact = grid_search_combos(blocks, combos, y, folds, points, kind="classification", nested=False)["13"]
    ls = grid_search_combos(blocks, combos, y, folds, points, kind="classification", nested=False,
                            engine=Engine(solver="lssvm"))["13"]
    assert ls.engine == "lssvm (cpu, fp64 Cholesky)"
    # a different loss (squared, one-vs-rest), so close to the SVM rather than equal (here 0.88 vs 0.97)
    assert exact.cv_mean > 0.9 and ls.cv_mean > 0.8 and abs(ls.cv_mean - exact.cv_mean) < 0.12
    # probe.solver_precision: float32 factors refined to float64 give the same grid, and the runs say which ran
    mixed = grid_search_combos(blocks, combos, y, folds, points, kind="classification", nested=False,
                               engine=engine_for(ProbeConfig(solver="lssvm", device="cpu", solver_precision="mixed")))
    assert mixed["13"].engine == "lssvm (cpu, mixed Cholesky)"
    np.testing.assert_array_equal(mixed["13"].fold_scores, ls.fold_scores)


def test_lssvm_engine_label_says_fp64_when_many_cs_take_the_eigendecomposition():
    """With EIGH_AT_C or more C values every C is solved from one float64 eigendecomposition, which ignores
    probe.solver_precision: the label must not claim mixed precision."""
    from raymir.probes.lssvm import EIGH_AT_C

    blocks, y = _blocks("classification", n=60, seed=3)
    folds = make_folds(y, kind="classification", n_folds=3, seed=0)
    many = tuple(2.0 ** k for k in range(EIGH_AT_C))
    points = {"1": make_grid(n_features=6, scaler=(True,), kernels=("linear",), C=many, gammas=GAMMAS)}
    res = grid_search_combos(blocks, {"1": ("1",)}, y, folds, points, kind="classification", nested=False,
                             engine=Engine(solver="lssvm", precision="mixed"))["1"]
    assert res.engine == "lssvm (cpu, fp64 eigendecomposition)"


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
        gs = _sklearn_grid(X[train], y[train], inner, "classification", points)
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


def test_asking_for_a_gpu_where_there_is_none_names_the_setting(monkeypatch):
    import torch

    from raymir.probes.lssvm import solver_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert solver_device("auto") == "cpu"
    with pytest.raises(ValueError, match="probe.device"):
        solver_device("cuda")


def test_a_gamma_listed_twice_is_fitted_once_and_scored_as_gridsearchcv(monkeypatch):
    """With 32-d features "1/n_features" is γ = 2^-5: both grid points keep their row, from one fit."""
    import raymir.probes.svm as svm

    X, y = _data("classification", n=60, d=32, seed=3)
    folds = make_folds(y, kind="classification", n_folds=3, seed=0)
    points = make_grid(n_features=32, scaler=(True,), kernels=("rbf",), C=(2.0, 8.0),
                       gammas=(("2^-5", 2**-5), ("2^-9", 2**-9), ("1/n_features", 1 / 32)))
    calls = []
    fit = svm._fit_predict
    monkeypatch.setattr(svm, "_fit_predict", lambda *a, **kw: calls.append(kw["C"]) or fit(*a, **kw))
    ours = grid_search(X, y, folds, points, kind="classification", nested=False)
    assert len(calls) == 3 * 4  # folds × (2 C × 2 distinct γ), not 3 × 6
    ref = _sklearn_grid(X, y, folds, "classification", points)
    np.testing.assert_allclose(ours.fold_scores.mean(axis=1), ref.cv_results_["mean_test_score"], atol=1e-6)
    assert ours.best == ref.best_index_
    dup = [i for i, p in enumerate(points) if p.gamma_name == "1/n_features"]
    twin = [i for i, p in enumerate(points) if p.gamma_name == "2^-5"]
    np.testing.assert_array_equal(ours.fold_scores[dup], ours.fold_scores[twin])


def test_kernels_built_as_torch_tensors_equal_the_numpy_ones():
    """The LS-SVM builds its kernels on its device; the same sums and exp as libsvm's numpy kernels."""
    from raymir.probes.kernels import block_grams, rbf
    from raymir.probes.lssvm import on_device

    blocks, _ = _blocks("classification", n=50, seed=4)
    rows = np.random.default_rng(0).permutation(50)
    for scaler in (True, False):
        ref = block_grams(blocks, rows, 40, scaler=scaler)
        dev = block_grams(blocks, rows, 40, scaler=scaler, to=on_device("cpu"))
        for combo in (("1",), ("1", "3"), ("1", "2", "3")):
            lin_ref, lin = ref.linear(combo), dev.linear(combo)
            np.testing.assert_allclose(lin.numpy(), lin_ref, rtol=1e-12, atol=1e-9)
            d_ref, d = ref.sqdist(combo, lin_ref), dev.sqdist(combo, lin)
            assert d.shape == (50, 40) and float(d.min()) >= 0
            np.testing.assert_allclose(rbf(d, 2**-5).numpy(), rbf(d_ref, 2**-5), rtol=1e-10, atol=1e-12)


def test_lssvm_batches_kernels_to_the_memory_budget_and_refuses_beyond_it(monkeypatch):
    import raymir.probes.svm as svm
    from raymir.probes.kernels import kernel_bytes

    blocks, y = _blocks("classification", n=60, seed=6)
    folds = make_folds(y, kind="classification", n_folds=3, seed=0)
    combos = {"123": ("1", "2", "3")}
    points = {"123": make_grid(n_features=18, scaler=(True,), kernels=("linear", "rbf"), C=(0.5, 4.0),
                               gammas=GAMMAS)}
    kw = dict(kind="classification", nested=False)
    big = grid_search_combos(blocks, combos, y, folds, points, engine=Engine(solver="lssvm"), **kw)["123"]
    batches = []
    solve = svm.lssvm_predict
    monkeypatch.setattr(svm, "lssvm_predict", lambda ka, *a, **k: batches.append(len(ka)) or solve(ka, *a, **k))
    tight = kernel_bytes(60, 60, 3 + 4) / 2**30  # the block Grams plus room for about one kernel at a time
    small = grid_search_combos(blocks, combos, y, folds, points, engine=Engine(solver="lssvm", kernel_memory_gb=tight),
                               **kw)["123"]
    assert max(batches) < 4 and sum(batches) == 3 * 4  # 4 kernels (linear + 3 γ) per fold, in smaller batches
    np.testing.assert_array_equal(small.fold_scores, big.fold_scores)
    with pytest.raises(ValueError, match=r"probe\.kernel_memory_gb=1e-05.*probe\.solver: libsvm"):
        grid_search_combos(blocks, combos, y, folds, points, engine=Engine(solver="lssvm", kernel_memory_gb=1e-5),
                           **kw)
