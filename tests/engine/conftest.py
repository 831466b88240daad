"""Shared references for the engine tests: sympy expressions evaluated at 50 digits.

Nothing here asks the engine for an expected value. A test describes its function twice — as the
engine's expression string and as a sympy builder — and :func:`check_all` compares every
first-order operation of the engine (value, gradient, Jacobian, Hessian, JVP, VJP, HVP) with
sympy's exact derivatives evaluated by mpmath at 50 significant digits, at the exact binary
value of each float64 input. It is the engine counterpart of autograd's ``check_grads``.

The helpers are handed to the tests as fixtures (``ref``, ``check``, ``close``): two directories of
tests both have a ``conftest.py``, so importing this module by name would be ambiguous.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pytest
import sympy as sp

import engine

DPS = 50
"""Significant digits of every reference value."""
RTOL = 1e-12
"""Default relative tolerance against the references (float64 rounding is ~1e-16)."""

Builder = Callable[..., Any]


# ---------------------------------------------------------------- comparisons

def assert_close(actual: Any, expected: Any, rtol: float = RTOL, *, scale: Any = None,
                 what: str = "") -> None:
    """``actual`` equals ``expected`` up to ``rtol`` relative to the larger of each entry and
    ``scale`` (default: the largest entry of ``expected``), so that exact zeros next to large
    entries tolerate float64 rounding of the large ones. NaN matches NaN, ±inf must match.
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (
        f"{what}: shape {actual.shape} != expected {expected.shape}")
    finite = expected[np.isfinite(expected)]
    if scale is None:
        scale = float(np.max(np.abs(finite), initial=0.0))
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), expected.shape)
    atol = rtol * scale
    same_nonfinite = (~np.isfinite(expected)) & ((actual == expected)
                                                 | (np.isnan(actual) & np.isnan(expected)))
    good = same_nonfinite | (np.abs(actual - expected) <= rtol * np.abs(expected) + atol)
    assert good.all(), (f"{what}: mismatch at {np.argwhere(~good).tolist()}\n"
                        f"actual   {actual.tolist()}\nexpected {expected.tolist()}")


# ---------------------------------------------------------------- sympy side

def exact(x: Any) -> sp.Rational:
    """The exact rational value of a float64 (what the engine actually receives)."""
    return sp.Rational(float(x))


def symbols_like(name: str, value: Any) -> Any:
    """Real sympy symbols shaped like ``value``: a Symbol, an n×1 Matrix or an r×c Matrix.

    Entry symbols are named like the engine's labels (``v[0]``, ``M[1,2]``).
    """
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return sp.Symbol(name, real=True)
    if arr.ndim == 1:
        return sp.Matrix(arr.shape[0], 1,
                         [sp.Symbol(f"{name}[{i}]", real=True) for i in range(arr.shape[0])])
    if arr.ndim == 2:
        r, c = arr.shape
        return sp.Matrix(r, c, [sp.Symbol(f"{name}[{i},{j}]", real=True)
                                for i in range(r) for j in range(c)])
    raise NotImplementedError("references support scalars, vectors and matrices")


def constant_like(value: Any) -> Any:
    """A float64 constant as an exact sympy number or Matrix (vectors as n×1)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return exact(arr)
    if arr.ndim == 1:
        return sp.Matrix(arr.shape[0], 1, [exact(a) for a in arr])
    return sp.Matrix(arr.shape[0], arr.shape[1], [exact(a) for a in arr.ravel()])


def flat_symbols(sym: Any) -> list[sp.Symbol]:
    """The symbols of one variable in C order."""
    return list(sym) if isinstance(sym, sp.MatrixBase) else [sym]


def flatten(obj: Any) -> list[sp.Expr]:
    """A builder's output flattened in C order (Matrix rows first, nested lists in order)."""
    if isinstance(obj, sp.MatrixBase):
        return list(obj)
    if isinstance(obj, list | tuple):
        return [e for item in obj for e in flatten(item)]
    return [sp.sympify(obj)]


def shape_of(obj: Any) -> tuple[int, ...]:
    """The value shape a builder's output stands for (an n×1 Matrix is a vector)."""
    if isinstance(obj, sp.MatrixBase):
        return (obj.rows,) if obj.cols == 1 else (obj.rows, obj.cols)
    if isinstance(obj, list | tuple):
        return (len(obj), *shape_of(obj[0])) if obj else (0,)
    return ()


def num(expr: sp.Expr, subs: Mapping[sp.Symbol, sp.Rational]) -> float:
    """``expr`` at ``subs`` to 50 digits, rounded to the nearest float64."""
    value = sp.N(sp.sympify(expr).subs(subs), DPS)
    if value in (sp.oo, -sp.oo, sp.zoo, sp.nan):
        return {sp.oo: np.inf, -sp.oo: -np.inf}.get(value, np.nan)
    c = complex(value)
    assert abs(c.imag) <= 1e-40 * max(1.0, abs(c.real)), f"complex reference {value}"
    return c.real


