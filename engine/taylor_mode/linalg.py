"""Taylor rules of the linear solve, the Cholesky factor and log |det|: matrix recurrences.

Series are ``(K+1, *prefix, n, n)`` (matrices) or ``(K+1, *prefix, n)`` (right-hand vectors).
Every coefficient k ≥ 1 solves a linear system with the same matrix as the value, so each
rule costs K solves (or triangular products) of the value's size.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.taylor_mode import extended_linalg as X
from engine.taylor_mode.gathers import Series, series_bilinear
from engine.taylor_mode.heads import dtype_of, is_extended
from engine.taylor_mode.rules import inv_series
from engine.taylor_mode.series import deriv, integrate


def safe_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched ``solve(a, b)`` for matrix right-hand sides; a singular (or non-finite) matrix
    gives NaN for its system instead of an exception."""
    if is_extended(a, b):
        return X.solve(a, b)
    shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, (*shape, *a.shape[-2:]))
    b = np.broadcast_to(b, (*shape, *b.shape[-2:]))
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        fa = a.reshape(-1, *a.shape[-2:])
        fb = b.reshape(-1, *b.shape[-2:])
        out = np.full(fb.shape, np.nan)
        for i, (m, r) in enumerate(zip(fa, fb, strict=True)):
            try:
                out[i] = np.linalg.solve(m, r)
            except np.linalg.LinAlgError:
                continue
        return out.reshape(b.shape)


def solve_series(a: Series, b: Series, *, vector: bool) -> Series:
    """X = A⁻¹B: X_0 = A_0⁻¹B_0, X_k = A_0⁻¹(B_k − Σ_{j=1..k} A_j X_{k−j}).

    ``vector``: B holds vectors (…, n), not matrices (…, n, m).
    """
    if vector:
        return solve_series(a, b[..., None], vector=False)[..., 0]
    order = max(len(a), len(b))
    a0 = a[0]
    x = np.empty((order, *np.broadcast_shapes(a.shape[1:-2], b.shape[1:-2]),
                  a.shape[-1], b.shape[-1]), dtype=dtype_of(a, b))
    for k in range(order):
        rhs = b[k] if k < len(b) else np.zeros(b.shape[1:])
        for j in range(1, min(k, len(a) - 1) + 1):
            rhs = rhs - a[j] @ x[k - j]
        x[k] = safe_solve(a0, rhs)
    return x


def _phi(m: np.ndarray) -> np.ndarray:
    """The strictly lower triangle of ``m`` plus half its diagonal."""
    n = m.shape[-1]
    weight = np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)
    return m * weight


def nan_where_it_fails(factor: Callable[[np.ndarray], np.ndarray], a: np.ndarray
                       ) -> np.ndarray:
    """A batched numpy.linalg ``factor`` of the matrices in ``a``; the matrices it refuses
    (singular, not positive definite) give NaN entries instead of an exception."""
    try:
        return factor(a)
    except np.linalg.LinAlgError:
        flat = a.reshape(-1, *a.shape[-2:])
        out = np.full(flat.shape, np.nan)
        for i, m in enumerate(flat):
            try:
                out[i] = factor(m)
            except np.linalg.LinAlgError:
                continue
        return out.reshape(a.shape)


def safe_cholesky(a: np.ndarray) -> np.ndarray:
    """Batched lower Cholesky factor; a matrix that is not positive definite gives NaN."""
    if is_extended(a):
        return X.cholesky(a)
    return nan_where_it_fails(np.linalg.cholesky, a)


def cholesky_series(a: Series) -> Series:
    """L with L Lᵀ = S, S = (A + Aᵀ)/2 (the symmetric part, as the derivative rule):
    S_k = Σ_j L_j L_{k−j}ᵀ, so L_0 X + X L_0ᵀ = R_k with X = L_k and
    R_k = S_k − Σ_{j=1..k−1} L_j L_{k−j}ᵀ; its lower-triangular solution is
    L_k = L_0 Φ(L_0⁻¹ R_k L_0⁻ᵀ), Φ the strict lower triangle plus half the diagonal."""
    s = 0.5 * (a + np.swapaxes(a, -1, -2))
    lower = np.empty(s.shape, dtype=dtype_of(s))
    l0 = safe_cholesky(s[0])
    lower[0] = l0
    eye = np.broadcast_to(np.eye(s.shape[-1]), l0.shape)
    l0_inv = safe_solve(l0, eye)
    for k in range(1, len(s)):
        r = s[k].copy()
        for j in range(1, k):
            r -= lower[j] @ np.swapaxes(lower[k - j], -1, -2)
        lower[k] = l0 @ _phi(l0_inv @ r @ np.swapaxes(l0_inv, -1, -2))
    return lower


def _trace_of_product(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...ji->...", p, q)


def logabsdet_series(a: Series) -> Series:
    """log |det A| from (log |det A|)' = tr(A⁻¹ A')."""
    order = len(a) - 1
    y0 = (X.slogdet if is_extended(a) else np.linalg.slogdet)(a[0])[1]
    if not order:
        return y0[None]
    return integrate(y0, series_bilinear(inv_series(a[:order]), deriv(a), _trace_of_product))


def detsign_series(a: Series) -> Series:
    """The sign of det A: piecewise constant, so its series is the constant one."""
    out = np.zeros((len(a), *a.shape[1:-2]))
    out[0] = (X.slogdet if is_extended(a) else np.linalg.slogdet)(a[0])[0]
    return out
