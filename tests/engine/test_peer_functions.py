"""The functions the peers' test suites exercise, ported: value, gradient, Hessian and Taylor
coefficients to order 30, against mpmath at 50 digits, on the peers' own domains and points.

Sources of the cases (domains ``lims`` and how points are drawn in them):
JAX ``tests/jet_test.py`` (``unary_check``: a 2×3 array uniform in lims; floor, ceil, round on
[-2, 2], rsqrt on [0, 5000], logistic on [-100, 100], rem on [0.8, 4], clamp with all three
operands in [-1, 1]); autograd ``tests/test_systematic.py`` (``unary_ufunc_check``: the scalar
at 0.4 of lims, a 2-vector, 3×2 and 1×2 matrices uniform in lims; floor and ceil on
[-1.5, 1.5], mod with divisors in [0.8, 2.1], [-0.3, -2.0] and [0.3, 2.0], remainder
[-0.9, 0.9] by [0.7, 1.9], logaddexp, exp2, square, deg2rad, rad2deg on [-2, 2], the arc*
spellings), ``tests/test_scalar_ops.py`` (exp2 at |randn|, reciprocal at rand, sinc, deg2rad,
rad2deg at 10·rand, mod at (rand, rand)), ``tests/test_numpy.py`` (clip(x, 0.1, 1.1) of a 5×5
randn matrix), ``tests/test_scipy.py`` (logit on [0.1, 0.9], expit on [-4.05, 4.95]); TaylorDiff.jl
``test/primitive.jl`` (exp2 and inv at 3.7, orders 1 and 4; deg2rad and rad2deg at 1.9, order 2).

The references are mpmath's own functions at 50 digits and their derivatives by ``mp.diff`` /
``mp.taylor`` at that precision (never finite differences in float64, never the engine); the
piecewise functions use their closed forms, with integer parts from exact rational arithmetic.
Taylor tolerance as in test_taylor_rules.py: |got_k − ref_k| ≤ 1e-13·(k+1)·scale_k, scale_k the
largest |ref| among the coefficients k−1, k, k+1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import mpmath as mp
import numpy as np
import pytest

import engine
from engine.errors import ArityError, ExpressionError

DPS = 50
RTOL = 1e-12
ORDER = 30
TAYLOR_TOL = 1e-13

Mp = Callable[..., Any]


def close(actual: Any, expected: Any, rtol: float = RTOL) -> None:
    """Entrywise |a − e| ≤ rtol·(|e| + max|e|); infinities must match."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    finite = np.isfinite(expected)
    assert np.array_equal(actual[~finite], expected[~finite]), (actual, expected)
    scale = np.max(np.abs(expected[finite]), initial=0.0)
    err = np.abs(actual[finite] - expected[finite])
    assert np.all(err <= rtol * (np.abs(expected[finite]) + scale)), (actual, expected)


def series_close(got: Any, ref: Any) -> None:
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    mag = np.abs(ref)
    scale = np.maximum(mag, np.maximum(np.r_[0.0, mag[:-1]], np.r_[mag[1:], 0.0]))
    bound = TAYLOR_TOL * np.arange(1, len(ref) + 1) * scale
    err = np.abs(got - ref)
    assert np.all(err <= bound), f"worst k={int(np.argmax(err - bound))}: {got} vs {ref}"


def transform(lims: tuple[float, float], u: Any) -> np.ndarray:
    return np.asarray(u) * (lims[1] - lims[0]) + lims[0]


def autograd_points(lims: tuple[float, float], seed: int) -> np.ndarray:
    """unary_ufunc_check's inputs, flattened: the scalar at 0.4, then 2, 3×2 and 1×2 draws."""
    rng = np.random.default_rng(seed)
    draws = [np.array([0.4]), rng.random(2), rng.random(6), rng.random(2)]
    return transform(lims, np.concatenate(draws))


def jet_points(lims: tuple[float, float], seed: int) -> np.ndarray:
    """unary_check's input: a 2×3 array uniform in lims, flattened."""
    return transform(lims, np.random.default_rng(seed).random(6))


def _dps(x: float, decay: bool) -> int:
    """Working digits for numerical differentiation at x: 50, plus what a tiny |x| needs (its
    steps are absolute) and, with ``decay``, what derivatives of size exp(−|x|) need (expit
    at ±500)."""
    ax = abs(float(x))
    tiny = int(-math.log10(ax)) if 0 < ax < 1 else 0
    return DPS + tiny + (int(ax / 2.3) if decay else 0)


def mp_at(f: Mp, x: float, n: int = 0, decay: bool = False) -> float:
    """f⁽ⁿ⁾(x) at 50 digits, rounded to float64 (x taken exactly). mp.diff's own rounding
    (~1e-65 of the function's size at 50 digits) is an exact 0 of a linear function."""
    with mp.workdps(_dps(x, decay)):
        px = mp.mpf(float(x))
        if not n:
            return float(f(px))
        d = mp.diff(f, px, n)
        if n >= 2 and abs(d) < mp.mpf(10) ** -45 * (abs(f(px)) + abs(mp.diff(f, px))):
            return 0.0
        return float(d)


def mp_taylor(f: Mp, x: float, order: int = ORDER, decay: bool = False) -> np.ndarray:
    """Normalized coefficients to ``order``. mp.taylor differentiates numerically at the
    working precision, so that is raised until coefficients as small as x0**-30 (rsqrt at
    x0 ~ 5000) still have 50 digits."""
    with mp.workdps(_dps(x, decay) + 10 + int(order * math.log10(abs(x) + 1.0))):
        return np.array([float(c) for c in mp.taylor(f, mp.mpf(float(x)), order)])


def engine_taylor(expression: str, x: float, order: int = ORDER) -> np.ndarray:
    out = engine.taylor(expression=expression, point={"x": x}, order=order)
    return np.array([c["coefficient"] for c in out["coefficients"]])


