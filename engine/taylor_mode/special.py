"""Taylor rules of the special functions: the gamma family, the inverse error functions and the
Bessel functions of integer order.

Two constructions, chosen per function for accuracy at high order:

* **the function's own coefficients at x0, composed with x(t)** (:func:`compose_at`):
  lgamma, digamma and polygamma, whose coefficients are Hurwitz zeta values
  (ψ⁽ᵐ⁾(x0)/m! = (−1)^(m+1)·ζ(m+1, x0)), and the Bessel functions. J_n and I_n take theirs from
  J_n⁽ᵏ⁾ = 2⁻ᵏ Σ_j (−1)^j C(k, j) J_(n−k+2j) (I_n: no signs); Y_n from the Bessel equation
  x²y'' + xy' + (x² − n²)y = 0 as a recurrence on its coefficients about x0. That recurrence
  is stable for Y_n only: J_n is its minimal solution, whose coefficients fall like 1/k! while
  Y_n's fall like x0⁻ᵏ, so the recurrence run for J_n would drown it in Y_n's rounding errors.
* **an ODE in t**: gamma = exp(lgamma) (y' = y·lgamma(x)'), beta = exp(lgamma(a) + lgamma(b)
  − lgamma(a + b)) with its value from scipy, and erfinv/erfcinv from y' = ±(√π/2)·E·x',
  E = exp(y²), E' = 2y·y'·E.

Poles (gamma and its family at non-positive integers, Y_n at 0) give non-finite coefficients,
never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy import special

from engine.taylor_mode.gathers import Series
from engine.taylor_mode.series import (
    deriv,
    dot,
    exp_ode,
    k_axis,
    mul_series,
    pad,
)

_HALF_SQRT_PI = math.sqrt(math.pi) / 2.0


def compose_at(x: Series, c: Series) -> Series:
    """f(x(t)) from f's normalized Taylor coefficients about x0: ``c[k] = f⁽ᵏ⁾(x0)/k!``.

    A linear x(t) = x0 + x1·t (the usual input) gives c_k·x1ᵏ directly; any other series is
    composed by Horner's rule on h = x − x0.
    """
    x, c = pad(x, c)
    h = x.copy()
    h[0] = 0.0
    if not np.any(h[2:]):
        return c * h[1:2] ** k_axis(len(c), c.ndim)
    y = np.zeros(np.broadcast_shapes(x.shape, c.shape))
    y[0] = c[-1]
    for k in range(len(c) - 2, -1, -1):
        y = mul_series(y, h)
        y[0] = y[0] + c[k]
    return y


def _zeta_terms(x0: np.ndarray, first: int, count: int) -> np.ndarray:
    """ζ(s, x0) for s = first, …, first + count − 1, stacked along a new leading axis."""
    s = k_axis(count, x0.ndim + 1, start=first)
    return special.zeta(s, x0[None])


def polygamma_coefficients(n: int, x0: np.ndarray, terms: int) -> Series:
    """ψ⁽ⁿ⁺ᵏ⁾(x0)/k! for k < ``terms``: (−1)^(n+k+1)·(n+k)!/k!·ζ(n+k+1, x0) (ψ(x0) itself
    for n = k = 0)."""
    x0 = np.asarray(x0, dtype=np.float64)
    k = k_axis(terms, x0.ndim + 1)
    sign = np.where((n + k) % 2 == 0, -1.0, 1.0)
    c = np.empty((terms, *x0.shape))
    start = 1 if n == 0 else 0
    if n == 0:
        c[0] = special.psi(x0)
    c[start:] = (sign[start:] * special.poch(k[start:] + 1.0, n)
                 * _zeta_terms(x0, n + start + 1, terms - start))
    return c


def lgamma_series(x: Series) -> Series:
    """log|Γ(x)|: coefficients lgamma(x0), ψ(x0), then ψ⁽ᵏ⁻¹⁾(x0)/k! = (−1)ᵏ·ζ(k, x0)/k."""
    x0 = x[0]
    c = np.empty(x.shape)
    c[0] = special.gammaln(x0)
    c[1:] = polygamma_coefficients(0, x0, len(x) - 1) / k_axis(len(x) - 1, x.ndim, start=1)
    return compose_at(x, c)


def digamma_series(x: Series) -> Series:
    """ψ(x)."""
    return compose_at(x, polygamma_coefficients(0, x[0], len(x)))


def polygamma_rule(n: int) -> Callable[[Series], Series]:
    """ψ⁽ⁿ⁾(x) for a constant order n ≥ 0."""
    return lambda x: compose_at(x, polygamma_coefficients(n, x[0], len(x)))


def gamma_series(x: Series) -> Series:
    """Γ(x) = ±exp(lgamma(x)): y' = y·lgamma(x)', started at Γ(x0) (which carries the sign)."""
    return exp_ode(deriv(lgamma_series(x)), special.gamma(x[0]))


def beta_series(a: Series, b: Series) -> Series:
    """B(a, b) = Γ(a)Γ(b)/Γ(a+b): y' = y·(lgamma(a) + lgamma(b) − lgamma(a + b))'."""
    a, b = pad(a, b)
    z = lgamma_series(a) + lgamma_series(b) - lgamma_series(a + b)
    return exp_ode(deriv(z), special.beta(a[0], b[0]))


def _inverse_erf_ode(x: Series, y0: np.ndarray, scale: float) -> Series:
    """y with y' = scale·E·x' and E = exp(y²) (so E' = 2·y·y'·E)."""
    dx = deriv(x)
    y = np.empty(x.shape)
    e = np.empty(x.shape)
    dy = np.empty(dx.shape)
    two_y_dy = np.empty(dx.shape)
    y[0] = y0
    e[0] = np.exp(y0 * y0)
    for k in range(1, len(x)):
        y[k] = scale * dot(dx[:k], e[k - 1::-1]) / k
        dy[k - 1] = k * y[k]
        two_y_dy[k - 1] = 2.0 * dot(y[:k], dy[k - 1::-1])
        e[k] = dot(two_y_dy[:k], e[k - 1::-1]) / k
    return y


def erfinv_series(x: Series) -> Series:
    """erf⁻¹(x): erfinv' = (√π/2)·exp(erfinv²)."""
    return _inverse_erf_ode(x, special.erfinv(x[0]), _HALF_SQRT_PI)


