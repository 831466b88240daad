"""Univariate Taylor-mode rules: one function per primitive, acting on truncated Taylor series.

Convention: a series is a float64 array ``c`` of shape ``(K+1, *rest)`` whose ``c[k]`` is the
*normalized* coefficient u_k = u^(k)(0)/k! of u(t) = Σ u_k t^k, never the factorial-scaled
derivative (which overflows at high order). ``rest`` is any batch prefix followed by the
primitive's tensor shape; elementwise rules broadcast over it like numpy.

Every rule costs O(K²) per element: the only Python loop runs over k and numpy does the rest.
The recurrences are the classic ones (Griewank & Walther, *Evaluating Derivatives*, ch. 13) and
most rules are assembled from a few families rather than written out one by one:

* ``_integrate(y0, d)`` rebuilds y from y0 and the series d of y'; with d = f'(x)·x' it gives
  asin, acos, atan, asinh, acosh, atanh, log, log1p, erf, erfc and softplus (``_SLOPES``), and
  with d = (x·y' − y·x')/(x² + y²) atan2;
* ``_exp_ode(dz, y0)`` solves y' = y·z' (exp, expm1, pow with a varying exponent, det);
* ``_quadratic_ode`` solves y' = (a + b·y + c·y²)·x' (tan, tanh, sigmoid);
* ``_pair_ode`` solves s' = c·x', c' = ±s·x' (sin/cos, sinh/cosh);
* ``_div``, ``_sqrt``, ``_pow_ode`` and ``series_bilinear`` (products, and matmul for the caller).

Singular points (sqrt or log at 0, division by 0, a singular matrix) give inf/nan coefficients,
never an exception or a warning. Kinks follow PyTorch's nested autograd at every order:
``abs`` is sign(x0)·x (all zeros at x0 = 0), ``sign`` is constant, ``relu`` is x where x0 > 0
and zero otherwise, ``max``/``min`` average the two series on a tie a0 == b0, ``where`` and the
comparisons look at the constant terms only.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy import special

Series = npt.NDArray[np.float64]
Bilinear = Callable[[np.ndarray, np.ndarray], np.ndarray]

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


# --- shapes and small helpers -------------------------------------------------------------------

def _pad(*series: Series) -> list[Series]:
    """Give every series the same number of rest axes (inserted after the k axis)."""
    ndim = max(s.ndim for s in series)
    return [s.reshape(s.shape[:1] + (1,) * (ndim - s.ndim) + s.shape[1:]) for s in series]


def _broadcast(*series: Series) -> list[Series]:
    """Broadcast series against each other over ``rest`` (read-only views)."""
    return list(np.broadcast_arrays(*_pad(*series)))


def _k_axis(n: int, ndim: int, start: int = 0) -> np.ndarray:
    """``[start, …, start+n-1]`` shaped to broadcast along the k axis of an ``ndim``-array."""
    return np.arange(start, start + n, dtype=np.float64).reshape((n,) + (1,) * (ndim - 1))


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ_i a[i]·b[i] over the leading axis, elementwise over the rest."""
    return np.einsum("i...,i...->...", a, b)


def _one_like(x: Series) -> Series:
    """The constant series 1 with the shape of ``x``."""
    one = np.zeros(x.shape)
    one[0] = 1.0
    return one


def _constant(value: np.ndarray, like: Series) -> Series:
    """The series ``[value, 0, 0, …]`` with as many terms as ``like``."""
    value = np.asarray(value, dtype=np.float64)
    out = np.zeros((len(like), *value.shape))
    out[0] = value
    return out


def _deriv(x: Series) -> Series:
    """The series of x'(t), one term shorter: x'_m = (m+1)·x_{m+1}."""
    return x[1:] * _k_axis(len(x) - 1, x.ndim, start=1)


def _integrate(y0: np.ndarray, d: Series) -> Series:
    """The series y with y(0) = y0 and y' = d: y_k = d_{k-1}/k."""
    y = np.empty((len(d) + 1, *np.broadcast_shapes(np.shape(y0), d.shape[1:])))
    y[0] = y0
    y[1:] = d / _k_axis(len(d), d.ndim, start=1)
    return y


# --- products and the basic recurrences ---------------------------------------------------------

