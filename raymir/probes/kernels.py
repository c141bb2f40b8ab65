"""Kernels of every layer combination from per-layer Gram matrices.

A standard scaler works column by column, so standardising a concatenation of layer blocks is
the concatenation of the standardised blocks. Dot products and squared distances of the
concatenation are therefore sums over its blocks: the Gram matrix of each layer is computed once
per training set, and the linear kernel and the squared distances of any of the 31 combinations
(and every RBF γ) follow from sums and one ``exp`` — no feature matrix is ever re-multiplied.

Rows of every matrix are the training clips followed by the test clips; columns are the
training clips (the shape libsvm wants for fitting [n_train, n_train] and predicting
[n_test, n_train] with a precomputed kernel). The matrices are numpy arrays, or torch tensors
on the solver's device when ``block_grams`` is given ``to`` (the LS-SVM builds its kernels on
the GPU instead of shipping them there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

BYTES = 8  # float64: the kernels libsvm is handed must match the ones it would compute itself


@dataclass
class BlockGrams:
    """Per-block linear Gram matrices of one training set.

    grams: {block: [n_rows, n_train]}; sq: {block: [n_rows]} squared norms of the (standardised) rows.
    """

    grams: dict[str, Any]  # numpy arrays or torch tensors
    sq: dict[str, Any]
    n_train: int

    def linear(self, combo: tuple[str, ...]) -> Any:
        """Linear kernel of the concatenated blocks ``combo``: → [n_rows, n_train]."""
        out = self.grams[combo[0]] * 1.0  # a new matrix (numpy or torch), summed into in place
        for b in combo[1:]:
            out += self.grams[b]
        return out

    def sqdist(self, combo: tuple[str, ...], linear: Any) -> Any:
        """Squared Euclidean distances of ``combo`` from its linear kernel: → [n_rows, n_train] (≥ 0)."""
        sq = sum(self.sq[b] for b in combo)
        d = sq[:, None] + sq[None, : self.n_train] - 2.0 * linear
        d[d < 0] = 0.0  # rounding can make a tiny distance negative
        return d


def rbf(dist: Any, gamma: float) -> Any:
    """exp(-γ·d²) of a distance matrix, numpy array or torch tensor (computed where it lies)."""
    return np.exp(-gamma * dist) if isinstance(dist, np.ndarray) else (-gamma * dist).exp()


def block_grams(blocks: dict[str, np.ndarray], rows: np.ndarray, n_train: int, *, scaler: bool,
                to: Callable[[np.ndarray], Any] | None = None) -> BlockGrams:
    """Gram matrices of each block for the clips ``rows`` (the first ``n_train`` of them are the training set).

    blocks: {name: [n, d_b]}. With ``scaler`` each block is standardised with the training rows'
    mean and standard deviation (ddof 0, zero spread → 1), exactly as scikit-learn's StandardScaler.
    ``to``: moves each standardised block [n_rows, d_b] where the Grams are computed (a torch device).
    """
    grams, sq = {}, {}
    for name, x in blocks.items():
        x = standardised(x[rows], n_train, scaler=scaler)
        if to is not None:
            x = to(x)
        grams[name] = x @ x[:n_train].T
        sq[name] = np.einsum("ij,ij->i", x, x) if to is None else (x * x).sum(1)
    return BlockGrams(grams, sq, n_train)


def kernel_bytes(n_rows: int, n_train: int, n_blocks: int) -> int:
    """Peak memory of one training set's kernels: the block Grams plus a combination's linear
    kernel, distances and one RBF kernel, all [n_rows, n_train] float64."""
    return (n_blocks + 3) * n_rows * n_train * BYTES


def standardised(x: np.ndarray, n_train: int, *, scaler: bool) -> np.ndarray:
    """A feature matrix [n_rows, d] standardised with its first ``n_train`` rows' statistics (or as is)."""
    x = np.asarray(x, dtype=np.float64)
    if not scaler:
        return x
    mu, sd = x[:n_train].mean(axis=0), x[:n_train].std(axis=0)
    sd[sd == 0] = 1.0
    return (x - mu) / sd
