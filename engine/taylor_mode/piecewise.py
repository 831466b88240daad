"""Taylor rules of the piecewise ops: rounding, floor division, ``mod`` and ``clip``.

Rounding and floor division are constant between their jumps, so their series is the value
alone. ``mod(a, b) = a − q·b`` with the quotient q = floor_divide(a0, b0) fixed by the constant
terms (the one NumPy's ``mod`` uses, so value and slope agree at every point). ``clip`` is the
series of the operand it returns, chosen by the constant terms as its derivative is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.taylor_mode.gathers import Series
from engine.taylor_mode.heads import head, register
from engine.taylor_mode.series import broadcast, constant

# The constant terms at extended precision. The integers fit float64 exactly, so the constant
# series stay float64; mpmath's nint rounds halves to even, as np.round.
register(np.floor, lambda ctx, x: ctx.floor(x))
register(np.ceil, lambda ctx, x: ctx.ceil(x))
register(np.round, lambda ctx, x: ctx.nint(x))
register(np.floor_divide, lambda ctx, a, b: ctx.floor(a / b))
register(np.mod, lambda ctx, a, b: a - ctx.floor(a / b) * b)


def constant_rule(f: Callable[[np.ndarray], np.ndarray]) -> Callable[[Series], Series]:
    """The rule of a unary op that is constant between jumps: ``[f(x0), 0, 0, …]``."""
    return lambda x: constant(head(f, x[0]), x)


def floor_divide_series(a: Series, b: Series) -> Series:
    a, b = broadcast(a, b)
    return constant(head(np.floor_divide, a[0], b[0]), a)


def mod_series(a: Series, b: Series) -> Series:
    a, b = broadcast(a, b)
    y = a - head(np.floor_divide, a[0], b[0]) * b
    y[0] = head(np.mod, a[0], b[0])
    return y


def clip_series(x: Series, lo: Series, hi: Series) -> Series:
    x, lo, hi = broadcast(x, lo, hi)
    x0, lo0, hi0 = x[0], lo[0], hi[0]
    # NumPy returns hi when lo > hi; x itself on the closed interval [lo, hi].
    return np.where(lo0 > hi0, hi, np.where(x0 < lo0, lo, np.where(x0 > hi0, hi, x)))
