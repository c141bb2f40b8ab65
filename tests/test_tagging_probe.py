import numpy as np
import pytest

from raymir.probes.tagging import tag_scores, tagging_probe


def test_tag_scores_by_hand_and_probe_learns_informative_features():
    Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    P = np.array([[0.9, 0.2], [0.1, 0.8], [0.8, 0.3], [0.2, 0.4]])
    s = tag_scores(Y, P)
    # tag 0: perfect ranking → AUC 1, AP 1; tag 1: positives 0.8, 0.3 vs negatives 0.2, 0.4 → AUC 3/4, AP (1 + 2/3)/2
    assert abs(s["roc_auc"] - (1 + 0.75) / 2) < 1e-12
    assert abs(s["pr_auc"] - (1 + (1 + 2 / 3) / 2) / 2) < 1e-12
    rng = np.random.default_rng(0)
    n, d, k = 300, 20, 5
    X = rng.normal(size=(n, d))
    Y = (X[:, :k] + 0.5 * rng.normal(size=(n, k)) > 0.5).astype(float)
    for kind in ("linear", "mlp"):
        good = tagging_probe(X[:200], Y[:200], X[200:], Y[200:], kind=kind)
        assert good["roc_auc"] > 0.85, (kind, good)
    noise = tagging_probe(rng.normal(size=(200, d)), Y[:200], rng.normal(size=(100, d)), Y[200:])
    assert noise["roc_auc"] < 0.65
    with pytest.raises(ValueError, match="both positive and negative"):
        tag_scores(np.ones((3, 2)), np.ones((3, 2)))


def test_tagging_folds_give_each_folds_scores_in_fold_order_and_cv_their_mean():
    from raymir.probes.tagging import tagging_cv, tagging_folds

    rng = np.random.default_rng(1)
    n, d, k = 90, 10, 3
    X = rng.normal(size=(n, d))
    Y = (X[:, :k] + 0.5 * rng.normal(size=(n, k)) > 0.3).astype(float)
    folds = [np.arange(0, 30), np.arange(30, 60), np.arange(60, 90)]
    per_fold = tagging_folds(X, Y, folds)
    assert set(per_fold) == {"roc_auc", "pr_auc"} and per_fold["roc_auc"].shape == (3,)
    for f, test in enumerate(folds):  # fold f's score is the probe trained on the other folds, tested on f
        train = np.setdiff1d(np.arange(n), test)
        assert per_fold["roc_auc"][f] == tagging_probe(X[train], Y[train], X[test], Y[test])["roc_auc"]
    assert tagging_cv(X, Y, folds) == {k: float(v.mean()) for k, v in per_fold.items()}
