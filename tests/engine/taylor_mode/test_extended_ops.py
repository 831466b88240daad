"""Extended precision through the piecewise ops, the reductions with a tie convention, scatter,
logit, logaddexp, sinc, the special functions (gamma family, inverse error functions, Bessel)
and the linear algebra (det, inv, solve, slogdet, cholesky):
``"precision": 50`` is correctly rounded with 45 correct digits, against mpmath's own functions
differentiated at 80 digits (the piecewise parts are their closed forms between the jumps), and
``"auto"`` recomputes what float64 loses without a warning."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import mpmath as mp
import pytest

import engine

M = Any

TRIDIAGONAL = ("[[t, 1, 0, 0, 0], [1, t, 1, 0, 0], [0, 1, t**2, 1, 0], [0, 0, 1, t, 1], "
               "[0, 0, 0, 1, exp(t)]]")
"""A 5×5 matrix: det beyond the cofactor sizes runs the inverse's recurrence."""


def _tridiagonal(t: M) -> M:
    d = [t, t, t**2, t, mp.exp(t)]
    return mp.matrix([[d[i] if i == j else (1 if abs(i - j) == 1 else 0) for j in range(5)]
                      for i in range(5)])


CASES: list[tuple[str, float, int, Callable[[M], M]]] = [
    ("floor(3*t)*exp(t)", 0.6, 10, lambda t: mp.exp(t)),              # floor(1.8) = 1
    ("round(2*t)*sin(t)", 0.6, 9, lambda t: mp.sin(t)),               # round(1.2) = 1
    ("ceil(t)*cos(t) + t**3", 0.6, 3, lambda t: mp.cos(t) + t**3),    # ceil(0.6) = 1
    ("mod(t, 0.25)*exp(t)", 0.6, 8, lambda t: (t - 2 * mp.mpf(0.25)) * mp.exp(t)),
    ("floor_divide(t, 0.25)*exp(t)", 0.6, 8, lambda t: 2 * mp.exp(t)),
    ("clip(t, 0, 1)*exp(t)", 0.6, 12, lambda t: t * mp.exp(t)),
    ("clip(t, 0.7, 1)*exp(t)", 0.6, 12, lambda t: mp.mpf(0.7) * mp.exp(t)),
    ("max([exp(t), 1 + t, cosh(t)])", 0.6, 10, lambda t: mp.exp(t)),
    ("min([exp(t), 1 + t, cosh(t)])", 0.6, 10, lambda t: mp.cosh(t)),
    ("logsumexp([t, 2*t, t**2])", 0.6, 12,
     lambda t: mp.log(mp.exp(t) + mp.exp(2 * t) + mp.exp(t**2))),
    ("softmax([t, 2*t])[0]", 0.6, 12, lambda t: 1 / (1 + mp.exp(t))),
    ("sum(cumprod([exp(t), sin(t), t]))", 0.6, 9,
     lambda t: mp.exp(t) * (1 + mp.sin(t) + mp.sin(t) * t)),
    ("sum(diag([t, exp(t)]))", 0.6, 8, lambda t: t + mp.exp(t)),
    ("logit(t/2)", 0.6, 10, lambda t: mp.log((t / 2) / (1 - t / 2))),
    ("logaddexp(t, sin(3*t))", 0.6, 10, lambda t: mp.log(mp.exp(t) + mp.exp(mp.sin(3 * t)))),
    ("gamma(t)", 0.6, 10, mp.gamma),
    ("gamma(t)", -1.3, 8, mp.gamma),
    ("lgamma(t)", 2.5, 12, mp.loggamma),
    ("lgamma(t)", -2.5, 10, lambda t: mp.log(abs(mp.gamma(t)))),
    ("digamma(t)", 0.6, 10, mp.digamma),
    ("digamma(t)", -0.4, 9, mp.digamma),
    ("polygamma(2, t)", 1.7, 8, lambda t: mp.psi(2, t)),
    ("beta(t, 2.5)", 0.6, 9, lambda t: mp.beta(t, mp.mpf(2.5))),
    ("erfinv(t)", 0.6, 10, mp.erfinv),
    ("erfcinv(t)", 0.6, 10, lambda t: mp.erfinv(1 - t)),
    ("erfcinv(t)", 1e-10, 3, lambda t: mp.findroot(lambda y: mp.erfc(y) - t, 4.5)),
    ("j0(t)", 0.6, 12, lambda t: mp.besselj(0, t)),
    ("j1(3*t)", 2.0, 10, lambda t: mp.besselj(1, 3 * t)),
    ("jv(2.5, t)", 0.6, 10, lambda t: mp.besselj(mp.mpf(2.5), t)),
    ("y0(t)", 0.6, 10, lambda t: mp.bessely(0, t)),
    ("y1(t)", 4.0, 12, lambda t: mp.bessely(1, t)),
    ("i1(t)", 0.6, 10, lambda t: mp.besseli(1, t)),
    ("sinc(t)", 0.6, 10, mp.sincpi),
    ("sinc(t)", 0.0, 12, mp.sincpi),
    ("sinc(t)", 2.0, 8, mp.sincpi),
    ("sinc(t)", -57.3, 10, mp.sincpi),                  # the recurrence, far from 0
    ("sinc(t)", 1e6 + 0.5, 8, mp.sincpi),               # no power series with 10⁶ digits
    ("sinc(t**2)", -7.3, 6, lambda t: mp.sincpi(t**2)),
    ("tanh(3*t)", 0.6, 9, lambda t: mp.tanh(3 * t)),
    ("det([[t, 1], [2, t**2]])", 0.6, 2, lambda t: t**3 - 2),
    ("det(" + TRIDIAGONAL + ")", 0.6, 4, lambda t: mp.det(_tridiagonal(t))),
    ("inv([[t, 1], [2, t**2]])[0, 0]", 0.6, 10, lambda t: t**2 / (t**3 - 2)),
    ("solve([[t, 1], [2, t**2]], [1, t])[0]", 0.6, 10, lambda t: (t**2 - t) / (t**3 - 2)),
    ("slogdet([[t, 1], [2, t**2]])[1]", 0.6, 10, lambda t: mp.log(abs(t**3 - 2))),
    ("slogdet([[t, 1], [2, t**2]])[0] * exp(t)", 0.6, 6, lambda t: -mp.exp(t)),
    ("cholesky([[t + 2, 1], [1, t**2 + 2]])[1, 1]", 0.6, 10,
     lambda t: mp.sqrt(t**2 + 2 - 1 / (t + 2))),
]


