"""The language's function table: name, arity, domain and derivative convention of each built-in.

Each entry builds its graph from primitives; composites (``log2``, ``hypot``, ``mean``, ``norm``,
``trace``, ``prod``, …) need no rules of their own. ``GET /v1/functions`` serves this table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.errors import ArityError, EngineError, ShapeError
from engine.ir import emit as P
from engine.ir.graph import Graph
from engine.ir.ops import PRIMITIVES, Op
from engine.ir.special import bessel, polygamma
from engine.language import arrays as A
from engine.language import linalg as L
from engine.language import rearrange as Q
from engine.language import reductions as R
from engine.language.signatures import Kind, Param, Signature

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
    signature: Signature | None = None
    """Set for functions with keyword or static arguments: ``build(g, **arguments)``."""


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
    return P.emit(g, Op.POW, a, b)


def _applies(op: Op) -> Builder:
    return lambda g, *args: P.emit(g, op, *args)


# Every op documented as a language function is one, built by applying the op.
for _prim in PRIMITIVES.values():
    if _prim.doc is not None:
        assert _prim.arity is not None
        _register(str(_prim.name), _prim.arity, _applies(_prim.name), _prim.doc.domain,
                  _prim.doc.description, _prim.doc.kinks)

_register("log2", 1, lambda g, x: P.scale(g, 1.0 / math.log(2.0), P.unary(g, Op.LOG, x)),
          "(0, inf)", "base-2 logarithm")
_register("log10", 1, lambda g, x: P.scale(g, 1.0 / math.log(10.0), P.unary(g, Op.LOG, x)),
          "(0, inf)", "base-10 logarithm")
_register("pow", 2, power, "a > 0, or any a with a constant exponent", "a ** b",
          kinks="d/db is 0 at a = 0 with b >= 0 (as PyTorch) and NaN at a < 0; an operand "
                "that does not move contributes 0 to a directional derivative, even there")
_register("hypot", 2, lambda g, a, b: P.unary(g, Op.SQRT, P.add(g, P.mul(g, a, a),
                                                                P.mul(g, b, b))),
          "all reals; derivative undefined at (0, 0)", "sqrt(a**2 + b**2)")
_register("where", 3, lambda g, c, a, b: P.where(g, P.cmp(g, Op.NE, c, g.const(0.0)), a, b),
          "cond is a comparison (nonzero = true)", "a where cond holds, else b",
          kinks="the derivative follows the chosen branch (the other contributes 0 even "
                "where its derivative is infinite or NaN); cond has none")

_register("square", 1, lambda g, x: P.powc(g, x, 2.0), "all reals", "x**2")
_register("rsqrt", 1, lambda g, x: P.powc(g, x, -0.5), "(0, inf); rsqrt(0) = inf",
          "1/sqrt(x)")
_register("reciprocal", 1, lambda g, x: P.powc(g, x, -1.0), "x != 0", "1/x")
_register("exp2", 1, lambda g, x: power(g, g.const(2.0), x), "all reals",
          "2**x (exact at integers)")
_register("deg2rad", 1, lambda g, x: P.scale(g, math.pi / 180.0, x), "all reals",
          "degrees to radians: x*pi/180")
_register("rad2deg", 1, lambda g, x: P.scale(g, 180.0 / math.pi, x), "all reals",
          "radians to degrees: x*180/pi")


def _alias(name: str, of: str) -> None:
    """``name`` as another spelling (NumPy's, PyTorch's, SciPy's) of function ``of``."""
    f = FUNCTIONS[of]
    _register(name, f.arity, f.build, f.domain, f"{f.description} (same as {of})", f.kinks)


for _name, _of in (("arcsin", "asin"), ("arccos", "acos"), ("arctan", "atan"),
                   ("arcsinh", "asinh"), ("arccosh", "acosh"), ("arctanh", "atanh"),
                   ("arctan2", "atan2"), ("absolute", "abs"), ("fabs", "abs"),
                   ("power", "pow"), ("expit", "sigmoid"), ("remainder", "mod"),
                   ("radians", "deg2rad"), ("degrees", "rad2deg"),
                   ("float_power", "pow")):
    _alias(_name, _of)

# NumPy's ufunc names for the operators (np.add(a, b) is a + b, broadcasting as it does).
for _name, _build, _domain, _description in (
        ("add", P.add, "all reals", "a + b"), ("subtract", P.sub, "all reals", "a - b"),
        ("multiply", P.mul, "all reals", "a * b"), ("divide", P.div, "b != 0", "a / b"),
        ("true_divide", P.div, "b != 0", "a / b")):
    _register(_name, 2, _build, _domain, f"{_description} (NumPy's ufunc name)")
_register("negative", 1, P.neg, "all reals", "-x (NumPy's ufunc name)")
_register("positive", 1, lambda g, x: x, "all reals", "+x (NumPy's ufunc name)")
_TIE = "a tie splits the derivative 0.5/0.5, as autograd and JAX"
for _name, _op in (("maximum", Op.MAX), ("minimum", Op.MIN)):
    _register(_name, 2, _applies(_op), "all reals",
              f"{_op}(a, b) elementwise (NumPy's ufunc name); NaN if either is NaN", kinks=_TIE)
    _register(f"f{_op}", 2, lambda g, a, b, op=_op: _ignoring_nan(g, op, a, b), "all reals",
              f"{_op}(a, b) elementwise, the other operand where one is NaN (np.f{_op})",
              kinks=f"{_TIE}; a NaN operand gets derivative 0")


def _ignoring_nan(g: Graph, op: Op, a: int, b: int) -> int:
    """np.fmax/np.fmin: ``op(a, b)``, or the operand that is not NaN (x != x only for NaN)."""
    both = P.emit(g, op, a, b)
    return P.where(g, P.cmp(g, Op.NE, b, b), P.broadcast_to(g, a, g.nodes[both].shape),
                   P.where(g, P.cmp(g, Op.NE, a, a),
                           P.broadcast_to(g, b, g.nodes[both].shape), both))


def _logaddexp2(g: Graph, a: int, b: int) -> int:
    """log2(2**a + 2**b) as NumPy computes it: the larger operand plus
    softplus((smaller - larger)·ln 2)/ln 2. Both branches are the same smooth function, so
    every derivative is right at a tie too; each keeps the small derivative accurate."""
    shape = P.broadcast_shapes("logaddexp2", g.nodes[a].shape, g.nodes[b].shape)
    a, b = P.broadcast_to(g, a, shape), P.broadcast_to(g, b, shape)
    ln2 = math.log(2.0)

    def above(top: int, low: int) -> int:
        t = P.scale(g, ln2, P.sub(g, low, top))
        return P.add(g, top, P.scale(g, 1.0 / ln2, P.unary(g, Op.SOFTPLUS, t)))
    return P.where(g, P.cmp(g, Op.GE, a, b), above(a, b), above(b, a))


_register("logaddexp2", 2, _logaddexp2, "all reals",
          "log2(2**a + 2**b) without overflow (NumPy's)")


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
    sa, sb = g.nodes[a].shape, g.nodes[b].shape
    if not sa or not sb:
        return P.mul(g, a, b)
    if len(sa) > 2 or len(sb) > 2:
        # np.dot of stacks pairs every matrix of one with every matrix of the other.
        raise ShapeError(f"dot takes scalars, vectors and matrices, got shapes {sa} and {sb} "
                         f"(for stacks of matrices, matmul or @ multiplies them pairwise)")
    return P.matmul(g, a, b)


def trace(g: Graph, a: int, offset: object) -> int:
    """NumPy's ``trace(a, offset=0)``: the sum of diagonal ``offset`` of the first two axes
    (shape ``a.shape[2:]``)."""
    shape = g.nodes[a].shape
    if len(shape) == 2:
        return P.sum_all(g, A.diagonal(g, a, offset))
    if len(shape) < 2:
        raise ShapeError(f"trace takes a tensor of rank >= 2, got shape {shape}")
    rows, cols, rest = shape[0], shape[1], shape[2:]
    key, length = A.diagonal_key(rows, cols, A.static_int(offset, "the offset"))
    flat = P.reshape(g, a, (rows * cols, *rest))
    full = tuple(("s", 0, n, 1) for n in rest)
    return P.sum_axes(g, P.index(g, flat, key + full, (length, *rest)), (0,))


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
          kinks="derivative 0 at the zero vector (every order, every operation), as PyTorch")