def _rows_to_visit(a: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Indices j whose term f(a_j, ·) may be nonzero.

    All-zero rows are skipped only when ``other`` is finite, so that 0·inf still gives nan.
    Seeds such as x0 + t have two nonzero rows, which makes their products nearly free.
    """
    if not np.isfinite(other).all():
        return np.arange(len(a))
    return np.flatnonzero(np.any(a != 0, axis=tuple(range(1, a.ndim))))


def series_bilinear(a: np.ndarray, b: np.ndarray, f: Bilinear) -> Series:
    """The series c_k = Σ_{j=0..k} f(a_j, b_{k-j}) of a bilinear ``f`` applied to two series.

    ``f`` receives two stacks of coefficients, each with a leading axis of length 1 or L, and
    must broadcast over that axis (``np.multiply``, a batched matmul, …), returning (L, *out).
    The result has min(len(a), len(b)) terms; non-finite inputs give non-finite terms silently.
    """
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    with np.errstate(all="ignore"):
        rows_a, rows_b = _rows_to_visit(a, b), _rows_to_visit(b, a)
        c = np.zeros((n, *np.shape(f(a[:1], b[:1]))[1:]))
        if len(rows_a) <= len(rows_b):
            for j in rows_a:
                c[j:] += f(a[j:j + 1], b[:n - j])
        else:
            for j in rows_b:
                c[j:] += f(a[:n - j], b[j:j + 1])
    return c


def _mul(a: Series, b: Series) -> Series:
    """Elementwise product of two series."""
    return series_bilinear(*_pad(a, b), np.multiply)


def _div(a: Series, b: Series) -> Series:
    """Elementwise quotient q = a/b from b·q = a: q_k = (a_k − Σ_{j=1..k} b_j q_{k−j}) / b_0."""
    a, b = _broadcast(a, b)
    q = np.empty(a.shape)
    b0 = b[0]
    q[0] = a[0] / b0
    for k in range(1, len(a)):
        q[k] = (a[k] - _dot(b[1:k + 1], q[k - 1::-1])) / b0
    return q


def _reciprocal(u: Series) -> Series:
    """1/u."""
    return _div(_one_like(u), u)


def _sqrt(x: Series) -> Series:
    """sqrt(x) from y² = x: y_k = (x_k − Σ_{j=1..k−1} y_j y_{k−j}) / (2 y_0)."""
    y = np.empty(x.shape)
    y[0] = np.sqrt(x[0])
    two_y0 = 2.0 * y[0]
    for k in range(1, len(x)):
        y[k] = (x[k] - _dot(y[1:k], y[k - 1:0:-1])) / two_y0
    return y


def _exp_ode(dz: Series, y0: np.ndarray) -> Series:
    """The series y with y(0) = y0 and y' = y·z', given dz = z'.

    y_k = (1/k) Σ_{j=0..k−1} dz_j y_{k−1−j}.
    """
    y = np.empty((len(dz) + 1, *np.broadcast_shapes(np.shape(y0), dz.shape[1:])))
    y[0] = y0
    for k in range(1, len(y)):
        y[k] = _dot(dz[:k], y[k - 1::-1]) / k
    return y


def _pow_ode(x: Series, p: np.ndarray | float, y0: np.ndarray | None = None) -> Series:
    """x**p from x·y' = p·y·x': y_k = Σ_{j=1..k} ((p+1)·j − k)·x_j·y_{k−j} / (k·x_0).

    Valid for x0 ≠ 0 (including x0 < 0 when y0 is real, e.g. cbrt); ``p`` may vary over rest.
    """
    x0 = x[0]
    y = np.empty(np.broadcast_shapes(x.shape, (1, *np.shape(p))))
    y[0] = np.power(x0, p) if y0 is None else y0
    # both sums of the recurrence in one contraction: Σ j·x_j·y_{k−j} and Σ x_j·y_{k−j}
    weighted = np.stack([_deriv(x), x[1:]])
    for k in range(1, len(y)):
        s = np.einsum("ai...,i...->a...", weighted[:, :k], y[k - 1::-1])
        y[k] = ((p + 1.0) * s[0] - k * s[1]) / (k * x0)
    return y


def _quadratic_ode(x: Series, y0: np.ndarray, slope0: np.ndarray, lin: float,
                   quad: float) -> Series:
    """The series y with y' = (a + lin·y + quad·y²)·x'.

    ``slope0`` = a + lin·y0 + quad·y0² is passed in so the caller can compute it without
    cancellation (e.g. 1 − tanh² at large |x0|); only the higher terms of the slope are formed here.
    """
    dx = _deriv(x)
    y = np.empty(x.shape)
    slope = np.empty(dx.shape)
    y[0] = y0
    for k in range(1, len(x)):
        m = k - 1
        slope[m] = slope0 if m == 0 else lin * y[m] + quad * _dot(y[:k], y[m::-1])
        y[k] = _dot(dx[:k], slope[m::-1]) / k
    return y


def _pair_ode(x: Series, s0: np.ndarray, c0: np.ndarray, sign: float) -> tuple[Series, Series]:
    """The series s, c with s' = c·x' and c' = sign·s·x' (sin/cos: sign −1; sinh/cosh: +1)."""
    dx = _deriv(x)
    sc = np.empty((2, *x.shape))
    sc[0, 0] = s0
    sc[1, 0] = c0
    for k in range(1, len(x)):
        t = np.einsum("i...,ai...->a...", dx[:k], sc[:, k - 1::-1]) / k
        sc[0, k] = t[1]
        sc[1, k] = sign * t[0]
    return sc[0], sc[1]


# --- powers -------------------------------------------------------------------------------------

def _integer_power(x: Series, p: np.ndarray) -> Series:
    """x**p for integer p ≥ 0 (array over rest) by binary exponentiation: exact at x0 = 0."""
    n = p.astype(np.int64)
    result = _one_like(x)
    base = x
    while True:
        odd = (n & 1).astype(bool)
        if odd.any():
            product = _mul(result, base)
            result = product if odd.all() else np.where(odd, product, result)
        n = n >> 1
        if not n.any():
            break
        base = _mul(base, base)
    return result


def _power(x: Series, p: np.ndarray | float) -> Series:
    """x**p for an exponent p that is constant in t (a float, or an array over rest).

    Integer 0 ≤ p ≤ K: binary exponentiation (≤ 2·log2 K products), exact even at x0 = 0.
    Otherwise the power recurrence, also for negative integers: there it is as exact as the
    reciprocal of x**|p| (both are inf/nan at x0 = 0) but avoids that division's cancellation,
    which cost up to ~100× more rounding error in tests. At x0 = 0 with p > 0 the function is
    t^p·w(t)^p, so the coefficients below order p vanish and those above do not exist (nan); for
    integer p > K that makes all of them 0.
    """
    p = np.asarray(p, dtype=np.float64)
    order = len(x) - 1
    x = np.broadcast_to(x, (len(x), *np.broadcast_shapes(x.shape[1:], p.shape)))
    exact = (p == np.round(p)) & (p >= 0) & (p <= order)
    if exact.all():
        return _integer_power(x, p)
    general = _pow_ode(x, p)
    zero_base = (x[0] == 0) & (p > 0)
    if zero_base.any():
        below = _k_axis(len(x), x.ndim) < p
        general = np.where(zero_base, np.where(below, 0.0, np.nan), general)
    if not exact.any():
        return general
    return np.where(exact, _integer_power(x, np.where(exact, p, 0.0)), general)


def _pow(x: Series, y: Series) -> Series:
    """x**y. Where y is constant in t (y_1 = … = y_K = 0) this is ``_power`` with p = y0 per
    element; elsewhere exp(y·log x) seeded with the exact value x0**y0 (nan for x0 < 0, since
    x(t)**y(t) is then not real), and 0 where x is identically 0 and y0 > 0.
    """
    x, y = _broadcast(x, y)
    x0, y0 = x[0], y[0]
    constant = ~np.any(y[1:] != 0, axis=0)
    if constant.all():
        return _power(x, y0)
    varying = _exp_ode(_deriv(_mul(y, _log(x))), np.power(x0, y0))
    zero_base = np.all(x == 0, axis=0) & (y0 > 0)
    varying = np.where(zero_base, 0.0, varying)
    if not constant.any():
        return varying
    return np.where(constant, _power(x, np.where(constant, y0, 0.0)), varying)


# --- elementwise functions ----------------------------------------------------------------------

def _exp(x: Series) -> Series:
    return _exp_ode(_deriv(x), np.exp(x[0]))


def _expm1(x: Series) -> Series:
    y = _exp(x)
    y[0] = np.expm1(x[0])
    return y


def _sin(x: Series) -> Series:
    return _pair_ode(x, np.sin(x[0]), np.cos(x[0]), -1.0)[0]


def _cos(x: Series) -> Series:
    return _pair_ode(x, np.sin(x[0]), np.cos(x[0]), -1.0)[1]


def _sinh(x: Series) -> Series:
    return _pair_ode(x, np.sinh(x[0]), np.cosh(x[0]), 1.0)[0]


def _cosh(x: Series) -> Series:
    return _pair_ode(x, np.sinh(x[0]), np.cosh(x[0]), 1.0)[1]


def _tan(x: Series) -> Series:
    y0 = np.tan(x[0])
    return _quadratic_ode(x, y0, 1.0 + y0 * y0, 0.0, 1.0)


def _tanh(x: Series) -> Series:
    x0 = x[0]
    e = np.exp(-2.0 * np.abs(x0))
    # 1 − tanh² = 4e/(1+e)² with e = exp(−2|x0|): no cancellation and no overflow
    return _quadratic_ode(x, np.tanh(x0), 4.0 * e / (1.0 + e) ** 2, 0.0, -1.0)


def _sigmoid(x: Series) -> Series:
    s0 = special.expit(x[0])
    # s(1 − s) with 1 − s = expit(−x0): no cancellation when s0 is close to 1
    return _quadratic_ode(x, s0, s0 * special.expit(-x[0]), 1.0, -1.0)


def _cbrt(x: Series) -> Series:
    return _pow_ode(x, 1.0 / 3.0, np.cbrt(x[0]))


def _one_minus_square(x: Series) -> Series:
    u = -_mul(x, x)
    u[0] = (1.0 - x[0]) * (1.0 + x[0])  # exact near |x0| = 1, unlike 1 − x0²
    return u


def _square_minus_one(x: Series) -> Series:
    u = _mul(x, x)
    u[0] = (x[0] - 1.0) * (x[0] + 1.0)
    return u


def _one_plus_square(x: Series) -> Series:
    u = _mul(x, x)
    u[0] += 1.0
    return u


def _erf_slope(x: Series) -> Series:
    """erf'(x(t)) = 2/√π · exp(−x²)."""
    x0 = x[0]
    return _exp_ode(_deriv(-_mul(x, x)), _TWO_OVER_SQRT_PI * np.exp(-x0 * x0))


def _shift(x: Series, c: float) -> Series:
    u = x.copy()
    u[0] += c
    return u


# primitive -> (value at x0, series of f'(x(t)) from the series x)
_SLOPES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[Series], Series]]] = {
    "asin": (np.arcsin, lambda x: _pow_ode(_one_minus_square(x), -0.5)),
    "acos": (np.arccos, lambda x: -_pow_ode(_one_minus_square(x), -0.5)),
    "atan": (np.arctan, lambda x: _reciprocal(_one_plus_square(x))),
    "asinh": (np.arcsinh, lambda x: _pow_ode(_one_plus_square(x), -0.5)),
    "acosh": (np.arccosh, lambda x: _pow_ode(_square_minus_one(x), -0.5)),
    "atanh": (np.arctanh, lambda x: _reciprocal(_one_minus_square(x))),
    "log": (np.log, _reciprocal),
    "log1p": (np.log1p, lambda x: _reciprocal(_shift(x, 1.0))),
    "erf": (special.erf, _erf_slope),
    "erfc": (special.erfc, lambda x: -_erf_slope(x)),
    "softplus": (lambda v: np.logaddexp(0.0, v), _sigmoid),
}


