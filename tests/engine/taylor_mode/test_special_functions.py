"""The special functions against mpmath at 40 digits, on the peers' own domains and points.

Domains are the ones the peers' suites test: autograd's ``tests/test_scipy.py`` (gamma, gammaln,
digamma, psi on [0.3, 2]; j0, j1, y0, y1, i0, i1 on [0.2, 20]; erfinv on [-0.95, 0.95],
erfcinv on [0.05, 1.95]; beta at R**2 + 1.1, polygamma(0, ·), jn(2, ·), yn(2, ·), iv at
R**2 + 1.3, iv's order from U(1, 50)) and JAX's ``tests/jet_test.py`` (erf_inv on (-1, 1),
order 3, a random input series). TaylorDiff.jl's ``test/`` has no special functions. Points
beyond theirs check the conventions: negative arguments of the gamma family, x = 0 for the
Bessel functions, poles.

References, all in mpmath and none from the engine:
* gamma family: ψ⁽ᵏ⁾(x0) = ``mpmath.psi(k, x0)``; Γ's coefficients are exp of lgamma's series,
  summed in mpmath; one point each through ``mpmath.taylor`` of ``mpmath.gamma``/``beta``;
* J_n, I_n of integer order: ``mpmath.taylor`` of ``besselj``/``besseli``; Y_n from the
  identity Y_n⁽ᵏ⁾ = 2⁻ᵏ Σ_j (−1)^j C(k, j) Y_(n−k+2j) in mpmath (``mpmath.taylor`` of
  ``bessely`` takes 35 s a point; the engine uses the Bessel equation instead), and I_v of
  autograd's real orders from I_v⁽ᵏ⁾ = 2⁻ᵏ Σ_j C(k, j) I_(v−k+2j) (``mpmath.taylor`` takes
  50 s there);
* erfinv/erfcinv: erf's derivatives at y0 = erfinv(x0) in closed form (Hermite polynomials),
  inverted as a power series in mpmath.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import mpmath as mp
import numpy as np
import pytest

import engine
from engine.errors import EngineError

DPS = 40
TAYLOR_DPS = 30
"""mpmath.taylor differentiates numerically at several times this precision: 30 digits keep
its cost down and still leave 14 digits beyond float64's."""
K = 30
VALUE_RTOL = 1e-12
RTOL_PER_ORDER = 1e-13
"""As in test_higher_order.py: |got_k − c_k| ≤ RTOL_PER_ORDER·(k+1)·max(|c_(k−1)|, |c_k|,
|c_(k+1)|) on the normalized coefficients c_k = f⁽ᵏ⁾(x0)/k!."""
COMPOSITE_SCALE = "the composition's term sizes"
"""For f(u(t)) with u not linear the chain rule sums terms c_j·(u − u0)ʲ much larger than
their result (lgamma(exp(t)) at −0.2: c_11 ≈ 5.6e−9 from terms near 1), so any float64 Taylor
mode loses digits there. Those cases are held to RTOL_PER_ORDER of Σ_j |c_j|·(|u − u0|ʲ)_k,
the size of what is summed, computed in mpmath alongside the reference."""

Coefficients = tuple[mp.mpf, ...]

_RNG = np.random.default_rng(1)
_R2 = tuple(float(v) for v in _RNG.standard_normal(4) ** 2)
"""autograd's R(4)**2 (seeded here)."""
_U_ORDERS = tuple(round(float(v), 3) for v in _RNG.uniform(1.0, 50.0, 2))
"""autograd's U(1.0, 50.0) orders of iv (seeded here)."""


def _grid(lo: float, hi: float, n: int = 4) -> tuple[float, ...]:
    return tuple(float(v) for v in np.linspace(lo, hi, n))


# ---------------------------------------------------------------- references in mpmath

def _psi_coefficients(n: int, x0: float) -> Coefficients:
    """ψ⁽ⁿ⁺ᵏ⁾(x0)/k!."""
    x = mp.mpf(x0)
    return tuple(mp.psi(n + k, x) / mp.factorial(k) for k in range(K + 1))


def _lgamma_coefficients(x0: float) -> Coefficients:
    x = mp.mpf(x0)
    return (mp.log(abs(mp.gamma(x))),
            *(mp.psi(k - 1, x) / mp.factorial(k) for k in range(1, K + 1)))


def _exp_of(c0: mp.mpf, z: Coefficients) -> Coefficients:
    """The series c0·exp(z − z_0) (y' = y·z'), in mpmath."""
    y = [c0]
    for k in range(1, K + 1):
        y.append(mp.fsum(j * z[j] * y[k - j] for j in range(1, k + 1)) / k)
    return tuple(y)