# ---------------------------------------------------------------- smooth unary functions

def mp_sinc(x: Any) -> Any:
    return mp.sincpi(x)


def mp_logit(x: Any) -> Any:
    return mp.log(x / (1 - x))


def mp_expit(x: Any) -> Any:
    return 1 / (1 + mp.exp(-x))


# name -> (mpmath function, [(domain, points drawn as by which peer)])
SMOOTH: dict[str, tuple[Mp, list[tuple[tuple[float, float], str]]]] = {
    "square": (lambda x: x * x, [((-2.0, 2.0), "autograd")]),
    "np.square": (lambda x: x * x, [((-2.0, 2.0), "autograd")]),
    "rsqrt": (lambda x: 1 / mp.sqrt(x), [((0.0, 5000.0), "jet")]),
    "reciprocal": (lambda x: 1 / x, [((0.0, 1.0), "autograd")]),
    "exp2": (lambda x: mp.power(2, x), [((-2.0, 2.0), "autograd"), ((0.0, 2.5), "autograd")]),
    "logit": (mp_logit, [((0.1, 0.9), "autograd")]),
    "expit": (mp_expit, [((-4.05, 4.95), "autograd"), ((-100.0, 100.0), "jet"),
                         ((-500.0, 500.0), "jet")]),
    "sinc": (mp_sinc, [((0.0, 10.0), "autograd"), ((-2.0, 2.0), "autograd")]),
    "deg2rad": (lambda x: x * mp.pi / 180, [((-2.0, 2.0), "autograd"), ((0.0, 10.0), "autograd")]),
    "rad2deg": (lambda x: x * 180 / mp.pi, [((-2.0, 2.0), "autograd"), ((0.0, 10.0), "autograd")]),
    "radians": (lambda x: x * mp.pi / 180, [((-2.0, 2.0), "autograd")]),
    "degrees": (lambda x: x * 180 / mp.pi, [((-2.0, 2.0), "autograd")]),
    "np.arcsin": (mp.asin, [((-0.9, 0.9), "autograd")]),
    "np.arccos": (mp.acos, [((-0.9, 0.9), "autograd")]),
    "np.arctan": (mp.atan, [((-2.0, 2.0), "autograd")]),
    "np.arcsinh": (mp.asinh, [((-0.9, 0.9), "autograd")]),
    "np.arccosh": (mp.acosh, [((1.1, 4.0), "autograd")]),
    "np.arctanh": (mp.atanh, [((-0.9, 0.9), "autograd")]),
    "torch.arcsin": (mp.asin, [((-0.9, 0.9), "autograd")]),
    "numpy.absolute": (mp.fabs, [((0.1, 4.0), "autograd")]),
    "math.fabs": (mp.fabs, [((-2.0, 2.0), "autograd")]),
    "torch.logit": (mp_logit, [((0.1, 0.9), "autograd")]),
    "torch.sinc": (mp_sinc, [((-2.0, 2.0), "jet")]),
    "torch.exp2": (lambda x: mp.power(2, x), [((-2.0, 2.0), "jet")]),
    "torch.rsqrt": (lambda x: 1 / mp.sqrt(x), [((0.1, 5.0), "jet")]),
    "math.degrees": (lambda x: x * 180 / mp.pi, [((-2.0, 2.0), "autograd")]),
    "math.radians": (lambda x: x * mp.pi / 180, [((-2.0, 2.0), "autograd")]),
}

SMOOTH_CASES = [(name, lims, peer, seed) for name, (_, domains) in SMOOTH.items()
                for seed, (lims, peer) in enumerate(domains)]


def _points(lims: tuple[float, float], peer: str, seed: int) -> np.ndarray:
    pts = autograd_points(lims, seed) if peer == "autograd" else jet_points(lims, seed)
    return pts[pts != 0.0] if lims[0] == 0.0 else pts  # rsqrt/reciprocal: not the pole itself


@pytest.mark.parametrize(("name", "lims", "peer", "seed"), SMOOTH_CASES,
                         ids=[f"{n}-{lo}:{hi}" for n, (lo, hi), _, _ in SMOOTH_CASES])
def test_smooth_value_gradient_hessian(name: str, lims: tuple[float, float], peer: str,
                                       seed: int) -> None:
    f, _ = SMOOTH[name]
    v = _points(lims, peer, seed)
    decay = name == "expit"
    close(engine.evaluate(expression=f"{name}(v)", point={"v": v})["value"],
          [mp_at(f, x) for x in v])
    out = engine.hessian(expression=f"sum({name}(v))", point={"v": v})
    close(out["gradient"], [mp_at(f, x, 1, decay) for x in v])
    close(out["hessian"], np.diag([mp_at(f, x, 2, decay) for x in v]))


@pytest.mark.parametrize(("name", "lims", "peer", "seed"), SMOOTH_CASES,
                         ids=[f"{n}-{lo}:{hi}" for n, (lo, hi), _, _ in SMOOTH_CASES])
def test_smooth_taylor_to_order_30(name: str, lims: tuple[float, float], peer: str,
                                   seed: int) -> None:
    f, _ = SMOOTH[name]
    for x0 in _points(lims, peer, seed)[:3]:
        series_close(engine_taylor(f"{name}(x)", x0), mp_taylor(f, x0, decay=name == "expit"))


def test_taylordiff_primitive_cases() -> None:
    """TaylorDiff.jl test/primitive.jl: exp2 and inv at 3.7 (orders 1, 4), deg2rad and rad2deg
    at 1.9 (order 2: zero)."""
    cases: tuple[tuple[str, Mp], ...] = (("exp2(x)", lambda x: mp.power(2, x)),
                                         ("reciprocal(x)", lambda x: 1 / x))
    for expression, f in cases:
        for order in (1, 4):
            got = engine.derivative(expression=expression, point={"x": 3.7}, variable="x",
                                    order=order)["derivative"]
            close(got, mp_at(f, 3.7, order))
    for expression in ("deg2rad(x)", "rad2deg(x)"):
        assert engine.derivative(expression=expression, point={"x": 1.9}, variable="x",
                                 order=2)["derivative"] == 0.0


