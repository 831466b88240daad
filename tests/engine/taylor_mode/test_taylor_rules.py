"""Taylor-mode rules against mpmath at 50 digits (never against the module itself).

Every input is the series of a known polynomial in t; the reference is ``mpmath.taylor`` of the
composed function, whose normalized coefficients are exactly our convention.

Tolerance: |got_k − ref_k| ≤ 1e-13·(k+1)·scale_k, with scale_k the largest |ref| among the
coefficients k−1, k, k+1. A recurrence's rounding error is eps times the size of its terms, and
those are of the size of the neighbouring coefficients, so a coefficient that happens to sit near
a zero crossing is measured against its neighbours rather than against itself; (k+1) allows for
the k accumulated steps. Observed errors are mostly below eps·(k+1) and at worst ~50·eps·(k+1)
(pow through exp(y·log x), at two consecutive small coefficients); 1e-13 ≈ 450·eps leaves margin
for other BLAS/CPU rounding while still failing on any wrong term.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import mpmath as mp
import numpy as np
import pytest

from engine.taylor_mode import gathers
from engine.taylor_mode import propagation as taylor
from engine.taylor_mode.gathers import series_bilinear
from engine.taylor_mode.propagation import TAYLOR_RULES

K_MAX = 30
TOL = 1e-13
DPS = 50

# x(t) = x0 + 0.7 t + 0.2 t² − 0.1 t³; a second operand is y(t) = y0 − 0.3 t + 0.5 t² + 0.25 t³
X_TAIL = (0.7, 0.2, -0.1)
Y_TAIL = (-0.3, 0.5, 0.25)


def seed(x0: float, tail: tuple[float, ...] = X_TAIL, order: int = K_MAX) -> np.ndarray:
    """The series (order+1,) of x0 + tail[0]·t + tail[1]·t² + …, truncated at ``order``."""
    s = np.zeros(order + 1)
    s[0] = x0
    s[1:len(tail) + 1] = tail[:order]
    return s


def poly(x0: float, tail: tuple[float, ...]) -> Callable[[mp.mpf], mp.mpf]:
    coeffs = [mp.mpf(x0), *map(mp.mpf, tail)]
    return lambda t: mp.fsum(c * t**i for i, c in enumerate(coeffs))


def reference(f: Callable[..., mp.mpf], *args: Callable[[mp.mpf], mp.mpf],
              order: int = K_MAX + 1) -> np.ndarray:
    """The normalized Taylor coefficients at t = 0 of f(args[0](t), …), to 50 digits."""
    with mp.workdps(DPS):
        coeffs = mp.taylor(lambda t: f(*(g(t) for g in args)), 0, order)
    return np.array([float(c) for c in coeffs])


def assert_series_close(got: np.ndarray, ref: np.ndarray, floor: float = 0.0) -> None:
    """Check ``got`` (K+1 terms, any rest) against ``ref`` (at least K+1 terms) as described above.

    ``floor`` bounds the scale from below where the exact coefficients vanish (e.g. past the degree
    of a polynomial), so that rounding noise of the earlier terms' size is accepted.
    """
    n = len(got)
    mag = np.abs(ref[:n + 1])
    pad = np.zeros((1, *mag.shape[1:]))
    scale = np.maximum(mag, np.maximum(np.concatenate([pad, mag[:-1]]),
                                       np.concatenate([mag[1:], pad])))[:n]
    scale = np.maximum(scale, floor)
    err = np.abs(got - ref[:n])
    bound = TOL * _k_weights(n, err.ndim) * scale
    excess = (err - bound).reshape(n, -1).max(axis=1)
    assert np.all(err <= bound), f"worst k={np.argmax(excess)}: {got} vs {ref[:n]}"


def _k_weights(n: int, ndim: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=float).reshape((n,) + (1,) * (ndim - 1))


def check_all_orders(rule: Callable[..., np.ndarray], ref: np.ndarray,
                     *seeds: np.ndarray, **params: float) -> None:
    """The rule at every truncation K = 0..K_MAX agrees with the reference prefix."""
    for order in range(K_MAX + 1):
        assert_series_close(rule(*(s[:order + 1] for s in seeds), **params), ref)


def real_cbrt(u: mp.mpf) -> mp.mpf:
    return mp.sign(u) * mp.cbrt(abs(u))


# name -> (mpmath function, points x0 inside the domain)
UNARY: dict[str, tuple[Callable[[mp.mpf], mp.mpf], tuple[float, ...]]] = {
    "neg": (lambda u: -u, (-0.4, 1.3, 2.0)),
    "sin": (mp.sin, (-1.3, 0.4, 2.0)),
    "cos": (mp.cos, (-1.3, 0.4, 2.0)),
    "tan": (mp.tan, (-1.0, 0.4, 1.2)),
    "asin": (mp.asin, (-0.5, 0.3, 0.9)),
    "acos": (mp.acos, (-0.5, 0.3, 0.9)),
    "atan": (mp.atan, (-2.0, 0.4, 5.0)),
    "sinh": (mp.sinh, (-1.5, 0.4, 3.0)),
    "cosh": (mp.cosh, (-1.5, 0.4, 3.0)),
    "tanh": (mp.tanh, (-1.5, 0.4, 8.0)),
    "asinh": (mp.asinh, (-1.5, 0.4, 3.0)),
    "acosh": (mp.acosh, (1.5, 3.0, 10.0)),
    "atanh": (mp.atanh, (-0.5, 0.3, 0.9)),
    "exp": (mp.exp, (-1.0, 0.5, 3.0)),
    "expm1": (mp.expm1, (-1.0, 1e-3, 2.0)),
    "log": (mp.log, (0.8, 3.0, 50.0)),
    "log1p": (mp.log1p, (-0.3, 1e-3, 2.0)),
    "sqrt": (mp.sqrt, (0.8, 3.0, 50.0)),
    "cbrt": (real_cbrt, (-2.0, 0.8, 5.0)),
    "abs": (mp.fabs, (-1.2, 0.9, 3.0)),
    "sign": (mp.sign, (-1.2, 0.9, 3.0)),
    "erf": (mp.erf, (-1.0, 0.3, 2.5)),
    "erfc": (mp.erfc, (-1.0, 0.3, 4.0)),
    "sigmoid": (lambda u: 1 / (1 + mp.exp(-u)), (-3.0, 0.2, 10.0)),
    "tanh_slope": (lambda u: 1 / mp.cosh(u) ** 2, (-1.5, 0.4, 48.81)),
    "sigmoid_slope": (lambda u: mp.exp(-u) / (1 + mp.exp(-u)) ** 2, (-3.0, 0.2, 44.88)),
    "softplus": (lambda u: mp.log(1 + mp.exp(u)), (-3.0, 0.2, 10.0)),
    "relu": (lambda u: max(u, 0), (-1.0, 1.0, 3.0)),
}

# name -> (mpmath function, (a0, b0) points)
BINARY: dict[str, tuple[Callable[[mp.mpf, mp.mpf], mp.mpf], tuple[tuple[float, float], ...]]] = {
    "add": (lambda a, b: a + b, ((-1.3, 0.9), (0.6, -2.0))),
    "sub": (lambda a, b: a - b, ((-1.3, 0.9), (0.6, -2.0))),
    "mul": (lambda a, b: a * b, ((-1.3, 0.9), (0.6, -2.0))),
    "smul": (lambda a, b: a * b, ((-1.3, 0.9), (0.6, -2.0))),
    "div": (lambda a, b: a / b, ((-1.3, 0.9), (0.6, -2.0))),
    "pow": (mp.power, ((0.6, 0.9), (2.0, -2.0), (1.5, 3.0))),
    "atan2": (mp.atan2, ((0.6, -1.3), (-2.0, 0.9), (-0.5, -0.7), (1.0, 1e-3))),
    "max": (max, ((-1.3, 0.9), (0.6, -2.0))),
    "min": (min, ((-1.3, 0.9), (0.6, -2.0))),
}

SPECIAL_RULES = {"gamma", "lgamma", "digamma", "beta", "erfinv", "erfcinv"}
"""Checked against mpmath in test_special_functions.py (mpmath.taylor of gamma takes seconds a
point, too slow for the truncation sweep here)."""
ALL_RULES = {
    *UNARY, *BINARY, "powc", "lt", "le", "gt", "ge", "eq", "ne", "where", "inv", "det",
    *SPECIAL_RULES,
    "floor", "ceil", "round", "floor_divide", "mod", "clip", "logit", "logaddexp", "sinc",
    "cholesky", "logabsdet", "detsign",
}
"""The new ops' rules are checked in test_numpy_functions.py."""


