"""Taylor rules of the reductions with a tie convention: max and min over axes.

Near t = 0 the maximum of x(t) over an axis is the entry that is largest at t = 0, so its
series is that entry's series. Where several entries tie at t = 0 the series is their mean,
the same even split as the derivative rule (PyTorch's ``amax``): the Taylor coefficients are
the derivatives of that convention, not of the kinked function.
"""

from __future__ import annotations

import numpy as np

from engine.taylor_mode.gathers import Series
from engine.taylor_mode.heads import isfinite


def extremum_series(x: Series, *, axes: tuple[int, ...], largest: bool) -> Series:
    """max (``largest``) or min of ``x`` over the trailing ``axes`` (negative numbers)."""
    pick = np.max if largest else np.min
    y0 = pick(x[0], axis=axes, keepdims=True)
    ties = x[0] == y0
    count = np.sum(ties, axis=axes)
    # np.where, not a product with the mask: an infinite coefficient off the extremum stays out.
    y = np.sum(np.where(ties, x, 0.0), axis=axes) / count
    y[0] = np.squeeze(y0, axis=axes)
    return y


def shift_series(x: Series, *, axes: tuple[int, ...]) -> Series:
    """The series of the stable shift of logsumexp and softmax: the maximum's (the largest
    entry's series, 0 where the maximum is not finite).

    Those functions are invariant under any shift, so the derivative rules treat it as a
    constant; here following the maximum keeps the dominant shifted term exactly exp(0) = 1,
    so a dominant entry's series does not have to cancel in the logarithm's recurrence.
    """
    y = extremum_series(x, axes=axes, largest=True)
    finite = isfinite(y[0])
    return np.where(finite, y, 0.0)
