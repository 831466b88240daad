"""Higher-order derivatives (Taylor mode): ``engine.derivative`` and ``engine.taylor``.

Every reference is independent of the engine: mpmath at 50 digits (``mpmath.taylor`` /
``mpmath.diff`` of an mpmath lambda, or an exact power series summed in mpmath) or sympy
(``diff`` + ``evalf(50)``, ``series``). The one exception is the consistency test between
``derivative`` and the engine's gradient/Hessian path, which compares two engine algorithms.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import textwrap
from collections.abc import Callable
from functools import cache
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import engine
from engine.errors import InputError, LimitError
from engine.limits import Limits
from engine.taylor_mode import derivatives as higher_order

DPS = 50
EPS = float(np.finfo(float).eps)
SEED_RTOL = 1e-12
ROOT = Path(__file__).resolve().parents[3]


def _f(x: object) -> float:
    return float(np.asarray(x, dtype=float))


# --- seed cases (API.md §3) -------------------------------------------------------------------

def test_seed_fifth_derivative_of_sin_t_cubed() -> None:
    r = engine.derivative(expression="sin(t**3)", point={"t": 1}, variable="t", order=5)
    with mp.workdps(DPS):
        ref = mp.diff(lambda t: mp.sin(t**3), mp.mpf(1), 5)
        assert mp.almosteq(ref, mp.mpf("24.4939205087257601"), rel_eps=mp.mpf(10) ** -17)
    assert r["derivative"] == pytest.approx(float(ref), rel=SEED_RTOL)
    assert r["value"] == pytest.approx(math.sin(1.0), rel=1e-15)
    assert r["warnings"] == []
    assert r["shape"] == []
    assert r["variables"] == ["t"]


def test_seed_mixed_partial_xyx() -> None:
    x, y = sp.symbols("x y")
    f = x**3 * y**2 + sp.sin(x * y)
    ref = float(sp.diff(f, x, y, x).subs({x: 1, y: 2}).evalf(DPS))
    assert ref == pytest.approx(22.027397638885843, rel=1e-15)
    r = engine.derivative(expression="x**3 * y**2 + sin(x*y)", point={"x": 1, "y": 2},
                          wrt=["x", "y", "x"])
    assert r["derivative"] == pytest.approx(ref, rel=SEED_RTOL)
    assert r["warnings"] == []


# --- n-th derivatives, n = 0..30, against mpmath -------------------------------------------------
#
# Tolerance, per order n:   |got_n − ref_n| ≤ RTOL_PER_ORDER · (n+1) · scale_n
#   scale_n = n! · max(|c_{n−1}|, |c_n|, |c_{n+1}|)  (c_k the exact normalized coefficients),
#   widened to the nearest non-zero coefficients where those three vanish exactly.
# Why: the engine propagates normalized coefficients with the Griewank–Walther recurrences, where
# c_n of every node is a sum of O(n) products of earlier coefficients. Each rounding costs eps
# times the size of those terms, which is the size of the neighbouring coefficients — not of c_n
# itself when c_n happens to sit near a zero crossing (hence the neighbour scale). The errors of
# the k earlier terms feed the next, so the bound grows linearly in n. The final ·n! is done
# exactly (a big integer scaled into range) and adds at most one rounding.
# Observed (this machine): err / ((n+1)·eps·scale_n) ≤ 0.8 for every function and point here
# except t**t at 2 (≤ 27: exp(t·log t) sums exp-recurrence terms larger than the result).
# RTOL_PER_ORDER = 1e-13 ≈ 450·eps leaves a margin of > 15× over that worst case while any
# wrong term of a recurrence (an O(1) relative error) still fails by orders of magnitude.
RTOL_PER_ORDER = 1e-13
N_MAX = 30

UNIVARIATE: dict[str, tuple[Callable[[mp.mpf], mp.mpf], tuple[float, ...]]] = {
    "sin(t**3)": (lambda t: mp.sin(t**3), (1.0, -0.4, 0.0)),
    "exp(sin(t))": (lambda t: mp.exp(mp.sin(t)), (0.3, 2.0)),
    "1/(1+t**2)": (lambda t: 1 / (1 + t**2), (0.0, 1.5)),
    "log(1+t**2)": (lambda t: mp.log(1 + t**2), (0.5, -2.0)),
    "atan(t)": (mp.atan, (0.0, 1.0)),
    "tanh(t)": (mp.tanh, (0.5, -1.5)),
    "t**t": (lambda t: t**t, (0.5, 2.0)),
    "sqrt(1+t)": (lambda t: mp.sqrt(1 + t), (0.0, -0.5)),
}
UNIVARIATE_CASES = [(e, x0) for e, (_, pts) in UNIVARIATE.items() for x0 in pts]


@cache
def reference_coefficients(expression: str, x0: float, order: int = N_MAX + 1) -> tuple:
    """Exact normalized Taylor coefficients c_0..c_order of f at x0 (mpf, 50 digits)."""
    f, _ = UNIVARIATE[expression]
    with mp.workdps(DPS):
        coeffs = mp.taylor(f, mp.mpf(x0), order)
        # mpmath's numerical differentiation leaves ~1e-52 of noise where a coefficient is
        # exactly zero (e.g. c_8 of sin(t³) at 0); 40 digits below the largest is zero here
        noise = max(abs(c) for c in coeffs) * mp.mpf(10) ** -40
        return tuple(c if abs(c) > noise else mp.mpf(0) for c in coeffs)


def scale_of(coeffs: tuple, n: int) -> mp.mpf:
    """n! · the largest |c_k| of the nearest neighbours of n that do not all vanish."""
    for w in range(1, len(coeffs)):
        window = coeffs[max(n - w, 0):n + w + 1]
        m = max(abs(c) for c in window)
        if m != 0:
            return m * mp.factorial(n)
    return mp.mpf(0)


def check_order(got: float, coeffs: tuple, n: int) -> float:
    """Assert the tolerance above; returns err / ((n+1)·eps·scale) for reporting."""
    with mp.workdps(DPS):
        ref = coeffs[n] * mp.factorial(n)
        scale = scale_of(coeffs, n)
        assert math.isfinite(got), f"order {n}: {got} (reference {mp.nstr(ref, 17)})"
        err = abs(mp.mpf(got) - ref)
        assert err <= RTOL_PER_ORDER * (n + 1) * scale, (
            f"order {n}: got {got!r}, reference {mp.nstr(ref, 20)}, "
            f"error {mp.nstr(err / scale, 3)} of the scale {mp.nstr(scale, 5)}")
        return float(err / ((n + 1) * EPS * scale)) if scale else 0.0


@pytest.mark.parametrize(("expression", "x0"), UNIVARIATE_CASES)
def test_nth_derivative_against_mpmath(expression: str, x0: float) -> None:
    coeffs = reference_coefficients(expression, x0)
    for n in range(N_MAX + 1):
        r = engine.derivative(expression=expression, point={"t": x0}, variable="t", order=n)
        assert r["warnings"] == [], (n, r["warnings"])
        check_order(_f(r["derivative"]), coeffs, n)
        assert _f(r["value"]) == pytest.approx(float(coeffs[0]), rel=4 * EPS, abs=4 * EPS)


@pytest.mark.parametrize(("expression", "x0"), UNIVARIATE_CASES)
def test_all_orders_against_mpmath(expression: str, x0: float) -> None:
    coeffs = reference_coefficients(expression, x0)
    r = engine.derivative(expression=expression, point={"t": x0}, variable="t", order=N_MAX,
                          all_orders=True)
    ders = np.asarray(r["derivatives"])
    assert ders.shape == (N_MAX + 1,)
    for n in range(N_MAX + 1):
        check_order(float(ders[n]), coeffs, n)
    assert _f(r["derivative"]) == ders[-1]
    assert r["warnings"] == []


def test_all_orders_of_order_zero_is_the_value() -> None:
    r = engine.derivative(expression="exp(sin(t))", point={"t": 0.3}, variable="t", order=0,
                          all_orders=True)
    ref = float(mp.exp(mp.sin(mp.mpf(0.3))))
    assert np.asarray(r["derivatives"]).shape == (1,)
    assert _f(r["derivatives"][0]) == pytest.approx(ref, rel=2 * EPS)
    assert _f(r["derivative"]) == pytest.approx(ref, rel=2 * EPS)


def test_all_orders_batch_has_leading_point_axis() -> None:
    pts = [0.3, -1.1, 2.0]
    r = engine.derivative(expression="atan(t)", points={"t": pts}, variable="t", order=6,
                          all_orders=True)
    ders = np.asarray(r["derivatives"])
    assert ders.shape == (3, 7)
    x = sp.Symbol("x")
    for i, p in enumerate(pts):
        for n in range(7):
            ref = float(sp.diff(sp.atan(x), x, n).subs(x, sp.Float(p, DPS)).evalf(DPS))
            assert ders[i, n] == pytest.approx(ref, rel=1e-13, abs=1e-13)
    assert np.array_equal(np.asarray(r["derivative"]), ders[:, -1])


def test_derivative_of_vector_valued_expression() -> None:
    r = engine.derivative(expression="[sin(t), t**3, exp(2*t)]", point={"t": 0.7},
                          variable="t", order=3)
    t = sp.Symbol("t")
    ref = [float(sp.diff(g, t, 3).subs(t, sp.Rational(7, 10)).evalf(DPS))
           for g in (sp.sin(t), t**3, sp.exp(2 * t))]
    got = np.asarray(r["derivative"])
    assert got.shape == (3,)
    np.testing.assert_allclose(got, ref, rtol=1e-14)


def test_variable_may_be_a_vector_entry() -> None:
    r = engine.derivative(expression="sin(v[0]*v[1]) + v[1]**4", point={"v": [0.5, 1.5]},
                          variable="v[1]", order=4)
    a, b = sp.symbols("a b")
    ref = float(sp.diff(sp.sin(a * b) + b**4, b, 4).subs({a: sp.Rational(1, 2),
                                                         b: sp.Rational(3, 2)}).evalf(DPS))
    assert _f(r["derivative"]) == pytest.approx(ref, rel=1e-13)


# --- high orders ------------------------------------------------------------------------------

def sin_t_cubed_derivative_at_one(n: int) -> mp.mpf:
    """d^n/dt^n sin(t³) at t = 1 from sin(t³) = Σ_k (−1)^k t^(6k+3)/(2k+1)!, summed in mpmath
    with enough digits for the alternating series' cancellation."""
    with mp.workdps(n + 100):
        total = mp.mpf(0)
        k = max(0, -(-(n - 3) // 6))
        while True:
            m = 6 * k + 3
            term = mp.mpf(math.factorial(m) // math.factorial(m - n)) / math.factorial(2 * k + 1)
            total += -term if k % 2 else term
            if k > n and abs(term) < abs(total) * mp.mpf(10) ** -60:
                return +total
            k += 1


def test_order_100_of_sin_t_cubed() -> None:
    with mp.workdps(DPS):
        ref = mp.diff(lambda t: mp.sin(t**3), mp.mpf(1), 100)
        # the closed-form series used for order 1000 below agrees with mpmath.diff
        assert mp.almosteq(ref, sin_t_cubed_derivative_at_one(100), rel_eps=mp.mpf(10) ** -40)
    r = engine.derivative(expression="sin(t**3)", point={"t": 1}, variable="t", order=100)
    assert _f(r["derivative"]) == pytest.approx(float(ref), rel=1e-12)
    assert r["warnings"] == []


def test_order_1000_of_sin_t_cubed() -> None:
    """Runs without error; finite and matching, or non-finite (true value out of range) with a
    warning. The true value is about −9.7e1924, far beyond float64, so ±inf is the only honest
    finite-arithmetic answer; a finite number (such as 0.0) is wrong."""
    ref = sin_t_cubed_derivative_at_one(1000)
    r = engine.derivative(expression="sin(t**3)", point={"t": 1}, variable="t", order=1000)
    got = _f(r["derivative"])
    if math.isfinite(got):
        assert abs(ref) < mp.mpf(np.finfo(float).max), (
            f"order 1000 gave the finite {got!r}, the true value is {mp.nstr(ref, 10)}")
        assert got == pytest.approx(float(ref), rel=1e-12)
    else:
        assert any("derivative" in w for w in r["warnings"]), r["warnings"]
        if math.isinf(got):
            assert np.sign(got) == mp.sign(ref)


EXACT_AT_ZERO: dict[str, Callable[[int], mp.mpf]] = {
    "exp(t)": lambda n: mp.exp(0),
    "sin(t)": lambda n: mp.sin(n * mp.pi / 2),
    "2*cosh(t)": lambda n: 2 * (mp.cosh(0) if n % 2 == 0 else mp.sinh(0)),
}


@pytest.mark.parametrize(("expression", "order"), [
    ("exp(t)", 100), ("exp(t)", 170), ("exp(t)", 171), ("exp(t)", 200), ("exp(t)", 1000),
    ("sin(t)", 101), ("sin(t)", 173), ("sin(t)", 201), ("2*cosh(t)", 300),
])
def test_high_order_with_representable_value(expression: str, order: int) -> None:
    """d^n f at 0 is ±1 or 2 at any order here (f^(n) = exp, sin(t + nπ/2), 2·cosh or 2·sinh):
    representable, so it must come out exact to float64 rounding even where the normalized
    coefficient f^(n)(0)/n! itself is below float64's range (n ≳ 170)."""
    with mp.workdps(DPS):
        ref = float(EXACT_AT_ZERO[expression](order))
    r = engine.derivative(expression=expression, point={"t": 0}, variable="t", order=order)
    assert _f(r["derivative"]) == pytest.approx(ref, rel=1e-12)
    assert r["warnings"] == []


def test_all_orders_up_to_a_high_order() -> None:
    """Every entry of [f, f', …, f^(n)] is exact, low orders included, when n is large."""
    r = engine.derivative(expression="exp(t)", point={"t": 0}, variable="t", order=1000,
                          all_orders=True)
    np.testing.assert_allclose(np.asarray(r["derivatives"]), np.ones(1001), rtol=1e-12)
    r = engine.derivative(expression="sin(t) + 2*cosh(t)", point={"t": 0}, variable="t",
                          order=400, all_orders=True)
    with mp.workdps(DPS):
        ref = [float(mp.sin(k * mp.pi / 2) + 2 * (mp.cosh(0) if k % 2 == 0 else mp.sinh(0)))
               for k in range(401)]
    np.testing.assert_allclose(np.asarray(r["derivatives"]), ref, rtol=1e-12, atol=1e-12)
    assert r["warnings"] == []


def test_high_order_batch_scales_each_point() -> None:
    r = engine.derivative(expression="exp(t)", points={"t": [0.0, 0.5, -3.0]}, variable="t",
                          order=300)
    with mp.workdps(DPS):
        ref = [float(mp.exp(mp.mpf(x))) for x in (0.0, 0.5, -3.0)]
    np.testing.assert_allclose(np.asarray(r["derivative"]), ref, rtol=1e-12)


# --- mixed partials against sympy -------------------------------------------------------------

X, Y, Z, W = sp.symbols("x y z w")
SYMS = {"x": X, "y": Y, "z": Z, "w": W}

MIXED: dict[str, tuple[sp.Expr, list[dict[str, float]], list[list[str]]]] = {
    "x**3*y**2 + sin(x*y)": (
        X**3 * Y**2 + sp.sin(X * Y),
        [{"x": 1.0, "y": 2.0}, {"x": 0.7, "y": -1.3}],
        [["x", "y"], ["y", "x", "x"], ["x", "x", "y", "y"], ["y", "x", "y", "y", "x"],
         ["x", "y", "y", "y", "y", "x"], ["x", "x", "x", "x", "x", "y"]]),
    "x**2*y*exp(z) + sin(x*y*z)": (
        X**2 * Y * sp.exp(Z) + sp.sin(X * Y * Z),
        [{"x": 0.5, "y": -0.7, "z": 0.3}, {"x": 1.2, "y": 0.9, "z": -0.4}],
        [["x", "y"], ["x", "z", "z"], ["x", "y", "z"], ["x", "x", "y", "z"],
         ["x", "y", "z", "z", "y"], ["x", "y", "z", "x", "y", "z"], ["z", "z", "z", "z", "x"]]),
    "exp(w*x)*cos(y*z) + log(1 + z**2)*w*y + atan(x*z)*w": (
        sp.exp(W * X) * sp.cos(Y * Z) + sp.log(1 + Z**2) * W * Y + sp.atan(X * Z) * W,
        [{"w": 0.4, "x": -0.6, "y": 1.1, "z": 0.8}],
        [["w", "x"], ["w", "x", "y"], ["w", "x", "y", "z"], ["w", "x", "y", "z", "z"],
         ["w", "x", "y", "z", "z", "x"], ["w", "w", "x", "x", "z", "z"]]),
}
MIXED_CASES = [(e, p, wrt) for e, (_, pts, wrts) in MIXED.items() for p in pts for wrt in wrts]

# Tolerance for mixed partials: the d-th coefficient along each integer ray carries ~(d+1)·eps
# relative error (see above), and the interpolation Σ_i γ_i c_d(i) cancels terms larger than the
# result (its weights grow like d^d/d! in size). So the error is eps times the size of the
# order-d partials, not of this one: the bound is relative 1e-12 plus the same multiple of the
# largest |∂^α f| with |α| = d over the variables involved (which also covers exact zeros).
# Observed (this machine): ≤ 5e-15 of that scale for d ≤ 6 in 2–4 variables (up to 1.2e-13
# relative to a result 100× smaller than its neighbours); 1e-12 leaves 200× margin.
MIXED_RTOL = 1e-12


def sympy_partial(f: sp.Expr, wrt: list[sp.Symbol], subs: dict) -> float:
    return float(sp.diff(f, *wrt).subs(subs).evalf(DPS))


def partial_scale(f: sp.Expr, syms: list[sp.Symbol], d: int, subs: dict) -> float:
    """The largest |∂^α f| with |α| = d over the given variables (a floor for near-zero results)."""
    return max(abs(sympy_partial(f, list(c), subs))
               for c in itertools.combinations_with_replacement(syms, d))


@pytest.mark.parametrize(("expression", "point", "wrt"), MIXED_CASES)
def test_mixed_partial_against_sympy(expression: str, point: dict[str, float],
                                     wrt: list[str]) -> None:
    f = MIXED[expression][0]
    subs = {SYMS[k]: sp.Float(v, DPS) for k, v in point.items()}
    ref = sympy_partial(f, [SYMS[v] for v in wrt], subs)
    r = engine.derivative(expression=expression, point=point, wrt=wrt)
    got = _f(r["derivative"])
    assert math.isfinite(got)
    floor = MIXED_RTOL * partial_scale(f, [SYMS[v] for v in dict.fromkeys(wrt)], len(wrt), subs)
    assert abs(got - ref) <= MIXED_RTOL * abs(ref) + floor, (got, ref)
    assert r["warnings"] == []


def test_mixed_partial_is_symmetric() -> None:
    expr = "x**2*y*exp(z) + sin(x*y*z)"
    point = {"x": 0.5, "y": -0.7, "z": 0.3}
    wrt = ["x", "x", "y", "z", "z"]
    got = {_f(engine.derivative(expression=expr, point=point, wrt=list(p))["derivative"])
           for p in set(itertools.permutations(wrt))}
    ref = sympy_partial(MIXED[expr][0], [SYMS[v] for v in wrt],
                        {SYMS[k]: sp.Float(v, DPS) for k, v in point.items()})
    for g in got:
        assert g == pytest.approx(ref, rel=MIXED_RTOL)


@pytest.mark.parametrize("wrt", [
    ["v[0]", "v[1]"], ["v[0]", "v[1]", "v[0]"], ["v[2]", "v[0]", "v[1]", "v[2]"],
    ["v[1]", "v[1]", "v[2]", "v[0]", "v[0]"], ["v[0]", "v[1]", "v[2]", "v[0]", "v[1]", "v[2]"],
    ["v[-1]", "v[0]"],
])
def test_mixed_partial_of_vector_entries(wrt: list[str]) -> None:
    v = sp.symbols("v0:3")
    f = v[0]**2 * sp.sin(v[1]) + sp.exp(v[0] * v[1] * v[2]) + v[2]**3 * v[1]**2
    value = [0.6, -0.8, 1.1]
    subs = {s: sp.Float(x, DPS) for s, x in zip(v, value, strict=True)}
    syms = [v[int(lab[2:-1])] for lab in wrt]
    ref = sympy_partial(f, syms, subs)
    r = engine.derivative(
        expression="v[0]**2*sin(v[1]) + exp(v[0]*v[1]*v[2]) + v[2]**3*v[1]**2",
        point={"v": value}, wrt=wrt)
    floor = MIXED_RTOL * partial_scale(f, list(dict.fromkeys(syms)), len(syms), subs)
    assert abs(_f(r["derivative"]) - ref) <= MIXED_RTOL * abs(ref) + floor


def test_mixed_partial_of_matrix_entries() -> None:
    r = engine.derivative(expression="det(M) * exp(M[0,1])",
                          point={"M": [[1.0, 0.5], [-0.3, 2.0]]},
                          wrt=["M[0,0]", "M[0,1]", "M[1][1]", "M[0,1]"])
    a, b, c, d = sp.symbols("a b c d")
    f = (a * d - b * c) * sp.exp(b)
    ref = sympy_partial(f, [a, b, d, b], {a: 1, b: sp.Rational(1, 2), c: sp.Rational(-3, 10),
                                          d: 2})
    assert _f(r["derivative"]) == pytest.approx(ref, rel=MIXED_RTOL)


@pytest.mark.parametrize("column_form", [True, False])
def test_mixed_partial_batch(column_form: bool) -> None:
    expr = "x**2*y*exp(z) + sin(x*y*z)"
    pts = [{"x": 0.5, "y": -0.7, "z": 0.3}, {"x": 1.2, "y": 0.9, "z": -0.4},
           {"x": -2.0, "y": 0.1, "z": 1.5}, {"x": 0.0, "y": 0.0, "z": 0.0}]
    points = ({k: [p[k] for p in pts] for k in "xyz"} if column_form else pts)
    wrt = ["x", "y", "z", "z"]
    r = engine.derivative(expression=expr, points=points, wrt=wrt)
    got = np.asarray(r["derivative"])
    assert got.shape == (len(pts),)
    f = MIXED[expr][0]
    for g, p in zip(got, pts, strict=True):
        subs = {SYMS[k]: sp.Float(v, DPS) for k, v in p.items()}
        ref = sympy_partial(f, [SYMS[v] for v in wrt], subs)
        floor = MIXED_RTOL * partial_scale(f, [X, Y, Z], 4, subs)
        assert abs(g - ref) <= MIXED_RTOL * abs(ref) + floor, (p, g, ref)
    np.testing.assert_allclose(np.asarray(r["value"]),
                               [float(f.subs({SYMS[k]: v for k, v in p.items()}))
                                for p in pts], rtol=1e-15, atol=1e-15)


def test_wrt_of_one_repeated_variable_is_the_nth_derivative() -> None:
    a = engine.derivative(expression="x**2*y*exp(z) + sin(x*y*z)",
                          point={"x": 0.5, "y": -0.7, "z": 0.3}, wrt=["z"] * 7)
    b = engine.derivative(expression="x**2*y*exp(z) + sin(x*y*z)",
                          point={"x": 0.5, "y": -0.7, "z": 0.3}, variable="z", order=7)
    ref = sympy_partial(MIXED["x**2*y*exp(z) + sin(x*y*z)"][0], [Z] * 7,
                        {X: sp.Rational(1, 2), Y: sp.Rational(-7, 10), Z: sp.Rational(3, 10)})
    assert _f(a["derivative"]) == pytest.approx(ref, rel=1e-13)
    assert _f(b["derivative"]) == pytest.approx(ref, rel=1e-13)


# --- derivative vs the engine's gradient and Hessian (two engine paths) ------------------------

@pytest.mark.parametrize("point", [{"x": 0.5, "y": -0.7, "z": 0.3},
                                   {"x": 1.0, "y": 2.0, "z": -1.0}])
def test_orders_one_and_two_equal_gradient_and_hessian(point: dict[str, float]) -> None:
    expr = "x**2*y*exp(z) + sin(x*y*z) + x**3*y**2"
    g = engine.gradient(expression=expr, point=point)["gradient"]
    h = engine.hessian(expression=expr, point=point)
    cols = h["columns"]
    hess = np.asarray(h["hessian"])
    assert cols == ["x", "y", "z"]
    for i, a in enumerate(cols):
        d1 = _f(engine.derivative(expression=expr, point=point, variable=a, order=1)["derivative"])
        d1w = _f(engine.derivative(expression=expr, point=point, wrt=[a])["derivative"])
        assert d1 == pytest.approx(_f(g[a]), rel=1e-14, abs=1e-14)
        assert d1w == pytest.approx(_f(g[a]), rel=1e-14, abs=1e-14)
        d2 = _f(engine.derivative(expression=expr, point=point, variable=a, order=2)["derivative"])
        assert d2 == pytest.approx(hess[i, i], rel=1e-13, abs=1e-13)
        for j, b in enumerate(cols):
            if i != j:
                dij = _f(engine.derivative(expression=expr, point=point,
                                           wrt=[a, b])["derivative"])
                assert dij == pytest.approx(hess[i, j], rel=1e-13, abs=1e-13)


def test_seed_hessian_entries_from_derivative() -> None:
    expr, point = "x**3 * y**2 + sin(x*y)", {"x": 1, "y": 2}
    expected = [[20.362810292697273, 9.765258309801494], [9.765258309801494, 1.0907025731743183]]
    names = ["x", "y"]
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            d = engine.derivative(expression=expr, point=point, wrt=[a, b])["derivative"]
            assert _f(d) == pytest.approx(expected[i][j], rel=SEED_RTOL)


# --- taylor -----------------------------------------------------------------------------------

def multi_index_coefficients(f: sp.Expr, syms: list[sp.Symbol], subs: dict, k: int
                             ) -> dict[tuple[int, ...], float]:
    """∂^α f / α! at the point for every |α| ≤ k, with sympy."""
    out = {}
    for alpha in itertools.product(range(k + 1), repeat=len(syms)):
        if sum(alpha) > k:
            continue
        wrt = [s for s, a in zip(syms, alpha, strict=True) for _ in range(a)]
        d = sp.diff(f, *wrt) if wrt else f
        denom = math.prod(math.factorial(a) for a in alpha)
        out[alpha] = float((d.subs(subs) / denom).evalf(DPS))
    return out


TAYLOR_CASES = [
    ("x**3*y**2 + sin(x*y)", ["x", "y"], {"x": 1.0, "y": 2.0}, 6),
    ("x**2*y*exp(z) + sin(x*y*z)", ["x", "y", "z"], {"x": 0.5, "y": -0.7, "z": 0.3}, 4),
    ("exp(w*x)*cos(y*z) + log(1 + z**2)*w*y + atan(x*z)*w", ["w", "x", "y", "z"],
     {"w": 0.4, "x": -0.6, "y": 1.1, "z": 0.8}, 3),
]


@pytest.mark.parametrize(("expression", "names", "point", "k"), TAYLOR_CASES)
def test_multivariate_taylor_against_sympy(expression: str, names: list[str],
                                           point: dict[str, float], k: int) -> None:
    syms = [SYMS[n] for n in names]
    f = sp.sympify(expression, locals=SYMS)
    subs = {SYMS[n]: sp.Float(v, DPS) for n, v in point.items()}
    ref = multi_index_coefficients(f, syms, subs, k)
    r = engine.taylor(expression=expression, point=point, order=k)
    coeffs = r["coefficients"]
    assert len(coeffs) == math.comb(len(names) + k, k) == len(ref)
    seen = set()
    for entry in coeffs:
        assert list(entry["powers"]) == names
        alpha = tuple(entry["powers"][n] for n in names)
        assert alpha not in seen
        seen.add(alpha)
        d = sum(alpha)
        # the same interpolation as mixed partials, divided by α! exactly; floor as above
        floor = max(abs(v) for a, v in ref.items() if sum(a) == d)
        got = _f(entry["coefficient"])
        assert abs(got - ref[alpha]) <= MIXED_RTOL * (abs(ref[alpha]) + floor), (
            alpha, got, ref[alpha])
    assert seen == set(ref)
    degrees = [sum(e["powers"].values()) for e in coeffs]
    assert degrees == sorted(degrees)
    assert r["warnings"] == []


def test_taylor_with_variables_subset_and_order() -> None:
    point = {"x": 0.5, "y": -0.7, "z": 0.3}
    expr = "x**2*y*exp(z) + sin(x*y*z)"
    r = engine.taylor(expression=expr, point=point, order=3, variables=["z", "x"])
    f = MIXED[expr][0]
    subs = {SYMS[n]: sp.Float(v, DPS) for n, v in point.items()}
    ref = multi_index_coefficients(f, [Z, X], subs, 3)
    assert len(r["coefficients"]) == len(ref)
    for entry in r["coefficients"]:
        assert list(entry["powers"]) == ["z", "x"]
        alpha = (entry["powers"]["z"], entry["powers"]["x"])
        assert _f(entry["coefficient"]) == pytest.approx(ref[alpha], rel=MIXED_RTOL,
                                                         abs=MIXED_RTOL)


def test_taylor_of_vector_entries_uses_entry_labels() -> None:
    r = engine.taylor(expression="exp(v[0])*sin(v[1])", point={"v": [0.2, 0.9]}, order=3)
    a, b = sp.symbols("a b")
    ref = multi_index_coefficients(sp.exp(a) * sp.sin(b), [a, b],
                                   {a: sp.Rational(1, 5), b: sp.Rational(9, 10)}, 3)
    assert len(r["coefficients"]) == len(ref)
    for entry in r["coefficients"]:
        assert list(entry["powers"]) == ["v[0]", "v[1]"]
        alpha = (entry["powers"]["v[0]"], entry["powers"]["v[1]"])
        assert _f(entry["coefficient"]) == pytest.approx(ref[alpha], rel=MIXED_RTOL)


@pytest.mark.parametrize(("expression", "x0", "how"), [
    ("exp(sin(t))", sp.Integer(0), "series"), ("log(1+t**2)", sp.Rational(1, 2), "series"),
    ("1/(1+t**2)", sp.Integer(0), "series"), ("atan(t)*tanh(t)", sp.Integer(0), "series"),
    ("sqrt(1+t)", sp.Integer(0), "series"),
    # sympy's series is slow (15–45 s) at these points; diff(f, t, k)/k! is the same thing
    ("exp(sin(t))", sp.Rational(3, 10), "diff"), ("t**t", sp.Rational(3, 2), "diff"),
])
def test_single_variable_taylor_to_order_10_against_sympy(expression: str, x0: sp.Rational,
                                                          how: str) -> None:
    t, h = sp.symbols("t h")
    f = sp.sympify(expression, locals={"t": t})
    if how == "series":
        series = sp.series(f.subs(t, x0 + h), h, 0, 11).removeO()
        exact = [series.coeff(h, k) for k in range(11)]
    else:
        exact = [sp.diff(f, t, k).subs(t, x0) / sp.factorial(k) for k in range(11)]
    ref = [float(sp.N(c, DPS)) for c in exact]
    r = engine.taylor(expression=expression, point={"t": float(x0)}, order=10)
    coeffs = r["coefficients"]
    assert [c["powers"] for c in coeffs] == [{"t": k} for k in range(11)]
    for k, c in enumerate(coeffs):
        # the n-th derivative tolerance above, on normalized coefficients
        scale = max(map(abs, ref[max(k - 1, 0):k + 2]))
        assert abs(_f(c["coefficient"]) - ref[k]) <= RTOL_PER_ORDER * (k + 1) * scale, (k,)
    assert r["warnings"] == []


def test_taylor_order_zero() -> None:
    r = engine.taylor(expression="x**2*y*exp(z)", point={"x": 2.0, "y": 3.0, "z": 0.0}, order=0)
    assert r["coefficients"] == [{"powers": {"x": 0, "y": 0, "z": 0},
                                  "coefficient": pytest.approx(12.0, rel=1e-15),
                                  "error_estimate": pytest.approx(0.0, abs=1e-13)}]
    r1 = engine.taylor(expression="exp(t)", point={"t": 1.0}, order=0)
    assert len(r1["coefficients"]) == 1
    assert r1["coefficients"][0]["powers"] == {"t": 0}
    assert _f(r1["coefficients"][0]["coefficient"]) == pytest.approx(math.e, rel=1e-15)


def test_taylor_batch() -> None:
    r = engine.taylor(expression="exp(x)*cos(y)", points={"x": [0.0, 0.5], "y": [0.0, 1.0]},
                      order=2)
    refs = [multi_index_coefficients(sp.exp(X) * sp.cos(Y), [X, Y], {X: x0, Y: y0}, 2)
            for x0, y0 in [(0, 0), (sp.Rational(1, 2), 1)]]
    assert len(r["coefficients"]) == 6
    for entry in r["coefficients"]:
        a = entry["powers"]["x"]
        b = entry["powers"]["y"]
        got = np.asarray(entry["coefficient"])
        assert got.shape == (2,)
        for i, ref in enumerate(refs):
            assert got[i] == pytest.approx(ref[(a, b)], rel=MIXED_RTOL, abs=MIXED_RTOL)


# --- kinks: PyTorch's nested-autograd conventions at every order ------------------------------

KINK_ORDER = 8


def _ders(expression: str, t0: float, order: int = KINK_ORDER) -> np.ndarray:
    r = engine.derivative(expression=expression, point={"t": t0}, variable="t", order=order,
                          all_orders=True)
    assert r["warnings"] == []
    return np.asarray(r["derivatives"], dtype=float)


def _sympy_ders(f: sp.Expr, t0: float, order: int = KINK_ORDER) -> np.ndarray:
    t = sp.Symbol("t")
    return np.array([float(sp.diff(f, t, k).subs(t, t0).evalf(DPS)) for k in range(order + 1)])


@pytest.mark.parametrize("expression", ["abs(t)", "abs(sin(t))", "abs(t**3 - t)", "relu(t)",
                                        "relu(t**3 + t)", "relu(-t)", "abs(t)*exp(t) + relu(t)"])
def test_abs_and_relu_at_zero_vanish_at_every_order(expression: str) -> None:
    # abs' = sign(0) = 0 and relu' = (t > 0) = 0 at the kink; nested autograd differentiates
    # these masks as constants, so every higher derivative is 0 too (and so is the value).
    np.testing.assert_array_equal(_ders(expression, 0.0), np.zeros(KINK_ORDER + 1))


def test_abs_away_from_its_kink() -> None:
    t = sp.Symbol("t")
    np.testing.assert_allclose(_ders("abs(t**3 - t)", 0.5),
                               _sympy_ders(-(t**3 - t), 0.5), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(_ders("relu(sin(t))", 2.0), _sympy_ders(sp.sin(t), 2.0),
                               rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize(("expression", "a", "b"), [
    ("max(t, 0*t)", "t", "0"),
    ("max(exp(t), 1 + sin(t))", "exp(t)", "1 + sin(t)"),
    ("min(exp(t), 1 + sin(t))", "exp(t)", "1 + sin(t)"),
    ("max(t**3, sin(t))", "t**3", "sin(t)"),
])
def test_max_min_tie_splits_half_at_every_order(expression: str, a: str, b: str) -> None:
    # At a tie torch.maximum/minimum send half of the gradient to each operand; the mask is a
    # constant of the primal, so every order is 0.5·(a^(k) + b^(k)).
    t = sp.Symbol("t")
    fa, fb = sp.sympify(a, locals={"t": t}), sp.sympify(b, locals={"t": t})
    ref = 0.5 * (_sympy_ders(fa, 0.0) + _sympy_ders(fb, 0.0))
    np.testing.assert_allclose(_ders(expression, 0.0), ref, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize(("t0", "branch"), [(0.0, "t**3"), (0.5, "t**2"), (-0.5, "t**3")])
def test_where_follows_the_chosen_branch_at_every_order(t0: float, branch: str) -> None:
    t = sp.Symbol("t")
    ref = _sympy_ders(sp.sympify(branch, locals={"t": t}), t0)
    np.testing.assert_allclose(_ders("where(t > 0, t**2, t**3)", t0), ref, rtol=1e-15,
                               atol=1e-15)


# --- non-existence: non-finite with a warning, never an exception -----------------------------

@pytest.mark.parametrize(("expression", "order"), [
    ("sqrt(t)", 1), ("sqrt(t)", 3), ("log(t)", 1), ("log(t)", 4), ("t**t", 1), ("t**t", 2),
    ("1/t", 2),
])
def test_nonexistent_derivative_is_nonfinite_with_warning(expression: str, order: int) -> None:
    r = engine.derivative(expression=expression, point={"t": 0.0}, variable="t", order=order)
    assert not np.isfinite(_f(r["derivative"]))
    assert r["warnings"]
    assert any("derivative" in w for w in r["warnings"])


def test_nonexistent_derivative_in_a_batch_only_flags_that_point() -> None:
    r = engine.derivative(expression="sqrt(t)", points={"t": [0.0, 4.0]}, variable="t", order=2)
    got = np.asarray(r["derivative"])
    assert not np.isfinite(got[0])
    assert got[1] == pytest.approx(-1 / 32, rel=1e-15)
    assert r["warnings"]


def test_nonexistent_mixed_partial_and_taylor_are_nonfinite_with_warning() -> None:
    r = engine.derivative(expression="sqrt(x*y)", point={"x": 0.0, "y": 0.0}, wrt=["x", "y"])
    assert not np.isfinite(_f(r["derivative"]))
    assert r["warnings"]
    r = engine.taylor(expression="log(t)", point={"t": 0.0}, order=3)
    assert not all(np.isfinite(_f(c["coefficient"])) for c in r["coefficients"])
    assert any("coefficients" in w for w in r["warnings"])


# --- limits and input errors ------------------------------------------------------------------

@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any Taylor propagation or interpolation fail loudly: limits must be checked first."""
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started before the limit check")
    monkeypatch.setattr(higher_order, "propagate_bounded", boom)
    monkeypatch.setattr(higher_order, "weights", boom)


@pytest.mark.usefixtures("no_work")
def test_order_above_max_order_is_a_limit_error_before_any_work() -> None:
    limits = Limits(max_order=50)
    with pytest.raises(LimitError, match="max_order") as err:
        engine.derivative(expression="sin(t**3)", point={"t": 1.0}, variable="t", order=51,
                          limits=limits)
    assert err.value.limit == "max_order"
    assert err.value.value == 50
    assert err.value.actual == 51
    with pytest.raises(LimitError, match="max_order"):
        engine.plan("derivative", expression="sin(t)", point={"t": 1.0}, variable="t",
                    order=51, limits=limits)
    with pytest.raises(LimitError, match="max_order"):
        engine.derivative(expression="sin(t)", point={"t": 1.0}, wrt=["t"] * 51, limits=limits)
    with pytest.raises(LimitError, match="max_order"):
        engine.taylor(expression="sin(t)", point={"t": 1.0}, order=51, limits=limits)
    # an absurd order under the default limits is refused at once, without allocating
    with pytest.raises(LimitError, match="max_order"):
        engine.derivative(expression="sin(t)", point={"t": 1.0}, variable="t", order=10**15)


def test_order_at_max_order_is_allowed() -> None:
    r = engine.derivative(expression="sin(t)", point={"t": 1.0}, variable="t", order=50,
                          limits=Limits(max_order=50))
    assert _f(r["derivative"]) == pytest.approx(-math.sin(1.0), rel=1e-13)  # sin(1 + 25π)


@pytest.mark.usefixtures("no_work")
def test_wrt_longer_than_max_mixed_order_is_a_limit_error_before_any_work() -> None:
    limits = Limits(max_mixed_order=5)
    with pytest.raises(LimitError, match="max_mixed_order") as err:
        engine.derivative(expression="x*y", point={"x": 1.0, "y": 2.0},
                          wrt=["x", "y", "x", "y", "x", "y"], limits=limits)
    assert err.value.limit == "max_mixed_order"
    assert err.value.value == 5
    with pytest.raises(LimitError, match="max_mixed_order"):
        engine.taylor(expression="x*y", point={"x": 1.0, "y": 2.0}, order=6, limits=limits)


@pytest.mark.usefixtures("no_work")
def test_taylor_with_too_many_coefficients_names_max_coefficients() -> None:
    limits = Limits(max_coefficients=10)
    with pytest.raises(LimitError, match="max_coefficients") as err:
        engine.taylor(expression="x*y*z", point={"x": 1.0, "y": 1.0, "z": 1.0}, order=3,
                      limits=limits)
    assert err.value.limit == "max_coefficients"
    assert err.value.actual == math.comb(3 + 3, 3)


def test_taylor_at_max_coefficients_is_allowed() -> None:
    r = engine.taylor(expression="x*y*z", point={"x": 1.0, "y": 1.0, "z": 1.0}, order=2,
                      limits=Limits(max_coefficients=10))
    assert len(r["coefficients"]) == 10


@pytest.mark.parametrize("order", [-1, -1000, True, False])
def test_negative_or_boolean_order_is_an_input_error(order: object) -> None:
    with pytest.raises(InputError, match="order"):
        engine.derivative(expression="sin(t)", point={"t": 1.0}, variable="t", order=order)
    with pytest.raises(InputError, match="order"):
        engine.taylor(expression="sin(t)", point={"t": 1.0}, order=order)


@pytest.mark.parametrize("request_fields", [
    {"variable": "t"}, {"order": 2}, {}, {"variable": "t", "order": 2, "wrt": ["t"]},
    {"wrt": []}, {"wrt": "t"}, {"wrt": ["s"]}, {"variable": "s", "order": 1},
    {"wrt": ["v[3]"]},
])
def test_malformed_derivative_requests_are_input_errors(request_fields: dict) -> None:
    with pytest.raises(InputError):
        engine.derivative(expression="sin(t) + sum(v)", point={"t": 1.0, "v": [1.0, 2.0]},
                          **request_fields)


def test_all_orders_with_a_mixed_partial_is_an_input_error() -> None:
    with pytest.raises(InputError, match="all_orders"):
        engine.derivative(expression="x*y", point={"x": 1.0, "y": 2.0}, wrt=["x", "y"],
                          all_orders=True)


def test_many_distinct_wrt_entries_answer_promptly() -> None:
    """∂^20 over 20 distinct entries is within the default max_mixed_order = 20: the engine must
    answer or refuse with a LimitError at once, not enumerate C(39, 19) ≈ 7e10 rays."""
    code = textwrap.dedent("""
        import engine
        from engine.errors import LimitError
        wrt = [f"v[{i}]" for i in range(20)]
        try:
            r = engine.derivative(expression="prod(v)", point={"v": [1.0] * 20}, wrt=wrt)
            print("value", float(r["derivative"]))
        except LimitError as e:
            print("limit", e.limit)
    """)
    try:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, timeout=8, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("derivative with 20 distinct wrt entries did not answer within 8 s")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] in ("value", "limit")
    if out.stdout.startswith("value"):
        assert float(out.stdout.split()[1]) == pytest.approx(1.0, rel=1e-12)


def test_mixed_partial_over_the_interpolation_budget_names_a_real_limit() -> None:
    """∂^10 over 10 distinct entries (total order 10 ≤ max_mixed_order = 20): answered, or refused
    with a LimitError that states a configured limit and its actual value (API.md §4)."""
    wrt = [f"v[{i}]" for i in range(10)]
    try:
        r = engine.derivative(expression="prod(v)", point={"v": [1.0] * 10}, wrt=wrt)
    except LimitError as e:
        limits = engine.DEFAULT_LIMITS
        assert hasattr(limits, e.limit), e.limit
        assert e.value == getattr(limits, e.limit), (
            f"{e.limit} is {getattr(limits, e.limit)}, the error says {e.value}: {e}")
        assert e.actual is not None and e.actual > e.value, str(e)
    else:
        assert _f(r["derivative"]) == pytest.approx(1.0, rel=1e-12)
