"""Univariate Taylor-mode rules: one function per primitive, acting on truncated Taylor series
(:mod:`engine.taylor_mode.series`); each op's record names its rule.

Most rules are assembled from a few families rather than written out one by one: with
d = f'(x)·x', ``integrate`` gives asin, acos, atan, asinh, acosh, atanh, log, log1p, erf, erfc
and softplus (``_chain_rule``), and with d = (x·y' − y·x')/(x² + y²) atan2; ``exp_ode`` gives
exp, expm1, pow with a varying exponent and det; ``quadratic_ode`` tan, tanh and sigmoid;
``pair_ode`` sin/cos and sinh/cosh (short series compose them in one gather instead).

Singular points (sqrt or log at 0, division by 0, a singular matrix) give inf/nan coefficients,
never an exception or a warning. Kinks follow PyTorch's nested autograd at every order:
``abs`` is sign(x0)·x (all zeros at x0 = 0), ``sign`` is constant, ``relu`` is x where x0 > 0
and zero otherwise, ``max``/``min`` average the two series on a tie a0 == b0, ``where`` and the
comparisons look at the constant terms only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
from scipy import special

from engine.taylor_mode import extended_linalg as X
from engine.taylor_mode.gathers import (
    COS,
    COSH,
    EXP,
    SIN,
    SINH,
    Series,
    compose,
    rows_to_visit,
    series_bilinear,
)
from engine.taylor_mode.heads import dtype_of, fraction, head, is_extended, register
from engine.taylor_mode.series import (
    broadcast,
    constant,
    deriv,
    div_series,
    exp_ode,
    integrate,
    mul_series,
    pad,
    pair_ode,
    power_recurrence,
    power_series,
    quadratic_ode,
    reciprocal,
    zero_base_power,
)

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def exp_series(x: Series) -> Series:
    y = compose(x, EXP)
    return exp_ode(deriv(x), head(np.exp, x[0])) if y is None else y


def expm1_series(x: Series) -> Series:
    y = exp_series(x)
    y[0] = head(np.expm1, x[0])
    return y


def sin_series(x: Series) -> Series:
    y = compose(x, SIN)
    return pair_ode(x, head(np.sin, x[0]), head(np.cos, x[0]), -1.0)[0] if y is None else y


def cos_series(x: Series) -> Series:
    y = compose(x, COS)
    return pair_ode(x, head(np.sin, x[0]), head(np.cos, x[0]), -1.0)[1] if y is None else y


def sinh_series(x: Series) -> Series:
    y = compose(x, SINH)
    return pair_ode(x, head(np.sinh, x[0]), head(np.cosh, x[0]), 1.0)[0] if y is None else y


def cosh_series(x: Series) -> Series:
    y = compose(x, COSH)
    return pair_ode(x, head(np.sinh, x[0]), head(np.cosh, x[0]), 1.0)[1] if y is None else y


def tan_series(x: Series) -> Series:
    y0 = head(np.tan, x[0])
    return quadratic_ode(x, y0, 1.0 + y0 * y0, 0.0, 1.0)


def tanh_series(x: Series) -> Series:
    x0 = x[0]
    e = head(np.exp, -2.0 * np.abs(x0))
    # 1 − tanh² = 4e/(1+e)² with e = exp(−2|x0|): no cancellation and no overflow
    return quadratic_ode(x, head(np.tanh, x0), 4.0 * e / (1.0 + e) ** 2, 0.0, -1.0)


def sigmoid_series(x: Series) -> Series:
    s0 = head(special.expit, x[0])
    # s(1 − s) with 1 − s = expit(−x0): no cancellation when s0 is close to 1
    return quadratic_ode(x, s0, s0 * head(special.expit, -x[0]), 1.0, -1.0)


def tanh_slope_series(x: Series) -> Series:
    """1 − tanh(x)², the constant term without cancellation (as in ``tanh_series``)."""
    y = tanh_series(x)
    s = -mul_series(y, y)
    e = head(np.exp, -2.0 * np.abs(x[0]))
    s[0] = 4.0 * e / (1.0 + e) ** 2
    return s


def sigmoid_slope_series(x: Series) -> Series:
    """σ(x)·(1 − σ(x)) with 1 − σ's constant term σ(−x0) (no cancellation)."""
    y = sigmoid_series(x)
    z = -y
    z[0] = head(special.expit, -x[0])
    return mul_series(y, z)


def cbrt_series(x: Series) -> Series:
    """x**(1/3) for real x of either sign; at x0 = 0 see ``zero_base_power`` (two-sided)."""
    x0 = x[0]
    y = power_recurrence(x, fraction(1, 3, x), head(np.cbrt, x0))
    zero = x0 == 0
    if zero.any():
        y = np.where(zero, zero_base_power(x, 1.0 / 3.0, two_sided=True), y)
        y[0] = head(np.cbrt, x0)
    return y


