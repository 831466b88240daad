"""First-order derivatives of the whole language against independent references.

Every case is the engine's expression string plus a sympy builder of the same function; the
``check`` fixture (tests/engine/conftest.py) compares value, gradient, Jacobian (with labels),
Hessian, JVP, VJP and HVP with sympy's exact derivatives at 50 digits, at several points inside
the domain. Kink conventions (PyTorch's) and the API.md §3 seed cases use hand-written values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import reduce
from operator import mul
from typing import Any

import mpmath
import numpy as np
import pytest
import sympy as sp

import engine
from engine.language.functions import FUNCTIONS


@dataclass(frozen=True)
class Case:
    """One function: engine expression, sympy builder, points, constants, variables."""

    expression: str
    builder: Any
    points: tuple[dict[str, Any], ...]
    constants: dict[str, Any] | None = None
    variables: tuple[str, ...] | None = None
    shape: tuple[int, ...] | None = None
    rtol: float = 1e-12


def pts(**columns: Any) -> tuple[dict[str, Any], ...]:
    """Points from columns: ``pts(x=[1, 2], y=[3, 4])`` -> ({x: 1, y: 3}, {x: 2, y: 4})."""
    names = list(columns)
    return tuple(dict(zip(names, row, strict=True))
                 for row in zip(*columns.values(), strict=True))


# ---------------------------------------------------------------- sympy counterparts

def sigmoid(x: Any) -> Any:
    return 1 / (1 + sp.exp(-x))


def softplus(x: Any) -> Any:
    return sp.log(1 + sp.exp(x))


def cbrt(x: Any) -> Any:
    return sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 3)


def relu(x: Any) -> Any:
    return sp.Piecewise((x, x > 0), (0, True))


def total(m: Any) -> Any:
    return sp.Add(*list(m))


def product(m: Any) -> Any:
    return reduce(mul, list(m), sp.Integer(1))


def norm(m: Any) -> Any:
    return sp.sqrt(sp.Add(*[e**2 for e in m]))


def inverse(m: Any) -> Any:
    return m.adjugate() / m.det()


def entries(m: Any) -> list[Any]:
    return list(m)


E = sp.Rational(math.e)  # the engine's `e` is the float64 nearest to e
PI = sp.Rational(math.pi)


# name -> (sympy function, points inside the domain, away from kinks)
UNARY: dict[str, tuple[Any, tuple[float, ...]]] = {
    "sin": (sp.sin, (0.3, -1.2, 2.5)),
    "cos": (sp.cos, (0.3, -1.2, 2.5)),
    "tan": (sp.tan, (0.3, -1.2, 2.5)),
    "asin": (sp.asin, (-0.7, 0.2, 0.9)),
    "acos": (sp.acos, (-0.7, 0.2, 0.9)),
    "atan": (sp.atan, (-2.5, 0.4, 7.0)),
    "sinh": (sp.sinh, (-1.3, 0.4, 2.1)),
    "cosh": (sp.cosh, (-1.3, 0.4, 2.1)),
    "tanh": (sp.tanh, (-1.3, 0.4, 2.1)),
    "asinh": (sp.asinh, (-3.1, 0.4, 2.1)),
    "acosh": (sp.acosh, (1.3, 2.0, 5.5)),
    "atanh": (sp.atanh, (-0.7, 0.2, 0.9)),
    "exp": (sp.exp, (-1.3, 0.4, 2.1)),
    "expm1": (lambda x: sp.exp(x) - 1, (-1.3, 1e-3, 2.1)),
    "log": (sp.log, (0.3, 1.7, 12.0)),
    "log1p": (lambda x: sp.log(1 + x), (-0.6, 1e-4, 3.0)),
    "log2": (lambda x: sp.log(x) / sp.log(2), (0.3, 1.7, 12.0)),
    "log10": (lambda x: sp.log(x) / sp.log(10), (0.3, 1.7, 12.0)),
    "sqrt": (sp.sqrt, (0.3, 1.7, 12.0)),
    "cbrt": (cbrt, (-2.0, 0.5, 3.7)),
    "abs": (sp.Abs, (-1.5, 0.7, 3.0)),
    "sign": (sp.sign, (-2.0, 0.5, 3.0)),
    "erf": (sp.erf, (-1.1, 0.3, 2.2)),
    "erfc": (sp.erfc, (-1.1, 0.3, 2.2)),
    "sigmoid": (sigmoid, (-3.0, 0.5, 4.0)),
    "softplus": (softplus, (-3.0, 0.5, 4.0)),
    "relu": (relu, (-1.5, 0.5, 2.5)),
    "gamma": (sp.gamma, (-1.5, 0.6, 2.5)),
    "lgamma": (sp.loggamma, (0.6, 2.5, 7.0)),
    "gammaln": (sp.loggamma, (0.6, 2.5, 7.0)),
    "digamma": (sp.digamma, (-1.5, 0.6, 2.5)),
    "psi": (sp.digamma, (-1.5, 0.6, 2.5)),
    "erfinv": (sp.erfinv, (-0.7, 0.2, 0.9)),
    "erfcinv": (lambda x: sp.erfinv(1 - x), (0.3, 1.0, 1.6)),
    "j0": (lambda x: sp.besselj(0, x), (-2.0, 0.5, 3.0)),
    "j1": (lambda x: sp.besselj(1, x), (-2.0, 0.5, 3.0)),
    "y0": (lambda x: sp.bessely(0, x), (0.3, 1.5, 4.0)),
    "y1": (lambda x: sp.bessely(1, x), (0.3, 1.5, 4.0)),
    "i0": (lambda x: sp.besseli(0, x), (-2.0, 0.5, 3.0)),
    "i1": (lambda x: sp.besseli(1, x), (-2.0, 0.5, 3.0)),
    "logit": (lambda x: sp.log(x / (1 - x)), (0.15, 0.4, 0.85)),
    "sinc": (lambda x: sp.sin(sp.pi * x) / (sp.pi * x), (-2.3, 0.4, 1.7)),
    "square": (lambda x: x**2, (-1.5, 0.7, 3.0)),
    "rsqrt": (lambda x: 1 / sp.sqrt(x), (0.3, 1.7, 12.0)),
    "reciprocal": (lambda x: 1 / x, (-1.5, 0.4, 3.0)),
    "exp2": (lambda x: 2**x, (-1.3, 0.4, 3.7)),
    "deg2rad": (lambda x: x * sp.pi / 180, (-100.0, 1.9, 270.0)),
    "rad2deg": (lambda x: x * 180 / sp.pi, (-2.0, 1.9, 6.0)),
    "radians": (lambda x: x * sp.pi / 180, (-100.0, 1.9, 270.0)),
    "degrees": (lambda x: x * 180 / sp.pi, (-2.0, 1.9, 6.0)),
    "arcsin": (sp.asin, (-0.7, 0.2, 0.9)),
    "arccos": (sp.acos, (-0.7, 0.2, 0.9)),
    "arctan": (sp.atan, (-2.5, 0.4, 7.0)),
    "arcsinh": (sp.asinh, (-3.1, 0.4, 2.1)),
    "arccosh": (sp.acosh, (1.3, 2.0, 5.5)),
    "arctanh": (sp.atanh, (-0.7, 0.2, 0.9)),
    "absolute": (sp.Abs, (-1.5, 0.7, 3.0)),
    "fabs": (sp.Abs, (-1.5, 0.7, 3.0)),
    "expit": (sigmoid, (-3.0, 0.5, 4.0)),
}


def _unary_cases() -> list[Case]:
    cases = []
    for name, (fn, points) in UNARY.items():
        cases.append(Case(f"{name}(x)", lambda x, fn=fn: fn(x), pts(x=points), shape=()))
        # Elementwise on a vector (Jacobian is diagonal) and its sum (Hessian is diagonal).
        cases.append(Case(f"{name}(v)", lambda v, fn=fn: [fn(a) for a in v],
                          ({"v": list(points)},), shape=(3,)))
        cases.append(Case(f"sum({name}(v))", lambda v, fn=fn: sp.Add(*[fn(a) for a in v]),
                          ({"v": list(points)},), shape=()))
        # Inside an expression of two variables (mixed second derivatives).
        lo, hi = min(points), max(points)
        mid = (lo + hi) / 2
        cases.append(Case(f"y * {name}(x * y)", lambda x, y, fn=fn: y * fn(x * y),
                          pts(x=[mid, hi * 0.9 / 1.1], y=[1.0, 1.1]), shape=()))
    return cases


XY = pts(x=[1.3, 2.5, 0.4], y=[0.7, -1.2, 2.0])

BINARY = [
    Case("pow(x, y)", lambda x, y: x**y, XY),
    Case("x ** y", lambda x, y: x**y, XY),
    Case("x ^ y", lambda x, y: x**y, XY),
    Case("2 ** x", lambda x: 2**x, pts(x=[-1.5, 0.3, 3.2])),
    Case("pow(x, 3)", lambda x: x**3, pts(x=[-1.7, 0.5, 2.0])),
    Case("x ** -2", lambda x: x**-2, pts(x=[-1.7, 0.5, 2.0])),
    Case("x ** 0.5", lambda x: sp.sqrt(x), pts(x=[0.3, 2.0, 9.5])),
    Case("pow(x, 2.5)", lambda x: x ** sp.Rational(5, 2), pts(x=[0.3, 2.0, 9.5])),
    Case("x ** 0 + x", lambda x: 1 + x, pts(x=[-1.0, 2.0])),
    Case("x ^ 2 ^ 0.5", lambda x: x ** sp.Rational(2.0**0.5), pts(x=[0.3, 2.0])),
    Case("-x**2 + +y", lambda x, y: -(x**2) + y, XY),
    Case("atan2(y, x)", lambda x, y: sp.atan2(y, x),
         pts(x=[2.0, -1.5, -0.3, 0.4], y=[1.0, -0.5, 2.0, -1.7])),
    Case("beta(x, y)", lambda x, y: sp.beta(x, y), XY),
    Case("polygamma(2, x * y)", lambda x, y: sp.polygamma(2, x * y),
         pts(x=[1.3, 0.4, -1.1], y=[0.7, 2.0, 1.5])),
    Case("jv(3, x) + jv(-2, y)", lambda x, y: sp.besselj(3, x) + sp.besselj(-2, y), XY),
    Case("yv(2, x * y)", lambda x, y: sp.bessely(2, x * y), pts(x=[1.3, 0.4], y=[0.7, 2.0])),
    Case("iv(2, x) * y", lambda x, y: sp.besseli(2, x) * y, XY),
    Case("jv(2.5, x * y) + iv(1.5, x) - yv(0.5, y)",
         lambda x, y: sp.besselj(sp.Rational(5, 2), x * y) + sp.besseli(sp.Rational(3, 2), x)
         - sp.bessely(sp.Rational(1, 2), y), pts(x=[1.3, 0.4], y=[0.7, 2.0])),
    Case("jn(2, x) * yn(3, y)", lambda x, y: sp.besselj(2, x) * sp.bessely(3, y),
         pts(x=[1.3, -0.4], y=[0.7, 2.0])),
    Case("hypot(a, b)", lambda a, b: sp.sqrt(a**2 + b**2),
         pts(a=[3.0, -1.2, 0.1], b=[4.0, 0.5, -2.0])),
    Case("max(x, y)", lambda x, y: sp.Max(x, y), pts(x=[1.0, 3.0, -0.5], y=[2.0, -1.0, -0.7])),
    Case("min(x, y)", lambda x, y: sp.Min(x, y), pts(x=[1.0, 3.0, -0.5], y=[2.0, -1.0, -0.7])),
    Case("max(x**2, y) * min(sin(x), y)",
         lambda x, y: sp.Max(x**2, y) * sp.Min(sp.sin(x), y), pts(x=[1.3, 0.2], y=[0.5, 0.9])),
    Case("where(x > y, x**2 * y, sin(x) + y)",
         lambda x, y: sp.Piecewise((x**2 * y, x > y), (sp.sin(x) + y, True)),
         pts(x=[2.0, 0.5], y=[1.0, 1.5])),
    Case("(x > y) * x + (x <= y) * y",
         lambda x, y: sp.Piecewise((x, x > y), (y, True)), pts(x=[2.0, 1.0], y=[1.0, 2.0])),
    Case("where(v > 0, v**2, -v)",
         lambda v: [sp.Piecewise((a**2, a > 0), (-a, True)) for a in v],
         ({"v": [1.5, -0.5, 2.0]},), shape=(3,)),
    Case("sum(where(x > 0, v, 2 * v))",
         lambda x, v: sp.Piecewise((total(v), x > 0), (2 * total(v), True)),
         ({"x": 1.0, "v": [1.5, -0.5]}, {"x": -1.0, "v": [1.5, -0.5]})),
    Case("where(x > 0, v, 2 * v)",
         lambda x, v: [sp.Piecewise((a, x > 0), (2 * a, True)) for a in v],
         ({"x": 1.0, "v": [1.5, -0.5]}, {"x": -1.0, "v": [1.5, -0.5]}), shape=(2,)),
]



def _piecewise_cases() -> list[Case]:
    """floor, ceil, round, floor_divide and mod: the integer part at each point from exact
    rational arithmetic (Python's Fraction), the rest differentiated by sympy."""
    cases = []
    for x0 in (-1.7, -0.5, 0.3, 2.5, 3.5):
        q = Fraction(x0)
        for name, n in (("floor", math.floor(q)), ("ceil", math.ceil(q)), ("round", round(q))):
            cases.append(Case(f"{name}(x) * x", lambda x, n=n: n * x, pts(x=[x0])))
    for a0, b0 in ((1.5, 0.7), (-0.9, 0.7), (0.4, -1.3), (-2.2, -0.3), (1.0, 0.1)):
        q = math.floor(Fraction(a0) / Fraction(b0))
        cases += [Case("floor_divide(a, b) * a", lambda a, b, q=q: q * a, pts(a=[a0], b=[b0])),
                  Case("mod(a, b)", lambda a, b, q=q: a - q * b, pts(a=[a0], b=[b0])),
                  Case("a % b * b", lambda a, b, q=q: (a - q * b) * b, pts(a=[a0], b=[b0])),
                  Case("remainder(a, b)", lambda a, b, q=q: a - q * b, pts(a=[a0], b=[b0]))]
    return cases


# x inside, below and above [lo, hi]; and lo > hi, where NumPy returns hi
CLIP_POINTS = pts(x=[0.3, -1.2, 2.5, 0.3], lo=[-0.5, -0.5, -0.5, 1.0], hi=[1.1, 1.1, 1.1, 0.2])
NUMPY_EXTRAS = [
    *_piecewise_cases(),
    Case("clip(x, lo, hi) * x", lambda x, lo, hi: sp.Min(sp.Max(x, lo), hi) * x, CLIP_POINTS),
    Case("clamp(x, lo, hi)", lambda x, lo, hi: sp.Min(sp.Max(x, lo), hi), CLIP_POINTS),
    Case("logaddexp(x, y)", lambda x, y: sp.log(sp.exp(x) + sp.exp(y)), XY),
    Case("logaddexp(x * y, y) * x", lambda x, y: sp.log(sp.exp(x * y) + sp.exp(y)) * x, XY),
    Case("arctan2(y, x)", lambda x, y: sp.atan2(y, x), XY),
    Case("power(x, y)", lambda x, y: x**y, XY),
    Case("sinc(x * y)", lambda x, y: sp.sin(sp.pi * x * y) / (sp.pi * x * y),
         pts(x=[1.3, 0.4, -0.45], y=[0.7, 2.0, 3.1])),
    Case("clip(x, None, hi) + clip(x, lo, None) * x", lambda x, lo, hi: (
        sp.Min(x, hi) + sp.Max(x, lo) * x), CLIP_POINTS[:3]),
    Case("logaddexp2(x, y)", lambda x, y: sp.log(2**x + 2**y, 2), XY),
    Case("add(x, y) * subtract(x, y) + multiply(x, y) / divide(x, y) - true_divide(y, x)",
         lambda x, y: (x + y) * (x - y) + y**2 - y / x, XY),
    Case("negative(x) * positive(y) + float_power(x, y)", lambda x, y: -x * y + x**y, XY),
    Case("maximum(x, y) * minimum(x * y, y)", lambda x, y: sp.Max(x, y) * sp.Min(x * y, y),
         XY),
    Case("fmax(x, y) + fmin(x, y**2)", lambda x, y: sp.Max(x, y) + sp.Min(x, y**2), XY),
]

_SYMPY_COMPARE = {"<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge, "==": sp.Eq, "!=": sp.Ne}
COMPARISONS = [
    Case(f"where(x {op} y, x * y**2, exp(x - y))",
         lambda x, y, rel=rel: sp.Piecewise((x * y**2, rel(x, y)), (sp.exp(x - y), True)),
         pts(x=[1.0, 2.0, 1.5], y=[2.0, 1.0, 1.5]))
    for op, rel in _SYMPY_COMPARE.items()
]

NUMBERS = [
    Case("2.5*x + .5*y + 1e-3*x*y + 6.02E-23*x", lambda x, y: (
        sp.Rational(2.5) * x + sp.Rational(0.5) * y + sp.Rational(1e-3) * x * y
        + sp.Rational(6.02e-23) * x), XY),
    Case("pi * x + e ** x", lambda x: PI * x + E**x, pts(x=[-0.5, 1.5])),
    Case("x / y - y / x", lambda x, y: x / y - y / x, XY),
    Case("(x - y) ** 2 / (x + y)", lambda x, y: (x - y) ** 2 / (x + y), XY[:1] + XY[2:]),
]

A23 = [[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]]
A33 = [[2.0, -1.0, 0.5], [0.3, 1.5, -0.7], [1.1, 0.2, 3.0]]
M22 = ({"M": [[1.5, -0.4], [0.7, 2.2]]}, {"M": [[-1.2, 0.9], [0.3, 0.8]]})
M33 = ({"M": [[2.0, 0.3, -0.5], [0.4, 1.7, 0.2], [-0.6, 0.1, 1.3]]},
       {"M": [[1.1, -0.8, 0.2], [0.5, 2.3, -0.4], [0.9, 0.6, -1.7]]})
M23 = ({"M": [[1.2, -0.5, 2.0], [0.3, 1.1, -0.8]]},)
V5 = ({"v": [1.5, -0.7, 2.0, 0.3, -1.1]},)

LINALG = [
    Case("sum(v)", lambda v: total(v), V5),
    Case("prod(v)", lambda v: product(v), (*V5, {"v": [2.0, 0.0, -1.5, 0.5, 3.0]})),
    Case("prod(M)", lambda M: product(M), M23),
    Case("mean(v)", lambda v: total(v) / 5, V5),
    Case("mean(M)", lambda M: total(M) / 6, M23),
    Case("dot(a, b)", lambda a, b: (a.T * b)[0], ({"a": [1.0, -2.0, 0.5], "b": [0.3, 0.7, -1.1]},)),
    Case("dot(M, v)", lambda M, v: M * v, ({"M": M23[0]["M"], "v": [0.3, 0.7, -1.1]},),
         shape=(2,)),
    Case("dot(x, y)", lambda x, y: x * y, XY),
    Case("norm(v)", lambda v: norm(v), V5),
    Case("norm(M)", lambda M: norm(M), M23),
    Case("trace(M)", lambda M: M.trace(), M33),
    Case("trace(A @ M)", lambda A, M: (A * M).trace(), M33, constants={"A": A33}),
    Case("transpose(M)", lambda M: M.T, M23, shape=(3, 2)),
    Case("det(M)", lambda M: M.det(), M22 + M33),
    Case("np.linalg.det(M) * torch.linalg.det(M)", lambda M: M.det() ** 2, M22),
    Case("inv(M)[0, 1]", lambda M: inverse(M)[0, 1], M33),
    Case("inv(M)", lambda M: inverse(M), M22 + M33[:1]),
    Case("sum(inv(M) @ b)", lambda M, b: total(inverse(M) * b), M22, constants={"b": [1.0, -2.0]}),
    Case("x @ A @ x", lambda x, A: (x.T * A * x)[0], pts(x=[[0.3, -1.2, 2.0], [1.0, 1.0, 1.0]]),
         constants={"A": A33}),
    Case("A @ x", lambda x, A: A * x, pts(x=[[0.3, -1.2, 2.0]]), constants={"A": A23}, shape=(2,)),
    Case("sum(sin(A @ x) * c)", lambda x, A, c: total(
        [sp.sin(a) * b for a, b in zip(A * x, c, strict=True)]), pts(x=[[0.3, -1.2, 2.0]]),
        constants={"A": A23, "c": [0.5, -2.0]}),
    Case("M @ N", lambda M, N: M * N,
         ({"M": M23[0]["M"], "N": [[0.4, 1.0], [-0.2, 0.3], [1.5, -0.6]]},), shape=(2, 2)),
    Case("v @ w", lambda v, w: (v.T * w)[0], ({"v": [1.0, 2.0, -0.5], "w": [0.3, 0.2, 0.1]},)),
    Case("v @ M @ w", lambda v, M, w: (v.T * M * w)[0],
         ({"v": [1.0, 2.0], "M": M23[0]["M"], "w": [0.3, 0.2, 0.1]},)),
    Case("x * exp(M) @ v", lambda x, M, v: x * M.applyfunc(sp.exp) * v,
         ({"x": 0.5, "M": M22[0]["M"], "v": [0.3, -0.9]},), shape=(2,)),
]

PREFIXES_AND_SUGAR = [
    Case("torch.special.bessel_j0(x) * torch.special.bessel_j1(x) + bessel_y0(x) - bessel_y1(x)"
         " + torch.special.modified_bessel_i0(x) * modified_bessel_i1(x)",
         lambda x: sp.besselj(0, x) * sp.besselj(1, x) + sp.bessely(0, x) - sp.bessely(1, x)
         + sp.besseli(0, x) * sp.besseli(1, x), pts(x=[0.3, 2.0])),
    Case("scipy.special.gammaln(x) * special.j0(x) + torch.special.digamma(x) - math.lgamma(x)"
         " + torch.erfinv(x / 4) * math.gamma(x)",
         lambda x: sp.loggamma(x) * sp.besselj(0, x) + sp.digamma(x) - sp.loggamma(x)
         + sp.erfinv(x / 4) * sp.gamma(x), pts(x=[0.3, 2.0])),
    Case("np.sin(x) + numpy.exp(x) * torch.tanh(x) - math.log(x)",
         lambda x: sp.sin(x) + sp.exp(x) * sp.tanh(x) - sp.log(x), pts(x=[0.3, 2.0])),
    Case("torch.sqrt(x) * math.cos(x) + np.abs(x - 3)",
         lambda x: sp.sqrt(x) * sp.cos(x) + sp.Abs(x - 3), pts(x=[0.3, 4.0])),
    Case("np.linalg.inv(M)[1, 0] + torch.linalg.det(M)", lambda M: inverse(M)[1, 0] + M.det(), M22),
    Case("math.pi * x + np.e", lambda x: PI * x + E, pts(x=[0.5])),
    Case("np.sum(v) * np.mean(v) + torch.prod(v)", lambda v: total(v) * total(v) / 5 + product(v),
         V5),
    Case("(A @ x).sum()", lambda x, A: total(A * x), pts(x=[[0.3, -1.2, 2.0], [5.0, 0.0, -3.0]]),
         constants={"A": A23}),
    Case("v.mean() * v.sum()", lambda v: total(v) ** 2 / 5, V5),
    Case("v.prod() + v.dot(v)", lambda v: product(v) + total([a * a for a in v]), V5),
    Case("M.T", lambda M: M.T, M23, shape=(3, 2)),
    Case("M.T @ w", lambda M, w: M.T * w, ({"M": M23[0]["M"], "w": [0.5, -1.5]},), shape=(3,)),
    Case("(M @ M.T).sum()", lambda M: total(M * M.T), M23),
    Case("sin(M).T.sum() * x", lambda M, x: total(M.applyfunc(sp.sin)) * x,
         ({"M": M23[0]["M"], "x": 1.5},)),
]

V4 = ({"v": [1.5, -0.7, 2.0, 0.3]},)
INDEXING = [
    Case("v[-1]", lambda v: v[3], V4, shape=()),
    Case("v[0] * v[-2]", lambda v: v[0] * v[2], V4),
    Case("M[1, 2]", lambda M: M[1, 2], M23, shape=()),
    Case("M[1][2] * M[0, 0]", lambda M: M[1, 2] * M[0, 0], M23),
    Case("v[1:3]", lambda v: [v[1], v[2]], V4, shape=(2,)),
    Case("v[-2:]", lambda v: [v[2], v[3]], V4, shape=(2,)),
    Case("v[::2]", lambda v: [v[0], v[2], v[4]], V5, shape=(3,)),
    Case("v[1::2]", lambda v: [v[1], v[3]], V5, shape=(2,)),
    Case("v[::-1]", lambda v: [v[3], v[2], v[1], v[0]], V4, shape=(4,)),
    Case("v[3:0:-1]", lambda v: [v[3], v[2], v[1]], V4, shape=(3,)),
    Case("M[:, 0]", lambda M: [M[0, 0], M[1, 0]], M23, shape=(2,)),
    Case("M[0]", lambda M: [M[0, 0], M[0, 1], M[0, 2]], M23, shape=(3,)),
    Case("M[:, 1:]", lambda M: [[M[0, 1], M[0, 2]], [M[1, 1], M[1, 2]]], M23, shape=(2, 2)),
    Case("M[1, ::-1]", lambda M: [M[1, 2], M[1, 1], M[1, 0]], M23, shape=(3,)),
    Case("sum(v[1:] * v[:-1])", lambda v: sum(v[i] * v[i - 1] for i in range(1, 4)), V4),
    Case("sum(sin(M[:, 1:]) * M[0, :2])", lambda M: sum(
        sp.sin(M[i, j + 1]) * M[0, j] for i in range(2) for j in range(2)), M23),
]

BROADCASTING = [
    Case("v + x", lambda v, x: [a + x for a in v], ({"v": [1.0, -2.0, 0.5], "x": 0.3},),
         shape=(3,)),
    Case("M * v", lambda M, v: [[M[i, j] * v[j] for j in range(3)] for i in range(2)],
         ({"M": M23[0]["M"], "v": [0.3, 0.7, -1.1]},), shape=(2, 3)),
    Case("M - v", lambda M, v: [[M[i, j] - v[j] for j in range(3)] for i in range(2)],
         ({"M": M23[0]["M"], "v": [0.3, 0.7, -1.1]},), shape=(2, 3)),
    Case("x * M + c", lambda x, M, c: [[x * M[i, j] + c for j in range(3)] for i in range(2)],
         ({"x": 1.5, "M": M23[0]["M"]},), constants={"c": 2.0}, shape=(2, 3)),
    Case("v * [[1], [2]]", lambda v: [[a for a in v], [2 * a for a in v]],
         ({"v": [1.0, -2.0, 0.5]},), shape=(2, 3)),
    Case("sum(exp(M) * v) + x * sum(v)",
         lambda M, v, x: sum(sp.exp(M[i, j]) * v[j] for i in range(2) for j in range(3))
         + x * total(v), ({"M": M23[0]["M"], "v": [0.3, 0.7, -1.1], "x": 0.9},)),
    Case("sum((v - x) ** 2) / x", lambda v, x: total([(a - x) ** 2 for a in v]) / x,
         ({"v": [1.0, -2.0, 0.5], "x": 0.3},)),
]

LISTS = [
    Case("[x*y, sin(x), x**2 + y, exp(y)]",  # tall: 2 inputs -> 4 outputs, forward mode
         lambda x, y: [x * y, sp.sin(x), x**2 + y, sp.exp(y)], XY, shape=(4,)),
    Case("[sum(v**2), prod(v)]",  # wide: 5 inputs -> 2 outputs, reverse mode
         lambda v: [total([a**2 for a in v]), product(v)], V5, shape=(2,)),
    Case("[x*y*z, x + y + z]", lambda x, y, z: [x * y * z, x + y + z],  # wide (3 -> 2)
         pts(x=[1.0, -0.5], y=[2.0, 0.3], z=[0.7, 1.1]), shape=(2,)),
    Case("[[x, y], [x*y, 1]]", lambda x, y: [[x, y], [x * y, 1]], XY, shape=(2, 2)),
    Case("[x, y]", lambda x, y: [x, y], XY, shape=(2,)),
    Case("[x]", lambda x: [x], pts(x=[1.5]), shape=(1,)),
    Case("[v[0]**2, v[0]*v[1], sin(v[1])]", lambda v: [v[0] ** 2, v[0] * v[1], sp.sin(v[1])],
         ({"v": [1.0, 2.0]}, {"v": [-0.3, 0.8]}), shape=(3,)),
    Case("[x * v, v / x]", lambda x, v: [[x * a for a in v], [a / x for a in v]],
         ({"x": 2.0, "v": [1.0, -2.0]},), shape=(2, 2)),
    Case("sum([x, x**2, [x, y][1] * x])", lambda x, y: x + x**2 + y * x, XY),
    Case("[[x, y], [z, w]][1, 0] * w",  # reverse mode through a stack of rows
         lambda x, y, z, w: z * w, pts(x=[1.0], y=[2.0], z=[3.0], w=[4.0])),
    Case("sum([[x, y], [z, w]] * [[1, 10], [100, 1000]])",
         lambda x, y, z, w: x + 10 * y + 100 * z + 1000 * w,
         pts(x=[1.0], y=[2.0], z=[3.0], w=[4.0])),
    Case("[sign(x) + y, y]",  # x's derivative is identically zero (forward mode: 2 <= 2)
         lambda x, y: [sp.sign(x) + y, y], XY, shape=(2,)),
    Case("[sign(x) + y, y]",  # ... and with a third, unused variable: reverse mode (3 > 2)
         lambda x, y, z: [sp.sign(x) + y, y], pts(x=[1.3], y=[0.7], z=[2.0]), shape=(2,)),
    Case("x**2 + y",  # second derivatives identically zero in y
         lambda x, y: x**2 + y, XY),
    Case("x * y + z",
         lambda x, y, z: x * y + z, pts(x=[1.0], y=[2.0], z=[3.0])),
    Case("sum(v) + x", lambda v, x: total(v) + x, ({"v": [1.0, 2.0], "x": 3.0},)),
]

SUBSETS = [
    Case("x**2 * y + sin(z) * x + y * z", lambda x, y, z: x**2 * y + sp.sin(z) * x + y * z,
         pts(x=[1.0, -0.5], y=[2.0, 0.3], z=[0.7, 1.1]), variables=("z", "x")),
    Case("x**2 * y + sin(z) * x + y * z", lambda x, y, z: x**2 * y + sp.sin(z) * x + y * z,
         pts(x=[1.0], y=[2.0], z=[0.7]), variables=("y",)),
    Case("[x * y, exp(z) * y, z]", lambda x, y, z: [x * y, sp.exp(z) * y, z],
         pts(x=[1.0], y=[2.0], z=[0.7]), variables=("z", "y"), shape=(3,)),
    Case("v @ w + x * sum(w)", lambda v, w, x: (v.T * w)[0] + x * total(w),
         ({"v": [1.0, 2.0, -0.5], "w": [0.3, 0.2, 0.1], "x": 1.5},), variables=("w", "x")),
]

# Functions with keyword and static arguments, one case each (their peers' cases:
# test_axis_arrays_linalg.py).
SPD22 = ({"M": [[2.0, 0.5], [0.5, 1.5]]},)
WITH_KEYWORDS = [
    Case("amax(M, axis=0)", lambda M: [M[0, 0], M[1, 1], M[0, 2]], M23, shape=(3,)),
    Case("amin(v)", lambda v: v[4], V5),
    Case("var(v, ddof=1)", lambda v: total([(e - total(v) / 5) ** 2 for e in v]) / 4, V5),
    Case("std(v)", lambda v: sp.sqrt(total([(e - total(v) / 5) ** 2 for e in v]) / 5), V5),
    Case("cumsum(v)[3]", lambda v: v[0] + v[1] + v[2] + v[3], V5),
    Case("cumprod(v)[2]", lambda v: v[0] * v[1] * v[2], V5),
    Case("logsumexp(v)", lambda v: sp.log(total([sp.exp(e) for e in v])), V5),
    Case("logsumexp(v, b=v**2)", lambda v: sp.log(total([e**2 * sp.exp(e) for e in v])), V5),
    Case("trace(M, offset=1) * trace(M)", lambda M: (M[0, 1] + M[1, 2]) * (M[0, 0] + M[1, 1]),
         M23),
    Case("softmax(v)[1]", lambda v: sp.exp(v[1]) / total([sp.exp(e) for e in v]), V5),
    Case("reshape(M, (3, 2))[2, 0]", lambda M: M[1, 1], M23),
    Case("concatenate([v, v])[6]", lambda v: v[1], V5),
    Case("stack([v, v], axis=1)[1, 1]", lambda v: v[1], V5),
    Case("outer(v, v)[1, 2]", lambda v: v[1] * v[2], V5),
    Case("inner(v, v)", lambda v: total([e * e for e in v]), V5),
    Case("sum(diag(v))", lambda v: total(v), V5),
    Case("diagonal(M)", lambda M: [M[0, 0], M[1, 1]], M23, shape=(2,)),
    Case("sum(triu(M))", lambda M: M[0, 0] + M[0, 1] + M[0, 2] + M[1, 1] + M[1, 2], M23),
    Case("sum(tril(M))", lambda M: M[0, 0] + M[1, 0] + M[1, 1], M23),
    Case("flip(v)[0]", lambda v: v[4], V5),
    Case("flipud(M)[0, 1] * fliplr(M)[1, 0]", lambda M: M[1, 1] * M[1, 2], M23),
    Case("solve(M, b)[0]", lambda M, b: (inverse(M) * b)[0], M22,
         constants={"b": [1.0, -2.0]}),
    Case("slogdet(M)[1]", lambda M: sp.log(sp.Abs(M.det())), M22),
    Case("cholesky(M)[1, 1]", lambda M: sp.sqrt(M[1, 1] - ((M[0, 1] + M[1, 0]) / 2) ** 2
                                                  / M[0, 0]), SPD22),
    Case("matmul(M, M.mT)[0, 1]", lambda M: total([M[0, j] * M[1, j] for j in range(3)]), M23),
    Case("matrix_transpose(M)[2, 1]", lambda M: M[1, 2], M23),
    Case("transpose(M, (1, 0))[2, 1] * swapaxes(M, 0, 1)[0, 1]", lambda M: M[1, 2] * M[1, 0],
         M23),
    Case("moveaxis(M, 0, 1)[1, 0] + ravel(M)[4] + M.flatten()[5]",
         lambda M: M[0, 1] + M[1, 1] + M[1, 2], M23),
    Case("squeeze(expand_dims(M, 0))[1, 2] * M[:1].squeeze(axis=0)[1]",
         lambda M: M[1, 2] * M[0, 1], M23),
    Case("repeat(M, 2, axis=1)[1, 3] * roll(M, 1, axis=1)[0, 0]",
         lambda M: M[1, 1] * M[0, 2], M23),
    Case("rot90(M)[0, 1] + append(M, v)[6]", lambda M, v: M[1, 2] + v[0], M23,
         constants={"v": [0.5, -1.5]}),
    Case("tensordot(M, M, 2) + sum(array([M[0], M[1]])) * asarray(M)[0, 0]",
         lambda M: total([e * e for e in M]) + total(list(M)) * M[0, 0], M23),
]

CASES: list[Case] = [*_unary_cases(), *BINARY, *COMPARISONS, *NUMBERS, *LINALG,
                     *PREFIXES_AND_SUGAR, *INDEXING, *BROADCASTING, *LISTS, *SUBSETS,
                     *NUMPY_EXTRAS, *WITH_KEYWORDS]

FUNCTIONS_EXERCISED = [
    "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh",
    "atanh", "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "cbrt", "abs", "sign",
    "erf", "erfc", "sigmoid", "softplus", "relu", "pow", "atan2", "hypot", "max", "min",
    "where", "sum", "prod", "mean", "dot", "norm", "trace", "transpose", "det", "inv",
    "gamma", "lgamma", "gammaln", "digamma", "psi", "polygamma", "beta", "erfinv", "erfcinv",
    "j0", "j1", "jv", "y0", "y1", "yv", "i0", "i1", "iv", "bessel_j0", "bessel_j1", "bessel_y0",
    "bessel_y1", "modified_bessel_i0", "modified_bessel_i1", "jn", "yn",
    "floor", "ceil", "round", "floor_divide", "mod", "clip", "logit", "logaddexp", "sinc",
    "square", "rsqrt", "reciprocal", "exp2", "deg2rad", "rad2deg", "arcsin", "arccos", "arctan",
    "arcsinh", "arccosh", "arctanh", "arctan2", "absolute", "fabs", "power", "expit",
    "remainder", "clamp", "radians", "degrees", "logaddexp2", "add", "subtract", "multiply",
    "divide", "true_divide", "negative", "positive", "float_power", "maximum", "minimum", "fmax",
    "fmin",
    "amax", "amin", "var", "std", "cumsum", "cumprod", "logsumexp", "softmax", "reshape",
    "concatenate", "stack", "outer", "inner", "diag", "diagonal", "triu", "tril", "flip",
    "flipud", "fliplr",
    "solve", "slogdet", "cholesky", "matmul", "matrix_transpose", "swapaxes", "moveaxis", "ravel",
    "flatten", "squeeze", "expand_dims", "repeat", "roll", "rot90", "append", "tensordot",
    "array", "asarray",
]
"""Every function of the language; each is called in at least one case of CASES (checked below,
and against engine.functions.FUNCTIONS in test_primitive_table.py)."""


@pytest.mark.parametrize("case", CASES, ids=[c.expression for c in CASES])
def test_against_sympy(case: Case, check: Any) -> None:
    check(case.expression, case.builder, case.points, constants=case.constants,
          variables=case.variables, shape=case.shape, rtol=case.rtol)


def test_every_function_is_called_in_some_case() -> None:
    assert set(FUNCTIONS) <= set(FUNCTIONS_EXERCISED), set(FUNCTIONS) - set(FUNCTIONS_EXERCISED)
    expressions = [c.expression for c in CASES]
    for name in FUNCTIONS_EXERCISED:
        call = re.compile(rf"(?<![\w]){name}\(")
        assert any(call.search(e) for e in expressions), f"no case calls {name}()"
    assert any(".T" in e for e in expressions)


# ---------------------------------------------------------------- API.md §3 seed cases

def test_seed_gradient_of_a_polynomial(close: Any) -> None:
    out = engine.gradient(expression="x**2 + 3*x + 1", point={"x": 2})
    close(out["value"], 11.0)
    close(out["gradient"]["x"], 7.0)
    assert out["shape"] == [] and out["variables"] == ["x"] and out["warnings"] == []


@pytest.mark.parametrize("x", [[0.0, 0.0, 0.0], [1.5, -2.0, 7.25], [1e3, -1e-3, 3.0]])
def test_seed_gradient_of_a_matrix_product_sum(x: list[float], close: Any) -> None:
    out = engine.gradient(expression="(A @ x).sum()", point={"x": x}, constants={"A": A23})
    close(out["gradient"]["x"], [2.0, 4.0, 1.0])
    close(out["value"], 2 * x[0] + 4 * x[1] + x[2])
    assert out["variables"] == ["x"]


def test_seed_jacobian_of_a_list(close: Any) -> None:
    out = engine.jacobian(expression="[v[0]**2, v[0]*v[1], sin(v[1])]", point={"v": [1, 2]})
    expected = [[2.0, 0.0], [2.0, 1.0], [0.0, -0.4161468365471424]]
    close(out["jacobian"], expected)
    with mpmath.workdps(50):
        cos2, sin2 = float(mpmath.cos(2)), float(mpmath.sin(2))
    close(out["jacobian"][2, 1], cos2)
    close(out["value"], [1.0, 2.0, sin2])
    assert out["rows"] == ["f[0]", "f[1]", "f[2]"]
    assert out["columns"] == ["v[0]", "v[1]"]
    assert out["shape"] == [3]


def test_seed_hessian(close: Any, ref: Any) -> None:
    out = engine.hessian(expression="x**3 * y**2 + sin(x*y)", point={"x": 1, "y": 2})
    expected = [[20.362810292697273, 9.765258309801494],
                [9.765258309801494, 1.0907025731743183]]
    close(out["hessian"], expected)
    # The same from sympy, and the first derivatives by hand: (3x²y² + y cos xy, 2x³y + x cos xy).
    r = ref.reference(lambda x, y: x**3 * y**2 + sp.sin(x * y), {"x": 1.0, "y": 2.0})
    close(out["hessian"], r.hessian)
    close(out["gradient"], [12 + 2 * math.cos(2), 4 + math.cos(2)])
    close(out["value"], 4 + math.sin(2))
    assert out["columns"] == ["x", "y"]


# ---------------------------------------------------------------- labels, strategies, variables

def test_labels_of_matrix_outputs_and_variables() -> None:
    out = engine.jacobian(expression="M @ v", point={"M": [[1, 2], [3, 4]], "v": [1, 1]})
    assert out["rows"] == ["f[0]", "f[1]"]
    assert out["columns"] == ["M[0,0]", "M[0,1]", "M[1,0]", "M[1,1]", "v[0]", "v[1]"]
    np.testing.assert_array_equal(out["jacobian"], [[1, 1, 0, 0, 1, 2], [0, 0, 1, 1, 3, 4]])

    out = engine.jacobian(expression="[[x, y], [x*y, 1]]", point={"x": 2, "y": 3})
    assert out["rows"] == ["f[0,0]", "f[0,1]", "f[1,0]", "f[1,1]"]
    assert out["columns"] == ["x", "y"]
    np.testing.assert_array_equal(out["jacobian"], [[1, 0], [0, 1], [3, 2], [0, 0]])

    out = engine.hessian(expression="x * sum(v)", point={"x": 2, "v": [1, 2]})
    assert out["columns"] == ["x", "v[0]", "v[1]"]
    np.testing.assert_array_equal(out["hessian"], [[0, 1, 1], [1, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(out["gradient"], [3, 2, 2])

    out = engine.jacobian(expression="x * y", point={"x": 2, "y": 3})
    assert out["rows"] == ["f"] and out["jacobian"].shape == (1, 2)


def test_variables_select_and_order() -> None:
    point = {"x": 2.0, "y": 3.0, "z": 5.0}
    out = engine.gradient(expression="x * y * z", point=point, variables=["z", "x"])
    assert out["variables"] == ["z", "x"]
    assert list(out["gradient"]) == ["z", "x"]
    assert out["gradient"]["z"] == 6.0 and out["gradient"]["x"] == 15.0
    out = engine.jacobian(expression="[x * y, z]", point=point, variables=["y"])
    assert out["columns"] == ["y"]
    np.testing.assert_array_equal(out["jacobian"], [[2.0], [0.0]])
    out = engine.hessian(expression="x**2 * y * z", point=point, variables=["z", "x"])
    assert out["columns"] == ["z", "x"]
    np.testing.assert_array_equal(out["hessian"], [[0.0, 12.0], [12.0, 30.0]])


def test_constants_are_not_differentiated() -> None:
    out = engine.gradient(expression="c * x**2 + sum(A @ v)", point={"x": 3.0, "v": [1.0, 2.0]},
                          constants={"c": 2.0, "A": [[1.0, 2.0], [3.0, 4.0]]})
    assert out["variables"] == ["x", "v"]
    assert list(out["gradient"]) == ["x", "v"]
    assert out["gradient"]["x"] == 12.0
    np.testing.assert_array_equal(out["gradient"]["v"], [4.0, 6.0])


# ---------------------------------------------------------------- kinks: PyTorch's conventions

@pytest.mark.parametrize(("expression", "point", "value", "gradient", "hessian"), [
    ("abs(x)", {"x": 0.0}, 0.0, [0.0], [[0.0]]),
    ("abs(x)", {"x": -2.0}, 2.0, [-1.0], [[0.0]]),
    ("sign(x)", {"x": 0.0}, 0.0, [0.0], [[0.0]]),
    ("sign(x)", {"x": -3.0}, -1.0, [0.0], [[0.0]]),
    ("relu(x)", {"x": 0.0}, 0.0, [0.0], [[0.0]]),
    ("relu(x)", {"x": 1.0}, 1.0, [1.0], [[0.0]]),
    ("relu(x)", {"x": -1.0}, 0.0, [0.0], [[0.0]]),
    ("max(x, y)", {"x": 1.0, "y": 1.0}, 1.0, [0.5, 0.5], [[0.0, 0.0], [0.0, 0.0]]),
    ("min(x, y)", {"x": 1.0, "y": 1.0}, 1.0, [0.5, 0.5], [[0.0, 0.0], [0.0, 0.0]]),
    ("max(x, y)", {"x": 2.0, "y": 1.0}, 2.0, [1.0, 0.0], [[0.0, 0.0], [0.0, 0.0]]),
    ("min(x, y)", {"x": 2.0, "y": 1.0}, 1.0, [0.0, 1.0], [[0.0, 0.0], [0.0, 0.0]]),
    ("max(x, x)", {"x": 1.5}, 1.5, [1.0], [[0.0]]),
    ("max(x**2, 2*x)", {"x": 2.0}, 4.0, [3.0], [[1.0]]),  # tie: 0.5*2x + 0.5*2; 0.5*2
    ("where(x > 0, x**2, 3*x)", {"x": 0.0}, 0.0, [3.0], [[0.0]]),
    ("where(x >= 0, x**2, 3*x)", {"x": 0.0}, 0.0, [0.0], [[2.0]]),
    ("where(x > y, x*y, y**2)", {"x": 1.0, "y": 1.0}, 1.0, [0.0, 2.0], [[0.0, 0.0], [0.0, 2.0]]),
    ("where(x == y, x*y, y**2)", {"x": 1.0, "y": 1.0}, 1.0, [1.0, 1.0], [[0.0, 1.0], [1.0, 0.0]]),
    ("abs(x)**2", {"x": 0.0}, 0.0, [0.0], [[0.0]]),  # torch: d/dx(2|x| sign x) = 2 sign(x)² = 0
    ("relu(x) * x", {"x": 0.0}, 0.0, [0.0], [[0.0]]),
    ("pow(x, y)", {"x": 0.0, "y": 2.0}, 0.0, [0.0, 0.0], [[2.0, 0.0], [0.0, 0.0]]),
    ("x > y", {"x": 2.0, "y": 1.0}, 1.0, [0.0, 0.0], [[0.0, 0.0], [0.0, 0.0]]),
])
def test_kink_conventions(expression: str, point: dict[str, float], value: float,
                          gradient: list[float], hessian: list[list[float]]) -> None:
    out = engine.hessian(expression=expression, point=point)
    assert out["value"] == value
    np.testing.assert_array_equal(out["gradient"], gradient)
    np.testing.assert_array_equal(out["hessian"], hessian)
    out = engine.gradient(expression=expression, point=point)
    np.testing.assert_array_equal([out["gradient"][k] for k in point], gradient)


def test_kinks_elementwise_on_vectors() -> None:
    v, w = [1.0, 2.0, -3.0, 0.0], [1.0, 0.5, -3.0, 2.0]
    out = engine.jacobian(expression="max(v, w)", point={"v": v, "w": w})
    dv = np.diag([0.5, 1.0, 0.5, 0.0])
    np.testing.assert_array_equal(out["jacobian"], np.hstack([dv, np.eye(4) - dv]))
    out = engine.jacobian(expression="abs(v) + relu(v) + sign(v)", point={"v": [0.0, -2.0, 3.0]})
    np.testing.assert_array_equal(out["jacobian"], np.diag([0.0, -1.0, 2.0]))


def test_norm_at_zero_is_zero_as_pytorch() -> None:
    # torch.linalg.vector_norm(torch.zeros(2, requires_grad=True)).backward() -> grad [0., 0.];
    # engine/language/functions.py says so too ("PyTorch returns 0 there"), and API.md §1 asks for
    # PyTorch's derivative at kinks.
    out = engine.gradient(expression="norm(v)", point={"v": [0.0, 0.0]})
    assert out["value"] == 0.0
    np.testing.assert_array_equal(out["gradient"]["v"], [0.0, 0.0])


def test_sqrt_at_zero_is_infinite_as_pytorch() -> None:
    out = engine.gradient(expression="sqrt(x)", point={"x": 0.0})
    assert out["gradient"]["x"] == np.inf


# ---------------------------------------------------------------- accumulation and depth

@pytest.mark.parametrize(("expression", "x", "grad", "hess"), [
    ("x + x", 3.0, 2.0, 0.0),
    ("x * x", 3.0, 6.0, 2.0),
    ("x - x", 3.0, 0.0, 0.0),
    ("(x + x) * (x + x)", 1.5, 12.0, 8.0),
    ("x * x * x + x * x", 2.0, 16.0, 14.0),
    ("sin(x) + sin(x)", 0.5, 2 * math.cos(0.5), -2 * math.sin(0.5)),
    ("exp(x) * exp(x) / exp(x)", 0.5, math.exp(0.5), math.exp(0.5)),
])
def test_shared_subexpressions_accumulate(expression: str, x: float, grad: float, hess: float,
                                          close: Any) -> None:
    out = engine.hessian(expression=expression, point={"x": x})
    close(out["gradient"], [grad], 1e-14)
    close(out["hessian"], [[hess]], 1e-14)


def test_shared_subexpressions_accumulate_for_vectors() -> None:
    out = engine.jacobian(expression="v + v", point={"v": [1.0, 2.0, 3.0]})
    np.testing.assert_array_equal(out["jacobian"], 2 * np.eye(3))
    out = engine.gradient(expression="x * y + y * x", point={"x": 2.0, "y": 5.0})
    assert out["gradient"] == {"x": 10.0, "y": 4.0}


def test_a_sum_of_2000_terms() -> None:
    expression = "+".join(["x"] * 2000)
    out = engine.hessian(expression=expression, point={"x": 0.25})
    assert out["value"] == 500.0
    np.testing.assert_array_equal(out["gradient"], [2000.0])
    np.testing.assert_array_equal(out["hessian"], [[0.0]])
    expression = "+".join(f"x**{k % 4}" for k in range(2000))  # 500 each of 1, x, x², x³
    out = engine.gradient(expression=expression, point={"x": 2.0})
    assert out["value"] == 500 * (1 + 2 + 4 + 8)
    assert out["gradient"]["x"] == 500 * (1 + 4 + 12)


def test_a_product_of_1500_factors(close: Any) -> None:
    expression = "*".join(["x"] * 1500)
    x = 1.0005
    out = engine.hessian(expression=expression, point={"x": x})
    with mpmath.workdps(50):
        xm = mpmath.mpf(x)
        value, grad, hess = xm**1500, 1500 * xm**1499, 1500 * 1499 * xm**1498
    close(out["value"], float(value), 1e-11)
    close(out["gradient"], [float(grad)], 1e-11)
    close(out["hessian"], [[float(hess)]], 1e-11)


def test_nested_calls_150_deep(close: Any) -> None:
    depth = 150
    expression = "sin(" * depth + "x" + ")" * depth
    out = engine.gradient(expression=expression, point={"x": 1.0})
    with mpmath.workdps(50):
        value, deriv = mpmath.mpf(1), mpmath.mpf(1)
        for _ in range(depth):
            value, deriv = mpmath.sin(value), deriv * mpmath.cos(value)
    close(out["value"], float(value))
    close(out["gradient"]["x"], float(deriv), 1e-11)


def test_a_deep_vector_chain() -> None:
    expression = "sum(" + "*".join(["v"] * 1000) + ")"
    out = engine.gradient(expression=expression, point={"v": [1.0, -1.0, 0.0]})
    assert out["value"] == 2.0
    np.testing.assert_array_equal(out["gradient"]["v"], [1000.0, -1000.0, 0.0])
