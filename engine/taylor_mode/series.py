"""Truncated Taylor series and the classic recurrences on them.

Convention: a series is a float64 array ``c`` of shape ``(K+1, *rest)`` whose ``c[k]`` is the
*normalized* coefficient u_k = u^(k)(0)/k! of u(t) = Σ u_k t^k, never the factorial-scaled
derivative (which overflows at high order). ``rest`` is any batch prefix followed by the
primitive's tensor shape; elementwise operations broadcast over it like numpy.

Every recurrence costs O(K²) per element: the only Python loop runs over k and numpy does the
rest. They are the classic ones (Griewank & Walther, *Evaluating Derivatives*, ch. 13):

* ``integrate(y0, d)`` rebuilds y from y0 and the series d of y';
* ``exp_ode(dz, y0)`` solves y' = y·z';
* ``quadratic_ode`` solves y' = (a + b·y + c·y²)·x';
* ``pair_ode`` solves s' = c·x', c' = ±s·x';
* ``div_series``, ``sqrt_series``, ``power_recurrence`` and the integer powers (products
  only, exact at x0 = 0).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import special

from engine.taylor_mode.gathers import Series, coefficient_size, power_plan, product
from engine.taylor_mode.heads import dtype_of, head

# --- shapes and small helpers -------------------------------------------------------------------

def pad(*series: Series) -> list[Series]:
    """Give every series the same number of rest axes (inserted after the k axis)."""
    ndim = max(s.ndim for s in series)
    return [s.reshape(s.shape[:1] + (1,) * (ndim - s.ndim) + s.shape[1:]) for s in series]


def broadcast(*series: Series) -> list[Series]:
    """Broadcast series against each other over ``rest`` (read-only views)."""
    return list(np.broadcast_arrays(*pad(*series)))


def k_axis(n: int, ndim: int, start: int = 0) -> np.ndarray:
    """``[start, …, start+n-1]`` shaped to broadcast along the k axis of an ``ndim``-array."""
    return np.arange(start, start + n, dtype=np.float64).reshape((n,) + (1,) * (ndim - 1))


def span(d: Series) -> int:
    """In extended precision, the rows of ``d`` up to its last nonzero one (an input x0 + t
    has one): the recurrences skip the products with exact zeros, each an mpmath call. In
    float64 the full length (there a product costs nothing and 0·inf must stay nan)."""
    if d.dtype != object or not d.size:
        return len(d)
    nonzero = np.flatnonzero((d != 0).reshape(len(d), -1).any(axis=1))
    return int(nonzero[-1]) + 1 if nonzero.size else 0


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ_i a[i]·b[i] over the leading axis, elementwise over the rest."""
    return np.einsum("i...,i...->...", a, b)


def one_like(x: Series) -> Series:
    """The constant series 1 with the shape of ``x``."""
    one = np.zeros(x.shape, dtype=x.dtype)
    one[0] = 1.0
    return one


def constant(value: np.ndarray, like: Series) -> Series:
    """The series ``[value, 0, 0, …]`` with as many terms as ``like``."""
    value = np.asarray(value, dtype=np.float64)
    out = np.zeros((len(like), *value.shape))
    out[0] = value
    return out


def deriv(x: Series) -> Series:
    """The series of x'(t), one term shorter: x'_m = (m+1)·x_{m+1}."""
    return x[1:] * k_axis(len(x) - 1, x.ndim, start=1)


def integrate(y0: np.ndarray, d: Series) -> Series:
    """The series y with y(0) = y0 and y' = d: y_k = d_{k-1}/k."""
    y = np.empty((len(d) + 1, *np.broadcast_shapes(np.shape(y0), d.shape[1:])),
                 dtype=dtype_of(y0, d))
    y[0] = y0
    y[1:] = d / k_axis(len(d), d.ndim, start=1)
    return y


def mul_series(a: Series, b: Series) -> Series:
    """Elementwise product of two series; a constant factor scales the other series (its zero
    terms contribute exactly 0, also against infinite ones, as the chain rule's)."""
    if a.ndim != b.ndim:
        a, b = pad(a, b)
    # Extended precision (object arrays of mpf) keeps its numbers finite: no check needed.
    exact = a.dtype == object or b.dtype == object
    if not exact and (not np.isfinite(a).all() or not np.isfinite(b).all()):
        if not a[1:].any():
            return np.broadcast_to(a[:1], np.broadcast_shapes(a.shape, b.shape)) * b
        if not b[1:].any():
            return a * np.broadcast_to(b[:1], np.broadcast_shapes(a.shape, b.shape))
    return product(a, b)


