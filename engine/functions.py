"""The language's function table: name, arity, domain and derivative convention of each built-in.

Each entry builds its graph from primitives; composites (``log2``, ``hypot``, ``mean``, ``norm``,
``trace``, ``prod``, …) need no rules of their own. ``GET /v1/functions`` serves this table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from engine import primitives as P
from engine.errors import ShapeError
from engine.graph import Graph

Builder = Callable[..., int]


@dataclass(frozen=True)
class Function:
    """One built-in function of the expression language."""

    name: str
    arity: int
    build: Builder
    domain: str
    kinks: str
    description: str


FUNCTIONS: dict[str, Function] = {}


def _register(name: str, arity: int, build: Builder, domain: str, description: str,
              kinks: str = "smooth on its domain") -> None:
    FUNCTIONS[name] = Function(name, arity, build, domain, kinks, description)


def power(g: Graph, a: int, b: int) -> int:
    """``a ** b``: a constant exponent becomes ``powc`` (exact at a = 0 for integer powers)."""
    p = P.scalar_value(g, b)
    if p is not None:
        out = P.powc(g, a, p)
        return P.broadcast_to(g, out, P.broadcast_shapes("**", g.nodes[out].shape,
                                                         g.nodes[b].shape))
    return P.emit(g, "pow", a, b)


def _unary(op: str) -> Builder:
    return lambda g, x: P.unary(g, op, x)


_ELEMENTWISE = [
    ("sin", "all reals", "sine"),
    ("cos", "all reals", "cosine"),
    ("tan", "x != pi/2 + k*pi", "tangent"),
    ("asin", "[-1, 1]; derivative infinite at ±1", "inverse sine"),
    ("acos", "[-1, 1]; derivative infinite at ±1", "inverse cosine"),
    ("atan", "all reals", "inverse tangent"),
    ("sinh", "all reals", "hyperbolic sine"),
    ("cosh", "all reals", "hyperbolic cosine"),
    ("tanh", "all reals", "hyperbolic tangent"),
    ("asinh", "all reals", "inverse hyperbolic sine"),
    ("acosh", "[1, inf); derivative infinite at 1", "inverse hyperbolic cosine"),
    ("atanh", "(-1, 1)", "inverse hyperbolic tangent"),
    ("exp", "all reals", "exponential"),
    ("expm1", "all reals", "exp(x) - 1, accurate near 0"),
    ("log", "(0, inf); log(0) = -inf", "natural logarithm"),
    ("log1p", "(-1, inf)", "log(1 + x), accurate near 0"),
    ("sqrt", "[0, inf); derivative infinite at 0", "square root"),
    ("cbrt", "all reals; derivative infinite at 0", "cube root"),
    ("erf", "all reals", "error function"),
    ("erfc", "all reals", "complementary error function"),
    ("sigmoid", "all reals", "logistic function 1/(1+exp(-x))"),
    ("softplus", "all reals", "log(1 + exp(x)), computed stably"),
]
for _name, _domain, _desc in _ELEMENTWISE:
    _register(_name, 1, _unary(_name), _domain, _desc)

_register("abs", 1, _unary("abs"), "all reals", "absolute value",
          kinks="abs'(0) = 0 (= sign(0)), at every order, as PyTorch")
_register("sign", 1, _unary("sign"), "all reals", "sign: -1, 0 or 1",
          kinks="derivative 0 everywhere, as PyTorch")
_register("relu", 1, _unary("relu"), "all reals", "max(x, 0)",
          kinks="relu'(0) = 0, as PyTorch")
_register("log2", 1, lambda g, x: P.scale(g, 1.0 / math.log(2.0), P.unary(g, "log", x)),
          "(0, inf)", "base-2 logarithm")
_register("log10", 1, lambda g, x: P.scale(g, 1.0 / math.log(10.0), P.unary(g, "log", x)),
          "(0, inf)", "base-10 logarithm")
_register("pow", 2, power, "a > 0, or any a with a constant exponent", "a ** b")
_register("atan2", 2, lambda g, y, x: P.emit(g, "atan2", y, x), "(y, x) != (0, 0)",
          "angle of the point (x, y)")
_register("hypot", 2, lambda g, a, b: P.unary(g, "sqrt", P.add(g, P.mul(g, a, a),
                                                                P.mul(g, b, b))),
          "all reals; derivative undefined at (0, 0)", "sqrt(a**2 + b**2)")
_register("max", 2, lambda g, a, b: P.emit(g, "max", a, b), "all reals", "elementwise maximum",
          kinks="a tie splits the derivative 0.5/0.5, as PyTorch")
_register("min", 2, lambda g, a, b: P.emit(g, "min", a, b), "all reals", "elementwise minimum",
          kinks="a tie splits the derivative 0.5/0.5, as PyTorch")
_register("where", 3, lambda g, c, a, b: P.where(g, P.cmp(g, "ne", c, g.const(0.0)), a, b),
          "cond is a comparison (nonzero = true)", "a where cond holds, else b",
          kinks="the derivative follows the chosen branch; cond has none")


def _size(g: Graph, x: int) -> int:
    return math.prod(g.nodes[x].shape)


def prod_all(g: Graph, x: int) -> int:
    """Product of all elements by pairwise halving: O(log n) nodes, exact at zeros."""
    n = _size(g, x)
    if n == 0:
        return g.const(1.0)
    v = P.reshape(g, x, (n,))
    tails = []
    while n > 1:
        half = n // 2
        if n % 2:
            tails.append(P.index(g, v, (n - 1,), ()))
        evens = P.index(g, v, (("s", 0, 2 * half, 2),), (half,))
        odds = P.index(g, v, (("s", 1, 2 * half, 2),), (half,))
        v, n = P.mul(g, evens, odds), half
    out = P.index(g, v, (0,), ())
    for t in tails:
        out = P.mul(g, out, t)
    return out


def dot(g: Graph, a: int, b: int) -> int:
    """NumPy's ``dot`` for scalars, vectors and matrices."""
    if not g.nodes[a].shape or not g.nodes[b].shape:
        return P.mul(g, a, b)
    return P.matmul(g, a, b)