_register("det", 1, L.det, "square matrices, or stacks of them (..., n, n)",
          "determinant (one per matrix of a stack)",
          kinks="derivatives through the cofactors up to 4x4, exact at singular M (the "
                "gradient is the cofactor matrix); larger M via inv(M): NaN where singular")
_register("inv", 1, L.inv, "non-singular square matrices, or stacks of them (..., n, n)",
          "matrix inverse (per matrix of a stack); NaN where singular")

CONSTANTS = {"pi": math.pi, "e": math.e}


# ---------------------------------------------------------------- special functions

def _constant_order(g: Graph, n: int, name: str, *, integer: bool = True,
                    nonnegative: bool = False) -> float:
    """The value of a constant order argument (an int when it is integral); a variable or
    non-integer one, where an integer is needed, is refused."""
    v = P.scalar_value(g, n)
    if (v is None or not math.isfinite(v) or (integer and not float(v).is_integer())
            or (nonnegative and v < 0)):
        kind = ("non-negative integer" if nonnegative else "integer") if integer else "number"
        raise EngineError(f"{name}(n, x) needs n to be a constant {kind} such as 0, 1 or 2 "
                          f"(derivatives in n are not defined)", loc=("body", "expression"))
    if g.nodes[n].shape:
        raise ShapeError(f"{name}(n, x) needs a scalar order n, got shape {g.nodes[n].shape}")
    return int(v) if float(v).is_integer() else float(v)


