"""Least-squares SVM (kernel ridge with a bias) for whole grids at once, in torch (GPU when present).

The LS-SVM of Suykens & Vandewalle replaces the SVM's hinge loss by a squared loss, so training
is one linear system per kernel and C:

    [0  1ᵀ        ] [b]   [0]
    [1  K + I / C ] [α] = [Y]

Two ways to solve it for a batch of kernels (same answers to rounding): a Cholesky factorisation
of K + I/C per C (n³/3 flops each), or one eigendecomposition K = Q Λ Qᵀ per kernel, after which
(K + I/C)⁻¹ = Q diag(1 / (λ + 1/C)) Qᵀ gives every C by rescaling. An eigendecomposition costs
as much as many factorisations (see EIGH_AT_C), so short C lists factorise and long ones decompose.
On GPUs with slow float64 (most non-datacentre ones: 1/32-1/64 of the float32 rate), a
factorisation is made in float32 and the solution refined in float64 until its corrections are
below 1e-10 of it (mixed-precision iterative refinement): float64's answer from float32 factors.
Kernels on which it does not converge (condition number near 1/float32 eps) are solved in float64.
Eliminating b: with A = (K + I/C)⁻¹, b = 1ᵀAY / 1ᵀA1 and α = A(Y − 1b). Classes
are coded one-vs-rest as ±1 columns of Y and predicted by the largest output; regression has one
column. This is not libsvm's SVM, so its numbers are reported beside the exact ones, not in place
of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

# From this many C values up, one eigendecomposition per kernel beats a factorisation per C.
# Measured on 2 CPU cores (torch 2.13): eigh costs 5, 10 and 18 Cholesky solves at n = 900, 1800, 3600.
EIGH_AT_C = 10
REFINED_TO = 1e-10  # largest correction / largest solution entry at which refinement stops
REFINE_STEPS = 8  # ... or gives up: each step shrinks the error by about cond(K + I/C) × float32 eps
# CUDA compute capabilities of GPUs with full-rate float64 (P100, V100, A100, H100/H200, B200): they,
# like CPUs, solve in float64. On 2 CPU cores mixed precision measured 0.8-0.9x float64's speed at
# n = 900-1800 and 1.1x at 3600 (its float32 solves and float64 residuals eat the factorisation's saving).
FAST_FP64 = {(6, 0), (7, 0), (8, 0), (9, 0), (10, 0)}


def lssvm_predict(k_train: np.ndarray | Sequence, k_test: np.ndarray | Sequence, y_train: np.ndarray, C: tuple[float, ...], *,
                  kind: str, n_classes: int = 0, device: str = "cpu", method: str = "auto",
                  precision: str = "auto") -> np.ndarray:
    """Fit on a batch of kernels for every C, predict the test rows.

    k_train: [b, n, n]; k_test: [b, m, n] (arrays, or sequences of b numpy arrays / torch tensors);
    y_train: [n] class ids 0..n_classes-1 or values;
    method: "cholesky" (per C), "eigh" (per kernel) or "auto" (by the number of C values);
    precision of the factorisations: "mixed" (float32, refined to float64 accuracy), "fp64", or
    "auto" (mixed on GPUs without full-rate float64, else fp64)
    → predictions [b, len(C), m] (class ids or values).
    """
    dev = torch.device(device)
    ka = torch.stack([torch.as_tensor(k, dtype=torch.float64, device=dev) for k in k_train])
    kb = torch.stack([torch.as_tensor(k, dtype=torch.float64, device=dev) for k in k_test])
    y = torch.as_tensor(np.asarray(y_train), device=dev)
    if kind == "classification":
        Y = -torch.ones(len(y), n_classes, dtype=torch.float64, device=dev)
        Y[torch.arange(len(y), device=dev), y.long()] = 1.0
    else:
        Y = y.to(torch.float64)[:, None]
    method = solve_method(method, len(C))
    precision = solve_precision(precision, device)
    if method == "cholesky":
        out = torch.stack([_cholesky_outputs(ka, kb, Y, c, mixed=precision == "mixed") for c in C], dim=1)
    elif method == "eigh":
        out = _eigh_outputs(ka, kb, Y, C)
    else:
        raise ValueError(f"lssvm method {method!r}: expected auto, cholesky or eigh")
    pred = out.argmax(-1) if kind == "classification" else out[..., 0]
    return pred.cpu().numpy()


def solve_method(method: str, n_c: int) -> str:
    """``auto`` → ``eigh`` for ``n_c`` ≥ EIGH_AT_C values of C (one decomposition serves them all), else ``cholesky``."""
    if method == "auto":
        return "eigh" if n_c >= EIGH_AT_C else "cholesky"
    return method


def solve_label(n_c: int, precision: str, device: str) -> str:
    """How ``lssvm_predict`` (method auto) solves a grid of ``n_c`` C values: the eigendecomposition is always
    float64, so its precision setting does not apply; a Cholesky solve uses ``precision`` as resolved here."""
    if solve_method("auto", n_c) == "eigh":
        return "fp64 eigendecomposition"
    return f"{solve_precision(precision, device)} Cholesky"


def _cholesky_outputs(ka: torch.Tensor, kb: torch.Tensor, Y: torch.Tensor, c: float, *,
                      mixed: bool = False) -> torch.Tensor:
    """One C: ka [b, n, n], kb [b, m, n], Y [n, k] → outputs [b, m, k]."""
    n = ka.shape[-1]
    h = ka + torch.eye(n, dtype=ka.dtype, device=ka.device) / c
    rhs = torch.cat([Y, torch.ones(n, 1, dtype=Y.dtype, device=Y.device)], dim=1).expand(len(ka), n, Y.shape[1] + 1)
    z = _spd_solve(h, rhs, mixed=mixed)  # [b, n, k + 1]: A Y and A 1
    if z is None:  # not positive definite in floating point (a huge C): decompose instead
        return _eigh_outputs(ka, kb, Y, (c,))[:, 0]
    zy, z1 = z[..., :-1], z[..., -1:]
    bias = zy.sum(1, keepdim=True) / z1.sum(1, keepdim=True)  # [b, 1, k]
    return kb @ (zy - z1 * bias) + bias


def _spd_solve(h: torch.Tensor, rhs: torch.Tensor, *, mixed: bool) -> torch.Tensor | None:
    """h⁻¹ rhs for symmetric positive definite h [b, n, n] and rhs [b, n, k] (float64) → [b, n, k], or
    None when a float64 factorisation fails. ``mixed``: float32 factors, refined in float64."""
    if not mixed:
        chol, info = torch.linalg.cholesky_ex(h)
        return None if bool((info != 0).any()) else torch.cholesky_solve(rhs, chol)
    chol, info = torch.linalg.cholesky_ex(h.float())
    factored = info == 0  # kernels float32 could not factorise go straight to float64
    z = torch.cholesky_solve(rhs.float(), chol).double()
    done = torch.zeros_like(factored)
    for _ in range(REFINE_STEPS):
        if bool((done | ~factored).all()):
            break
        dz = torch.cholesky_solve((rhs - h @ z).float(), chol).double()  # the residual in float64
        z += dz
        done = factored & (dz.abs().amax((1, 2)) <= REFINED_TO * z.abs().amax((1, 2)))
    if not bool(done.all()):
        rest = _spd_solve(h[~done], rhs[~done], mixed=False)
        if rest is None:
            return None
        z[~done] = rest
    return z


def _eigh_outputs(ka: torch.Tensor, kb: torch.Tensor, Y: torch.Tensor, C: tuple[float, ...]) -> torch.Tensor:
    """Every C from one eigendecomposition: ka [b, n, n], kb [b, m, n], Y [n, k] → outputs [b, c, m, k]."""
    lam, Q = torch.linalg.eigh(ka)  # [b, n], [b, n, n]
    qy = Q.transpose(1, 2) @ Y  # [b, n, k]
    q1 = Q.sum(dim=1)  # Qᵀ1: [b, n]
    proj = kb @ Q  # [b, m, n]
    inv_c = 1.0 / torch.as_tensor(C, dtype=ka.dtype, device=ka.device)  # [c]
    w = 1.0 / (lam[:, None, :] + inv_c[None, :, None])  # [b, c, n]: eigenvalues of (K + I/C)⁻¹
    s1 = (q1[:, None, :] ** 2 * w).sum(-1)  # 1ᵀ(K+I/C)⁻¹1: [b, c]
    sy = torch.einsum("bn,bcn,bnk->bck", q1, w, qy)  # 1ᵀ(K+I/C)⁻¹Y: [b, c, k]
    bias = sy / s1[..., None]  # [b, c, k]
    coef = w[..., None] * (qy[:, None] - q1[:, None, :, None] * bias[:, :, None, :])  # Qᵀα: [b, c, n, k]
    return torch.einsum("bmn,bcnk->bcmk", proj, coef) + bias[:, :, None, :]  # [b, c, m, k]


def on_device(device: str) -> Callable[[np.ndarray], torch.Tensor]:
    """A float64 numpy array → the same as a torch tensor on ``device`` (where kernels are built)."""
    dev = torch.device(device)
    return lambda x: torch.as_tensor(x, dtype=torch.float64, device=dev)


def solve_precision(precision: str, device: str) -> str:
    """``auto`` → ``mixed`` on GPUs without full-rate float64, else ``fp64``; ``mixed``/``fp64`` as given."""
    if precision == "auto":  # mixed pays only where float64 is far slower than float32 (see FAST_FP64)
        dev = torch.device(device)
        return "mixed" if dev.type == "cuda" and torch.cuda.get_device_capability(dev) not in FAST_FP64 else "fp64"
    if precision not in ("mixed", "fp64"):
        raise ValueError(f"lssvm precision {precision!r}: expected auto, mixed or fp64")
    return precision


def solver_device(device: str) -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; anything else as given."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("probe.device: cuda, but this node sees no GPU (use auto, or give trials "
                         "search.gpus_per_trial on a cluster with GPUs)")
    return device