def test_exp2_is_exact_at_integers() -> None:
    assert engine.evaluate(expression="exp2(x)", point={"x": [10.0, -3.0, 0.0]})["value"].tolist() \
        == [1024.0, 0.125, 1.0]


# ---------------------------------------------------------------- sinc at and near 0

def test_sinc_at_zero_is_one_and_smooth() -> None:
    out = engine.hessian(expression="sinc(x)", point={"x": 0.0})
    assert out["value"] == 1.0 and out["gradient"].tolist() == [0.0]
    close(out["hessian"], [[-math.pi**2 / 3]])
    # sinc(x) = Σ (−1)^m (πx)^(2m)/(2m+1)!: exact coefficients at 0
    with mp.workdps(DPS):
        exact = [0.0 if k % 2 else float((-1) ** (k // 2) * mp.pi**k / mp.factorial(k + 1))
                 for k in range(ORDER + 1)]
    series_close(engine_taylor("sinc(x)", 0.0), exact)


@pytest.mark.parametrize("x0", [1e-300, -1e-12, 1e-8, 3e-5, -1e-3, 0.02, 0.5, 1.0, -3.0,
                                9.9, 10.9, -57.3, 1000.25, 1e6 + 0.5])
def test_sinc_near_zero_and_far(x0: float) -> None:
    """Near 0 (where the quotient form cancels), at integers (zeros), on both sides of where
    the coefficients switch from quadrature to the recurrence (|πx| = 33 for order 30), far."""
    out = engine.hessian(expression="sinc(x)", point={"x": x0})
    close(out["value"], mp_at(mp_sinc, x0))
    close(out["gradient"], [mp_at(mp_sinc, x0, 1)])
    close(out["hessian"], [[mp_at(mp_sinc, x0, 2)]])
    series_close(engine_taylor("sinc(x)", x0), mp_taylor(mp_sinc, x0))


@pytest.mark.parametrize("x0", [0.0, 1e-6, 0.37, -1.3])
def test_sinc_of_a_nonlinear_argument(x0: float) -> None:
    """sinc(x**2 + x): the coefficients composed with a non-linear inner series."""
    series_close(engine_taylor("sinc(x**2 + x)", x0, 24),
                 mp_taylor(lambda x: mp.sincpi(x * x + x), x0, 24))


def test_sinc_third_derivative_at_zero_and_in_a_batch() -> None:
    got = engine.derivative(expression="sinc(x)", point={"x": 0.0}, variable="x", order=4)
    close(got["derivative"], float(mp.pi**4 / 5))
    xs = np.linspace(-3.0, 3.0, 41)
    batch = engine.gradient(expression="sinc(x)", points={"x": xs.tolist()})
    close(batch["gradient"]["x"], [mp_at(mp_sinc, x, 1) for x in xs])


# ---------------------------------------------------------------- logaddexp

def mp_logaddexp(a: Any, b: Any) -> Any:
    return mp.log(mp.exp(a) + mp.exp(b))


def _binary_reference(f: Mp, a: float, b: float) -> tuple[float, list[float], list[list[float]]]:
    with mp.workdps(DPS):
        pa, pb = mp.mpf(a), mp.mpf(b)
        d = [[float(mp.diff(f, (pa, pb), (i, j))) for j in range(3)] for i in range(3)]
    return d[0][0], [d[1][0], d[0][1]], [[d[2][0], d[1][1]], [d[1][1], d[0][2]]]


def autograd_binary(lims_a: tuple[float, float], lims_b: tuple[float, float], seed: int,
                    same: bool = True) -> list[tuple[float, float]]:
    """binary_ufunc_check's pairs (scalar 0.6 for both; with ``same=False``, the
    no_same_args variant: 0.6 and 0.7), then 2-vector and 3×2 draws."""
    rng = np.random.default_rng(seed)
    ua = np.concatenate([[0.6], rng.random(8)])
    ub = np.concatenate([[0.6 if same else 0.7], ua[1:] if same else rng.random(8)])
    return list(zip(transform(lims_a, ua).tolist(), transform(lims_b, ub).tolist(),
                    strict=True))


LOGADDEXP_POINTS = [*autograd_binary((-2.0, 2.0), (-2.0, 2.0), 0),
                    *zip(jet_points((-2.0, 2.0), 1).tolist(), jet_points((-2.0, 2.0), 2).tolist(),
                         strict=True),
                    (0.5, 0.5), (30.0, -30.0), (-700.0, -701.5)]


@pytest.mark.parametrize(("a", "b"), LOGADDEXP_POINTS)
def test_logaddexp(a: float, b: float) -> None:
    value, grad, hess = _binary_reference(mp_logaddexp, a, b)
    for spelling in ("logaddexp(a, b)", "np.logaddexp(a, b)", "torch.logaddexp(a, b)"):
        out = engine.hessian(expression=spelling, point={"a": a, "b": b})
        close(out["value"], value)
        close(out["gradient"], grad)
        close(out["hessian"], hess)


@pytest.mark.parametrize(("a", "b"), [*LOGADDEXP_POINTS[:6], (0.5, 0.5), (-700.0, -701.5)])
def test_logaddexp_taylor_along_a_direction(a: float, b: float) -> None:
    """t -> logaddexp(a + 0.7t, b − 1.3t): both operand series move."""
    got = engine.taylor(expression="logaddexp(a + 0.7*t, b - 1.3*t)", point={"t": 0.0},
                        constants={"a": a, "b": b}, order=ORDER)
    ref = mp_taylor(lambda t: mp_logaddexp(a + mp.mpf(0.7) * t, b - mp.mpf(1.3) * t), 0.0)
    series_close([c["coefficient"] for c in got["coefficients"]], ref)


def test_logaddexp_is_stable() -> None:
    out = engine.gradient(expression="logaddexp(a, b)", point={"a": 1000.0, "b": 1000.0})
    close(out["value"], 1000.0 + math.log(2.0))
    close(out["gradient"]["a"], 0.5)
    out = engine.gradient(expression="logaddexp(a, b)", point={"a": -1e5, "b": 3.0})
    assert out["value"] == 3.0 and out["gradient"]["a"] == 0.0 and out["gradient"]["b"] == 1.0


def mp_logaddexp2(a: Any, b: Any) -> Any:
    return mp.log(mp.power(2, a) + mp.power(2, b), 2)


@pytest.mark.parametrize(("a", "b"), LOGADDEXP_POINTS)
def test_logaddexp2(a: float, b: float) -> None:
    """autograd's test_logaddexp2 (binary_ufunc_check on [-2, 2]), jet's points, the far ends."""
    value, grad, hess = _binary_reference(mp_logaddexp2, a, b)
    for spelling in ("logaddexp2(a, b)", "np.logaddexp2(a, b)"):
        out = engine.hessian(expression=spelling, point={"a": a, "b": b})
        close(out["value"], value)
        close(out["gradient"], grad)
        close(out["hessian"], hess)
    got = engine.taylor(expression="logaddexp2(a + 0.7*t, b - 1.3*t)", point={"t": 0.0},
                        constants={"a": a, "b": b}, order=ORDER)
    ref = mp_taylor(lambda t: mp_logaddexp2(a + mp.mpf(0.7) * t, b - mp.mpf(1.3) * t), 0.0)
    series_close([c["coefficient"] for c in got["coefficients"]], ref)


# ---------------------------------------------------------------- NumPy's ufunc names

UFUNCS: dict[str, tuple[Mp, tuple[float, float], tuple[float, float]]] = {
    "np.add": (lambda a, b: a + b, (-2.0, 2.0), (-2.0, 2.0)),
    "np.subtract": (lambda a, b: a - b, (-2.0, 2.0), (-2.0, 2.0)),
    "np.multiply": (lambda a, b: a * b, (-2.0, 2.0), (-2.0, 2.0)),
    "np.divide": (lambda a, b: a / b, (-2.0, 2.0), (0.3, 2.0)),
    "np.true_divide": (lambda a, b: a / b, (-2.0, 2.0), (-0.3, -2.0)),
    "np.float_power": (lambda a, b: mp.power(a, b), (0.7, 2.0), (-2.0, 2.0)),
}


@pytest.mark.parametrize("name", UFUNCS)
def test_numpy_ufunc_names_of_the_operators(name: str) -> None:
    """autograd's test_add, test_true_divide(_neg), test_op_* and test_op_pow domains."""
    f, lims_a, lims_b = UFUNCS[name]
    for seed, (a, b) in enumerate(autograd_binary(lims_a, lims_b, 11)):
        value, grad, hess = _binary_reference(f, a, b)
        out = engine.hessian(expression=f"{name}(a, b)", point={"a": a, "b": b})
        close(out["value"], value)
        close(out["gradient"], grad)
        close(out["hessian"], hess)
        if seed < 2:
            series_close(engine_taylor(f"{name}(x, {b!r})", a),
                         mp_taylor(lambda x, b=b: f(x, mp.mpf(b)), a))


def test_negative_and_positive() -> None:
    v = jet_points((-2.0, 2.0), 4)
    out = engine.jacobian(expression="np.negative(v) + 2*np.positive(v)", point={"v": v})
    close(out["value"], v)
    close(out["jacobian"], np.eye(6))


def _extremum_reference(pick: Callable[[Any, Any], Any], a: np.ndarray, b: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value, and the gradients of sum(w*pick(a, b)) for weights w: each output goes to the
    operand it took (no ties among random draws), summed over the axes it was broadcast along."""
    value = pick(a, b)
    w = np.arange(1.0, value.size + 1).reshape(value.shape)
    took_a = np.broadcast_to(a, value.shape) == value
    grad_a = np.where(took_a, w, 0.0)
    grad_b = np.where(took_a, 0.0, w)
    return value, _sum_to(grad_a, a.shape), _sum_to(grad_b, b.shape)


def _sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    g = g.sum(axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)


MAXIMUM_SHAPES = [(1,), (1, 4), (3, 4)]


@pytest.mark.parametrize("name", ["maximum", "minimum", "fmax", "fmin"])
@pytest.mark.parametrize("shape_a", MAXIMUM_SHAPES, ids=str)
@pytest.mark.parametrize("shape_b", MAXIMUM_SHAPES, ids=str)
def test_maximum_and_minimum_broadcast(name: str, shape_a: tuple[int, ...],
                                       shape_b: tuple[int, ...]) -> None:
    """autograd's test_maximum/test_minimum: every pair of the shapes (1,), (1, 4), (3, 4)."""
    rng = np.random.default_rng(len(shape_a) * 7 + len(shape_b))
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    pick = np.maximum if name in ("maximum", "fmax") else np.minimum
    value, grad_a, grad_b = _extremum_reference(pick, a, b)
    w = np.arange(1.0, value.size + 1).reshape(value.shape)
    out = engine.gradient(expression=f"sum(w * np.{name}(a, b))",
                          point={"a": a.tolist(), "b": b.tolist()}, constants={"w": w.tolist()})
    close(out["value"], float(np.sum(w * value)))
    close(out["gradient"]["a"], grad_a)
    close(out["gradient"]["b"], grad_b)


@pytest.mark.parametrize("name", ["maximum", "minimum", "fmax", "fmin"])
def test_maximum_and_minimum_split_a_tie(name: str) -> None:
    out = engine.hessian(expression=f"{name}(a, b)", point={"a": 0.25, "b": 0.25})
    assert out["value"] == 0.25
    close(out["gradient"], [0.5, 0.5])
    close(out["hessian"], np.zeros((2, 2)))


@pytest.mark.parametrize(("name", "ref"), [("fmax", np.fmax), ("fmin", np.fmin),
                                           ("maximum", np.maximum), ("minimum", np.minimum)])
def test_fmax_and_fmin_take_the_operand_that_is_not_nan(name: str, ref: Mp) -> None:
    """log of a negative number is NaN: fmax/fmin take the other operand and its derivative
    (NumPy's values); maximum/minimum propagate the NaN."""
    for a, b in ((-1.0, 2.0), (3.0, -1.0), (2.0, 3.0)):
        out = engine.gradient(expression=f"{name}(log(a), log(b))", point={"a": a, "b": b})
        with np.errstate(invalid="ignore"):
            want = ref(np.log(a), np.log(b))
        assert np.array_equal(np.float64(out["value"]), want, equal_nan=True)
        if not np.isnan(want):
            takes_a = want == math.log(a) if a > 0 else False
            close([out["gradient"]["a"], out["gradient"]["b"]],
                  [1 / a if takes_a else 0.0, 0.0 if takes_a else 1 / b])


# ---------------------------------------------------------------- trace, logsumexp's weights

@pytest.mark.parametrize("shape", [(5, 5), (4, 5), (5, 4)], ids=str)
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_trace_with_offset(shape: tuple[int, int], offset: int) -> None:
    """autograd's test_trace: square and oblong matrices, offsets -1, 0 and 1."""
    m = np.random.default_rng(shape[0] * 10 + shape[1]).standard_normal(shape)
    for spelling in (f"trace(M, offset={offset})", f"np.trace(M, {offset})"):
        out = engine.hessian(expression=spelling, point={"M": m.tolist()})
        close(out["value"], float(sum(m[i, i + offset] for i in range(shape[0])
                                      if 0 <= i + offset < shape[1])))
        close(np.reshape(out["gradient"], shape), np.eye(*shape, k=offset))
        assert not np.any(out["hessian"])


@pytest.mark.parametrize("offset", [-5, -2, 0, 3, 5])
def test_trace_of_a_tensor_sums_the_first_two_axes(offset: int) -> None:
    """autograd's test_trace_extradims: a 5×6×4×3 tensor, offsets in [-5, 6): shape (4, 3)."""
    x = np.random.default_rng(offset + 10).standard_normal((5, 6, 4, 3))
    weights = np.arange(1.0, 13.0).reshape(4, 3)
    out = engine.gradient(expression=f"sum(w * np.trace(x, offset={offset}))",
                          point={"x": x.tolist()}, constants={"w": weights.tolist()})
    close(out["value"], float(np.sum(weights * np.trace(x, offset=offset))))
    want = np.zeros_like(x)
    for i in range(5):
        if 0 <= i + offset < 6:
            want[i, i + offset] = weights
    close(out["gradient"]["x"], want)


def mp_weighted_logsumexp(a: list[float], b: list[float]) -> tuple[float, list[float],
                                                                   list[float], list[list[float]]]:
    """log Σ b·exp(a), its gradients in a and in b, and its Hessian in a, at 50 digits."""
    with mp.workdps(DPS):
        e = [mp.mpf(bi) * mp.exp(ai) for ai, bi in zip(a, b, strict=True)]
        s = mp.fsum(e)
        p = [ei / s for ei in e]
        in_b = [mp.exp(ai) / s for ai in a]
        hess = [[float((p[i] if i == j else 0) - p[i] * p[j]) for j in range(len(a))]
                for i in range(len(a))]
        return float(mp.log(s)), [float(x) for x in p], [float(x) for x in in_b], hess


@pytest.mark.parametrize(("a", "b"), [
    ([1.0, 2.0, -0.5], [0.5, 0.0, 2.0]),
    (list(np.linspace(-3.0, 4.0, 7)), list(np.linspace(3.0, 0.25, 7))),
    ([1000.0, 1000.5, 999.0], [1.0, 2.0, 3.0]),        # overflow without the shift
    ([-1000.0, -1001.0], [0.1, 10.0])])
def test_logsumexp_with_weights(a: list[float], b: list[float]) -> None:
    """scipy's logsumexp(a, b=b): value and gradients in a and b, Hessian in a, against mpmath."""
    value, in_a, in_b, hess = mp_weighted_logsumexp(a, b)
    out = engine.gradient(expression="logsumexp(a, b=b)", point={"a": a, "b": b})
    close(out["value"], value)
    close(out["gradient"]["a"], in_a)
    close(out["gradient"]["b"], in_b)
    out = engine.hessian(expression="logsumexp(a, None, w)", point={"a": a},
                         constants={"w": b})
    close(out["hessian"], hess)


def test_logsumexp_weights_broadcast_along_an_axis() -> None:
    m = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -2.0]])
    w = np.array([0.25, 1.0, 3.0])
    out = engine.evaluate(expression="logsumexp(M, axis=1, b=w, keepdims=True)",
                          point={"M": m.tolist(), "w": w.tolist()})
    want = [[mp_weighted_logsumexp(list(row), list(w))[0]] for row in m]
    close(out["value"], want)
    with np.errstate(invalid="ignore"):
        negative = engine.evaluate(expression="logsumexp(v, b=w)",
                                   point={"v": [0.0, 1.0], "w": [1.0, -3.0]})
    assert np.isnan(negative["value"]) and negative["warnings"]