def test_every_primitive_has_a_rule() -> None:
    assert set(TAYLOR_RULES) == ALL_RULES


@pytest.mark.parametrize(("name", "x0"), [(n, x0) for n, (_, pts) in UNARY.items() for x0 in pts])
def test_unary_against_mpmath(name: str, x0: float) -> None:
    f, _ = UNARY[name]
    check_all_orders(TAYLOR_RULES[name], reference(f, poly(x0, X_TAIL)), seed(x0))


@pytest.mark.parametrize(("name", "a0", "b0"),
                         [(n, a0, b0) for n, (_, pts) in BINARY.items() for a0, b0 in pts])
def test_binary_against_mpmath(name: str, a0: float, b0: float) -> None:
    f, _ = BINARY[name]
    ref = reference(f, poly(a0, X_TAIL), poly(b0, Y_TAIL))
    check_all_orders(TAYLOR_RULES[name], ref, seed(a0), seed(b0, Y_TAIL))


POWC_CASES = [
    *((p, x0) for p in (0.0, 1.0, 2.0, 3.0, 7.0, -1.0, -2.0, 0.5, 2.5, -1.5, 1 / 3)
      for x0 in (0.8, 2.0)),
    *((p, -1.3) for p in (2.0, 3.0, -3.0)),  # integer powers of a negative base
    (-3.0, 0.5),
    *((p, 0.0) for p in (0.0, 1.0, 2.0, 3.0, 5.0)),  # exact at x0 = 0
    (40.0, 0.9),  # integer p above K_MAX: the power recurrence
]


