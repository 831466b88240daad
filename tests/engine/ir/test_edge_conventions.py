"""Derivatives at the edges, against independent references, by every operation.

Saturating functions (mpmath at 50 digits), powers and cube roots at 0 (the closed-form
one-sided limits), ``where`` over a singular branch, ``norm`` at the zero vector and ``det`` at
singular matrices (sympy's exact polynomial derivatives), ``x**y`` at a negative or zero base
(PyTorch's values, quoted), and cases ported from PyTorch's documented kink behaviour and
SciPy's ``rosen``/``rosen_der``/``rosen_hess``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from scipy.optimize import rosen, rosen_der, rosen_hess

import engine

mp.mp.dps = 50
INF = math.inf


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def first_and_second(expression: str, x: float) -> dict[str, tuple[float, float | None]]:
    """f'(x) and f''(x) of a one-variable expression by each operation (None: not computed)."""
    req: dict[str, Any] = {"expression": expression, "point": {"x": x}}
    hess = engine.hessian(**req)
    taylor = {c["powers"]["x"]: c["coefficient"]
              for c in engine.taylor(order=2, **req)["coefficients"]}
    return {
        "gradient": (float(engine.gradient(**req)["gradient"]["x"]), None),
        "vjp": (float(engine.vjp(cotangent=1.0, **req)["vjp"]["x"]), None),
        "jvp": (float(engine.jvp(tangent={"x": 1.0}, **req)["jvp"]), None),
        "hvp": (float(hess["gradient"][0]),
                float(engine.hvp(vector={"x": 1.0}, **req)["hvp"]["x"])),
        "hessian": (float(hess["gradient"][0]), float(hess["hessian"][0][0])),
        "derivative": (float(engine.derivative(variable="x", order=1, **req)["derivative"]),
                       float(engine.derivative(variable="x", order=2, **req)["derivative"])),
        "taylor": (float(taylor[1]), 2.0 * float(taylor[2])),
    }


def same(actual: float, expected: float, rtol: float = 1e-13) -> bool:
    if math.isnan(expected):
        return math.isnan(actual)
    if math.isinf(expected):
        return actual == expected
    return abs(actual - expected) <= rtol * abs(expected) or actual == expected


def assert_every_operation(expression: str, x: float, d1: float, d2: float,
                           rtol: float = 1e-13) -> None:
    for operation, (g, h) in first_and_second(expression, x).items():
        assert same(g, d1, rtol), (operation, "first", g, d1)
        if h is not None:
            assert same(h, d2, rtol), (operation, "second", h, d2)


# ---------------------------------------------------------------- saturation

def _tanh_derivatives(x: float) -> tuple[float, float]:
    u = mp.mpf(x)
    return float(1 / mp.cosh(u) ** 2), float(-2 * mp.tanh(u) / mp.cosh(u) ** 2)


def _sigmoid_derivatives(x: float) -> tuple[float, float]:
    u = mp.mpf(x)
    e = mp.exp(-abs(u))  # σ' = e/(1+e)² is even; written so 50 digits do not cancel
    slope = e / (1 + e) ** 2
    return float(slope), float(-slope * mp.tanh(u / 2))


@pytest.mark.parametrize("x", [48.81, -48.81, 300.0, 0.3, 1e-9])
def test_tanh_slope_does_not_flush(x: float) -> None:
    # 1 − tanh(48.81)² rounds to 0 in float64; the slope is 1.6078e-42 (mpmath)
    assert_every_operation("tanh(x)", x, *_tanh_derivatives(x), rtol=1e-12)


@pytest.mark.parametrize("x", [44.88, 600.0, -30.0, 0.7])
def test_sigmoid_slope_does_not_flush(x: float) -> None:
    # σ(44.88)·(1 − σ(44.88)) rounds to 0; the slope is 3.2275e-20 (mpmath)
    d1, d2 = _sigmoid_derivatives(x)
    assert_every_operation("sigmoid(x)", x, d1, d2, rtol=1e-12)


def test_softplus_second_derivative_at_saturation() -> None:
    d1, _ = _sigmoid_derivatives(44.88)
    assert float(engine.hessian(expression="softplus(x)", point={"x": 44.88})["hessian"][0][0]
                 ) == pytest.approx(d1, rel=1e-12)


def test_slopes_print_as_the_textbook_formulas() -> None:
    formulas = engine.differentiate(expression="tanh(x) + sigmoid(y)", operation="gradient",
                                    variables=["x", "y"])["formulas"]
    assert formulas == {"x": "1 - tanh(x)**2", "y": "sigmoid(y)*(1 - sigmoid(y))"}


# ---------------------------------------------------------------- powers at 0