def _polygamma(g: Graph, n: int, x: int) -> int:
    return polygamma(g, int(_constant_order(g, n, "polygamma", nonnegative=True)), x)


def _bessel_of_order(op: Op, name: str, *, integer: bool) -> Builder:
    return lambda g, n, x: bessel(g, op, _constant_order(g, n, name, integer=integer), x)


def _bessel(op: Op, order: int) -> Builder:
    return lambda g, x: bessel(g, op, order, x)


_register("gammaln", 1, _applies(Op.LGAMMA), "all reals; non-positive integers are poles",
          "log|Γ(x)|, scipy's name for lgamma")
_register("psi", 1, _applies(Op.DIGAMMA), "all reals; non-positive integers are poles",
          "digamma ψ(x), scipy's other name for it")
_register("polygamma", 2, _polygamma,
          "n a constant integer ≥ 0; x real, non-positive integers are poles",
          "polygamma ψ⁽ⁿ⁾(x), the (n+1)-th derivative of lgamma; polygamma(0, x) = digamma(x)")
for _op, _letter, _kind, _domain in (
        (Op.BESSEL_J, "j", "Bessel function of the first kind", "all reals"),
        (Op.BESSEL_Y, "y", "Bessel function of the second kind",
         "x > 0; -inf at 0, NaN for x < 0"),
        (Op.BESSEL_I, "i", "modified Bessel function of the first kind", "all reals")):
    for _n in (0, 1):
        _register(f"{_letter}{_n}", 1, _bessel(_op, _n), _domain, f"{_kind} of order {_n}")
        # torch.special's names
        _torch = f"bessel_{_letter}{_n}" if _op != Op.BESSEL_I else f"modified_bessel_i{_n}"
        _register(_torch, 1, _bessel(_op, _n), _domain, f"{_letter}{_n}, torch.special's name")
    _register(str(_op), 2, _bessel_of_order(_op, str(_op), integer=False),
              f"v a constant real order; {_domain} (x >= 0 for a non-integer v)",
              f"{_kind} of order v")
_register("jn", 2, _bessel_of_order(Op.BESSEL_J, "jn", integer=True), "n a constant integer",
          "jv for an integer order, scipy's jn")
_register("yn", 2, _bessel_of_order(Op.BESSEL_Y, "yn", integer=True),
          "n a constant integer; x > 0", "yv for an integer order, scipy's yn")
# ---------------------------------------------------------------- axis reductions, arrays and
# linear algebra: functions with keyword and static arguments (NumPy's signatures)

_A = Param("a")
_AXIS = Param("axis", Kind.STATIC, None)
_KEEPDIMS = Param("keepdims", Kind.STATIC, False, keyword_only=True)
_REDUCE = Signature((_A, _AXIS, _KEEPDIMS))
_MOMENT = Signature((_A, _AXIS, Param("ddof", Kind.STATIC, 0, keyword_only=True), _KEEPDIMS))
_PAIR = Signature((_A, Param("b")))
_OFFSET = Param("k", Kind.STATIC, 0)
_ARRAYS = Signature((Param("arrays", Kind.TENSORS), Param("axis", Kind.STATIC, 0)))