# ---------------------------------------------------------------- logit, expit edges

def test_logit_near_one_half_and_at_the_ends() -> None:
    for x in (0.5, 0.5 + 2**-40, 0.3, 0.65, 1e-10, 1 - 2**-30):
        close(engine.evaluate(expression="logit(x)", point={"x": x})["value"], mp_at(mp_logit, x))
    assert engine.evaluate(expression="logit(x)", point={"x": [0.0, 1.0]})["value"].tolist() \
        == [-math.inf, math.inf]


def test_rsqrt_and_reciprocal_at_zero() -> None:
    """As torch.rsqrt and torch.reciprocal: inf at +0, and a derivative of -inf."""
    for expression in ("rsqrt(x)", "reciprocal(x)"):
        out = engine.gradient(expression=expression, point={"x": 0.0})
        assert out["value"] == math.inf and out["gradient"]["x"] == -math.inf


# ---------------------------------------------------------------- piecewise: rounding

def _exact(x: float) -> Fraction:
    return Fraction(x)


ROUNDING_POINTS = sorted({*autograd_points((-1.5, 1.5), 3).tolist(),
                          *jet_points((-2.0, 2.0), 4).tolist(),
                          -2.0, -1.5, -0.5, -0.0, 0.5, 1.0, 1.5, 2.5, 3.5})