def _one_minus_square(x: Series) -> Series:
    u = -mul_series(x, x)
    u[0] = (1.0 - x[0]) * (1.0 + x[0])  # exact near |x0| = 1, unlike 1 − x0²
    return u


def _square_minus_one(x: Series) -> Series:
    u = mul_series(x, x)
    u[0] = (x[0] - 1.0) * (x[0] + 1.0)
    return u


def _one_plus_square(x: Series) -> Series:
    u = mul_series(x, x)
    u[0] += 1.0
    return u


def _gauss(x: np.ndarray) -> np.ndarray:
    """erf'(x) = 2/√π · exp(−x²)."""
    return _TWO_OVER_SQRT_PI * np.exp(-x * x)


register(_gauss, lambda ctx, x: 2 / ctx.sqrt(ctx.pi) * ctx.exp(-x * x))


def _softplus(v: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, v)


register(_softplus, lambda ctx, v: ctx.log1p(ctx.exp(v)))


def _erf_slope(x: Series) -> Series:
    """erf'(x(t)) = 2/√π · exp(−x²)."""
    x0 = x[0]
    return exp_ode(deriv(-mul_series(x, x)), head(_gauss, x0))


def _shift(x: Series, c: float) -> Series:
    u = x.copy()
    u[0] += c
    return u


def _chain_rule(value: Callable[[np.ndarray], np.ndarray], slope: Callable[[Series], Series]
                ) -> Callable[[Series], Series]:
    """The rule y = f(x) from y' = f'(x)·x', given f and the series of f'(x(t)) from the series
    x; f'(x(t)) is only needed to K−1 terms."""

    def rule(x: Series) -> Series:
        order = len(x) - 1
        if not order:
            return head(value, x)
        return integrate(head(value, x[0]), mul_series(slope(x[:order]), deriv(x)))

    return rule


asin_series = _chain_rule(np.arcsin, lambda x: power_series(_one_minus_square(x), -0.5))
acos_series = _chain_rule(np.arccos, lambda x: -power_series(_one_minus_square(x), -0.5))
atan_series = _chain_rule(np.arctan, lambda x: reciprocal(_one_plus_square(x)))
asinh_series = _chain_rule(np.arcsinh, lambda x: power_recurrence(_one_plus_square(x), -0.5))
acosh_series = _chain_rule(np.arccosh, lambda x: power_series(_square_minus_one(x), -0.5))
atanh_series = _chain_rule(np.arctanh, lambda x: reciprocal(_one_minus_square(x)))
_log_chain = _chain_rule(np.log, reciprocal)


def log_series(x: Series) -> Series:
    """log(x); at x0 = 0, while x moves linearly, the chain rule's one-sided limits
    log^(k)(0)·x_1^k/k! = (−1)^(k−1)/k · x_1^k · 0^(−k) (as gradient and Hessian give), and NaN
    past a curved term."""
    y = _log_chain(x)
    zero = x[0] == 0
    if len(x) > 1 and zero.any():
        k = np.arange(1, len(x), dtype=np.float64).reshape((-1,) + (1,) * (x.ndim - 1))
        linear = (-1.0) ** (k - 1) / k * x[1] ** k * np.power(x[0], -k)
        curved = np.cumsum(x[1:] != 0, axis=0) > (x[1] != 0)
        y[1:] = np.where(zero, np.where(curved, np.nan, linear), y[1:])
    return y
log1p_series = _chain_rule(np.log1p, lambda x: reciprocal(_shift(x, 1.0)))
erf_series = _chain_rule(special.erf, _erf_slope)
erfc_series = _chain_rule(special.erfc, lambda x: -_erf_slope(x))
softplus_series = _chain_rule(_softplus, sigmoid_series)


def atan2_series(y: Series, x: Series) -> Series:
    """atan2(y, x) from its derivative (x·y' − y·x') / (x² + y²)."""
    y, x = broadcast(y, x)
    order = len(x) - 1
    if not order:
        return head(np.arctan2, y, x)
    xs, ys = x[:order], y[:order]
    slope = div_series(mul_series(xs, deriv(y)) - mul_series(ys, deriv(x)),
                       mul_series(xs, xs) + mul_series(ys, ys))
    return integrate(head(np.arctan2, y[0], x[0]), slope)


def pow_series(x: Series, y: Series) -> Series:
    """x**y. Where y is constant in t (y_1 = … = y_K = 0) this is ``power_series`` with p = y0 per
    element; elsewhere exp(y·log x) seeded with the exact value x0**y0 (nan for x0 < 0, since
    x(t)**y(t) is then not real), and 0 where x is identically 0 and y0 > 0.
    """
    x, y = broadcast(x, y)
    x0, y0 = x[0], y[0]
    constant = ~np.any(y[1:] != 0, axis=0)
    if constant.all():
        return power_series(x, y0)
    varying = exp_ode(deriv(mul_series(y, log_series(x))), head(np.power, x0, y0))
    zero_base = np.all(x == 0, axis=0) & (y0 > 0)
    varying = np.where(zero_base, 0.0, varying)
    if not constant.any():
        return varying
    return np.where(constant, power_series(x, np.where(constant, y0, 0.0)), varying)