@pytest.mark.parametrize(("p", "x0"), POWC_CASES)
def test_powc_against_mpmath(p: float, x0: float) -> None:
    ref = reference(lambda u: u ** mp.mpf(p), poly(x0, X_TAIL))
    check_all_orders(TAYLOR_RULES["powc"], ref, seed(x0), p=p)


@pytest.mark.parametrize(("y0", "x0"), [(2.5, 0.6), (3.0, 0.0), (3.0, -1.3), (-2.0, 1.5)])
def test_pow_with_constant_exponent_is_powc(y0: float, x0: float) -> None:
    exponent = np.zeros(K_MAX + 1)
    exponent[0] = y0
    ref = reference(lambda u: u ** mp.mpf(y0), poly(x0, X_TAIL))
    check_all_orders(TAYLOR_RULES["pow"], ref, seed(x0), exponent)


def test_powc_at_zero_base_non_integer() -> None:
    # t^2.5: coefficients below order 2.5 vanish; above, the one-sided limit at 0+ of
    # d^k/dt^k t^2.5 / k! = 2.5·1.5·0.5·(−0.5)⋯/k! · t^(2.5−k): +inf, −inf, +inf
    got = TAYLOR_RULES["powc"](seed(0.0, (1.0,), order=5), p=2.5)
    assert np.array_equal(got[:3], np.zeros(3))
    assert got[3:].tolist() == [np.inf, -np.inf, np.inf]
    # past a curved term (t + t²) the coefficients above order 2.5 do not exist
    curved = TAYLOR_RULES["powc"](seed(0.0, (1.0, 1.0), order=5), p=2.5)
    assert np.array_equal(curved[:3], np.zeros(3)) and np.isnan(curved[3:]).all()


def test_powc_large_integer_at_zero_base() -> None:
    assert np.array_equal(TAYLOR_RULES["powc"](seed(0.0, order=10), p=12.0), np.zeros(11))


# --- batching ---------------------------------------------------------------------------------