def _chain_rule(name: str) -> Callable[[Series], Series]:
    """The rule y = f(x) from y' = f'(x)·x'; f'(x(t)) is only needed to K−1 terms."""
    value, slope = _SLOPES[name]

    def rule(x: Series) -> Series:
        order = len(x) - 1
        if not order:
            return value(x)
        return _integrate(value(x[0]), _mul(slope(x[:order]), _deriv(x)))

    return rule


_log = _chain_rule("log")


def _atan2(y: Series, x: Series) -> Series:
    """atan2(y, x) from its derivative (x·y' − y·x') / (x² + y²)."""
    y, x = _broadcast(y, x)
    order = len(x) - 1
    if not order:
        return np.arctan2(y, x)
    xs, ys = x[:order], y[:order]
    slope = _div(_mul(xs, _deriv(y)) - _mul(ys, _deriv(x)), _mul(xs, xs) + _mul(ys, ys))
    return _integrate(np.arctan2(y[0], x[0]), slope)


# --- kinks, selections, comparisons -------------------------------------------------------------

def _abs(x: Series) -> Series:
    y = np.sign(x[0]) * x
    y[0] = np.abs(x[0])  # +0.0 at x0 = −0.0, where sign(x0)·x0 would give −0.0
    return y


def _sign(x: Series) -> Series:
    return _constant(np.sign(x[0]), x)


