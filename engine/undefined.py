"""Second partials that do not exist: one convention for every route that answers them.

A mixed partial ∂²f/∂x_i∂x_j differentiates ∂f/∂x_i (or ∂f/∂x_j) across the other variable.
Where ∂f/∂x_i or ∂²f/∂x_i² is not finite (``sqrt(x) + y**2`` at x = 0), that derivative is
undefined, and Taylor mode's interpolation over rays, which moves both variables at once, gives
NaN there by construction. The Hessian answers NaN for those entries too, so that ``hessian``,
``derivative`` with ``wrt`` and ``taylor`` agree and the Hessian stays symmetric; its
pure second partials and its other mixed entries are as computed.
"""

from __future__ import annotations

import math

import numpy as np


@np.errstate(all="ignore")  # an infinity or a NaN is what the sum looks for
def all_finite(*arrays: np.ndarray) -> bool:
    """Whether every number of ``arrays`` is finite, by one sum each: a NaN or an infinity
    makes it non-finite; a sum that overflows says False too, which costs a caller only its
    exact check."""
    return math.isfinite(sum(float(a.sum()) for a in arrays))


def _undefined(gradient: np.ndarray, diagonal: np.ndarray) -> np.ndarray | None:
    """Per point and variable (N, n): whether its mixed partials are undefined; None if
    none is (the common case)."""
    if all_finite(gradient, diagonal):
        return None
    bad = ~(np.isfinite(gradient) & np.isfinite(diagonal))
    return bad if bad.any() else None


def dense_hessian(gradient: np.ndarray, hessian: np.ndarray) -> np.ndarray:
    """``hessian`` (N, n, n) with NaN off the diagonal in the rows and columns of variables
    whose gradient entry (N, n) or pure second partial is not finite."""
    diagonal = np.diagonal(hessian, axis1=1, axis2=2)
    bad = _undefined(gradient, diagonal)
    if bad is None:
        return hessian
    lead = np.broadcast_shapes(bad.shape, hessian.shape[:2])
    bad = np.broadcast_to(bad, lead)
    hessian = np.broadcast_to(hessian, lead + hessian.shape[2:])
    mask = bad[:, :, None] | bad[:, None, :]
    n = hessian.shape[1]
    mask[:, np.arange(n), np.arange(n)] = False
    return np.where(mask, np.nan, hessian)


def sparse_hessian(gradient: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                   values: np.ndarray) -> np.ndarray:
    """The same for the stored entries ``values`` (N, nnz) at ``rows``, ``cols``: an entry
    off the diagonal is NaN when its row's or column's variable is undefined (a diagonal entry
    outside the pattern is a structural zero, finite)."""
    if all_finite(gradient, values):
        return values  # (the diagonal is among the values)
    n = gradient.shape[-1]
    diagonal = np.zeros((*values.shape[:-1], n))
    on = rows == cols
    diagonal[..., rows[on]] = values[..., on]
    bad = _undefined(gradient, diagonal)
    if bad is None:
        return values
    mask = (bad[..., rows] | bad[..., cols]) & ~on
    return np.where(mask, np.nan, values)