def div_series(a: Series, b: Series) -> Series:
    """Elementwise quotient q = a/b from b·q = a: q_k = (a_k − Σ_{j=1..k} b_j q_{k−j}) / b_0."""
    a, b = broadcast(a, b)
    q = np.empty(a.shape, dtype=dtype_of(a, b))
    b0 = b[0]
    q[0] = a[0] / b0
    width = span(b[1:])
    for k in range(1, len(a)):
        j = min(k, width)
        q[k] = (a[k] - dot(b[1:j + 1], q[k - 1:k - 1 - j:-1] if k > j else q[k - 1::-1])) / b0
    return q


def reciprocal(u: Series) -> Series:
    """1/u."""
    return div_series(one_like(u), u)


def sqrt_series(x: Series) -> Series:
    """sqrt(x) from y² = x: y_k = (x_k − Σ_{j=1..k−1} y_j y_{k−j}) / (2 y_0); at x0 = 0 see
    :func:`zero_base_power`."""
    y = np.empty(x.shape, dtype=x.dtype)
    y[0] = head(np.sqrt, x[0])
    two_y0 = 2.0 * y[0]
    for k in range(1, len(x)):
        y[k] = (x[k] - dot(y[1:k], y[k - 1:0:-1])) / two_y0
    zero = x[0] == 0
    if zero.any():
        y = np.where(zero, zero_base_power(x, 0.5), y)
        y[0] = head(np.sqrt, x[0])
    return y


def exp_ode(dz: Series, y0: np.ndarray) -> Series:
    """The series y with y(0) = y0 and y' = y·z', given dz = z'.

    y_k = (1/k) Σ_{j=0..k−1} dz_j y_{k−1−j}.
    """
    y = np.empty((len(dz) + 1, *np.broadcast_shapes(np.shape(y0), dz.shape[1:])),
                 dtype=dtype_of(dz, y0))
    y[0] = y0
    width = span(dz)
    for k in range(1, len(y)):
        j = min(k, width)
        y[k] = dot(dz[:j], y[k - 1:k - 1 - j:-1] if k > j else y[k - 1::-1]) / k
    return y


def power_recurrence(x: Series, p: np.ndarray | float, y0: np.ndarray | None = None) -> Series:
    """x**p from x·y' = p·y·x': y_k = Σ_{j=1..k} ((p+1)·j − k)·x_j·y_{k−j} / (k·x_0).

    Valid for x0 ≠ 0 (including x0 < 0 when y0 is real, e.g. cbrt); ``p`` may vary over rest.
    """
    x0 = x[0]
    y = np.empty(np.broadcast_shapes(x.shape, (1, *np.shape(p))), dtype=dtype_of(x, y0))
    y[0] = head(np.power, x0, p) if y0 is None else y0
    # both sums of the recurrence in one contraction: Σ j·x_j·y_{k−j} and Σ x_j·y_{k−j}
    weighted = np.stack([deriv(x), x[1:]])
    for k in range(1, len(y)):
        s = np.einsum("ai...,i...->a...", weighted[:, :k], y[k - 1::-1])
        y[k] = ((p + 1.0) * s[0] - k * s[1]) / (k * x0)
    return y


def quadratic_ode(x: Series, y0: np.ndarray, slope0: np.ndarray, lin: float,
                   quad: float) -> Series:
    """The series y with y' = (a + lin·y + quad·y²)·x'.

    ``slope0`` = a + lin·y0 + quad·y0² is passed in so the caller can compute it without
    cancellation (e.g. 1 − tanh² at large |x0|); only the higher terms of the slope are formed here.
    """
    dx = deriv(x)
    y = np.empty(x.shape, dtype=dtype_of(x, y0))
    slope = np.empty(dx.shape, dtype=y.dtype)
    y[0] = y0
    for k in range(1, len(x)):
        m = k - 1
        slope[m] = slope0 if m == 0 else lin * y[m] + quad * dot(y[:k], y[m::-1])
        y[k] = dot(dx[:k], slope[m::-1]) / k
    return y


def pair_ode(x: Series, s0: np.ndarray, c0: np.ndarray, sign: float | np.ndarray
             ) -> tuple[Series, Series]:
    """The series s, c with s' = c·x' and c' = sign·s·x' (sin/cos: sign −1; sinh/cosh: +1)."""
    dx = deriv(x)
    sc = np.empty((2, *x.shape), dtype=dtype_of(x, s0))
    sc[0, 0] = s0
    sc[1, 0] = c0
    # row 0 turns s into c' (with the sign), row 1 turns c into s': one contraction per k
    slopes = np.stack(np.broadcast_arrays(sign * dx, dx))
    width = span(dx)
    for k in range(1, len(x)):
        j = min(k, width)
        past = sc[:, k - 1:k - 1 - j:-1] if k > j else sc[:, k - 1::-1]
        sc[::-1, k] = np.einsum("ai...,ai...->a...", slopes[:, :j], past) / k
    return sc[0], sc[1]


# --- powers -------------------------------------------------------------------------------------