ROUNDING = {"floor": math.floor, "ceil": math.ceil, "round": round,
            "np.floor": math.floor, "torch.ceil": math.ceil, "math.floor": math.floor,
            "np.round": round}
"""Python's round of a Fraction is exact and rounds halves to even, as NumPy's."""


@pytest.mark.parametrize("name", ROUNDING)
def test_rounding_values_and_zero_derivatives_also_at_jumps(name: str) -> None:
    ref = ROUNDING[name]
    v = np.array(ROUNDING_POINTS)
    want = [float(ref(_exact(x))) for x in v]
    assert engine.evaluate(expression=f"{name}(v)", point={"v": v})["value"].tolist() == want
    out = engine.hessian(expression=f"sum({name}(v) * v)", point={"v": v})
    close(out["gradient"], want)  # d/dv (n·v) = n: the rounded part contributes 0
    close(out["hessian"], 2 * np.zeros((len(v), len(v))))
    for x0 in (-1.5, 0.5, 1.0, 0.3):
        coeffs = engine_taylor(f"{name}(x)", x0)
        assert coeffs[0] == ref(_exact(x0)) and not coeffs[1:].any()


def test_round_half_to_even() -> None:
    got = engine.evaluate(expression="round(v)", point={"v": [0.5, 1.5, 2.5, -0.5, -2.5]})
    assert got["value"].tolist() == [0.0, 2.0, 2.0, -0.0, -2.0]


