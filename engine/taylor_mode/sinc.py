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
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from engine.taylor_mode.gathers import Series
from engine.taylor_mode.series import mul_series

_CHUNK = 1 << 20
"""Most (node × element) entries one quadrature pass holds."""


@functools.lru_cache(maxsize=32)
def _nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [0, 1]."""
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1.0) / 2.0, w / 2.0


def _scales(count: int) -> np.ndarray:
    """π^j/j! for j < count (underflows gracefully to 0)."""
    ratios = np.full(count, np.pi) / np.maximum(np.arange(count, dtype=np.float64), 1.0)
    ratios[0] = 1.0
    return np.cumprod(ratios)


def _quadrature(u: np.ndarray, count: int, scales: np.ndarray) -> np.ndarray:
    """a_j for j < count at the points u = πx0 (1-d), by quadrature."""
    n = (count + int(np.ceil(np.max(np.abs(u))))) // 2 + 32
    s, w = _nodes(n)
    powers = np.cumprod(np.vstack([np.ones(n), np.broadcast_to(s, (count - 1, n))]), axis=0)
    weighted = powers * w
    j = np.arange(count) % 4
    cos_part = np.choose(j, [1.0, 0.0, -1.0, 0.0])
    sin_part = np.choose(j, [0.0, 1.0, 0.0, -1.0])
    out = np.empty((count, u.size))
    step = max(_CHUNK // n, 1)
    for start in range(0, u.size, step):
        phase = np.outer(s, u[start:start + step])
        integral = (cos_part[:, None] * (weighted @ np.cos(phase))
                    - sin_part[:, None] * (weighted @ np.sin(phase)))
        out[:, start:start + step] = scales[:, None] * integral
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


def _recurrence(x: np.ndarray, count: int, scales: np.ndarray) -> np.ndarray:
    """a_j for j < count at the points x (1-d), |πx| ≥ count + 2, by the recurrence."""
    u = np.pi * x
    sin_u, cos_u = _sin_cos_pi(x)
    cycle = (sin_u, cos_u, -sin_u, -cos_u)
    out = np.empty((count, u.size))
    out[0] = sin_u / u
    for j in range(1, count):
        out[j] = (scales[j] * cycle[j % 4] - np.pi * out[j - 1]) / u
    return out


def sinc_coefficients(x0: np.ndarray, count: int) -> np.ndarray:
    """a_j = sinc⁽ʲ⁾(x0)/j! for j < count, shape (count, *x0.shape)."""
    x0 = np.asarray(x0, dtype=np.float64)
    flat = x0.ravel()
    u = np.pi * flat
    scales = _scales(count)
    out = np.empty((count, flat.size))
    near = np.abs(u) < count + 2
    if near.any():
        out[:, near] = _quadrature(u[near], count, scales)
    if not near.all():
        out[:, ~near] = _recurrence(flat[~near], count, scales)
    out[0] = sinc(flat)
    return out.reshape((count, *x0.shape))


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


def _compose(c: np.ndarray, x: Series) -> Series:
    """Σ_j c_j·(x(t) − x0)^j, truncated like x; c has one entry per term of x."""
    if len(x) == 1:
        return np.broadcast_to(c, np.broadcast_shapes(x.shape, c.shape)).copy()
    if not np.any(x[2:]):
        # x0 + t·x1: the j-th term is c_j·x1^j
        step = np.broadcast_to(x[1], (len(x) - 1, *x.shape[1:]))
        return c * np.concatenate([np.ones((1, *x.shape[1:])), np.cumprod(step, axis=0)])
    d = x.copy()
    d[0] = 0.0
    y = np.zeros(np.broadcast_shapes(x.shape, c.shape))
    y[0] = c[-1]
    for j in range(len(c) - 2, -1, -1):
        y = mul_series(y, d)
        y[0] += c[j]
    return y


def sinc_rule(n: int) -> Callable[[Series], Series]:
    """The Taylor rule of the n-th derivative of sinc."""

    def rule(x: Series) -> Series:
        terms = len(x)
        a = sinc_coefficients(x[0], n + terms)[n:]
        if n:
            j = np.arange(terms, dtype=np.float64)
            rising = np.prod([j + i for i in range(1, n + 1)], axis=0)
            a = a * rising.reshape((terms,) + (1,) * (a.ndim - 1))
        return _compose(a, x)

    return rule


sinc_series = sinc_rule(0)
"""The Taylor rule of sinc itself."""