def _relu(x: Series) -> Series:
    y = np.where(x[0] > 0, x, 0.0)
    y[0] = np.maximum(x[0], 0.0)  # keeps nan
    return y


def _max(a: Series, b: Series) -> Series:
    a, b = _broadcast(a, b)
    return np.where(a[0] > b[0], a, np.where(a[0] < b[0], b, 0.5 * (a + b)))


def _min(a: Series, b: Series) -> Series:
    a, b = _broadcast(a, b)
    return np.where(a[0] < b[0], a, np.where(a[0] > b[0], b, 0.5 * (a + b)))


def _where(cond: Series, a: Series, b: Series) -> Series:
    cond, a, b = _broadcast(cond, a, b)
    return np.where(cond[0] != 0, a, b)


def _comparison(op: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., Series]:
    """The rule of a comparison: the 0/1 constant series of op(a0, b0)."""

    def rule(a: Series, b: Series) -> Series:
        a, b = _pad(a, b)
        return _constant(op(a[0], b[0]).astype(np.float64), a)

    return rule


def _add(a: Series, b: Series) -> Series:
    a, b = _pad(a, b)
    return a + b


def _sub(a: Series, b: Series) -> Series:
    a, b = _pad(a, b)
    return a - b


# --- matrices -----------------------------------------------------------------------------------