@pytest.mark.parametrize("expression", ["sqrt(x)", "x**0.5"])
def test_square_root_at_zero(expression: str) -> None:
    # d/dx x^(1/2) = x^(−1/2)/2 → +inf and d²/dx² = −x^(−3/2)/4 → −inf as x → 0+
    assert_every_operation(expression, 0.0, INF, -INF)


def test_cube_root_at_zero() -> None:
    # cbrt' = x^(−2/3)/3 → +inf from both sides; cbrt'' = −(2/9)·x^(−5/3) has opposite
    # one-sided limits (−inf from the right, +inf from the left): NaN
    assert_every_operation("cbrt(x)", 0.0, INF, math.nan)


def test_three_halves_power_at_zero() -> None:
    # (3/2)·x^(1/2) → 0 and (3/4)·x^(−1/2) → +inf
    assert_every_operation("x**1.5", 0.0, 0.0, INF)


def test_cube_root_odd_orders_at_zero() -> None:
    # the third derivative (10/27)·x^(−8/3) → +inf from both sides
    got = engine.derivative(expression="cbrt(x)", point={"x": 0.0}, variable="x", order=3)
    assert got["derivative"] == INF


def test_log_at_zero() -> None:
    # log' = 1/x → +inf, log'' = −1/x² → −inf as x → 0+
    assert_every_operation("log(x)", 0.0, INF, -INF)


@pytest.mark.parametrize(("expression", "x", "d1", "d2"), [
    # asin' = (1 − x²)^(−1/2) → +inf at ±1; asin'' = x·(1 − x²)^(−3/2) → ±inf
    ("asin(x)", 1.0, INF, INF), ("asin(x)", -1.0, INF, -INF),
    ("acos(x)", 1.0, -INF, -INF), ("acos(x)", -1.0, -INF, INF),
    # acosh' = (x² − 1)^(−1/2) → +inf, acosh'' = −x·(x² − 1)^(−3/2) → −inf at 1
    ("acosh(x)", 1.0, INF, -INF),
])
def test_inverse_trigonometric_at_the_ends(expression: str, x: float, d1: float,
                                           d2: float) -> None:
    assert_every_operation(expression, x, d1, d2)


def test_a_variable_that_does_not_move_is_constant() -> None:
    # d²/dx² (sqrt(y) + x) = 0 at y = 0: the y term does not move along x
    got = engine.derivative(expression="sqrt(y) + x*log(y + 1)", point={"x": 1.0, "y": 0.0},
                            variable="x", order=2)
    assert got["derivative"] == 0.0


def test_a_tangent_of_zero_contributes_nothing() -> None:
    # f = sqrt(x) + y**2 at (0, 1): ∂f/∂y = 2y = 2 along (0, 1), although ∂f/∂x = +inf
    # meets the tangent 0 of x (PyTorch's and JAX's forward mode give 0·inf = NaN)
    req = {"expression": "sqrt(x) + y**2", "point": {"x": 0.0, "y": 1.0}}
    assert engine.jvp(tangent={"x": 0.0, "y": 1.0}, **req)["jvp"] == 2.0
    assert engine.jvp(tangent={"x": 1.0, "y": 0.0}, **req)["jvp"] == INF
    assert engine.jvp(tangent={"x": 0.0, "y": 1.0}, points={"x": [0.0, 4.0], "y": [1.0, 1.0]},
                      expression=req["expression"])["jvp"].tolist() == [2.0, 2.0]
    # the Jacobian by forward mode, column by column: each column moves one variable
    jac = engine.jacobian(expression="[sqrt(x) + y, y**2]", point={"x": 0.0, "y": 3.0})
    assert jac["jacobian"].tolist() == [[INF, 1.0], [0.0, 6.0]]


def test_mixed_partials_of_a_variable_with_an_infinite_partial_are_nan() -> None:
    # sqrt(x) + y**2 at (0, 1): ∂²f/∂x² = -x^(-3/2)/4 → -inf, ∂²f/∂y² = 2; ∂f/∂x is +inf, so
    # the mixed partials that differentiate it across y are undefined: NaN in both orders
    # (the Hessian stays symmetric), as from Taylor mode's interpolation
    req = {"expression": "sqrt(x) + y**2", "point": {"x": 0.0, "y": 1.0}}
    h = engine.hessian(**req)["hessian"]
    assert h[0][0] == -INF and h[1][1] == 2.0
    assert math.isnan(h[0][1]) and math.isnan(h[1][0])
    assert math.isnan(engine.derivative(wrt=["x", "y"], **req)["derivative"])
    coefficients = {tuple(c["powers"].values()): c["coefficient"]
                    for c in engine.taylor(order=2, **req)["coefficients"]}
    assert coefficients == pytest.approx({(0, 0): 1.0, (1, 0): INF, (0, 1): 2.0, (2, 0): -INF,
                                          (1, 1): math.nan, (0, 2): 1.0}, nan_ok=True)
    # the other point of the batch keeps its closed-form Hessian [[-1/4, 0], [0, 2]]
    both = engine.hessian(expression=req["expression"], points={"x": [0.0, 1.0], "y": [1.0, 1.0]})
    assert np.isnan(both["hessian"][0, 0, 1]) and both["hessian"][1].tolist() == [[-0.25, 0.0],
                                                                                   [0.0, 2.0]]