# ---------------------------------------------------------------- piecewise: mod and %

def _mod_reference(a: float, b: float) -> tuple[float, int]:
    """(a mod b, floor(a/b)) from exact rationals: Python's floor-mod, the sign of b."""
    q = math.floor(_exact(a) / _exact(b))
    return float(_exact(a) - q * _exact(b)), q


MOD_POINTS = [
    *autograd_binary((-2.0, 2.0), (0.8, 2.1), 5, same=False),     # test_mod
    *autograd_binary((-2.0, 2.0), (-0.3, -2.0), 6, same=False),   # test_mod_neg
    *autograd_binary((-2.0, 2.0), (0.3, 2.0), 7, same=False),     # test_op_mod
    *autograd_binary((-0.9, 0.9), (0.7, 1.9), 8, same=False),     # test_remainder
    *zip(jet_points((0.8, 4.0), 9).tolist(), jet_points((0.8, 4.0), 10).tolist(),
         strict=True),                                            # jet's rem
    *zip(np.random.default_rng(11).random(3).tolist(),
         np.random.default_rng(12).random(3).tolist(), strict=True),  # test_scalar_ops
]
JUMPS = [(1.4, 0.7), (1.0, 0.1), (-1.4, 0.7), (3.0, -1.5), (0.0, 2.0)]


@pytest.mark.parametrize("spelling", ["mod(a, b)", "a % b", "np.mod(a, b)", "np.remainder(a, b)",
                                      "torch.remainder(a, b)"])
def test_mod_value_gradient_hessian(spelling: str) -> None:
    for a, b in MOD_POINTS + JUMPS:
        value, q = _mod_reference(a, b)
        out = engine.hessian(expression=spelling, point={"a": a, "b": b})
        assert out["value"] == value, (a, b)
        assert out["gradient"].tolist() == [1.0, -float(q)], (a, b)
        assert not out["hessian"].any()


def test_mod_at_its_jumps_takes_the_piece_above() -> None:
    """At a = k·b the value is 0 and d/db = −k: the quotient of the piece the value is on."""
    out = engine.gradient(expression="a % b", point={"a": 1.4, "b": 0.7})
    assert out["value"] == 0.0 and out["gradient"]["b"] == -2.0
    # 0.1 is above 1/10, so 1 // 0.1 is 9 and 1 % 0.1 is 0.1 − 5.6e-17, as in Python
    out = engine.gradient(expression="a % b", point={"a": 1.0, "b": 0.1})
    assert out["value"] == 1.0 % 0.1 and out["gradient"]["b"] == -9.0


@pytest.mark.parametrize(("a", "b"), MOD_POINTS[:8] + JUMPS)
def test_mod_and_floor_divide_taylor(a: float, b: float) -> None:
    value, q = _mod_reference(a, b)
    got = engine.taylor(expression="(a + 0.7*t) % (b - 0.3*t) + t*floor_divide(a, b)",
                        point={"t": 0.0}, constants={"a": a, "b": b}, order=ORDER)
    coeffs = [c["coefficient"] for c in got["coefficients"]]
    assert coeffs[0] == value
    close(coeffs[1], 0.7 + 0.3 * q + q)
    assert not any(coeffs[2:])


def test_percent_has_the_precedence_of_multiplication() -> None:
    point = {"x": 7.5, "y": 2.0, "z": 3.0}
    cases = {"-x % y": (-7.5) % 2.0, "x % y * z": (7.5 % 2.0) * 3.0, "x * z % y": 22.5 % 2.0,
             "x + z % y": 7.5 + 1.0, "x ** 2 % z": 56.25 % 3.0, "x % y ** 2": 7.5 % 4.0,
             "x % -y": 7.5 % -2.0}
    for expression, want in cases.items():
        assert engine.evaluate(expression=expression, point=point)["value"] == want, expression