def _batched_seed(points: np.ndarray, tail: tuple[float, ...]) -> np.ndarray:
    s = np.zeros((K_MAX + 1, *points.shape))
    s[0] = points
    for i, c in enumerate(tail, start=1):
        s[i] = c
    return s


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_batching(name: str) -> None:
    points = np.array(UNARY[name][1])
    single = np.stack([TAYLOR_RULES[name](seed(x0)) for x0 in points], axis=-1)
    assert_series_close(TAYLOR_RULES[name](_batched_seed(points, X_TAIL)), single)
    grid = np.stack([points, points[::-1]])
    expected = np.stack([single, single[:, ::-1]], axis=1)
    assert_series_close(TAYLOR_RULES[name](_batched_seed(grid, X_TAIL)), expected)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_batching_broadcasts_rest(name: str) -> None:
    a0 = np.array([0.6, 1.5, 2.0])            # rest (3,)
    b0 = np.array([[0.9, -2.0, 3.0], [-0.5, 0.7, 1.1]])  # rest (2, 3)
    got = TAYLOR_RULES[name](_batched_seed(a0, X_TAIL), _batched_seed(b0, Y_TAIL))
    assert got.shape == (K_MAX + 1, 2, 3)
    for i in range(2):
        for j in range(3):
            single = TAYLOR_RULES[name](seed(a0[j]), seed(b0[i, j], Y_TAIL))
            assert_series_close(got[:, i, j], single)


def test_pow_batch_mixes_constant_and_varying_exponents() -> None:
    x = _batched_seed(np.array([0.0, 1.5, 0.6]), X_TAIL)
    y = _batched_seed(np.array([3.0, -2.0, 0.9]), Y_TAIL)
    y[1:, :2] = 0.0  # the first two exponents are constant in t
    got = TAYLOR_RULES["pow"](x, y)
    for j in range(3):
        assert_series_close(got[:, j], TAYLOR_RULES["pow"](x[:, j], y[:, j]))
    assert np.isfinite(got).all()


def test_powc_batch() -> None:
    points = np.array([[0.0, 0.8], [-1.3, 2.0]])
    got = TAYLOR_RULES["powc"](_batched_seed(points, X_TAIL), p=3.0)
    for idx in np.ndindex(points.shape):
        ref = reference(lambda u: u**3, poly(points[idx], X_TAIL))
        assert_series_close(got[(slice(None), *idx)], ref)


# --- kinks, selections, comparisons -----------------------------------------------------------

def test_abs_sign_relu_at_zero_are_flat() -> None:
    x = seed(0.0)
    for name in ("abs", "sign", "relu"):
        assert np.array_equal(TAYLOR_RULES[name](x), np.zeros(K_MAX + 1)), name


def test_abs_at_negative_zero_is_positive_zero() -> None:
    got = TAYLOR_RULES["abs"](seed(-0.0))
    assert np.array_equal(got, np.zeros(K_MAX + 1))
    assert not np.signbit(got[0])


def test_relu_sides_and_nan() -> None:
    assert np.array_equal(TAYLOR_RULES["relu"](seed(2.0)), seed(2.0))
    assert np.array_equal(TAYLOR_RULES["relu"](seed(-2.0)), np.zeros(K_MAX + 1))
    assert np.isnan(TAYLOR_RULES["relu"](seed(np.nan))[0])


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_split_ties(name: str) -> None:
    a, b = seed(1.0), seed(1.0, Y_TAIL)
    assert np.array_equal(TAYLOR_RULES[name](a, b), 0.5 * (a + b))


def test_where_follows_the_constant_term_of_cond() -> None:
    a, b = seed(1.0), seed(-2.0, Y_TAIL)
    cond = np.zeros(K_MAX + 1)
    cond[1] = 1.0  # only the constant term decides
    assert np.array_equal(TAYLOR_RULES["where"](cond, a, b), b)
    cond[0] = 1.0
    assert np.array_equal(TAYLOR_RULES["where"](cond, a, b), a)
    picked = TAYLOR_RULES["where"](_batched_seed(np.array([1.0, 0.0]), ()), a, b)
    assert np.array_equal(picked, np.stack([a, b], axis=-1))