def _gamma_coefficients(x0: float) -> Coefficients:
    return _exp_of(mp.gamma(mp.mpf(x0)), _lgamma_coefficients(x0))


def _besselj(n: float) -> Callable[[float], Coefficients]:
    return lambda x0: tuple(mp.taylor(lambda t: mp.besselj(n, t), mp.mpf(x0), K))


def _besseli(n: float) -> Callable[[float], Coefficients]:
    return lambda x0: tuple(mp.taylor(lambda t: mp.besseli(n, t), mp.mpf(x0), K))


def _by_identity(f: Callable[[mp.mpf, mp.mpf], mp.mpf], n: float, sign: int
                 ) -> Callable[[float], Coefficients]:
    """f_n⁽ᵏ⁾(x0)/k! from f_n⁽ᵏ⁾ = 2⁻ᵏ Σ_j sign^j·C(k, j)·f_(n−k+2j) (Y, J: sign −1; I: +1)."""
    def coefficients(x0: float) -> Coefficients:
        x, v = mp.mpf(x0), mp.mpf(n)
        return tuple(mp.fsum(sign**j * mp.binomial(k, j) * f(v - k + 2 * j, x)
                             for j in range(k + 1)) / (2**k * mp.factorial(k))
                     for k in range(K + 1))
    return coefficients


def _bessely(n: float) -> Callable[[float], Coefficients]:
    return _by_identity(mp.bessely, n, -1)


def _inverse_erf(x0: float, complementary: bool) -> Coefficients:
    """Coefficients of erf⁻¹ (or erfc⁻¹) about x0 by reverting erf's series about y0."""
    target = mp.mpf(x0)
    y0 = mp.erfinv(1 - target) if complementary else mp.erfinv(target)
    # erf⁽ᵏ⁾(y) = (−1)^(k−1)·(2/√π)·H_(k−1)(y)·e^(−y²), k ≥ 1
    a = [mp.mpf(0)] + [(-1) ** (k - 1) * 2 / mp.sqrt(mp.pi) * mp.hermite(k - 1, y0)
                       * mp.exp(-y0 * y0) / mp.factorial(k) for k in range(1, K + 1)]
    if complementary:
        a = [-v for v in a]
    # find b with Σ a_k·b(s)^k = s: powers of b are kept as truncated series
    b = [mp.mpf(0)] * (K + 1)
    b[1] = 1 / a[1]
    for m in range(2, K + 1):
        power = list(b)  # b(s)^1, truncated at order m
        total = mp.mpf(0)
        for k in range(2, m + 1):
            power = [mp.fsum(power[i] * b[j - i] for i in range(j + 1)) for j in range(m + 1)]
            total += a[k] * power[m]
        b[m] = -total / a[1]
    return (y0, *b[1:])


def _erfinv(x0: float) -> Coefficients:
    return _inverse_erf(x0, complementary=False)


def _erfcinv(x0: float) -> Coefficients:
    return _inverse_erf(x0, complementary=True)


CASES: dict[str, tuple[Callable[[float], Coefficients], tuple[float, ...]]] = {
    "gamma(t)": (_gamma_coefficients, (*_grid(0.3, 2.0), -1.5, -3.2, 7.5)),
    "lgamma(t)": (_lgamma_coefficients, (*_grid(0.3, 2.0), -2.5, -0.3, 12.0)),
    "gammaln(t)": (_lgamma_coefficients, (0.7,)),
    "digamma(t)": (lambda x0: _psi_coefficients(0, x0), (*_grid(0.3, 2.0), -1.7, 30.0)),
    "psi(t)": (lambda x0: _psi_coefficients(0, x0), (1.3,)),
    "polygamma(0, t)": (lambda x0: _psi_coefficients(0, x0), tuple(r + 1.3 for r in _R2)),
    "polygamma(1, t)": (lambda x0: _psi_coefficients(1, x0), (0.5, 2.5, -0.5)),
    "polygamma(3, t)": (lambda x0: _psi_coefficients(3, x0), (3.5, -4.5)),
    "erfinv(t)": (_erfinv, (*_grid(-0.95, 0.95), 0.999)),
    "erfcinv(t)": (_erfcinv, (*_grid(0.05, 1.95), 1e-3)),
    "j0(t)": (_besselj(0), (*_grid(0.2, 20.0), 0.0, -3.0)),
    "j1(t)": (_besselj(1), (*_grid(0.2, 20.0), 0.0, -3.0)),
    "jv(2, t)": (_besselj(2), tuple(r + 1.3 for r in _R2)),
    "y0(t)": (_bessely(0), _grid(0.2, 20.0)),
    "y1(t)": (_bessely(1), _grid(0.2, 20.0)),
    "yv(2, t)": (_bessely(2), tuple(r + 1.3 for r in _R2)),
    "i0(t)": (_besseli(0), (*_grid(0.2, 20.0), 0.0, -2.0)),
    "i1(t)": (_besseli(1), (*_grid(0.2, 20.0), 0.0, -2.0)),
    "iv(3, t)": (_besseli(3), tuple(r + 1.3 for r in _R2)),
    f"iv({_U_ORDERS[0]}, t)": (_by_identity(mp.besseli, _U_ORDERS[0], 1), (_R2[0] + 1.3, 9.0)),
    f"iv({_U_ORDERS[1]}, t)": (_by_identity(mp.besseli, _U_ORDERS[1], 1), (_R2[1] + 1.3, 9.0)),
    "jv(2.5, t)": (_besselj(2.5), (0.7, 4.0)),
    "jn(2, t)": (_besselj(2), (_R2[2] + 1.3,)),
    "yv(1.5, t)": (_bessely(1.5), (0.7, 4.0)),
    "yn(2, t)": (_bessely(2), (_R2[3] + 1.3,)),
}
POINTS = [(e, x0) for e, (_, xs) in CASES.items() for x0 in xs]