# ---------------------------------------------------------------- piecewise: clip

def _clip_reference(x: float, lo: float, hi: float) -> tuple[float, list[float]]:
    """NumPy's minimum(maximum(x, lo), hi) and which operand the result is (torch.clamp's
    gradient: x on the closed interval, the bound outside, hi when lo > hi)."""
    if lo > hi:
        return hi, [0.0, 0.0, 1.0]
    if x < lo:
        return lo, [0.0, 1.0, 0.0]
    if x > hi:
        return hi, [0.0, 0.0, 1.0]
    return x, [1.0, 0.0, 0.0]


def _jet_clamp_points() -> list[tuple[float, float, float]]:
    """jet_test.py test_clamp: min, x and max each a 2×3 draw in [-1, 1] (RandomState(0))."""
    rng = np.random.RandomState(0)
    lo, x, hi = (transform((-1.0, 1.0), rng.rand(6)) for _ in range(3))
    return list(zip(x.tolist(), lo.tolist(), hi.tolist(), strict=True))


CLIP_POINTS = [*_jet_clamp_points(), (0.3, 0.3, 1.0), (1.0, 0.3, 1.0), (0.5, 0.5, 0.5),
               (-2.0, 1.0, 0.0), (0.5, 1.0, 0.0), (2.0, 1.0, 0.0)]


@pytest.mark.parametrize("spelling", ["clip(x, lo, hi)", "np.clip(x, lo, hi)",
                                      "torch.clamp(x, lo, hi)"])
def test_clip_value_gradient_hessian(spelling: str) -> None:
    for x, lo, hi in CLIP_POINTS:
        value, grad = _clip_reference(x, lo, hi)
        out = engine.hessian(expression=spelling, point={"x": x, "lo": lo, "hi": hi})
        assert out["value"] == value and out["gradient"].tolist() == grad, (x, lo, hi)
        assert not out["hessian"].any()


def test_clip_of_a_matrix_as_autograd() -> None:
    """test_numpy.py test_clip: np.clip(x, a_min=0.1, a_max=1.1) of a 5×5 randn matrix."""
    m = np.random.default_rng(13).standard_normal((5, 5))
    inside = (m >= 0.1) & (m <= 1.1)
    for spelling in ("clip(M, 0.1, 1.1)", "np.clip(M, a_min=0.1, a_max=1.1)",
                     "np.clip(M, min=0.1, max=1.1)", "torch.clamp(M, min=0.1, max=1.1)"):
        out = engine.gradient(expression=f"sum({spelling} * M)", point={"M": m})
        close(out["gradient"]["M"], np.where(inside, 2 * m, np.clip(m, 0.1, 1.1)))


@pytest.mark.parametrize(("spelling", "lo", "hi"), [
    ("clip(M, 0.1, None)", 0.1, None), ("np.clip(M, None, 1.1)", None, 1.1),
    ("np.clip(M, min=0.1)", 0.1, None), ("np.clip(M, max=1.1)", None, 1.1),
    ("torch.clamp(M, 0.1)", 0.1, None), ("torch.clamp(M, max=1.1)", None, 1.1),
    ("clip(M, None, None)", None, None)])
def test_clip_with_one_bound(spelling: str, lo: float | None, hi: float | None) -> None:
    """A bound left out (None, or the keyword not given) is no bound, as np.clip; at the bound
    the derivative goes to the operand, as with both bounds."""
    m = np.array([[0.05, 0.1, 0.5], [1.1, 2.0, -3.0]])
    out = engine.jacobian(expression=spelling, point={"M": m})
    close(out["value"], np.clip(m, lo, hi))
    moves = np.ones_like(m, dtype=bool)
    if lo is not None:
        moves &= m >= lo
    if hi is not None:
        moves &= m <= hi
    close(out["jacobian"], np.diag(moves.ravel().astype(float)))


@pytest.mark.parametrize(("expression", "message"), [
    ("clip(M, 0.1)", "missing 'a_max'"), ("clip(M)", "missing 'a_min' and 'a_max'"),
    ("clip(M, 0.1, 1.1, min=0.0)", "not both"), ("torch.clamp(M)", "needs min or max")])
def test_clip_needs_its_bounds(expression: str, message: str) -> None:
    with pytest.raises(ArityError, match=message) as err:
        engine.evaluate(expression=expression, point={"M": [[0.5]]})
    assert err.value.column == 1


@pytest.mark.parametrize(("x", "lo", "hi"), CLIP_POINTS)
def test_clip_taylor_follows_the_chosen_operand(x: float, lo: float, hi: float) -> None:
    _, grad = _clip_reference(x, lo, hi)
    got = engine.taylor(expression="clip(x + t, lo - 2*t**2, hi + 3*t**3)", point={"t": 0.0},
                        constants={"x": x, "lo": lo, "hi": hi}, order=ORDER)
    coeffs = np.array([c["coefficient"] for c in got["coefficients"]])
    want = np.zeros(ORDER + 1)
    want[0] = _clip_reference(x, lo, hi)[0]
    want[1:4] = np.array([[1.0, 0.0, 0.0], [0.0, -2.0, 0.0], [0.0, 0.0, 3.0]]) @ grad
    assert coeffs.tolist() == want.tolist()


# ---------------------------------------------------------------- errors, table, formulas

@pytest.mark.parametrize(("expression", "column"), [
    ("clip(x, 1)", 1), ("  mod(x)", 3), ("x + sinc(x, x)", 5), ("logaddexp(x)", 1),
    ("floor(x, 2)", 1), ("np.round(x, 1)", 1), ("logit()", 1)])
