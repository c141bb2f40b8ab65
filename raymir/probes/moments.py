"""Per-feature mean and standard deviation of arrays larger than memory, summed block by block."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def blockwise_moments(read: Callable[[np.ndarray], np.ndarray], idx: np.ndarray, *, axis: int,
                      block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of every index of ``axis``, over rows ``idx`` and all other axes.

    read(sorted row indices [r]) → x [r, ...] (e.g. a memory-mapped array's rows); → ([f], [f]) float32,
    f = x.shape[axis]. Only ``block`` rows are in memory at a time; the sums are float64, because
    they run over millions of values.
    """
    idx = np.asarray(idx)
    total = squares = None
    count = 0
    for lo in range(0, len(idx), block):
        x = np.asarray(read(np.sort(idx[lo:lo + block])), dtype=np.float64)
        other = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
        if total is None:
            total, squares = np.zeros(x.shape[axis]), np.zeros(x.shape[axis])
        total += x.sum(axis=other)
        squares += (x * x).sum(axis=other)
        count += x.size // x.shape[axis]
    if not count:
        raise ValueError("blockwise_moments: no rows to average over")
    mean = total / count
    return mean.astype(np.float32), np.sqrt(np.maximum(squares / count - mean * mean, 0.0)).astype(np.float32)