@dataclass(frozen=True)
class Symbolic:
    """A function and its exact first and second derivatives, ready to evaluate."""

    outputs: list[sp.Expr]
    shape: tuple[int, ...]
    symbols: dict[str, Any]
    """Every variable's symbols (differentiated or not)."""
    wrt: list[sp.Symbol]
    """The differentiated symbols, flattened in ``variables`` order."""
    columns: list[str]
    jac: list[list[sp.Expr]]
    hess: list[list[sp.Expr]] | None


@cache
def _symbolic(key: Any, builder: Builder, names: tuple[tuple[str, Any], ...],
              consts: tuple[tuple[str, Any], ...], variables: tuple[str, ...],
              second: bool) -> Symbolic:
    symbols = {name: symbols_like(name, np.asarray(shape_example))
               for name, shape_example in names}
    env = {**symbols, **{k: constant_like(np.asarray(v)) for k, v in consts}}
    out = builder(**env)
    outputs = flatten(out)
    wrt = [s for v in variables for s in flat_symbols(symbols[v])]
    columns = [str(s) for s in wrt]
    jac = [[sp.diff(f, s) for s in wrt] for f in outputs]
    hess = None
    if second and shape_of(out) == ():
        n = len(wrt)
        hess = [[sp.Integer(0)] * n for _ in range(n)]
        for i in range(n):
            for j in range(i, n):
                hess[i][j] = hess[j][i] = sp.diff(jac[0][i], wrt[j])
    return Symbolic(outputs, shape_of(out), symbols, wrt, columns, jac, hess)


def _frozen(value: Any) -> Any:
    return np.asarray(value, dtype=np.float64).tolist()


def _hashable(obj: Any) -> Any:
    if isinstance(obj, list):
        return tuple(_hashable(o) for o in obj)
    return obj


@dataclass(frozen=True)
class Reference:
    """Exact answers at one point, rounded to float64."""

    value: np.ndarray
    """Shaped like the function's value."""
    shape: tuple[int, ...]
    jacobian: np.ndarray
    """(m, n): outputs flattened × differentiated entries flattened."""
    hessian: np.ndarray | None
    """(n, n) for a scalar-valued function."""
    columns: list[str]
    shapes: dict[str, tuple[int, ...]]
    """Shape of every differentiated variable."""
    variables: list[str]

    @property
    def gradient(self) -> np.ndarray:
        """The flat gradient of a scalar function."""
        return self.jacobian[0]

    def split(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """A flat vector over the differentiated entries, per variable in its shape."""
        out, offset = {}, 0
        for v in self.variables:
            size = int(np.prod(self.shapes[v], dtype=int))
            out[v] = flat[offset:offset + size].reshape(self.shapes[v])
            offset += size
        return out


def reference(builder: Builder, point: Mapping[str, Any],
              constants: Mapping[str, Any] | None = None,
              variables: Sequence[str] | None = None, *, second: bool = True,
              key: Any = None) -> Reference:
    """Exact value, Jacobian and (for scalar functions) Hessian of ``builder`` at ``point``.

    ``builder`` receives every variable as sympy symbols (scalars as Symbols, vectors as n×1
    Matrices, matrices as Matrices) and every constant as an exact number or Matrix, by name.
    ``key`` (e.g. the engine expression) caches the symbolic derivatives across points.
    """
    constants = constants or {}
    variables = tuple(point) if variables is None else tuple(variables)
    names = tuple((k, _hashable(_frozen(np.zeros(np.shape(v))))) for k, v in point.items())
    consts = tuple((k, _hashable(_frozen(v))) for k, v in constants.items())
    sym = _symbolic(key if key is not None else id(builder), builder, names, consts, variables,
                    second)
    subs = {}
    for name, value in point.items():
        arr = np.asarray(value, dtype=np.float64)
        for s, x in zip(flat_symbols(sym.symbols[name]), arr.ravel(), strict=True):
            subs[s] = exact(x)
    value = np.array([num(f, subs) for f in sym.outputs]).reshape(sym.shape)
    jac = np.array([[num(d, subs) for d in row] for row in sym.jac]).reshape(
        len(sym.outputs), len(sym.wrt))
    hess = None
    if sym.hess is not None:
        hess = np.array([[num(d, subs) for d in row] for row in sym.hess]).reshape(
            len(sym.wrt), len(sym.wrt))
    shapes = {v: np.shape(point[v]) for v in variables}
    return Reference(value, sym.shape, jac, hess, sym.columns, shapes, list(variables))


# ---------------------------------------------------------------- the checker

def _flat(values: Mapping[str, Any], variables: Sequence[str]) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(values[v], dtype=np.float64))
                           for v in variables])


