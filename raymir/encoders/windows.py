"""Audio in, pooled per-layer features out: resampling, windows, pooling over time, the average of windows.

Pure functions (numpy / torch arrays in, arrays out) shared by every given encoder (``torch``, ``hear``):

- :func:`resample`: clips at the dataset's rate → the encoder's rate (polyphase, ``scipy.signal.resample_poly``);
- :func:`cut`: clips → windows of ``encoder.window_seconds`` (0: the whole clip is one window);
- :func:`pool`: one layer's output [batch, channels] or [batch, channels, time] → [batch, d];
- :func:`average_windows`: per-window features → per-clip features (the mean of a clip's windows).
"""

from __future__ import annotations

from math import gcd

import numpy as np
import torch
from scipy.signal import resample_poly

from raymir.audio import repeat_pad


def resample(y: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    """Clips y [n, samples] at ``sr`` → [n, ceil(samples · target_sr / sr)] float32 at ``target_sr``.

    Polyphase filtering (``resample_poly``, a Kaiser-windowed FIR of the reduced ratio) rather than
    librosa's default soxr: exact for the integer ratios of audio rates (12 k → 16 k is 4/3), deterministic,
    and it filters a whole [n, samples] batch in one call.
    """
    y = np.asarray(y, dtype=np.float32)
    if int(sr) == int(target_sr):
        return y
    g = gcd(int(sr), int(target_sr))
    return resample_poly(y, int(target_sr) // g, int(sr) // g, axis=-1).astype(np.float32)


def n_windows(n_samples: int, window: int) -> int:
    """How many windows of ``window`` samples :func:`cut` makes of a clip of ``n_samples`` (≥ 1)."""
    return max(1, n_samples // window) if window > 0 else 1


def cut(y: np.ndarray, window: int) -> np.ndarray:
    """Clips y [n, samples] → windows [n · w, window] (clip-major: clip i's windows are rows i·w … i·w + w − 1).

    ``window`` 0: each whole clip is one window. A clip shorter than one window is tiled to it
    (``repeat_pad``, as raymir's nets repeat short clips). Of a longer clip only whole windows are kept:
    the remainder, shorter than a window, is dropped, because padding it with silence would pull the
    clip's pooled statistics towards silence and tiling it would count audio twice.
    """
    if window <= 0:
        return np.asarray(y)
    n, t = y.shape
    if t < window:
        return repeat_pad(np.asarray(y), window)
    w = n_windows(t, window)
    return np.ascontiguousarray(np.asarray(y)[:, :w * window]).reshape(n * w, window)


def pool(out: torch.Tensor, how: str) -> torch.Tensor:
    """One layer's output → [batch, d] float32: [batch, channels] as it is; [batch, channels, time] pooled
    over time by ``how``: "mean", "max", or "mean+std" (the mean, then the population standard deviation,
    concatenated: [batch, 2 · channels])."""
    out = torch.as_tensor(out).float()
    if out.ndim == 2:
        return out
    if how == "mean":
        return out.mean(dim=-1)
    if how == "max":
        return out.amax(dim=-1)
    if how == "mean+std":
        return torch.cat([out.mean(dim=-1), out.std(dim=-1, correction=0)], dim=-1)
    raise ValueError(f"pooling {how!r}: expected mean, max or mean+std")


def average_windows(x: np.ndarray, w: int) -> np.ndarray:
    """Per-window features x [n · w, d] (clip-major, as :func:`cut` makes them) → per-clip means [n, d]."""
    return x.reshape(-1, w, x.shape[-1]).mean(axis=1)