def test_wrong_arity_is_positioned(expression: str, column: int) -> None:
    with pytest.raises(ArityError) as err:
        engine.evaluate(expression=expression, point={"x": 0.5})
    assert err.value.column == column


@pytest.mark.parametrize(("expression", "column"), [
    ("x %", 4), ("% x", 1), ("x %% 2", 4), ("math.remainder(x, 2)", 6)])
def test_percent_and_refused_spellings_are_parse_errors(expression: str, column: int) -> None:
    with pytest.raises(ExpressionError) as err:
        engine.evaluate(expression=expression, point={"x": 0.5})
    assert err.value.column == column


def test_the_function_table_states_the_conventions() -> None:
    table = {row["name"]: row for row in engine.functions_table()}
    names = ["floor", "ceil", "round", "mod", "remainder", "floor_divide", "clip", "clamp",
             "square", "rsqrt", "reciprocal", "exp2", "logit", "expit", "sinc", "deg2rad",
             "rad2deg", "radians", "degrees", "logaddexp", "arcsin", "arccos", "arctan",
             "arcsinh", "arccosh", "arctanh", "arctan2", "absolute", "fabs", "power"]
    assert set(names) <= set(table)
    for name in ("floor", "ceil", "round", "floor_divide"):
        assert "derivative 0" in table[name]["derivative_at_kinks"]
        assert "jumps" in table[name]["derivative_at_kinks"]
    assert "even" in table["round"]["description"]
    assert "round(0.5) = 0" in table["round"]["derivative_at_kinks"]
    assert "-floor_divide(a, b)" in table["mod"]["derivative_at_kinks"]
    assert "torch.clamp" in table["clip"]["derivative_at_kinks"]
    assert table["clip"]["description"].startswith("clip(a, a_min=<no value>, a_max=<no value>, *,"
                                                   " min=<no value>, max=<no value>)")
    assert table["logaddexp"]["arity"] == 2


def test_formulas_of_the_new_functions_parse_back_and_are_right() -> None:
    """The symbolic gradient, printed in our language, evaluated at a point against mpmath."""
    from engine.symbolic import differentiate

    out = differentiate(operation="gradient",
                        expression="sinc(x) + logaddexp(x, y) + x % y + logit(y/2)")
    x, y = 0.37, 1.3
    with mp.workdps(DPS):
        px, py = mp.mpf(x), mp.mpf(y)
        want_x = (mp.diff(mp_sinc, px) + mp.diff(lambda u: mp_logaddexp(u, py), px) + 1)
        q = math.floor(_exact(x) / _exact(y))
        want_y = (mp.diff(lambda u: mp_logaddexp(px, u), py) - q
                  + mp.diff(lambda u: mp_logit(u / 2), py))
    point = {"x": x, "y": y}
    close(engine.evaluate(expression=out["formulas"]["x"], point=point)["value"], float(want_x))
    close(engine.evaluate(expression=out["formulas"]["y"], point=point)["value"], float(want_y))
    hess = differentiate(operation="hessian", expression="sinc(x)")["formulas"][0][0]
    close(engine.evaluate(expression=hess, point={"x": 0.8})["value"], mp_at(mp_sinc, 0.8, 2))
    latex = differentiate(operation="gradient", expression="floor(x)*x + (x % y)**2")["latex"]
    assert r"\lfloor" in latex["x"] and r"\bmod" in latex["y"]


def test_sparse_hessian_patterns_follow_the_second_partials() -> None:
    point = {"v": [1.0, 2.0], "w": [3.0, 4.0]}
    full = engine.sparsity(expression="sum(logaddexp(v, w))", point=point, of="hessian")
    assert sorted(zip(full["rows"].tolist(), full["cols"].tolist(), strict=True)) == [
        (0, 0), (0, 2), (1, 1), (1, 3), (2, 0), (2, 2), (3, 1), (3, 3)]
    empty = engine.sparsity(expression="sum(v % w + clip(v, w, 3) + floor(v))", point=point,
                            of="hessian")
    assert empty["nnz"] == 0


@pytest.mark.parametrize(("n", "x0"), [(1, 0.0), (2, 0.0), (1, 1e-7), (2, 0.83), (3, -4.2),
                                       (2, 40.5)])
def test_taylor_rule_of_the_derivative_nodes(n: int, x0: float) -> None:
    """The node sinc⁽ⁿ⁾ that gradients and Hessians contain, on the series x0 + t: its j-th
    coefficient is (n+j)!/j! times the (n+j)-th coefficient of sinc (mpmath's)."""
    from engine.ir.ops import PRIMITIVES

    x = np.zeros(ORDER + 1)
    x[0], x[1] = x0, 1.0
    got = PRIMITIVES["sinc"].taylor((n,))(x)
    ref = mp_taylor(mp_sinc, x0, ORDER + n)
    want = [ref[n + j] * math.factorial(n + j) / math.factorial(j) for j in range(ORDER + 1)]
    series_close(got, want)


@pytest.mark.parametrize(("x0", "n"), [(0.3, 150), (0.3, 300), (-7.7, 200), (0.0, 120)])
def test_sinc_high_derivatives(x0: float, n: int) -> None:
    """Orders whose normalized coefficients underflow (π^n/n! < 1e-308 past n ≈ 230): the
    engine's seed 2^k·t must reach the coefficients scaled, not as 0·inf. Reference:
    sinc⁽ⁿ⁾(x) = π^n ∫₀¹ s^n cos(πxs + nπ/2) ds by mpmath's tanh-sinh quadrature."""
    got = engine.derivative(expression="sinc(x)", point={"x": x0}, variable="x", order=n)
    with mp.workdps(DPS):
        px = mp.mpf(x0)
        want = mp.pi**n * mp.quad(lambda s: s**n * mp.cos(mp.pi * px * s + n * mp.pi / 2),
                                  mp.linspace(0, 1, 9))
    close(got["derivative"], float(want))
