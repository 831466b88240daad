"""NumPy's normalized sinc, sin(πx)/(πx), and its derivatives: values and Taylor rules that stay
accurate at and near x = 0, where the quotient form cancels (0/0 at 0 itself).

The normalized coefficients a_j = sinc⁽ʲ⁾(x0)/j! come from one of two stable forms:

* near 0 (|πx0| < number of coefficients + 2), the integral sinc(x) = ∫₀¹ cos(πxs) ds, so
  a_j = (π^j/j!)·∫₀¹ s^j cos(πx0·s + jπ/2) ds, by Gauss–Legendre quadrature (the integrand is
  entire; enough nodes for its degree and its oscillation make the rule exact to rounding);
* far from 0, the recurrence of u·g(u) = sin(u) with u = πx0: a_j = (σ_j − π·a_{j−1})/u, with
  σ_j = π^j·sin(u + jπ/2)/j!, whose error does not grow while j < |u|.

A rule then composes those coefficients with the input series (directly for a linear input,
the common x0 + t·e, else by Horner's scheme on series).

At extended precision, near 0 the coefficients come from the power series sinc(x) = Σ_m (−1)^m
(πx)^{2m}/(2m+1)! re-expanded about x0, summed with the digits its cancellation costs
(about π|x0|/ln 10) added; far from 0 from the recurrence above with guard digits (the power
series would cost millions of digits at x0 = 10⁶); sinc(x0) itself from mpmath (exactly 0 at
the integers).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import mpmath
import numpy as np

from engine.taylor_mode.gathers import Series
from engine.taylor_mode.heads import CONTEXT, is_extended
from engine.taylor_mode.series import mul_series
from engine.taylor_mode.special import compose_at

_CHUNK = 1 << 20
"""Most (node × element) entries one quadrature pass holds."""


def _legendre(n: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P_n(x) and P_n'(x) by the three-term recurrence (in the dtype of x)."""
    p0, p1 = np.ones_like(x), x
    for k in range(2, n + 1):
        p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
    return p1, n * (x * p1 - p0) / (x * x - 1)