@cache
def reference(expression: str, x0: float) -> Coefficients:
    with mp.workdps(DPS):
        return CASES[expression][0](x0)


def check_coefficients(got: list[float], ref: Coefficients, what: str,
                       terms: Coefficients | None = None) -> None:
    """The RTOL_PER_ORDER bound; ``terms`` widens each scale to the size of the terms summed
    (COMPOSITE_SCALE)."""
    for k, g in enumerate(got):
        window = ref[max(k - 1, 0):k + 2]
        scale = max(abs(c) for c in window)
        if terms is not None:
            scale = max(scale, terms[k])
        assert math.isfinite(g), f"{what}: c_{k} = {g}"
        err = abs(mp.mpf(g) - ref[k])
        assert err <= RTOL_PER_ORDER * (k + 1) * scale, (
            f"{what}: c_{k} = {g!r}, reference {mp.nstr(ref[k], 20)}, "
            f"error {mp.nstr(err / scale, 3)} of the scale")


def _close(got: float, want: mp.mpf, what: str) -> None:
    assert abs(mp.mpf(got) - want) <= VALUE_RTOL * abs(want), (
        f"{what}: {got!r} != {mp.nstr(want, 20)}")


@pytest.mark.parametrize(("expression", "x0"), POINTS)
def test_value_gradient_hessian(expression: str, x0: float) -> None:
    ref = reference(expression, x0)
    point = {"t": x0}
    h = engine.hessian(expression=expression, point=point)
    assert h["warnings"] == []
    _close(float(h["value"]), ref[0], "value")
    _close(float(h["gradient"][0]), ref[1], "gradient")
    _close(float(h["hessian"][0, 0]), 2 * ref[2], "hessian")
    g = engine.gradient(expression=expression, point=point)
    _close(float(g["gradient"]["t"]), ref[1], "reverse-mode gradient")


@pytest.mark.parametrize(("expression", "x0"), POINTS)
def test_taylor_coefficients_to_order_30(expression: str, x0: float) -> None:
    r = engine.taylor(expression=expression, point={"t": x0}, order=K)
    # These ops have no extended precision yet, and the generic error estimate is pessimistic
    # at a zero of the function (lgamma(2) = 0) and where it is steep: a warning may say so,
    # never anything else.
    assert all("extended precision not available" in w for w in r["warnings"]), r["warnings"]
    got = [float(c["coefficient"]) for c in r["coefficients"]]
    check_coefficients(got, reference(expression, x0), f"{expression} at {x0}")


# ---------------------------------------------------------------- mpmath.taylor directly

@pytest.mark.parametrize(("expression", "f", "x0"), [
    ("gamma(t)", mp.gamma, 1.1),
    ("beta(2.2, t)", lambda t: mp.beta(mp.mpf(2.2), t), -0.4),
])
def test_against_mpmath_taylor(expression: str, f: Callable[[mp.mpf], mp.mpf], x0: float
                               ) -> None:
    """Cross-checks the psi-based references above with mpmath's own differentiation (to order
    16: it costs seconds per order beyond)."""
    order = 16
    with mp.workdps(TAYLOR_DPS):
        ref = tuple(mp.taylor(f, mp.mpf(x0), order))
    r = engine.taylor(expression=expression, point={"t": x0}, order=order)
    check_coefficients([float(c["coefficient"]) for c in r["coefficients"]], ref, expression)


