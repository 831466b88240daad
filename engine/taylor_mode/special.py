"""Taylor rules of the special functions: the gamma family, the inverse error functions and the
Bessel functions of real order.

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

At extended precision (object arrays of mpmath numbers) the coefficients about x0 come from
mpmath itself: ψ⁽ᵐ⁾ by ``psi`` (which reflects for x0 < 0), the Bessel functions' derivatives by
``besselj``/``besseli``/``bessely`` with their ``derivative`` argument; the ODEs run unchanged
on the object arrays from mpmath's constant terms.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import special

from engine.taylor_mode.gathers import Series
from engine.taylor_mode.heads import CONTEXT, dtype_of, head, is_extended, register
from engine.taylor_mode.series import (
    broadcast,
    deriv,
    div_series,
    dot,
    exp_ode,
    integrate,
    k_axis,
    mul_series,
    one_like,
    pad,
    pair_ode,
)

_HALF_SQRT_PI = math.sqrt(math.pi) / 2.0


def compose_at(x: Series, c: Series) -> Series:
    """f(x(t)) from f's normalized Taylor coefficients about x0: ``c[k] = f⁽ᵏ⁾(x0)/k!``.

    A linear x(t) = x0 + x1·t (the usual input) gives c_k·x1ᵏ directly. Any other series is
    composed as Σ c_k·hᵏ, h = x − x0, by Paterson and Stockmeyer's baby-step giant-step
    scheme: h¹ … hᵐ (m ≈ √(K+1)) and Horner's rule in hᵐ over blocks of m coefficients, about
    2√(K+1) series products instead of Horner's K.
    """
    x, c = broadcast(x, c)
    n = len(x)
    if n == 1:
        return c.copy()
    h = x.copy()
    h[0] = 0.0
    if not np.any(h[2:]):
        return c * h[1:2] ** k_axis(n, c.ndim)
    m = math.isqrt(n - 1) + 1
    powers = [one_like(h), h]
    while len(powers) <= m:
        powers.append(mul_series(powers[-1], h))
    baby = np.stack(powers[:m])
    y = np.zeros(c.shape, dtype=dtype_of(c, h))
    for start in range(m * ((n - 1) // m), -1, -m):
        block = c[start:start + m]
        y = mul_series(y, powers[m]) + np.einsum("i...,ik...->k...", block, baby[:len(block)])
    return y


def _extended_coefficients(x0: np.ndarray, terms: int, f: Callable[..., object]
                           ) -> Series:
    """``f(ctx, k, x)`` for k < ``terms`` at every entry of the object array ``x0``, stacked
    along a new leading axis; a pole (mpmath raises) or a complex value is NaN, as in float64.

    Each distinct value is computed once: the rays of a mixed partial or a multivariate Taylor
    expansion all start at the same point, and mpmath's psi costs milliseconds."""
    ctx = CONTEXT.get()
    c = np.empty((terms, *x0.shape), dtype=object)
    seen: dict[Any, list[Any]] = {}
    for idx in np.ndindex(x0.shape):
        x = x0[idx]
        column = seen.get(x)
        if column is None:
            column = seen[x] = [_mp_or_nan(ctx, f, k, x) for k in range(terms)]
        c[(slice(None), *idx)] = column
    return c


def _mp_or_nan(ctx: Any, f: Callable[..., object], k: int, x: Any) -> Any:
    try:
        v = f(ctx, k, x)
    except (ValueError, ZeroDivisionError):
        return ctx.nan
    return ctx.nan if isinstance(v, ctx.mpc) else v


def _psi_over_factorial(n: int) -> Callable[..., object]:
    """ψ⁽ⁿ⁺ᵏ⁾(x)/k! (mpmath's psi reflects at negative x itself)."""
    return lambda ctx, k, x: ctx.psi(n + k, x) / ctx.factorial(k)


def _log_abs_gamma(ctx: Any, k: int, x: Any) -> Any:
    """log|Γ(x)| at k = 0, then ψ⁽ᵏ⁻¹⁾(x)/k!."""
    if k == 0:
        return ctx.log(abs(ctx.gamma(x)))
    return ctx.psi(k - 1, x) / ctx.factorial(k)


register(special.gamma, lambda ctx, x: ctx.gamma(x))
register(special.beta, lambda ctx, a, b: ctx.beta(a, b))
register(special.erfinv, lambda ctx, x: ctx.erfinv(x))
# mpmath has no erfcinv: Newton's method on erfc from float64's root converges in a few steps.
register(special.erfcinv, lambda ctx, x: ctx.findroot(lambda y: ctx.erfc(y) - x,
                                                      float(special.erfcinv(float(x)))))


def _zeta_terms(x0: np.ndarray, first: int, count: int) -> np.ndarray:
    """ζ(s, x0) for s = first, …, first + count − 1, stacked along a new leading axis."""
    s = k_axis(count, x0.ndim + 1, start=first)
    return special.zeta(s, x0[None])