def test_a_sparse_hessian_keeps_its_structural_zeros() -> None:
    # the pattern of sqrt(x) + y**2 has no mixed entry: exactly 0 at every point, stored nowhere
    got = engine.hessian(expression="sqrt(x) + y**2", point={"x": 0.0, "y": 1.0}, sparse=True)
    assert got["hessian"]["rows"].tolist() == [0, 1] and got["hessian"]["cols"].tolist() == [0, 1]
    assert got["hessian"]["values"].tolist() == [-INF, 2.0]
    # a stored mixed entry follows the dense convention
    got = engine.hessian(expression="sqrt(x) + x*y", point={"x": 0.0, "y": 1.0}, sparse=True)
    h = dict(zip(zip(got["hessian"]["rows"].tolist(), got["hessian"]["cols"].tolist(),
                     strict=True), got["hessian"]["values"].tolist(), strict=True))
    assert h[(0, 0)] == -INF and math.isnan(h[(0, 1)]) and math.isnan(h[(1, 0)])


def test_a_constant_factor_keeps_the_limit() -> None:
    assert_every_operation("0.5*sqrt(x)", 0.0, INF, -INF)


# ---------------------------------------------------------------- where, norm

def test_where_follows_the_chosen_branch_through_an_infinite_partial() -> None:
    # the branch not taken is log(x), whose slope at 0 is infinite: it contributes 0
    assert_every_operation("where(x > 0, log(x), 0.0)", 0.0, 0.0, 0.0)
    assert_every_operation("where(x > 0, -2*log(x), x)", 0.0, 1.0, 0.0)
    assert_every_operation("where(x <= 0, 3*x, sqrt(log(x)))", 0.0, 3.0, 0.0)


def test_a_genuine_zero_times_infinity_stays_nan() -> None:
    # PyTorch: the gradient of 0 * sqrt(x) at 0 is 0 / (2·sqrt(0)) = NaN
    got = engine.gradient(expression="0*sqrt(x)", point={"x": 0.0})
    assert math.isnan(got["gradient"]["x"])


def test_vector_where_masks_entry_by_entry() -> None:
    got = engine.gradient(expression="sum(where(v > 0, log(v), 0.0))",
                          point={"v": [0.0, 2.0]})
    assert got["gradient"]["v"].tolist() == [0.0, 0.5]


def test_norm_at_the_zero_vector() -> None:
    # PyTorch's convention: the norm's derivative at 0 is 0 (its subgradient of least norm)
    assert_every_operation("norm([x, 0])", 0.0, 0.0, 0.0)


# ---------------------------------------------------------------- det at singular matrices