@pytest.mark.parametrize(("name", "expected"), [
    ("lt", (1, 0, 0)), ("le", (1, 1, 0)), ("gt", (0, 0, 1)),
    ("ge", (0, 1, 1)), ("eq", (0, 1, 0)), ("ne", (1, 0, 1)),
])
def test_comparisons(name: str, expected: tuple[int, int, int]) -> None:
    a = _batched_seed(np.array([0.0, 1.0, 2.0]), X_TAIL)
    b = seed(1.0, Y_TAIL)[:, None]
    got = TAYLOR_RULES[name](a, b)
    assert np.array_equal(got[0], expected)
    assert np.array_equal(got[1:], np.zeros((K_MAX, 3)))


# --- singular points ----------------------------------------------------------------------------

SINGULAR = [
    ("sqrt", (seed(0.0),), {}),
    ("log", (seed(0.0),), {}),
    ("log1p", (seed(-1.0),), {}),
    ("div", (seed(1.0), seed(0.0)), {}),
    ("powc", (seed(0.0),), {"p": 0.5}),
    ("powc", (seed(0.0),), {"p": -2.0}),
    ("powc", (seed(0.0),), {"p": -1.5}),
    ("cbrt", (seed(0.0),), {}),
    ("asin", (seed(1.0),), {}),
    ("acos", (seed(-1.0),), {}),
    ("atanh", (seed(1.0),), {}),
    ("acosh", (seed(1.0),), {}),
    ("log", (seed(-1.0),), {}),
    ("atan2", (seed(0.0), seed(0.0, Y_TAIL)), {}),
    ("pow", (seed(0.0), seed(-1.0, Y_TAIL)), {}),
    ("inv", (np.zeros((K_MAX + 1, 2, 2)),), {}),
    ("det", (np.ones((K_MAX + 1, 5, 5)),), {}),  # above 4×4: through the inverse
]