def _zeta_coefficients(n: int, x0: np.ndarray, terms: int) -> Series:
    """ψ⁽ⁿ⁺ᵏ⁾(x0)/k! for k < ``terms`` from (−1)^(n+k+1)·(n+k)!/k!·ζ(n+k+1, x0) (ψ(x0) itself
    for n = k = 0). Accurate for x0 > 0, where every term of the zeta sum is positive."""
    k = k_axis(terms, x0.ndim + 1)
    sign = np.where((n + k) % 2 == 0, -1.0, 1.0)
    c = np.empty((terms, *x0.shape))
    if terms == 0:
        return c
    start = 1 if n == 0 else 0
    if n == 0:
        c[0] = special.psi(x0)
    c[start:] = (sign[start:] * special.poch(k[start:] + 1.0, n)
                 * _zeta_terms(x0, n + start + 1, terms - start))
    return c


def _log_abs_sin_pi(x0: np.ndarray, terms: int) -> Series:
    """Coefficients of log|sin(πx)| about x0, from its derivative π·cot(πx).

    sin(πx0) and cos(πx0) come from arguments reduced exactly, so that cos is exactly 0 at
    half-integers (where the odd coefficients vanish) and sin keeps its relative accuracy next to
    the integers."""
    r = x0 - 2.0 * np.round(x0 / 2.0)  # in [-1, 1], exact: sin(πx) has period 2
    a = np.abs(r)
    sin0 = np.sign(r) * np.sin(np.pi * np.minimum(a, 1.0 - a))
    cos0 = np.sin(np.pi * (0.5 - a))
    if terms == 1:
        return np.log(np.abs(sin0))[None]
    line = np.zeros((terms, *x0.shape))
    line[1] = np.pi
    sin, cos = pair_ode(line, sin0, cos0, -1.0)
    return integrate(np.log(np.abs(sin0)), np.pi * div_series(cos[:-1], sin[:-1]))


def _lgamma_coefficients(x0: np.ndarray, terms: int) -> Series:
    """Coefficients of log|Γ(x)| about x0: lgamma(x0), then ψ⁽ᵏ⁻¹⁾(x0)/k! = (−1)ᵏ·ζ(k, x0)/k.

    For x0 < 0 by the reflection log|Γ(x)| = log π − log|sin(πx)| − log Γ(1 − x): the zeta sums
    there cancel (ζ(29, −2.5) ≈ 1.7e−16 is a sum of terms near 5e8), the reflected ones do not.
    """

    def direct(at: np.ndarray) -> Series:
        c = np.empty((terms, *at.shape))
        c[0] = special.gammaln(at)
        c[1:] = _zeta_coefficients(0, at, terms - 1) / k_axis(terms - 1, at.ndim + 1, start=1)
        return c

    negative = x0 < 0.0
    if not np.any(negative):
        return direct(x0)
    flip = np.where(k_axis(terms, x0.ndim + 1) % 2 == 1, -1.0, 1.0)
    reflected = -_log_abs_sin_pi(x0, terms) - flip * direct(np.where(negative, 1.0 - x0, 1.0))
    reflected[0] = reflected[0] + np.log(np.pi)
    return np.where(negative, reflected, direct(np.where(negative, 1.0, x0)))


_REFLECTION_MAX_TERMS = 400
"""Past n + K this large every reflected coefficient overflows anyway: it is at least
(n+k)!·2^(n+k+1), as a pole lies within 1/2 of any x0 < 0."""


def polygamma_coefficients(n: int, x0: np.ndarray, terms: int) -> Series:
    """ψ⁽ⁿ⁺ᵏ⁾(x0)/k! for k < ``terms``; for x0 < 0, (n+k+1)!/k! times lgamma's coefficient
    n+k+1 (which :func:`_lgamma_coefficients` reflects)."""
    x0 = np.asarray(x0, dtype=np.float64)
    negative = x0 < 0.0
    if not np.any(negative) or n + terms > _REFLECTION_MAX_TERMS:
        return _zeta_coefficients(n, x0, terms)
    lg = _lgamma_coefficients(x0, n + terms + 1)[n + 1:]
    reflected = special.poch(k_axis(terms, x0.ndim + 1) + 1.0, n + 1) * lg
    positive = _zeta_coefficients(n, np.where(negative, 1.0, x0), terms)
    return np.where(negative, reflected, positive)


def lgamma_series(x: Series) -> Series:
    """log|Γ(x)|."""
    if is_extended(x):
        return compose_at(x, _extended_coefficients(x[0], len(x), _log_abs_gamma))
    return compose_at(x, _lgamma_coefficients(x[0], len(x)))


