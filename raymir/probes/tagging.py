"""Multi-label tagging probe: a linear (logistic) or one-hidden-layer MLP head on frozen features,
scored by macro ROC-AUC and macro PR-AUC (average precision) over the tags that occur in the test set."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn

PROBES = ("linear", "mlp")


def fit_tagger(X: np.ndarray, Y: np.ndarray, *, kind: str = "linear", hidden: int = 256, epochs: int = 100,
               lr: float = 1e-2, weight_decay: float = 1e-4, seed: int = 0) -> nn.Module:
    """Train on standardised features: X [n, d], Y [n, k] multi-hot → model whose ``predict`` gives probabilities."""
    if kind not in PROBES:
        raise ValueError(f"tagging probe: {kind!r} is not one of {', '.join(PROBES)}")
    torch.manual_seed(seed)
    x = torch.from_numpy(np.asarray(X, dtype=np.float32))
    y = torch.from_numpy(np.asarray(Y, dtype=np.float32))
    head = nn.Linear(x.shape[1], y.shape[1]) if kind == "linear" else \
        nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Dropout(0.25), nn.Linear(hidden, y.shape[1]))
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    head.train()
    for _ in range(epochs):  # full batch: probe sets are small
        loss = nn.functional.binary_cross_entropy_with_logits(head(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return head.eval()


def tag_scores(Y: np.ndarray, P: np.ndarray) -> dict[str, float]:
    """Macro ROC-AUC and PR-AUC over the tags with both positives and negatives: Y, P [n, k]."""
    keep = [j for j in range(Y.shape[1]) if 0 < Y[:, j].sum() < len(Y)]
    if not keep:
        raise ValueError("no tag has both positive and negative test tracks")
    return {"roc_auc": float(np.mean([roc_auc_score(Y[:, j], P[:, j]) for j in keep])),
            "pr_auc": float(np.mean([average_precision_score(Y[:, j], P[:, j]) for j in keep]))}


def predict_tags(X_train: np.ndarray, Y_train: np.ndarray, X_test: np.ndarray, *, kind: str = "linear",
                 seed: int = 0) -> np.ndarray:
    """Fit on the training tracks (features standardised with their statistics): → tag probabilities [n_test, k]."""
    mean, std = X_train.mean(axis=0), X_train.std(axis=0) + 1e-6
    head = fit_tagger((X_train - mean) / std, Y_train, kind=kind, seed=seed)
    with torch.no_grad():
        return torch.sigmoid(head(torch.from_numpy(((X_test - mean) / std).astype(np.float32)))).numpy()


def tagging_probe(X_train: np.ndarray, Y_train: np.ndarray, X_test: np.ndarray, Y_test: np.ndarray, *,
                  kind: str = "linear", seed: int = 0) -> dict[str, float]:
    """Fit on the training tracks, score the test tracks: → {"roc_auc", "pr_auc"} (macro)."""
    return tag_scores(np.asarray(Y_test), predict_tags(X_train, Y_train, X_test, kind=kind, seed=seed))


def tagging_folds(X: np.ndarray, Y: np.ndarray, folds: list[np.ndarray], *, kind: str = "linear",
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Cross-validated tagging, fold by fold: X [n, d], Y [n, k], test indices per fold → {"roc_auc", "pr_auc"},
    each [n_folds] macro scores in the order of ``folds`` (the paired tests compare features fold by fold)."""
    n = len(Y)
    scores = []
    for test in folds:
        train = np.setdiff1d(np.arange(n), test)
        scores.append(tagging_probe(X[train], Y[train], X[test], Y[test], kind=kind, seed=seed))
    return {k: np.array([s[k] for s in scores]) for k in scores[0]}


def tagging_cv(X: np.ndarray, Y: np.ndarray, folds: list[np.ndarray], *, kind: str = "linear",
               seed: int = 0) -> dict[str, float]:
    """Cross-validated tagging: X [n, d], Y [n, k], test indices per fold → mean over folds of the macro scores."""
    return {k: float(v.mean()) for k, v in tagging_folds(X, Y, folds, kind=kind, seed=seed).items()}