@pytest.mark.parametrize(("name", "args", "params"), SINGULAR,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(SINGULAR)])
def test_singular_points_give_nonfinite_without_warning(name: str, args: tuple[np.ndarray, ...],
                                                        params: dict[str, float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = TAYLOR_RULES[name](*args, **params)
    assert not np.isfinite(got).all()


def test_singular_det_keeps_its_value() -> None:
    # above 4×4 a singular A_0 keeps its value; up to 4×4 the rule is a polynomial (see
    # tests/engine/ir/test_edge_conventions.py)
    got = TAYLOR_RULES["det"](np.ones((4, 5, 5)))
    assert got[0] == 0.0
    assert np.isnan(got[1:]).all()


# --- matrices -----------------------------------------------------------------------------------

MATRIX_TERMS = (
    np.array([[2.0, 1.0, 0.5], [0.3, 3.0, -1.0], [1.0, -0.4, 1.5]]),
    np.array([[0.1, -0.7, 0.2], [0.5, 0.0, 0.3], [-0.2, 0.6, 0.9]]),
    np.array([[0.3, 0.0, -0.1], [0.2, -0.5, 0.0], [0.0, 0.4, 0.2]]),
)
MATRIX_ORDER = 12


def _matrix_series(terms: tuple[np.ndarray, ...]) -> np.ndarray:
    a = np.zeros((MATRIX_ORDER + 1, *terms[0].shape))
    a[:len(terms)] = terms
    return a


def _mp_matrix(terms: tuple[np.ndarray, ...], t: mp.mpf) -> mp.matrix:
    return sum((mp.matrix(c.tolist()) * t**i for i, c in enumerate(terms)),
               mp.zeros(*terms[0].shape))


def test_inv_against_mpmath() -> None:
    got = TAYLOR_RULES["inv"](_matrix_series(MATRIX_TERMS))
    n = MATRIX_TERMS[0].shape[0]
    for i in range(n):
        for j in range(n):
            ref = reference(lambda t, i=i, j=j: mp.inverse(_mp_matrix(MATRIX_TERMS, t))[i, j],
                            lambda t: t, order=MATRIX_ORDER + 1)
            assert_series_close(got[:, i, j], ref)


def test_det_against_mpmath() -> None:
    got = TAYLOR_RULES["det"](_matrix_series(MATRIX_TERMS))
    ref = reference(lambda t: mp.det(_mp_matrix(MATRIX_TERMS, t)), lambda t: t,
                    order=MATRIX_ORDER + 1)
    # det(A(t)) is a polynomial of degree 6: past it the exact terms vanish and we see rounding
    # noise of the size of the O(1) earlier terms
    assert_series_close(got, ref, floor=1.0)
    for order in range(MATRIX_ORDER + 1):
        assert_series_close(TAYLOR_RULES["det"](_matrix_series(MATRIX_TERMS)[:order + 1]), ref,
                            floor=1.0)


def test_inv_det_batched_prefix_with_a_singular_member() -> None:
    good = _matrix_series(MATRIX_TERMS)
    bad = np.zeros_like(good)  # A(t) = 0: singular at every t
    stacked = np.stack([good, bad], axis=1)  # (K+1, 2, 3, 3)
    inv = TAYLOR_RULES["inv"](stacked)
    assert_series_close(inv[:, 0], TAYLOR_RULES["inv"](good))
    assert np.isnan(inv[:, 1]).all()
    det = TAYLOR_RULES["det"](stacked)
    assert_series_close(det[:, 0], TAYLOR_RULES["det"](good), floor=1.0)
    assert det[0, 1] == 0.0


def test_series_bilinear_with_matmul() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(-3, 4, size=(6, 2, 3)).astype(float)
    b = rng.integers(-3, 4, size=(6, 3, 4)).astype(float)
    b[2] = 0.0  # a skipped row must not change anything
    expected = np.zeros((6, 2, 4))
    for k in range(6):
        for j in range(k + 1):
            expected[k] += a[j] @ b[k - j]
    np.testing.assert_array_equal(series_bilinear(a, b, np.matmul), expected)
    b[1, 0, 0] = np.inf  # 0·inf must still reach the output as nan, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = series_bilinear(np.zeros_like(a), b, np.matmul)
    assert np.isnan(got).any()


# --- high order ---------------------------------------------------------------------------------

def _sin_cubed_reference(order: int) -> list[mp.mpf]:
    """Coefficients of sin((1+t)³) = Im(e^i · e^{3it} · e^{3it²} · e^{it³}), by convolution."""
    with mp.workdps(DPS):
        def exp_series(a: mp.mpc, power: int) -> list[mp.mpc]:
            out = [mp.mpc(0)] * (order + 1)
            for n in range(order // power + 1):
                out[n * power] = a**n / mp.factorial(n)
            return out

        def product(u: list[mp.mpc], v: list[mp.mpc]) -> list[mp.mpc]:
            return [mp.fsum(u[j] * v[k - j] for j in range(k + 1)) for k in range(order + 1)]

        w = product(product(exp_series(mp.mpc(0, 3), 1), exp_series(mp.mpc(0, 3), 2)),
                    exp_series(mp.mpc(0, 1), 3))
        return [mp.im(mp.expj(1) * c) for c in w]


def test_sin_of_cube_to_order_100() -> None:
    got = TAYLOR_RULES["sin"](TAYLOR_RULES["powc"](seed(1.0, (1.0,), order=100), p=3.0))
    ref = _sin_cubed_reference(100)
    for k in (5, 50, 100):
        assert abs(got[k] - float(ref[k])) <= 1e-12 * abs(float(ref[k])), k
    # the seed case of the API: d⁵/dt⁵ sin(t³) at t = 1 = 120·c_5
    assert abs(120 * got[5] - 24.4939205087257601) <= 1e-12 * 24.5


def test_timing_sin_of_cube() -> None:
    timings = {}
    for order in (100, 1000):
        x = seed(1.0, (1.0,), order=order)
        start = time.perf_counter()
        got = TAYLOR_RULES["sin"](TAYLOR_RULES["powc"](x, p=3.0))
        timings[order] = time.perf_counter() - start
        assert got.shape == (order + 1,)
        assert np.isfinite(got).all()
    print("sin(powc(x, 3)):", ", ".join(f"K={k} {s * 1e3:.2f} ms" for k, s in timings.items()))
    # generous bounds: the point is O(K²) with a small constant, not a benchmark
    assert timings[100] < 0.05
    assert timings[1000] < 1.0


# --- short series: gathered products, powers, compositions and monomial blocks -----------------

def _sequential_monomial(leaves: list[np.ndarray], exponents: tuple[int, ...]) -> np.ndarray:
    """Π leaves[l]**e_l by one product at a time (the unfused reference)."""
    out = np.zeros(np.broadcast_shapes(*(leaf.shape for leaf in leaves)))
    out[0] = 1.0
    for leaf, e in zip(leaves, exponents, strict=True):
        for _ in range(e):
            out = TAYLOR_RULES["mul"](out, leaf)
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 6, 9])
def test_monomial_series_matches_sequential_products(n: int) -> None:
    rng = np.random.default_rng(n)
    leaves = [rng.normal(size=(n, 2, 3)), rng.normal(size=(n, 2, 3)), rng.normal(size=(n, 1, 1))]
    monomials = ((3, 2, 0), (1, 1, 0), (0, 2, 1), (2, 0, 2), (1, 0, 0))
    got = gathers.monomial_series(leaves, monomials)
    assert got is not None and got.shape == (len(monomials) * n, 2, 3)
    for q, exponents in enumerate(monomials):
        ref = _sequential_monomial(leaves, exponents)
        np.testing.assert_allclose(got[q * n:(q + 1) * n], ref, rtol=1e-13, atol=1e-13)


def test_monomial_series_is_exact_on_integers_and_at_zero() -> None:
    x = np.zeros((6, 1))
    x[1] = 2.0  # x(t) = 2t: x³ is exactly 8t³, and the rest exactly 0
    y = np.array([[3.0], [-1.0], [0.0], [0.0], [0.0], [0.0]])
    got = gathers.monomial_series([x, y], ((3, 2), (1, 1)))
    expected_x3y2 = np.array([0, 0, 0, 72.0, -48.0, 8.0]).reshape(6, 1)  # 8t³·(3 − t)²
    expected_xy = np.array([0, 6.0, -2.0, 0, 0, 0]).reshape(6, 1)
    assert np.array_equal(got[:6], expected_x3y2)
    assert np.array_equal(got[6:], expected_xy)


def test_monomial_series_keeps_non_finite_terms_where_they_belong() -> None:
    x = seed(0.5, order=5).reshape(6, 1)
    x[4] = np.inf  # a coefficient that does not exist
    y = seed(2.0, Y_TAIL, order=5).reshape(6, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="ignore"):
            got = gathers.monomial_series([x, y], ((2, 1),))
            ref = _sequential_monomial([x, y], (2, 1))
    assert np.isfinite(got[:4]).all() and not np.isfinite(got[4:]).any()
    np.testing.assert_allclose(got[:4], ref[:4], rtol=1e-14)
    assert np.array_equal(np.isnan(got), np.isnan(ref))


def test_monomial_series_declines_long_series() -> None:
    x = seed(1.0, order=40)
    assert gathers.monomial_series([x, x], ((3, 2),)) is None


@pytest.mark.parametrize("name", ["sin", "cos", "exp", "sinh", "cosh"])
def test_composition_of_short_series_matches_the_recurrence(name: str) -> None:
    """The gathered Faà di Bruno path (≤ 8 terms) against the same rule on a longer series,
    which runs the recurrence, truncated: both are the same coefficients."""
    rng = np.random.default_rng(7)
    long = rng.normal(size=(12, 3, 4))
    full = TAYLOR_RULES[name](long)
    for n in range(1, 9):
        np.testing.assert_allclose(TAYLOR_RULES[name](long[:n]), full[:n], rtol=1e-13,
                                   atol=1e-13 * np.abs(full[:n]).max())


@pytest.mark.parametrize("p", [2, 3, 4, 5, 8])
def test_gathered_integer_power_matches_binary_exponentiation(p: int) -> None:
    rng = np.random.default_rng(p)
    x = rng.normal(size=(7, 5))
    got = TAYLOR_RULES["powc"](x, p=float(p))
    ref = _sequential_monomial([x], (p,))
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-13 * np.abs(ref).max())