def _register_signature(name: str, sig: Signature, build: Builder, domain: str,
                        description: str, kinks: str = "smooth on its domain") -> None:
    FUNCTIONS[name] = Function(name, sig.required, build, domain, kinks,
                               f"{sig.text(name)}: {description}", sig)


def _sum(g: Graph, a: int, axis: object, keepdims: object) -> int:
    return P.sum_all(g, a) if axis is None and not keepdims else R.sum_(g, a, axis, keepdims)


def _prod(g: Graph, a: int, axis: object, keepdims: object) -> int:
    return prod_all(g, a) if axis is None and not keepdims else R.prod(g, a, axis, keepdims)


_TIES = "ties split the derivative evenly among the extrema, as PyTorch's amax/amin"
_register_signature("sum", _REDUCE, _sum, "tensors", "sum over axes (None: all)")
_register_signature("prod", _REDUCE, _prod, "tensors",
                    "product over axes (None: all); exact where entries are 0")
_register_signature("mean", _REDUCE, R.mean, "non-empty axes", "mean over axes (None: all)")
for _name, _op, _pairwise in (("max", Op.AMAX, Op.MAX), ("min", Op.AMIN, Op.MIN)):
    _register_signature(
        _name, Signature((_A, Param("b", default=None), Param("axis", Kind.STATIC, None,
                                                               keyword_only=True), _KEEPDIMS)),
        R.two_or_one(_op, _pairwise), "all reals; a reduction over non-empty axes",
        f"{_name}(a, b) elementwise; {_name}(a) or {_name}(a, axis=…) over axes (None: all), "
        f"as np.{_name} (its axis is keyword-only here: {_name}(v, 0) compares with 0)",
        kinks=f"elementwise: a tie splits the derivative 0.5/0.5; reduction: {_TIES}")
    _register_signature(
        f"a{_name}", _REDUCE, lambda g, a, axis, keepdims, op=_op: R.extremum(
            op, g, a, axis, keepdims), "non-empty axes", f"np.a{_name}: {_name} over axes "
        "(None: all)", kinks=_TIES)
_register_signature("var", _MOMENT, R.var, "non-empty axes",
                    "variance over axes, divided by N - ddof (ddof=0 as NumPy)")
_register_signature("std", _MOMENT, R.std, "non-empty axes",
                    "standard deviation, sqrt(var)",
                    kinks="derivative infinite where the deviations are all 0")
_register_signature("cumsum", Signature((_A, _AXIS)), R.cumsum, "tensors",
                    "running sum along an axis (None: of the flattened value)")
_register_signature("cumprod", Signature((_A, _AXIS)), R.cumprod, "tensors",
                    "running product along an axis (None: flattened); exact at zeros")
_register_signature("logsumexp", Signature((_A, _AXIS, Param("b", default=None), _KEEPDIMS)),
                    R.logsumexp, "tensors; weights b broadcast with a",
                    "log(sum(b*exp(a))) over axes (None: all; b=None: weights 1), computed "
                    "stably as scipy.special; NaN where the weighted sum is negative",
                    kinks="where the weighted sum is 0 the value is -inf")
_register_signature("softmax", Signature((Param("x"), _AXIS)), R.softmax, "tensors",
                    "exp(x) / sum(exp(x)) over axis; default axis=None (the whole value), as "
                    "scipy.special.softmax (jax.nn.softmax's default is -1: write axis=-1)")
class _NoValue:
    """The default of a parameter that may be left out and may also be given as None."""

    def __repr__(self) -> str:
        return "<no value>"


_NO_VALUE: Any = _NoValue()


def _one_sided(g: Graph, a: int, lo: int | None, hi: int | None) -> int:
    """``a`` limited to [lo, hi]; a bound that is None is no bound."""
    if lo is not None and hi is not None:
        return P.emit(g, Op.CLIP, a, lo, hi)
    if lo is None and hi is None:
        return a
    # One bound: the op's convention (at the bound the derivative goes to a).
    bound, beyond = (lo, Op.LT) if lo is not None else (hi, Op.GT)
    assert bound is not None
    shape = P.broadcast_shapes("clip", g.nodes[a].shape, g.nodes[bound].shape)
    a, bound = P.broadcast_to(g, a, shape), P.broadcast_to(g, bound, shape)
    return P.where(g, P.cmp(g, beyond, a, bound), bound, a)