def _bessel_y_derivative(nu: int) -> Callable[[M, int], M]:
    """Y_ν⁽ⁿ⁾ = 2⁻ⁿ Σ_k (−1)^k C(n, k) Y_{ν−n+2k}: a closed form, where mp.diff of bessely at
    80 digits takes a minute."""
    return lambda t, n: sum((-1) ** k * mp.binomial(n, k) * mp.bessely(nu - n + 2 * k, t)
                            for k in range(n + 1)) / mp.mpf(2) ** n


CLOSED_FORMS = {"y0(t)": _bessel_y_derivative(0), "y1(t)": _bessel_y_derivative(1)}
"""Derivatives with a closed form, used instead of differentiating the function."""


def reference(f: Callable[[M], M], t0: float, n: int, expression: str = "") -> M:
    with mp.workdps(80):
        if expression in CLOSED_FORMS:
            return CLOSED_FORMS[expression](mp.mpf(t0), n)
        return mp.diff(f, mp.mpf(t0), n)


@pytest.mark.parametrize(("expression", "t0", "n", "f"), CASES, ids=[c[0] for c in CASES])
def test_precision_50_through_the_op(expression: str, t0: float, n: int, f: Any) -> None:
    ref = reference(f, t0, n, expression)
    r = engine.derivative(expression=expression, point={"t": t0}, variable="t", order=n,
                          precision=50)
    assert r["warnings"] == []
    rounded = float(ref)
    assert abs(float(r["derivative"]) - rounded) <= math.ulp(rounded)
    with mp.workdps(60):
        assert abs(mp.mpf(r["derivative_decimal"]) - ref) <= abs(ref) * mp.mpf(10) ** -45


@pytest.mark.parametrize(("expression", "t0", "n", "f"), [
    ("clip(t, 0, 1)*sin(t)/t", 0.5, 30, lambda t: mp.sin(t)),
    ("logaddexp(t, 0)*exp(-t)*exp(t) + floor(t)", 0.5, 30, lambda t: mp.log(1 + mp.exp(t))),
    ("max([sin(t)/t, 0.1])", 0.5, 30, lambda t: mp.sin(t) / t)])
def test_auto_rescues_float64_through_the_op(expression: str, t0: float, n: int,
                                             f: Any) -> None:
    """sin(t)/t at 0.5 loses every digit by order 30 in float64; "auto" recomputes it."""
    ref = reference(f, t0, n)
    float64 = engine.derivative(expression=expression, point={"t": t0}, variable="t",
                                order=n, precision="float64")
    assert float64["warnings"]  # float64 knows it lost the digits
    r = engine.derivative(expression=expression, point={"t": t0}, variable="t", order=n)
    assert not any("not available" in w for w in r["warnings"])
    assert abs(float(r["derivative"]) - float(ref)) <= 1e-10 * abs(float(ref))