def _det_references(matrix: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    n = len(matrix)
    symbols = sp.symbols(f"a0:{n * n}")
    det = sp.Matrix(n, n, symbols).det()
    at = dict(zip(symbols, [sp.Rational(v) for row in matrix for v in row], strict=True))
    grad = np.array([float(sp.diff(det, s).subs(at)) for s in symbols])
    hess = np.array([[float(sp.diff(det, s, t).subs(at)) for t in symbols] for s in symbols])
    return grad, hess


@pytest.mark.parametrize("matrix", [
    [[1.0, 2.0], [2.0, 4.0]],
    [[0.0, 0.0], [0.0, 0.0]],
    [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]],
    [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
    [[1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0], [0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]],
    [[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]],
])
def test_det_derivatives_are_the_cofactors(matrix: list[list[float]]) -> None:
    grad, hess = _det_references(matrix)
    req: dict[str, Any] = {"expression": "det(M)", "point": {"M": matrix}}
    got = engine.hessian(**req)
    assert np.allclose(got["gradient"], grad, rtol=1e-13, atol=1e-13)
    assert np.allclose(got["hessian"], hess, rtol=1e-13, atol=1e-13)
    assert np.allclose(np.ravel(engine.gradient(**req)["gradient"]["M"]), grad, atol=1e-13)
    n = len(matrix)
    for k in range(n * n):
        entry = f"M[{k // n},{k % n}]"
        d1 = engine.derivative(variable=entry, order=1, **req)["derivative"]
        d2 = engine.derivative(variable=entry, order=2, **req)["derivative"]
        assert d1 == pytest.approx(grad[k], abs=1e-13)
        assert d2 == pytest.approx(hess[k, k], abs=1e-13)


def test_det_of_named_entries() -> None:
    # det([[x, y], [z, w]]) = xw − yz: gradient (w, −z, −y, x) at [[1, 2], [2, 4]]
    req: dict[str, Any] = {"expression": "det([[x, y], [z, w]])",
                           "point": {"x": 1.0, "y": 2.0, "z": 2.0, "w": 4.0}}
    got = engine.hessian(**req)
    assert got["gradient"].tolist() == [4.0, -2.0, -2.0, 1.0]
    assert np.array_equal(np.abs(got["hessian"]), np.rot90(np.eye(4)))
    assert got["hessian"][1][2] == got["hessian"][2][1] == -1.0
    assert engine.derivative(wrt=["x", "w"], **req)["derivative"] == pytest.approx(1.0)


# ---------------------------------------------------------------- x**y at a negative or zero base

def test_pow_at_a_negative_base_with_an_integer_exponent() -> None:
    # torch.autograd.functional.hessian(lambda x, y: x**y, (-2., 3.)): H_xx = 3·2·(−2) = −12;
    # the exponent's derivatives involve log(−2): NaN
    got = engine.hessian(expression="x**y", point={"x": -2.0, "y": 3.0})
    assert got["gradient"][0] == 12.0 and math.isnan(got["gradient"][1])
    assert got["hessian"][0][0] == -12.0
    assert math.isnan(got["hessian"][0][1]) and math.isnan(got["hessian"][1][0])
    assert engine.derivative(expression="x**y", point={"x": -2.0, "y": 3.0}, variable="x",
                             order=2)["derivative"] == -12.0


def test_pow_at_a_zero_base_is_symmetric() -> None:
    # ∂/∂y x**y at x = 0, y ≥ 0 is 0 (PyTorch's mask), and so is ∂²/∂y²; the mixed partial
    # x^(y−1)·(1 + y·log x) has no value at x = 0 (NaN, in both orders)
    got = engine.hessian(expression="x**y", point={"x": 0.0, "y": 0.5})
    h = got["hessian"]
    assert got["gradient"][0] == INF and got["gradient"][1] == 0.0
    assert math.isnan(h[0][1]) and math.isnan(h[1][0]) and h[1][1] == 0.0
    assert engine.derivative(expression="x**y", point={"x": 0.0, "y": 0.5}, variable="y",
                             order=2)["derivative"] == 0.0
    assert engine.derivative(expression="x**y", point={"x": 0.0, "y": 0.5}, variable="x",
                             order=2)["derivative"] == -INF


# ---------------------------------------------------------------- ported peer cases

@pytest.mark.parametrize(("expression", "point", "gradient"), [
    # PyTorch: abs'(0) = sign(0) = 0, relu'(0) = 0, max/min split a tie 0.5/0.5,
    # sqrt'(0) = +inf, clamp-like where picks the branch
    ("abs(x)", {"x": 0.0}, {"x": 0.0}),
    ("relu(x)", {"x": 0.0}, {"x": 0.0}),
    ("max(x, y)", {"x": 1.0, "y": 1.0}, {"x": 0.5, "y": 0.5}),
    ("min(x, y)", {"x": -2.0, "y": -2.0}, {"x": 0.5, "y": 0.5}),
    ("sqrt(x)", {"x": 0.0}, {"x": INF}),
    ("where(x > 1, 1.0, where(x < -1, -1.0, x))", {"x": 1.0}, {"x": 1.0}),
    ("norm(v)", {"v": [0.0, 0.0, 0.0]}, {"v": [0.0, 0.0, 0.0]}),
])
def test_pytorch_kink_behaviour(expression: str, point: dict[str, Any],
                                gradient: dict[str, Any]) -> None:
    got = engine.gradient(expression=expression, point=point)["gradient"]
    for name, value in gradient.items():
        assert np.array_equal(np.asarray(got[name]), np.asarray(value)), (name, got[name])


ROSEN = "sum(100*(v[1:] - v[:-1]**2)**2 + (1 - v[:-1])**2)"


@pytest.mark.parametrize("v", [[1.3, 0.7, 0.8, 1.9, 1.2], [1.0, 1.0, 1.0], [-1.2, 1.0],
                               [0.0, 0.0, 0.0, 0.0]])
def test_scipy_rosenbrock(v: list[float]) -> None:
    got = engine.hessian(expression=ROSEN, point={"v": v})
    assert got["value"] == pytest.approx(rosen(v), rel=1e-14, abs=1e-14)
    assert np.allclose(got["gradient"], rosen_der(v), rtol=1e-13, atol=1e-12)
    assert np.allclose(got["hessian"], rosen_hess(v), rtol=1e-13, atol=1e-12)
    for i in range(len(v)):
        d2 = engine.derivative(expression=ROSEN, point={"v": v}, variable=f"v[{i}]", order=2)
        assert d2["derivative"] == pytest.approx(rosen_hess(v)[i, i], rel=1e-13, abs=1e-12)