def _inv(a: Series) -> Series:
    """inv(A) for A of shape (K+1, *prefix, n, n): Y_0 = A_0⁻¹, Y_k = −Y_0 Σ_{j=1..k} A_j Y_{k−j}.

    A singular (or non-finite) A_0 gives a nan-filled series for that matrix. Terms with an
    all-zero A_j are skipped (seeds such as A_0 + t·A_1 have one), since tiny batched matmuls
    are what this rule spends its time on.
    """
    a0 = a[0]
    _, logdet = np.linalg.slogdet(a0)
    singular = ~np.isfinite(logdet)
    y = np.empty(a.shape)
    y0 = np.linalg.inv(np.where(singular[..., None, None], np.eye(a.shape[-1]), a0))
    y0[singular] = np.nan
    y[0] = y0
    terms = _rows_to_visit(a, y0)
    terms = terms[terms > 0]
    for k in range(1, len(a)):
        j = terms[:np.searchsorted(terms, k, side="right")]
        y[k] = -(y0 @ np.matmul(a[j], y[k - j]).sum(axis=0))
    return y


def _trace_of_product(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...ji->...", p, q)


def _det(a: Series) -> Series:
    """det(A), (K+1, *prefix, n, n) -> (K+1, *prefix), from (log det)' = tr(A⁻¹·A').

    Exact for invertible A_0; a singular A_0 keeps its value det(A_0) and gets nan above.
    """
    order = len(a) - 1
    if not order:
        return np.linalg.det(a)
    log_det_slope = series_bilinear(_inv(a[:order]), _deriv(a), _trace_of_product)
    return _exp_ode(log_det_slope, np.linalg.det(a[0]))


# --- the table ----------------------------------------------------------------------------------

def _quiet(rule: Callable[..., Series]) -> Callable[..., Series]:
    """Run ``rule`` on float64 arrays with floating-point warnings off (inf/nan say it all)."""

    @functools.wraps(rule)
    def wrapped(*series: np.ndarray, **params: float) -> Series:
        with np.errstate(all="ignore"):
            return rule(*(np.asarray(s, dtype=np.float64) for s in series), **params)

    return wrapped


_RULES: dict[str, Callable[..., Series]] = {
    "neg": np.negative,
    "add": _add,
    "sub": _sub,
    "mul": _mul,
    "div": _div,
    "exp": _exp,
    "expm1": _expm1,
    "sin": _sin,
    "cos": _cos,
    "tan": _tan,
    "sinh": _sinh,
    "cosh": _cosh,
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "sqrt": _sqrt,
    "cbrt": _cbrt,
    "powc": _power,
    "pow": _pow,
    "atan2": _atan2,
    "abs": _abs,
    "sign": _sign,
    "relu": _relu,
    "max": _max,
    "min": _min,
    "where": _where,
    "lt": _comparison(np.less),
    "le": _comparison(np.less_equal),
    "gt": _comparison(np.greater),
    "ge": _comparison(np.greater_equal),
    "eq": _comparison(np.equal),
    "ne": _comparison(np.not_equal),
    "inv": _inv,
    "det": _det,
    **{name: _chain_rule(name) for name in _SLOPES},
}

TAYLOR_RULES: dict[str, Callable[..., Series]] = {
    name: _quiet(rule) for name, rule in _RULES.items()
}
"""Primitive name -> rule; ``rule(*series, **params)`` returns the output series (K+1, *rest).
Only ``powc`` takes a parameter, ``p`` (the constant exponent)."""