# --- kinks, selections, comparisons -------------------------------------------------------------

def abs_series(x: Series) -> Series:
    y = np.sign(x[0]) * x
    y[0] = np.abs(x[0])  # +0.0 at x0 = −0.0, where sign(x0)·x0 would give −0.0
    return y


def sign_series(x: Series) -> Series:
    return constant(np.sign(x[0]), x)


def relu_series(x: Series) -> Series:
    y = np.where(x[0] > 0, x, 0.0)
    y[0] = np.maximum(x[0], 0.0)  # keeps nan
    return y


def max_series(a: Series, b: Series) -> Series:
    a, b = broadcast(a, b)
    return np.where(a[0] > b[0], a, np.where(a[0] < b[0], b, 0.5 * (a + b)))


def min_series(a: Series, b: Series) -> Series:
    a, b = broadcast(a, b)
    return np.where(a[0] < b[0], a, np.where(a[0] > b[0], b, 0.5 * (a + b)))


def where_series(cond: Series, a: Series, b: Series) -> Series:
    cond, a, b = broadcast(cond, a, b)
    return np.where(cond[0] != 0, a, b)


def comparison_series(op: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., Series]:
    """The rule of a comparison: the 0/1 constant series of op(a0, b0)."""

    def rule(a: Series, b: Series) -> Series:
        a, b = pad(a, b)
        return constant(op(a[0], b[0]).astype(np.float64), a)

    return rule


def add_series(a: Series, b: Series) -> Series:
    if a.ndim != b.ndim:
        a, b = pad(a, b)
    return a + b


def sub_series(a: Series, b: Series) -> Series:
    if a.ndim != b.ndim:
        a, b = pad(a, b)
    return a - b


# --- matrices -----------------------------------------------------------------------------------

def inv_series(a: Series) -> Series:
    """inv(A) for A of shape (K+1, *prefix, n, n): Y_0 = A_0⁻¹, Y_k = −Y_0 Σ_{j=1..k} A_j Y_{k−j}.

    A singular (or non-finite) A_0 gives a nan-filled series for that matrix. Terms with an
    all-zero A_j are skipped (seeds such as A_0 + t·A_1 have one), since tiny batched matmuls
    are what this rule spends its time on.
    """
    a0 = a[0]
    y = np.empty(a.shape, dtype=dtype_of(a))
    if is_extended(a):
        y0 = X.inv(a0)
    else:
        _, logdet = np.linalg.slogdet(a0)
        singular = ~np.isfinite(logdet)
        y0 = np.linalg.inv(np.where(singular[..., None, None], np.eye(a.shape[-1]), a0))
        y0[singular] = np.nan
    y[0] = y0
    terms = rows_to_visit(a, y0)
    terms = terms[terms > 0]
    for k in range(1, len(a)):
        j = terms[:np.searchsorted(terms, k, side="right")]
        y[k] = -(y0 @ np.matmul(a[j], y[k - j]).sum(axis=0))
    return y


def _trace_of_product(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...ji->...", p, q)


def det_series(a: Series) -> Series:
    """det(A), (K+1, *prefix, n, n) -> (K+1, *prefix).

    Up to 4×4 (``COFACTOR_MAX`` of the op record) Leibniz's sum of signed products of series:
    a polynomial, exact at singular A_0 like the cofactor gradient. Larger: from
    (log det)' = tr(A⁻¹·A'), exact for invertible A_0; a singular one keeps its value det(A_0)
    and gets NaN above.
    """
    order = len(a) - 1
    det = X.det if is_extended(a) else np.linalg.det
    if not order:
        return det(a)
    n = a.shape[-1]
    if n <= 4:
        total = np.zeros(a.shape[:-2])
        for perm in itertools.permutations(range(n)):
            term = a[..., 0, perm[0]]
            for i in range(1, n):
                term = mul_series(term, a[..., i, perm[i]])
            total = total + _permutation_sign(perm) * term
        total[0] = det(a[0])
        return total
    log_det_slope = series_bilinear(inv_series(a[:order]), deriv(a), _trace_of_product)
    return exp_ode(log_det_slope, det(a[0]))


def _permutation_sign(perm: tuple[int, ...]) -> float:
    inversions = sum(1 for i in range(len(perm)) for j in range(i) if perm[j] > perm[i])
    return -1.0 if inversions % 2 else 1.0
