"""Least-squares SVM (kernel ridge with a bias) for whole grids at once, in torch (GPU when present).

The LS-SVM of Suykens & Vandewalle replaces the SVM's hinge loss by a squared loss, so training
is one linear system per kernel and C:

    [0  1ᵀ        ] [b]   [0]
    [1  K + I / C ] [α] = [Y]

With K = Q Λ Qᵀ, (K + I/C)⁻¹ = Q diag(1 / (λ + 1/C)) Qᵀ: one eigendecomposition per kernel gives
the solution for every C by rescaling, and a batch of kernels is decomposed in one call. Classes
are coded one-vs-rest as ±1 columns of Y and predicted by the largest output; regression has one
column. This is not libsvm's SVM, so its numbers are reported beside the exact ones, not in place
of them.
"""

from __future__ import annotations

import numpy as np
import torch


def lssvm_predict(k_train: np.ndarray, k_test: np.ndarray, y_train: np.ndarray, C: tuple[float, ...], *,
                  kind: str, n_classes: int = 0, device: str = "cpu") -> np.ndarray:
    """Fit on a batch of kernels for every C, predict the test rows.

    k_train: [b, n, n]; k_test: [b, m, n]; y_train: [n] class ids 0..n_classes-1 or values
    → predictions [b, len(C), m] (class ids or values).
    """
    dev = torch.device(device)
    ka = torch.as_tensor(k_train, dtype=torch.float64, device=dev)
    kb = torch.as_tensor(k_test, dtype=torch.float64, device=dev)
    y = torch.as_tensor(np.asarray(y_train), device=dev)
    if kind == "classification":
        Y = -torch.ones(len(y), n_classes, dtype=torch.float64, device=dev)
        Y[torch.arange(len(y), device=dev), y.long()] = 1.0
    else:
        Y = y.to(torch.float64)[:, None]
    lam, Q = torch.linalg.eigh(ka)  # [b, n], [b, n, n]
    qy = Q.transpose(1, 2) @ Y  # [b, n, k]
    q1 = Q.sum(dim=1)  # Qᵀ1: [b, n]
    proj = kb @ Q  # [b, m, n]
    inv_c = 1.0 / torch.as_tensor(C, dtype=torch.float64, device=dev)  # [c]
    w = 1.0 / (lam[:, None, :] + inv_c[None, :, None])  # [b, c, n]: eigenvalues of (K + I/C)⁻¹
    s1 = (q1[:, None, :] ** 2 * w).sum(-1)  # 1ᵀ(K+I/C)⁻¹1: [b, c]
    sy = torch.einsum("bn,bcn,bnk->bck", q1, w, qy)  # 1ᵀ(K+I/C)⁻¹Y: [b, c, k]
    bias = sy / s1[..., None]  # [b, c, k]
    coef = w[..., None] * (qy[:, None] - q1[:, None, :, None] * bias[:, :, None, :])  # Qᵀα: [b, c, n, k]
    out = torch.einsum("bmn,bcnk->bcmk", proj, coef) + bias[:, :, None, :]  # [b, c, m, k]
    pred = out.argmax(-1) if kind == "classification" else out[..., 0]
    return pred.cpu().numpy()


def solver_device(device: str) -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; anything else as given."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("probe.device: cuda, but this node sees no GPU (use auto, or give trials "
                         "search.gpus_per_trial on a cluster with GPUs)")
    return device