def polygamma_rule(n: int) -> Callable[[Series], Series]:
    """ψ⁽ⁿ⁾(x) for a constant order n ≥ 0."""
    def rule(x: Series) -> Series:
        if is_extended(x):
            return compose_at(x, _extended_coefficients(x[0], len(x), _psi_over_factorial(n)))
        return compose_at(x, polygamma_coefficients(n, x[0], len(x)))
    return rule


digamma_series = polygamma_rule(0)
"""ψ(x)."""


def gamma_series(x: Series) -> Series:
    """Γ(x) = ±exp(lgamma(x)): y' = y·lgamma(x)', started at Γ(x0) (which carries the sign)."""
    return exp_ode(deriv(lgamma_series(x)), head(special.gamma, x[0]))


def beta_series(a: Series, b: Series) -> Series:
    """B(a, b) = Γ(a)Γ(b)/Γ(a+b): y' = y·(lgamma(a) + lgamma(b) − lgamma(a + b))'."""
    a, b = pad(a, b)
    z = lgamma_series(a) + lgamma_series(b) - lgamma_series(a + b)
    return exp_ode(deriv(z), head(special.beta, a[0], b[0]))


def _inverse_erf_ode(x: Series, y0: np.ndarray, sign: float) -> Series:
    """y with y' = sign·(√π/2)·E·x' and E = exp(y²) (so E' = 2·y·y'·E)."""
    dx = deriv(x)
    kind = dtype_of(x, y0)
    scale = sign * (CONTEXT.get().sqrt(CONTEXT.get().pi) / 2 if kind is object
                    else _HALF_SQRT_PI)
    y = np.empty(x.shape, dtype=kind)
    e = np.empty(x.shape, dtype=kind)
    dy = np.empty(dx.shape, dtype=kind)
    two_y_dy = np.empty(dx.shape, dtype=kind)
    y[0] = y0
    e[0] = head(np.exp, y0 * y0)
    for k in range(1, len(x)):
        y[k] = scale * dot(dx[:k], e[k - 1::-1]) / k
        dy[k - 1] = k * y[k]
        two_y_dy[k - 1] = 2.0 * dot(y[:k], dy[k - 1::-1])
        e[k] = dot(two_y_dy[:k], e[k - 1::-1]) / k
    return y


def erfinv_series(x: Series) -> Series:
    """erf⁻¹(x): erfinv' = (√π/2)·exp(erfinv²)."""
    return _inverse_erf_ode(x, head(special.erfinv, x[0]), 1.0)


def erfcinv_series(x: Series) -> Series:
    """erfc⁻¹(x): erfcinv' = −(√π/2)·exp(erfcinv²)."""
    return _inverse_erf_ode(x, head(special.erfcinv, x[0]), -1.0)


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


def _bessel_over_factorial(name: str, n: float) -> Callable[..., object]:
    """f_n⁽ᵏ⁾(x)/k! by mpmath's ``besselj``/``besseli``/``bessely`` (their ``derivative``)."""
    return lambda ctx, k, x: getattr(ctx, name)(n, x, k) / ctx.factorial(k)


def _entire_bessel_rule(n: float, f: Callable[[np.ndarray, np.ndarray], np.ndarray],
                        signed: bool) -> Callable[[Series], Series]:
    def rule(x: Series) -> Series:
        terms = len(x)
        x0 = x[0]
        if is_extended(x):
            name = "besselj" if signed else "besseli"
            return compose_at(x, _extended_coefficients(x0, terms, _bessel_over_factorial(
                name, n)))
        orders = np.arange(n - terms + 1, n + terms, dtype=np.float64)
        values = f(orders.reshape((-1,) + (1,) * x0.ndim), x0[None])
        c = np.tensordot(_derivative_weights(terms, signed), values, axes=1)
        return compose_at(x, c)
    return rule


def jv_rule(n: float) -> Callable[[Series], Series]:
    """J_n(x) for a constant order n."""
    return _entire_bessel_rule(n, special.jv, signed=True)


def iv_rule(n: float) -> Callable[[Series], Series]:
    """I_n(x) for a constant order n."""
    return _entire_bessel_rule(n, special.iv, signed=False)


def yv_rule(n: float) -> Callable[[Series], Series]:
    """Y_n(x) for a constant order n (x0 > 0), by the Bessel equation's recurrence
    x0²(k+2)(k+1)a_(k+2) + x0(k+1)(2k+1)a_(k+1) + (k² + x0² − n²)a_k + 2x0·a_(k−1) + a_(k−2)
    = 0 on the coefficients about x0, started at Y_n(x0) and Y_n'(x0) = (Y_(n−1) − Y_(n+1))/2."""

    def rule(x: Series) -> Series:
        terms = len(x)
        x0 = x[0]
        if is_extended(x):
            return compose_at(x, _extended_coefficients(x0, terms, _bessel_over_factorial(
                "bessely", n)))
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
