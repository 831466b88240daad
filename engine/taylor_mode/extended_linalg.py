"""numpy.linalg's solve, inv, det, slogdet and cholesky on object arrays of mpmath numbers, for
the linear-algebra Taylor rules at extended precision.

Each matrix of a stack is one mpmath matrix in the computation's context (:data:`CONTEXT`);
a singular matrix (or one that is not positive definite, for cholesky) gives NaN entries, as
the float64 rules do, instead of an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine.taylor_mode.heads import CONTEXT


def _each(fn: Callable[[Any, Any], Any], a: np.ndarray, out_shape: tuple[int, ...],
          fill: Callable[[Any], Any]) -> np.ndarray:
    """``fn(ctx, matrix)`` per matrix of the stack ``a`` (…, n, n), as an object array of shape
    (…, *out_shape); NaN (``fill``) where mpmath refuses the matrix."""
    ctx = CONTEXT.get()
    prefix = a.shape[:-2]
    out = np.empty((*prefix, *out_shape), dtype=object)
    for idx in np.ndindex(prefix):
        m = ctx.matrix(a[idx].tolist())
        try:
            out[idx] = fn(ctx, m)
        except (ZeroDivisionError, ValueError):
            out[idx] = fill(ctx)
    return out


def _array(ctx: Any, m: Any) -> np.ndarray:
    return np.array(m.tolist(), dtype=object).reshape(m.rows, m.cols)


def _nans(shape: tuple[int, ...]) -> Callable[[Any], np.ndarray]:
    def fill(ctx: Any) -> np.ndarray:
        out = np.empty(shape, dtype=object)
        out.fill(ctx.nan)
        return out
    return fill


def solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """X with A X = B for stacks of matrices A (…, n, n) and B (…, n, m)."""
    shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, (*shape, *a.shape[-2:]))
    b = np.broadcast_to(b, (*shape, *b.shape[-2:]))
    ctx = CONTEXT.get()
    out = np.empty(b.shape, dtype=object)
    for idx in np.ndindex(shape):
        m = ctx.matrix(a[idx].tolist())
        try:
            inverse = ctx.inverse(m)
        except ZeroDivisionError:
            out[idx].fill(ctx.nan)
            continue
        out[idx] = _array(ctx, inverse * ctx.matrix(b[idx].tolist()))
    return out


def inv(a: np.ndarray) -> np.ndarray:
    """A⁻¹ per matrix."""
    n = a.shape[-1]
    return _each(lambda ctx, m: _array(ctx, ctx.inverse(m)), a, (n, n), _nans((n, n)))


def det(a: np.ndarray) -> np.ndarray:
    """det A per matrix."""
    return _each(lambda ctx, m: ctx.det(m), a, (), lambda ctx: ctx.nan)


def slogdet(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sign, log |det A|) per matrix: log|det| is -inf where A is singular."""
    d = det(a)
    ctx = CONTEXT.get()
    sign = np.vectorize(lambda v: ctx.sign(v), otypes=[object])(d)
    log = np.vectorize(lambda v: ctx.log(abs(v)) if v else ctx.ninf, otypes=[object])(d)
    return sign, log


def cholesky(a: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor per symmetric matrix; NaN where it is not positive definite."""
    n = a.shape[-1]
    return _each(lambda ctx, m: _array(ctx, ctx.cholesky(m)), a, (n, n), _nans((n, n)))