def trace(g: Graph, m: int) -> int:
    """Sum of the diagonal of a square matrix."""
    P.square(g, m)
    n = g.nodes[m].shape[0]
    return P.sum_all(g, P.mul(g, m, g.const(P.np.eye(n))))


def _matrix_op(op: str) -> Builder:
    def build(g: Graph, m: int) -> int:
        P.square(g, m)
        shape = g.nodes[m].shape
        return P.emit(g, op, m, shape=shape if op == "inv" else ())
    return build


def _mean(g: Graph, x: int) -> int:
    n = _size(g, x)
    if n == 0:
        raise ShapeError("mean of an empty tensor")
    return P.div(g, P.sum_all(g, x), g.const(float(n)))


_register("sum", 1, P.sum_all, "tensors", "sum of all elements")
_register("prod", 1, prod_all, "tensors", "product of all elements")
_register("mean", 1, _mean, "non-empty tensors", "mean of all elements")
_register("dot", 2, dot, "vectors (matrices: matrix product)", "dot product")
_register("norm", 1, P.norm, "tensors", "Euclidean (Frobenius) norm",
          kinks="derivative 0 at the zero vector, as PyTorch (its Taylor series there: NaN)")
_register("trace", 1, trace, "square matrices", "sum of the diagonal")
_register("transpose", 1, P.transpose, "tensors of rank ≤ 2", "matrix transpose")
_register("det", 1, _matrix_op("det"), "square matrices", "determinant",
          kinks="derivative via inv(M): undefined (NaN) where M is singular")
_register("inv", 1, _matrix_op("inv"), "non-singular square matrices",
          "matrix inverse; NaN where singular")

CONSTANTS = {"pi": math.pi, "e": math.e}