@functools.lru_cache(maxsize=8)
def _weighted_powers(n: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """n Gauss–Legendre nodes s on [0, 1] and the (count, n) matrix w_i·s_i^j.

    NumPy's float64 nodes are off by ~1e-15 for n ≥ 100, which s^300 turns into 1e-12; the
    nodes are refined by Newton's method in extended precision (np.longdouble) and the powers
    taken there, then rounded once."""
    x = np.polynomial.legendre.leggauss(n)[0].astype(np.longdouble)
    for _ in range(3):
        p, dp = _legendre(n, x)
        x = x - p / dp
    dp = _legendre(n, x)[1]
    w = 1 / ((1 - x * x) * dp * dp)  # the weight 2/((1 − x²)·P_n'²), halved for [0, 1]
    s = (x + 1) / 2
    powers = np.cumprod(np.vstack([np.ones(n, dtype=np.longdouble),
                                   np.broadcast_to(s, (count - 1, n))]), axis=0)
    return s.astype(np.float64), (powers * w).astype(np.float64)


def _scales(count: int, h: np.ndarray) -> np.ndarray:
    """(π·h)^j/j! for j < count, per point (count, points): one product per j, so it stays
    representable wherever the result is (π^j/j! alone underflows past j ≈ 230)."""
    j = np.maximum(np.arange(count, dtype=np.float64), 1.0)[:, None]
    ratios = np.pi * h[None, :] / j
    ratios[0] = 1.0
    return np.cumprod(ratios, axis=0)


def _quadrature(u: np.ndarray, count: int, scales: np.ndarray) -> np.ndarray:
    """a_j·h^j for j < count at the points u = πx0 (1-d), by quadrature."""
    n = (count + int(np.ceil(np.max(np.abs(u))))) // 2 + 16
    s, weighted = _weighted_powers(n, count)
    j = np.arange(count) % 4
    cos_part = np.choose(j, [1.0, 0.0, -1.0, 0.0])
    sin_part = np.choose(j, [0.0, 1.0, 0.0, -1.0])
    out = np.empty((count, u.size))
    step = max(_CHUNK // n, 1)
    for start in range(0, u.size, step):
        phase = np.outer(s, u[start:start + step])
        integral = (cos_part[:, None] * (weighted @ np.cos(phase))
                    - sin_part[:, None] * (weighted @ np.sin(phase)))
        out[:, start:start + step] = scales[:, start:start + step] * integral
    return out


def _sin_cos_pi(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sin(πx) and cos(πx), reduced exactly to |s| ≤ 1/2 first: sin(πn) = 0 and
    cos(π(n + 1/2)) = 0 exactly, and no rounding of π·x for large x."""
    r = np.fmod(x, 2.0)
    r = np.where(r > 1.0, r - 2.0, np.where(r < -1.0, r + 2.0, r))  # r in [-1, 1], exact
    flip = np.abs(r) > 0.5
    s = np.where(flip, np.copysign(1.0, r) - r, r)  # sin(πr) = sin(π(±1 − r)), exact
    cos = np.sin(np.pi * (0.5 - np.abs(s)))
    return np.sin(np.pi * s), np.where(flip, -cos, cos)


def _recurrence(x: np.ndarray, count: int, scales: np.ndarray, h: np.ndarray) -> np.ndarray:
    """a_j·h^j for j < count at the points x (1-d), |πx| ≥ count + 2, by the recurrence."""
    u = np.pi * x
    sin_u, cos_u = _sin_cos_pi(x)
    cycle = (sin_u, cos_u, -sin_u, -cos_u)
    out = np.empty((count, u.size))
    out[0] = sin_u / u
    for j in range(1, count):
        out[j] = (scales[j] * cycle[j % 4] - np.pi * h * out[j - 1]) / u
    return out


def sinc_coefficients(x0: np.ndarray, count: int, h: np.ndarray | float = 1.0) -> np.ndarray:
    """a_j·h^j for j < count, a_j = sinc⁽ʲ⁾(x0)/j!: the coefficients of sinc(x0 + h·t), shape
    (count, *x0.shape); ``h`` broadcasts against x0."""
    x0 = np.asarray(x0, dtype=np.float64)
    shape = np.broadcast_shapes(x0.shape, np.shape(h))
    flat = np.broadcast_to(x0, shape).ravel()
    hs = np.broadcast_to(np.asarray(h, dtype=np.float64), shape).ravel()
    u = np.pi * flat
    scales = _scales(count, hs)
    out = np.empty((count, flat.size))
    near = np.abs(u) < count + 2
    if near.any():
        out[:, near] = _quadrature(u[near], count, scales[:, near])
    if not near.all():
        far = ~near
        out[:, far] = _recurrence(flat[far], count, scales[:, far], hs[far])
    out[0] = sinc(flat)
    return out.reshape((count, *shape))


def sinc(x: np.ndarray) -> np.ndarray:
    """sin(πx)/(πx), 1 at 0; exactly 0 at the nonzero integers, where np.sinc leaves the
    rounding of π·x (about 1e-16/|x|)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x == 0, 1.0, _sin_cos_pi(x)[0] / (np.pi * x))


def sinc_derivative(n: int, x: np.ndarray) -> np.ndarray:
    """The n-th derivative of sinc at x."""
    if n == 0:
        return sinc(x)
    return sinc_coefficients(x, n + 1)[n] * float(math.factorial(n))


def _compose(c: np.ndarray, e: Series) -> Series:
    """Σ_j c_j·e(t)^j for a series e with e_0 = 0, truncated like e (Horner's scheme)."""
    y = np.zeros(np.broadcast_shapes(e.shape, c.shape))
    y[0] = c[-1]
    for j in range(len(c) - 2, -1, -1):
        y = mul_series(y, e)
        y[0] += c[j]
    return y


def _extended_coefficients(x0: np.ndarray, count: int) -> np.ndarray:
    """sinc⁽ʲ⁾(x0)/j! for j < ``count`` at every entry of the object array ``x0``."""
    ctx = CONTEXT.get()
    out = np.empty((count, *x0.shape), dtype=object)
    for idx in np.ndindex(x0.shape):
        x = x0[idx]
        if not ctx.isfinite(x):
            for j in range(count):
                out[(j, *idx)] = ctx.nan
            continue
        if abs(math.pi * float(x)) >= count + 2:
            c = _extended_recurrence(x, count, ctx)
        else:
            c = _extended_power_series(x, count, ctx)
        for j in range(count):
            out[(j, *idx)] = ctx.mpf(c[j])
    return out


def _extended_recurrence(x: mpmath.mpf, count: int, ctx: mpmath.MPContext) -> list[mpmath.mpf]:
    """The far form (see the module docstring) at the context's precision plus guard digits;
    sin(πx0 + jπ/2) from mpmath's sinpi/cospi, which reduce exactly."""
    work = mpmath.MPContext()
    work.dps = ctx.dps + 10
    xw = work.mpf(x)
    u = work.pi * xw
    sin_u, cos_u = work.sinpi(xw), work.cospi(xw)
    cycle = (sin_u, cos_u, -sin_u, -cos_u)
    c = [work.sincpi(xw)]
    scale = work.one  # π^j/j!
    for j in range(1, count):
        scale = scale * work.pi / j
        c.append((scale * cycle[j % 4] - work.pi * c[-1]) / u)
    return c


def _extended_power_series(x: mpmath.mpf, count: int,
                           ctx: mpmath.MPContext) -> list[mpmath.mpf]:
    """The near form: the power series about 0 re-expanded about x0 (|πx0| < count + 2, so the
    digits its cancellation costs stay few)."""
    work = mpmath.MPContext()
    work.dps = ctx.dps + int(math.pi * abs(float(x)) / math.log(10)) + 10
    xw, pi2 = work.mpf(x), work.pi ** 2
    c = [work.zero] * count
    a = work.one  # (−1)^m π^{2m}/(2m+1)!
    m = 0
    tiny = work.mpf(10) ** (-work.dps)
    while True:
        bound = abs(a) * (abs(xw) + 1) ** (2 * m)
        if m >= count and bound < tiny:
            break
        for j in range(min(2 * m, count - 1) + 1):
            c[j] += a * work.binomial(2 * m, j) * xw ** (2 * m - j)
        m += 1
        a = -a * pi2 / ((2 * m) * (2 * m + 1))
    c[0] = work.sincpi(xw)
    return c


def sinc_rule(n: int) -> Callable[[Series], Series]:
    """The Taylor rule of the n-th derivative of sinc.

    With h = |x_1| (1 where x_1 = 0) and x(t) = x0 + h·e(t), the result is Σ_j c_j·h^j·e^j:
    the coefficients come scaled by h^j, so a seed 2^k·t (what high derivatives use to escape
    underflow) neither underflows in c_j nor overflows in x_1^j. A linear seed has e = ±t.
    """

    def rule(x: Series) -> Series:
        terms = len(x)
        x0 = x[0]
        if is_extended(x):
            d = _extended_coefficients(x0, n + terms)
            # sinc⁽ⁿ⁾(x0 + s) = Σ_j sinc⁽ⁿ⁺ʲ⁾(x0)/j! sʲ = Σ_j d_{n+j}·(n+j)!/j! sʲ
            scale = np.array([math.factorial(n + j) // math.factorial(j) for j in range(terms)],
                             dtype=object).reshape((terms,) + (1,) * x0.ndim)
            return compose_at(x, d[n:] * scale)
        if terms == 1:
            return sinc_coefficients(x0, n + 1)[n:] * float(math.factorial(n))
        h = np.where(x[1] != 0, np.abs(x[1]), 1.0)
        c = sinc_coefficients(x0, n + terms, h)[n:]
        if n:
            j = np.arange(terms, dtype=np.float64)
            rising = np.prod([j + i for i in range(1, n + 1)], axis=0)
            c = c * (rising.reshape((terms,) + (1,) * (c.ndim - 1)) / h**n)
        if not np.any(x[2:]):
            k = np.arange(terms).reshape((terms,) + (1,) * (c.ndim - 1))
            return c * np.where(x[1] < 0, (-1.0) ** k, 1.0)
        e = x / h
        e[0] = 0.0
        return _compose(c, e)

    return rule


sinc_series = sinc_rule(0)
"""The Taylor rule of sinc itself."""