def erfcinv_series(x: Series) -> Series:
    """erfc⁻¹(x): erfcinv' = −(√π/2)·exp(erfcinv²)."""
    return _inverse_erf_ode(x, special.erfcinv(x[0]), -_HALF_SQRT_PI)


# ---------------------------------------------------------------- Bessel functions

@lru_cache(maxsize=64)
def _derivative_weights(terms: int, signed: bool) -> np.ndarray:
    """``W[k, i]`` with f_n⁽ᵏ⁾/k! = Σ_i W[k, i]·f_(n−terms+1+i): (±1)^j / (j!·(k−j)!·2ᵏ) at
    i = terms − 1 − k + 2j."""
    w = np.zeros((terms, 2 * terms - 1))
    inv_fact = [1.0 / math.factorial(j) if j <= 170 else 0.0 for j in range(terms)]
    for k in range(terms):
        half = math.ldexp(1.0, -k)
        for j in range(k + 1):
            sign = -1.0 if signed and j % 2 else 1.0
            w[k, terms - 1 - k + 2 * j] = sign * inv_fact[j] * inv_fact[k - j] * half
    return w


def _entire_bessel_rule(n: int, f: Callable[[np.ndarray, np.ndarray], np.ndarray],
                        signed: bool) -> Callable[[Series], Series]:
    def rule(x: Series) -> Series:
        terms = len(x)
        x0 = x[0]
        orders = np.arange(n - terms + 1, n + terms, dtype=np.float64)
        values = f(orders.reshape((-1,) + (1,) * x0.ndim), x0[None])
        c = np.tensordot(_derivative_weights(terms, signed), values, axes=1)
        return compose_at(x, c)
    return rule


def jv_rule(n: int) -> Callable[[Series], Series]:
    """J_n(x) for a constant integer order n."""
    return _entire_bessel_rule(n, special.jv, signed=True)


def iv_rule(n: int) -> Callable[[Series], Series]:
    """I_n(x) for a constant integer order n."""
    return _entire_bessel_rule(n, special.iv, signed=False)


def yv_rule(n: int) -> Callable[[Series], Series]:
    """Y_n(x) for a constant integer order n (x0 > 0), by the Bessel equation's recurrence
    x0²(k+2)(k+1)a_(k+2) + x0(k+1)(2k+1)a_(k+1) + (k² + x0² − n²)a_k + 2x0·a_(k−1) + a_(k−2)
    = 0 on the coefficients about x0, started at Y_n(x0) and Y_n'(x0) = (Y_(n−1) − Y_(n+1))/2."""

    def rule(x: Series) -> Series:
        terms = len(x)
        x0 = x[0]
        a = np.zeros((terms + 2, *x0.shape))  # two leading zeros stand for a_(-2), a_(-1)
        a[2] = special.yv(n, x0)
        if terms > 1:
            a[3] = 0.5 * (special.yv(n - 1, x0) - special.yv(n + 1, x0))
        x0_sq = x0 * x0
        for k in range(terms - 2):
            a[k + 4] = -(x0 * (k + 1) * (2 * k + 1) * a[k + 3]
                         + (k * k + x0_sq - n * n) * a[k + 2]
                         + 2.0 * x0 * a[k + 1] + a[k]) / (x0_sq * (k + 2) * (k + 1))
        return compose_at(x, a[2:])
    return rule
