"""Taylor rules of ``logit`` and ``logaddexp``, from their derivatives (no cancellation in the
constant terms: those are SciPy's and NumPy's stable forward values)."""

from __future__ import annotations

import numpy as np
from scipy import special

from engine.taylor_mode.gathers import Series
from engine.taylor_mode.heads import head, register
from engine.taylor_mode.series import (
    broadcast,
    deriv,
    integrate,
    mul_series,
    quadratic_ode,
    reciprocal,
)

register(special.logit, lambda ctx, x: ctx.log(x / (1 - x)))
register(np.logaddexp, lambda ctx, a, b: ctx.log(ctx.exp(a) + ctx.exp(b)))


def logit_series(x: Series) -> Series:
    """logit(x) = log(x/(1 − x)) from logit' = 1/(x·(1 − x))."""
    order = len(x) - 1
    if not order:
        return head(special.logit, x)
    xs = x[:order]
    u = xs - mul_series(xs, xs)
    u[0] = xs[0] * (1.0 - xs[0])
    return integrate(head(special.logit, x[0]), mul_series(reciprocal(u), deriv(x)))


def _sigmoid(d: Series) -> Series:
    """expit(d(t)) from s' = s·(1 − s)·d', its first slope s0·expit(−d0) without cancellation."""
    s0 = head(special.expit, d[0])
    return quadratic_ode(d, s0, s0 * head(special.expit, -d[0]), 1.0, -1.0)


def logaddexp_series(a: Series, b: Series) -> Series:
    """log(exp(a) + exp(b)) = b + softplus(a − b): y' = b' + expit(a − b)·(a' − b')."""
    a, b = broadcast(a, b)
    order = len(a) - 1
    if not order:
        return head(np.logaddexp, a, b)
    d = a - b
    slope = deriv(b) + mul_series(_sigmoid(d[:order]), deriv(d))
    return integrate(head(np.logaddexp, a[0], b[0]), slope)