@pytest.mark.parametrize("ab", [(_R2[0] + 1.1, _R2[1] + 1.1), (_R2[2] + 1.1, _R2[3] + 1.1),
                                (0.4, 7.5), (-0.5, 2.25)])
def test_beta_gradient_and_hessian_in_both_arguments(ab: tuple[float, float]) -> None:
    a0, b0 = ab
    h = engine.hessian(expression="beta(a, b)", point={"a": a0, "b": b0})
    with mp.workdps(DPS):
        a, b = mp.mpf(a0), mp.mpf(b0)
        beta = mp.beta(a, b)
        da, db = mp.psi(0, a) - mp.psi(0, a + b), mp.psi(0, b) - mp.psi(0, a + b)
        grad = [beta * da, beta * db]
        cross = beta * (da * db - mp.psi(1, a + b))
        hess = [[beta * (da * da + mp.psi(1, a) - mp.psi(1, a + b)), cross],
                [cross, beta * (db * db + mp.psi(1, b) - mp.psi(1, a + b))]]
        _close(float(h["value"]), beta, "value")
        for i in range(2):
            _close(float(h["gradient"][i]), grad[i], f"gradient {i}")
            for j in range(2):
                _close(float(h["hessian"][i, j]), hess[i][j], f"hessian {i}{j}")


# ---------------------------------------------------------------- a general input series (JAX)

def _compose(outer: Coefficients, inner: Coefficients) -> Coefficients:
    """Σ_j outer_j·(u − u0)^j for the series u = inner, in mpmath."""
    order = len(inner) - 1
    h = [mp.mpf(0), *inner[1:]]
    out = [mp.mpf(0)] * (order + 1)
    power = [mp.mpf(1)] + [mp.mpf(0)] * order
    for j in range(order + 1):
        for m in range(order + 1):
            out[m] += outer[j] * power[m]
        power = [mp.fsum(power[i] * h[m - i] for i in range(m + 1)) for m in range(order + 1)]
    return tuple(out)


def _term_sizes(outer: Coefficients, inner: Coefficients) -> Coefficients:
    """Σ_j |outer_j|·(|u − u0|^j)_k: what the composition sums, in absolute value."""
    return _compose(tuple(abs(c) for c in outer), (inner[0], *(abs(c) for c in inner[1:])))


COMPOSITES: list[tuple[str, str, Callable[[mp.mpf], mp.mpf], float]] = [
    ("erfinv(0.3 + 0.5*t - 0.8*t**2 + 0.2*t**3)", "erfinv(t)",
     lambda t: mp.mpf(0.3) + mp.mpf(0.5) * t - mp.mpf(0.8) * t**2 + mp.mpf(0.2) * t**3, 0.0),
    ("j0(t**2 + t)", "j0(t)", lambda t: t**2 + t, 0.7),
    ("y1(t**2 + t)", "y1(t)", lambda t: t**2 + t, 0.7),
    ("i1(sin(t))", "i1(t)", mp.sin, 0.4),
    ("lgamma(exp(t))", "lgamma(t)", mp.exp, -0.2),
    ("gamma(sin(t) - 2)", "gamma(t)", lambda t: mp.sin(t) - 2, 0.7),
    ("polygamma(2, 1/t)", "polygamma(2, t)", lambda t: 1 / t, 0.6),
]


@pytest.mark.parametrize(("expression", "outer", "inner", "x0"), COMPOSITES,
                         ids=[c[0] for c in COMPOSITES])
def test_composite_series(expression: str, outer: str, inner: Callable[[mp.mpf], mp.mpf],
                          x0: float) -> None:
    """Inputs that are not x0 + t (JAX's jet checks erf_inv with random input terms): the
    outer function's coefficients about u0 (as above) composed in mpmath with the inner
    series (mpmath.taylor of an elementary function)."""
    order = 12
    with mp.workdps(DPS):
        u = tuple(mp.taylor(inner, mp.mpf(x0), order))
        c = _OUTER[outer](u[0])
        ref, terms = _compose(c, u), _term_sizes(c, u)
    r = engine.taylor(expression=expression, point={"t": x0}, order=order)
    check_coefficients([float(c["coefficient"]) for c in r["coefficients"]], ref, expression,
                       terms)


_OUTER: dict[str, Callable[[mp.mpf], Coefficients]] = {
    "erfinv(t)": _erfinv, "j0(t)": _besselj(0), "y1(t)": _bessely(1), "i1(t)": _besseli(1),
    "lgamma(t)": _lgamma_coefficients, "gamma(t)": _gamma_coefficients,
    "polygamma(2, t)": lambda u0: _psi_coefficients(2, u0),
}