def _clip(g: Graph, a: int, a_min: Any, a_max: Any, **bounds: Any) -> int:
    """NumPy's ``clip(a, a_min, a_max)``: both positional bounds (each may be None), or NumPy
    2.1's keywords ``min=`` and ``max=`` instead (either may be left out)."""
    keywords = [k for k in ("min", "max") if bounds[k] is not _NO_VALUE]
    if a_min is _NO_VALUE and a_max is _NO_VALUE and keywords:
        return _one_sided(g, a, *(None if bounds[k] is _NO_VALUE else bounds[k]
                                  for k in ("min", "max")))
    if keywords:
        raise ArityError("clip() takes its bounds as a_min, a_max or as min=, max=, not both",
                         loc=("body", "expression"))
    missing = [k for k, v in (("a_min", a_min), ("a_max", a_max)) if v is _NO_VALUE]
    if missing:
        raise ArityError(f"clip() is missing {' and '.join(map(repr, missing))} (NumPy's "
                         "clip(a, a_min, a_max); one bound: None for the other, or min=/max=)",
                         loc=("body", "expression"))
    return _one_sided(g, a, a_min, a_max)


def _clamp(g: Graph, a: int, min: Any, max: Any) -> int:
    """torch.clamp(input, min=None, max=None): at least one bound."""
    if min is None and max is None:
        raise ArityError("clamp() needs min or max (torch.clamp)", loc=("body", "expression"))
    return _one_sided(g, a, min, max)


_CLIP = PRIMITIVES[Op.CLIP].doc
assert _CLIP is not None
_register_signature(
    "clip", Signature((_A, Param("a_min", default=_NO_VALUE), Param("a_max", default=_NO_VALUE),
                       Param("min", default=_NO_VALUE, keyword_only=True),
                       Param("max", default=_NO_VALUE, keyword_only=True))),
    _clip, _CLIP.domain, "a limited to [a_min, a_max]; a bound given as None is no bound; "
    "min=/max= as NumPy 2.1", _CLIP.kinks)
_register_signature("clamp", Signature((_A, Param("min", default=None),
                                        Param("max", default=None))),
                    _clamp, _CLIP.domain, "a limited to [min, max] (torch.clamp; at least "
                    "one bound)", _CLIP.kinks)


_AXES = Param("axes", Kind.STATIC, None)
_register_signature("transpose", Signature((_A, _AXES)), Q.transpose,
                    "tensors (without axes: rank ≤ 2)",
                    "axes permuted as axes says (None: matrix transpose, as .T)")
_register_signature("swapaxes", Signature((_A, Param("axis1", Kind.STATIC),
                                           Param("axis2", Kind.STATIC))), Q.swapaxes,
                    "tensors", "two axes interchanged")
_register_signature("moveaxis", Signature((_A, Param("source", Kind.STATIC),
                                           Param("destination", Kind.STATIC))), Q.moveaxis,
                    "tensors", "axes moved to new positions, the others keeping their order")
for _name in ("ravel", "flatten"):
    _register_signature(_name, Signature((_A,)), Q.ravel, "tensors",
                        "the entries as a vector, in C order")
_register_signature("squeeze", Signature((_A, _AXIS)), Q.squeeze, "tensors",
                    "axes of length 1 removed (None: all of them)")
_register_signature("expand_dims", Signature((_A, Param("axis", Kind.STATIC))), Q.expand_dims,
                    "tensors", "axes of length 1 inserted at axis (the result's numbering)")
_register_signature("repeat", Signature((_A, Param("repeats", Kind.STATIC), _AXIS)), Q.repeat,
                    "tensors", "each entry repeated along axis (None: flattened first); "
                    "repeats an integer or one per entry")
_register_signature("roll", Signature((_A, Param("shift", Kind.STATIC), _AXIS)), Q.roll,
                    "tensors", "entries shifted cyclically along axis (None: flattened, "
                    "then reshaped back)")
_register_signature("rot90", Signature((Param("m"), Param("k", Kind.STATIC, 1),
                                        Param("axes", Kind.STATIC, (0, 1)))), Q.rot90,
                    "tensors of rank ≥ 2", "k quarter turns in the plane of axes")
_register_signature("append", Signature((Param("arr"), Param("values"), _AXIS)), Q.append,
                    "tensors", "values joined after arr (None: both flattened first)")