def test_series_bilinear_gathered_and_row_by_row_agree() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(9, 2, 3)), rng.normal(size=(9, 3, 2))
    gathered = series_bilinear(a, b, np.matmul)
    rows = gathers.bilinear_rows(a, b, np.matmul)
    np.testing.assert_allclose(gathered, rows, rtol=1e-14, atol=1e-14)


# --- propagation: fused monomial blocks against one rule per node -------------------------------

BLOCK_CASES = [
    ("x**3*y**2 + sin(x*y)", {"x": 1.0, "y": 2.0}, ["x", "x", "y", "y", "y"]),
    ("x**3*y**2 + sin(x*y)", {"x": 0.0, "y": 0.0}, ["x", "x", "y", "y", "y"]),
    ("x*y*z*x + (x*y)**2*y - 3*x**2*z", {"x": 0.7, "y": -1.3, "z": 2.1}, ["x", "y", "z", "x"]),
    ("exp(x*y*y) * x**4 + cos(x**2*y)", {"x": 0.4, "y": 1.1}, ["x", "y", "y"]),
    ("x**5*y", {"x": 1.5, "y": -0.5}, ["x", "y"]),  # x**5 at K = 2: the block falls back
    ("sqrt(x)**2*y + x*y", {"x": 0.0, "y": 2.0}, ["x", "y"]),  # non-finite inside the block
    ("sum(v*v*w) * v[0]**3", {"v": [0.5, -1.0, 2.0], "w": [1.0, 2.0, 3.0]},
     ["v[0]", "w[1]", "v[0]"]),
]