# ---------------------------------------------------------------- conventions

def test_j1_at_zero_at_every_order() -> None:
    """j1'(0) = 1/2 through the graph rules, and the third derivative (forward over the
    Hessian) too: J_1''' (0) = −3/8."""
    h = engine.hessian(expression="j1(x)", point={"x": 0.0})
    assert float(h["gradient"][0]) == 0.5
    assert float(h["hessian"][0, 0]) == 0.0
    d = engine.derivative(expression="j1(x)", point={"x": 0.0}, variable="x", order=3)
    assert float(d["derivative"]) == pytest.approx(-0.375, rel=1e-15)
    g = engine.gradient(expression="i1(x) + j0(x)", point={"x": 0.0})
    assert float(g["gradient"]["x"]) == 0.5


@pytest.mark.parametrize(("expression", "x", "value"), [
    ("gamma(x)", 0.0, math.inf),
    ("gamma(x)", -2.0, math.nan),
    ("lgamma(x)", -3.0, math.inf),
    ("digamma(x)", 0.0, None),
    ("y0(x)", 0.0, -math.inf),
    ("y1(x)", -1.0, math.nan),
    ("erfinv(x)", 1.0, math.inf),
    ("erfinv(x)", 1.5, math.nan),
    ("erfcinv(x)", 0.0, math.inf),
])
def test_poles_and_domain_edges_are_non_finite_with_a_warning(expression: str, x: float,
                                                              value: float | None) -> None:
    r = engine.gradient(expression=expression, point={"x": x})
    assert r["warnings"], r
    v = float(r["value"])
    assert not math.isfinite(v)
    if value is not None:
        assert (math.isnan(v) and math.isnan(value)) or v == value


@pytest.mark.parametrize(("expression", "column"), [
    ("polygamma(x, t)", 1),
    ("1 + polygamma(1.5, t)", 5),
    ("polygamma(-1, t)", 1),
    ("t * jn(0.5, t)", 5),
    ("yv(t, 2)", 1),
])
def test_a_non_constant_or_non_integer_order_is_refused_at_its_call(expression: str,
                                                                      column: int) -> None:
    with pytest.raises(EngineError) as info:
        engine.gradient(expression=expression, point={"t": 1.2, "x": 1.0})
    err = info.value
    assert err.status == 422
    assert err.column == column
    assert "constant" in err.detail


def test_the_function_table_documents_them() -> None:
    rows = {row["name"]: row for row in engine.functions_table()}
    for name in ("gamma", "lgamma", "gammaln", "digamma", "psi", "polygamma", "beta", "erfinv",
                 "erfcinv", "j0", "j1", "jv", "jn", "y0", "y1", "yv", "yn", "i0", "i1", "iv"):
        assert name in rows, name
    assert "poles" in rows["gamma"]["domain"]
    assert "x > 0" in rows["y0"]["domain"]
    assert "[-1, 1]" in rows["erfinv"]["domain"]
    assert rows["polygamma"]["arity"] == 2 and "constant" in rows["polygamma"]["domain"]
    assert "real" in rows["jv"]["domain"] and "integer" in rows["jn"]["domain"]


@pytest.mark.parametrize("expression", list(CASES))
def test_short_series(expression: str) -> None:
    """Orders 0, 1 and 2 (series of one to three terms) give the same coefficients."""
    x0 = CASES[expression][1][-1]
    ref = reference(expression, x0)
    for order in range(3):
        r = engine.taylor(expression=expression, point={"t": x0}, order=order)
        check_coefficients([float(c["coefficient"]) for c in r["coefficients"]],
                           ref[:order + 1], f"{expression} to order {order}")


def test_composite_series_elementwise_on_a_vector() -> None:
    """Each entry of gamma(sin(v)) composes with its own point (the batch rest axis)."""
    points = [0.3, 0.7, 1.1]
    order = 10
    r = engine.taylor(expression="gamma(sin(v))", point={"v": points}, order=order)
    with mp.workdps(DPS):
        for i, x0 in enumerate(points):
            got = []
            for k in range(order + 1):
                powers = {f"v[{j}]": (k if j == i else 0) for j in range(len(points))}
                (entry,) = [c for c in r["coefficients"] if c["powers"] == powers]
                got.append(float(entry["coefficient"][i]))
            u = tuple(mp.taylor(mp.sin, mp.mpf(x0), order))
            outer = _gamma_coefficients(u[0])
            check_coefficients(got, _compose(outer, u), f"entry {i}", _term_sizes(outer, u))