def _power_by_products(x: Series, p: int) -> Series:
    """x**p for one integer 0 ≤ p ≤ K, exact at x0 = 0 (only sums of products).

    Short series: every term x_{i_1}⋯x_{i_p} of the power in one gather, p − 1 products and
    one segmented sum; long ones: binary exponentiation (≤ 2·log2 p products).
    """
    if p <= 1:
        return one_like(x) if p == 0 else x.copy()
    plan = power_plan(len(x), p, coefficient_size(x))
    if plan is not None:
        idx, starts = plan
        factors = x.take(idx, axis=0)
        if p <= 4:  # a few multiplications cost less than one ufunc.reduce here
            terms = factors[0] * factors[1]
            for r in range(2, p):
                terms *= factors[r]
        else:
            terms = np.multiply.reduce(factors, axis=0)
        return np.add.reduceat(terms, starts, axis=0)
    result = None
    base = x
    while True:
        if p & 1:
            result = base if result is None else product(result, base)
        p >>= 1
        if not p:
            break
        base = product(base, base)
    assert result is not None  # p > 1 here, so the loop multiplied at least once
    return result


def powc_rule(p: float) -> Callable[[Series], Series]:
    """The rule of ``powc`` with exponent ``p`` bound: ``x -> x**p`` (see :func:`power_series`)."""
    q = float(p)
    if not (q.is_integer() and q >= 0):
        return lambda x: power_series(x, p)
    n = int(q)
    return lambda x: _power_by_products(x, n) if n < len(x) else power_series(x, p)


def _powers_by_products(x: Series, p: np.ndarray) -> Series:
    """x**p for integer p ≥ 0 (array over rest) by binary exponentiation: exact at x0 = 0."""
    n = p.astype(np.int64)
    result = one_like(x)
    base = x
    while True:
        odd = (n & 1).astype(bool)
        if odd.any():
            product = mul_series(result, base)
            result = product if odd.all() else np.where(odd, product, result)
        n = n >> 1
        if not n.any():
            break
        base = mul_series(base, base)
    return result


def zero_base_power(x: Series, p: np.ndarray | float, two_sided: bool = False) -> Series:
    """x**p at x0 = 0 (p not an integer in 0..K), with the limits the derivative rules give.

    While x moves linearly (x_2 = … = x_k = 0) the coefficient is the chain rule's
    f^(k)(x0)·x_1^k/k! = binom(p, k)·x0^(p−k)·x_1^k, with x0^(p−k) the IEEE power of ±0: 0
    below order p, ±inf above (sqrt(t): +inf, −inf, +inf, …; these are the one-sided limits
    at 0 of a power defined on x ≥ 0). Past a curved term the coefficient is 0 below order p
    (x**p = O(t^p) for p > 0) and NaN above. ``two_sided`` (cbrt, defined on both sides):
    the even orders k ≥ 2, whose one-sided limits have opposite signs, are NaN.
    """
    k = k_axis(len(x), x.ndim)
    x0 = x[0]
    x1 = x[1] if len(x) > 1 else np.zeros(x.shape[1:])
    linear = special.binom(p, k) * x1 ** k * np.power(x0, p - k)
    curved = np.zeros(x.shape, dtype=bool)
    if len(x) > 2:
        curved[2:] = np.cumsum(x[2:] != 0, axis=0) > 0
    y = np.where(curved, np.where(k < p, 0.0, np.nan), linear)
    if two_sided:
        y[2::2] = np.nan
    y[0] = np.power(x0, p)
    return y


def power_series(x: Series, p: np.ndarray | float) -> Series:
    """x**p for an exponent p that is constant in t (a float, or an array over rest).

    Integer 0 ≤ p ≤ K: products only (one gather for short series, else binary
    exponentiation), exact even at x0 = 0.
    Otherwise the power recurrence, also for negative integers: there it is as exact as the
    reciprocal of x**|p| (both are inf/nan at x0 = 0) but avoids that division's cancellation,
    which cost up to ~100× more rounding error in tests. At x0 = 0 the coefficients are those
    of :func:`zero_base_power` (for integer p > K all 0).
    """
    order = len(x) - 1
    if isinstance(p, float | int) or np.ndim(p) == 0:
        q = float(p)
        if q.is_integer() and 0 <= q <= order:
            return _power_by_products(x, int(q))
    p = np.asarray(p, dtype=np.float64)
    x = np.broadcast_to(x, (len(x), *np.broadcast_shapes(x.shape[1:], p.shape)))
    exact = (p == np.round(p)) & (p >= 0) & (p <= order)
    if exact.all():
        return _powers_by_products(x, p)
    general = power_recurrence(x, p)
    zero_base = x[0] == 0
    if zero_base.any():
        general = np.where(zero_base, zero_base_power(x, p), general)
    if not exact.any():
        return general
    return np.where(exact, _powers_by_products(x, np.where(exact, p, 0.0)), general)