def _unfused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(taylor, "_MAX_DEGREE", 0)  # every monomial too big: no blocks
    taylor._PROGRAMS.clear()


@pytest.mark.parametrize(("expression", "point", "wrt"), BLOCK_CASES)
def test_monomial_blocks_change_nothing(expression: str, point: dict, wrt: list[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import engine

    requests = [{"wrt": wrt}, {"variable": wrt[0], "order": len(wrt)},
                {"variable": wrt[0], "order": 30}]  # order 30: too long for a block
    fused = [engine.derivative(expression=expression, point=point, **r) for r in requests]
    _unfused(monkeypatch)
    try:
        plain = [engine.derivative(expression=expression, point=point, **r) for r in requests]
    finally:
        monkeypatch.undo()
        taylor._PROGRAMS.clear()
    for f, p in zip(fused, plain, strict=True):
        for field in ("value", "derivative"):
            np.testing.assert_allclose(f[field], p[field], rtol=1e-13, atol=1e-300,
                                       equal_nan=True)
        assert bool(f["warnings"]) == bool(p["warnings"])


def test_seed_polynomial_runs_as_one_block() -> None:
    from engine.compiled import CACHE
    from engine.limits import DEFAULT_LIMITS

    c = CACHE.get("x**3*y**2 + sin(x*y)", {"x": (), "y": ()}, {}, DEFAULT_LIMITS)
    plan = c.plan("value", lambda: [c.output])
    steps = taylor._program(c.graph, plan).steps
    blocks = [rule for nid, rule, _, _ in steps if nid < 0]
    assert len(blocks) == 1 and blocks[0].monomials == ((3, 2), (1, 1))
    assert len(steps) == 3  # the block (x³y² and xy), sin, the sum


@pytest.mark.parametrize("expression", ["z", "3", "z*z", "sin(z)"])
def test_mixed_partial_of_a_function_not_moved_by_the_rays_is_zero(expression: str) -> None:
    """The output then has one ray instead of R: it must broadcast, not fail."""
    import engine

    point = {"x": 1.0, "y": 2.0, "z": 3.0}
    assert engine.derivative(expression=expression, point=point, wrt=["x", "y"])[
        "derivative"] == 0.0
    got = engine.taylor(expression=expression, point=point, order=2, variables=["x", "y"])
    assert all(t["coefficient"] == 0.0 for t in got["coefficients"][1:])