_register_signature("tensordot", Signature((_A, Param("b"), Param("axes", Kind.STATIC, 2))),
                    Q.tensordot, "tensors",
                    "sum over the last axes of a and the first of b (axes=N), or over the "
                    "axis pairs axes=((a axes), (b axes))")
for _name in ("array", "asarray"):
    _register_signature(_name, Signature((Param("object"),)), lambda g, object: object,
                        "a tensor or a list literal", "the value itself (a list literal is "
                        "already an array)")
_register_signature("reshape", Signature((_A, Param("shape", Kind.STATIC, variadic=True))),
                    lambda g, a, shape: A.reshape(g, a, shape), "tensors",
                    "the entries in C order with a new shape (one entry may be -1)")
_register_signature("concatenate", _ARRAYS, A.concatenate, "a list of tensors",
                    "join along an existing axis (None: flattened first)")
_register_signature("stack", _ARRAYS, A.stack, "a list of equal-shaped tensors",
                    "join along a new axis")
_register_signature("outer", _PAIR, L.outer, "tensors (flattened)", "outer product")
_register_signature("inner", _PAIR, L.inner, "tensors of rank ≤ 2",
                    "sum product over the last axes")
_register_signature("diag", Signature((Param("v"), _OFFSET)), A.diag, "vectors or matrices",
                    "vector: the matrix with it on diagonal k; matrix: its diagonal k")
_register_signature("diagonal", Signature((_A, Param("offset", Kind.STATIC, 0),
                                           Param("axis1", Kind.STATIC, 0),
                                           Param("axis2", Kind.STATIC, 1))),
                    Q.diagonal, "tensors of rank >= 2",
                    "the diagonal at offset as a vector (M.diagonal()); for rank > 2 the "
                    "diagonals of the planes (axis1, axis2), along a last axis (NumPy's)")
_register_signature("trace", Signature((_A, Param("offset", Kind.STATIC, 0))), trace,
                    "tensors of rank >= 2", "sum of the diagonal at offset of the first two "
                    "axes (np.trace)")
_register_signature("triu", Signature((Param("m"), _OFFSET)), A.triu, "matrices",
                    "upper triangle from diagonal k, zeros below")
_register_signature("tril", Signature((Param("m"), _OFFSET)), A.tril, "matrices",
                    "lower triangle up to diagonal k, zeros above")
_register_signature("flip", Signature((Param("m"), _AXIS)), A.flip, "tensors",
                    "reverse the order of entries along axes (None: all)")
_register_signature("flipud", Signature((Param("m"),)), lambda g, m: A.flip(g, m, 0),
                    "tensors of rank ≥ 1", "flip(m, axis=0)")
_register_signature("fliplr", Signature((Param("m"),)), lambda g, m: A.flip(g, m, 1),
                    "tensors of rank ≥ 2", "flip(m, axis=1)")
_STACKS = "; stacks of matrices (..., n, n) too, one problem per matrix"
_register_signature("solve", _PAIR, L.solve,
                    "non-singular square a; b a vector or matrix" + _STACKS + " (b exactly "
                    "1-d is a vector, else a stack of matrices, as NumPy 2; stack axes "
                    "broadcast)", "x with a @ x = b; NaN where a is singular")
_register_signature("slogdet", Signature((_A,)), L.slogdet, "square matrices" + _STACKS,
                    "[sign(det a), log|det a|] as a 2-vector (slogdet(a)[1] is the "
                    "log-determinant); for a stack, shape (2, *stack)",
                    kinks="the sign has derivative 0; log|det| is undefined (-inf) where a "
                          "is singular")
_register_signature("cholesky", Signature((_A,)), L.cholesky,
                    "symmetric positive definite matrices (the lower triangle is read)"
                    + _STACKS,
                    "lower Cholesky factor L, L @ L.T = a; NaN where not positive definite",
                    kinks="derivative of the factor of (a + a.T)/2, as JAX and PyTorch")
_register_signature("matmul", _PAIR, P.matmul, "vectors, matrices and stacks of matrices",
                    "a @ b with NumPy's rules: stack axes broadcast, a 1-d operand is a row "
                    "(a) or a column (b) whose axis is dropped")
_register_signature("matrix_transpose", Signature((Param("x"),)),
                    lambda g, x: P.matrix_transpose(g, x),
                    "matrices and stacks of matrices (rank ≥ 2)",
                    "the last two axes swapped (np.linalg.matrix_transpose, x.mT)")
