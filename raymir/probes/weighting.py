"""Learned layer weighting: a softmax weight per layer trained jointly with a linear or MLP head.

The probe of SUPERB and MARBLE beside the SVM grids of Choi et al.: instead of choosing layer
combinations, one weight per layer is learned (softmax over L logits, so the weights are positive
and sum to 1) together with the head, on the weighted sum of the layers. Per cross-validation fold
it reports the test score and the learned weights, which say which layers the task draws on.

Layers may differ in width (given embeddings). Each layer is standardised with its training rows'
statistics and zero-padded to the widest layer: the weighted sum then needs no extra parameters,
and a layer's weight keeps its meaning, while a learned projection per layer could rescale a layer
and so absorb its weight. Standardising first puts every layer on one scale, as the weights compare
them. Array in, array out; torch on the CPU, full-batch Adam for a fixed number of epochs, seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from raymir.config import WeightingConfig
from raymir.probes.kernels import standardised
from raymir.probes.svm import score


@dataclass(frozen=True)
class WeightingResult:
    """scores: [folds] test accuracy or r² per fold; weights: [folds, L] the learned softmax weights per fold."""

    metric: str  # accuracy | r2
    scores: np.ndarray
    weights: np.ndarray

    @property
    def cv_mean(self) -> float:
        return float(self.scores.mean())

    @property
    def cv_std(self) -> float:
        return float(self.scores.std())

    def table(self) -> list[dict]:
        """One row per fold: its score and the learned weight of each layer (``layer_weight_<l>``, 1-based)."""
        return [{"fold": i, self.metric: float(s), **{f"layer_weight_{j + 1}": float(w) for j, w in enumerate(ws)}}
                for i, (s, ws) in enumerate(zip(self.scores, self.weights))]


def pooled_folds(runs: list[WeightingResult]) -> WeightingResult:
    """The results of r repeats of CV (folds re-drawn) as one over J = r·k folds, repeat-major: scores [J],
    weights [J, L]. One repeat comes back as it is."""
    if len(runs) == 1:
        return runs[0]
    return WeightingResult(runs[0].metric, np.concatenate([r.scores for r in runs]),
                           np.concatenate([r.weights for r in runs]))


class LayerWeighting(nn.Module):
    """Softmax-weighted sum of L layers, then a head: x [b, L, d] → outputs [b, n_out]."""

    def __init__(self, n_layers: int, width: int, n_out: int, *, head: str = "linear", hidden: int = 128) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_layers))  # uniform weights to start: no layer is preferred
        self.head = (nn.Linear(width, n_out) if head == "linear" else
                     nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, n_out)))

    def weights(self) -> torch.Tensor:
        """The layers' weights [L], positive, summing to 1."""
        return torch.softmax(self.logits, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.einsum("l,bld->bd", self.weights(), x))


def stacked_layers(layers: list[np.ndarray], train: np.ndarray) -> np.ndarray:
    """L arrays [n, d_i] → [n, L, max d_i] float32: each layer standardised with the rows ``train`` (ddof 0, zero
    spread → 1), zero-padded to the widest layer (module docstring: why padding)."""
    n, width = len(layers[0]), max(a.shape[1] for a in layers)
    order = np.concatenate([train, np.setdiff1d(np.arange(n), train)])  # training rows first, as ``standardised`` wants
    out = np.zeros((n, len(layers), width), dtype=np.float32)
    for i, a in enumerate(layers):
        out[order, i, : a.shape[1]] = standardised(a[order], len(train), scaler=True)
    return out


def fit_fold(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, *, kind: str, n_out: int,
             cfg: WeightingConfig) -> tuple[float, np.ndarray]:
    """Train on the rows ``train`` of x [n, L, d] and labels y [n], score the rows ``test``: → (accuracy or r², the
    learned weights [L]).

    classification: y holds class ids 0..n_out-1, cross-entropy; regression: y standardised with the training
    rows' mean and spread, mean squared error, predictions mapped back before r².
    """
    with torch.random.fork_rng(devices=[]):  # seeded without touching the caller's random state
        torch.manual_seed(cfg.seed)
        model = LayerWeighting(x.shape[1], x.shape[2], n_out, head=cfg.head, hidden=cfg.hidden)
    xs = torch.from_numpy(x)
    if kind == "classification":
        target, loss_fn = torch.from_numpy(y[train].astype(np.int64)), nn.functional.cross_entropy
        mu, sd = 0.0, 1.0
    else:
        mu, sd = float(y[train].mean()), float(y[train].std()) or 1.0
        target, loss_fn = torch.from_numpy(((y[train] - mu) / sd).astype(np.float32))[:, None], nn.functional.mse_loss
    # weight decay regularises the head only: on the logits it would pull the weights towards uniform
    optimiser = torch.optim.Adam([{"params": [model.logits], "weight_decay": 0.0},
                                  {"params": model.head.parameters(), "weight_decay": cfg.weight_decay}], lr=cfg.lr)
    x_train = xs[torch.from_numpy(train)]
    for _ in range(cfg.epochs):
        optimiser.zero_grad()
        loss_fn(model(x_train), target).backward()
        optimiser.step()
    with torch.no_grad():
        out = model(xs[torch.from_numpy(test)])
        pred = out.argmax(1).numpy() if kind == "classification" else out[:, 0].numpy() * sd + mu
        return score(y[test], pred, kind=kind), model.weights().numpy().astype(np.float64)


def weighted_probe(layers: list[np.ndarray], labels: np.ndarray, folds: list[np.ndarray], *, kind: str,
                   cfg: WeightingConfig) -> WeightingResult:
    """Cross-validate the weighting probe: layers L × [n, d_i], labels [n] (class ids or values), folds: test
    indices per fold (each fold trains on the rest) → per-fold scores [folds] and weights [folds, L].

    Every fold standardises with its own training rows and starts from the same seed.
    """
    n = len(labels)
    n_out = int(labels.max()) + 1 if kind == "classification" else 1  # every class, even one a training fold lacks
    scores, weights = [], []
    for test in folds:
        train = np.setdiff1d(np.arange(n), test)
        s, w = fit_fold(stacked_layers(layers, train), np.asarray(labels), train, np.asarray(test), kind=kind,
                        n_out=n_out, cfg=cfg)
        scores.append(s)
        weights.append(w)
    return WeightingResult("accuracy" if kind == "classification" else "r2", np.array(scores), np.array(weights))