def check_all(expression: str, builder: Builder, points: Sequence[Mapping[str, Any]], *,
              constants: Mapping[str, Any] | None = None,
              variables: Sequence[str] | None = None, shape: tuple[int, ...] | None = None,
              rtol: float = RTOL, seed: int = 0) -> None:
    """Every first-order operation of the engine on ``expression`` against sympy, per point.

    value and shape (evaluate); Jacobian with its row/column labels; JVP = J·t and
    VJP = Jᵀ·c for random t, c; for scalar functions also gradient, Hessian (with its flat
    gradient and columns) and HVP = H·v.
    """
    rng = np.random.default_rng(seed)
    for point in points:
        ref = reference(builder, point, constants, variables, key=expression)
        names = ref.variables
        if shape is not None:
            assert ref.shape == tuple(shape), "the builder does not match the declared shape"
        common = {"expression": expression, "point": point, "constants": constants,
                  "variables": None if variables is None else list(variables)}
        where = f"{expression} at {point}"

        out = engine.evaluate(**common)
        assert out["shape"] == list(ref.shape), where
        assert out["variables"] == names, where
        assert out["warnings"] == [], where
        assert_close(out["value"], ref.value, rtol, what=f"value of {where}")

        out = engine.jacobian(**common)
        assert out["columns"] == ref.columns, where
        rows = ["f"] if not ref.shape else [
            "f[" + ",".join(map(str, idx)) + "]" for idx in np.ndindex(*ref.shape)]
        assert out["rows"] == rows, where
        assert_close(out["value"], ref.value, rtol, what=f"jacobian value of {where}")
        assert_close(out["jacobian"], ref.jacobian, rtol, what=f"jacobian of {where}")

        tangent = {v: rng.uniform(-1.0, 1.0, ref.shapes[v]) for v in names}
        t = _flat(tangent, names)
        out = engine.jvp(tangent=tangent, **common)
        assert_close(out["value"], ref.value, rtol, what=f"jvp value of {where}")
        assert_close(np.ravel(out["jvp"]), ref.jacobian @ t, rtol,
                     scale=np.max(np.abs(ref.jacobian) @ np.abs(t), initial=0.0),
                     what=f"jvp of {where}")
        assert np.shape(out["jvp"]) == ref.shape, where

        cot = rng.uniform(-1.0, 1.0, ref.shape)
        out = engine.vjp(cotangent=cot, **common)
        c = np.ravel(cot)
        assert list(out["vjp"]) == names, where
        for v, arr in out["vjp"].items():
            assert np.shape(arr) == ref.shapes[v], where
        assert_close(_flat(out["vjp"], names), ref.jacobian.T @ c, rtol,
                     scale=np.max(np.abs(ref.jacobian.T) @ np.abs(c), initial=0.0),
                     what=f"vjp of {where}")

        if ref.hessian is None:
            continue
        out = engine.gradient(**common)
        assert list(out["gradient"]) == names, where
        for v, arr in out["gradient"].items():
            assert np.shape(arr) == ref.shapes[v], where
        assert_close(out["value"], ref.value, rtol, what=f"gradient value of {where}")
        assert_close(_flat(out["gradient"], names), ref.gradient, rtol,
                     what=f"gradient of {where}")

        out = engine.hessian(**common)
        assert out["columns"] == ref.columns, where
        assert_close(out["value"], ref.value, rtol, what=f"hessian value of {where}")
        assert_close(out["gradient"], ref.gradient, rtol, what=f"hessian's gradient of {where}")
        assert_close(out["hessian"], ref.hessian, rtol, what=f"hessian of {where}")

        vector = {v: rng.uniform(-1.0, 1.0, ref.shapes[v]) for v in names}
        w = _flat(vector, names)
        out = engine.hvp(vector=vector, **common)
        for v, arr in out["hvp"].items():
            assert np.shape(arr) == ref.shapes[v], where
        assert_close(_flat(out["hvp"], names), ref.hessian @ w, rtol,
                     scale=np.max(np.abs(ref.hessian) @ np.abs(w), initial=0.0),
                     what=f"hvp of {where}")


# ---------------------------------------------------------------- fixtures

class _Ref:
    """The helpers above, as one object (see the module docstring for why a fixture)."""

    DPS = DPS
    RTOL = RTOL
    exact = staticmethod(exact)
    num = staticmethod(num)
    reference = staticmethod(reference)
    symbols_like = staticmethod(symbols_like)
    check_all = staticmethod(check_all)
    assert_close = staticmethod(assert_close)


@pytest.fixture(scope="session")
def ref() -> type[_Ref]:
    """Reference helpers: ``ref.reference(builder, point, …)``, ``ref.num``, ``ref.exact``."""
    return _Ref


@pytest.fixture(scope="session")
def check() -> Callable[..., None]:
    """:func:`check_all`: every first-order operation of the engine against sympy."""
    return check_all


@pytest.fixture(scope="session")
def close() -> Callable[..., None]:
    """:func:`assert_close`: float64 results against 50-digit references."""
    return assert_close
