"""The op records: for every op its forward, derivative, Taylor, scalar and printing rules.

One declaration per op. Forward rules take ``(params, *arrays)`` and act on the trailing
(static) axes only, so any batch prefix — points, tangent directions, Taylor orders —
broadcasts through them. Derivative rules are graph-to-graph: they emit new nodes with
:func:`engine.ir.emit.emit`, so reverse and forward mode compose (Hessian = forward over
reverse). Taylor rules come from :mod:`engine.taylor_mode.rules`; linear ops need none (their
forward rule acts on a whole series).

Kink conventions follow PyTorch: ``abs'(0) = sign(0) = 0``, ``relu'(0) = 0``, ``max``/``min``
split a tie 0.5/0.5, ``where`` follows the chosen branch, ``sign`` and comparisons have
derivative 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from engine.ir.declare import (
    ELEMENTWISE,
    MOVER,
    ZERO,
    const,
    define,
    elementwise,
    linear,
    ufunc,
    zero,
)
from engine.ir.emit import (
    add,
    broadcast_to,
    chain,
    cmp,
    div,
    emit,
    index,
    matmul,
    matrix_transpose,
    mul,
    neg,
    outer,
    per_matrix,
    powc,
    reshape,
    scale,
    stack,
    sub,
    sum_all,
    sum_matrices,
    sum_to,
    unary,
    where,
    zeros,
)
from engine.ir.graph import Graph, Shape
from engine.ir.ops import (
    PRIMITIVES,
    Doc,
    Group,
    Op,
    ScalarRule,
    SeriesRule,
    Sign,
)
from engine.taylor_mode import gathers as G
from engine.taylor_mode import rules as T
from engine.taylor_mode import series as S
from engine.taylor_mode.linalg import nan_where_it_fails

# ---------------------------------------------------------------- elementwise unary

def _inv_sqrt(g: Graph, base: int) -> int:
    return powc(g, base, -0.5)


_TWO_OVER_SQRT_PI = 2.0 / np.sqrt(np.pi)
_KINK = "as PyTorch"

elementwise(Op.SIN, ufunc(np.sin), lambda g, x, y: unary(g, Op.COS, x), series=T.sin_series,
             latex=r"\sin", doc=Doc("all reals", "sine"))
elementwise(Op.COS, ufunc(np.cos), lambda g, x, y: neg(g, unary(g, Op.SIN, x)),
             series=T.cos_series, latex=r"\cos", doc=Doc("all reals", "cosine"))
elementwise(Op.TAN, ufunc(np.tan), lambda g, x, y: add(g, const(g, 1.0), mul(g, y, y)),
             series=T.tan_series, latex=r"\tan", doc=Doc("x != pi/2 + k*pi", "tangent"))
elementwise(Op.ASIN, ufunc(np.arcsin),
             lambda g, x, y: _inv_sqrt(g, sub(g, const(g, 1.0), mul(g, x, x))),
             series=T.asin_series, latex=r"\arcsin",
             doc=Doc("[-1, 1]; derivative infinite at ±1", "inverse sine"))
elementwise(Op.ACOS, ufunc(np.arccos),
             lambda g, x, y: neg(g, _inv_sqrt(g, sub(g, const(g, 1.0), mul(g, x, x)))),
             series=T.acos_series, latex=r"\arccos",
             doc=Doc("[-1, 1]; derivative infinite at ±1", "inverse cosine"))
elementwise(Op.ATAN, ufunc(np.arctan),
             lambda g, x, y: div(g, const(g, 1.0), add(g, const(g, 1.0), mul(g, x, x))),
             series=T.atan_series, latex=r"\arctan", doc=Doc("all reals", "inverse tangent"))
elementwise(Op.SINH, ufunc(np.sinh), lambda g, x, y: unary(g, Op.COSH, x),
             series=T.sinh_series, latex=r"\sinh", doc=Doc("all reals", "hyperbolic sine"))
elementwise(Op.COSH, ufunc(np.cosh), lambda g, x, y: unary(g, Op.SINH, x),
             series=T.cosh_series, latex=r"\cosh", sign=Sign.POSITIVE,
             doc=Doc("all reals", "hyperbolic cosine"))
elementwise(Op.TANH, ufunc(np.tanh), lambda g, x, y: unary(g, Op.TANH_SLOPE, x),
             series=T.tanh_series, latex=r"\tanh",
             doc=Doc("all reals", "hyperbolic tangent",
                     "smooth; its derivatives do not flush to 0 at saturation"))
elementwise(Op.ASINH, ufunc(np.arcsinh),
             lambda g, x, y: _inv_sqrt(g, add(g, mul(g, x, x), const(g, 1.0))),
             series=T.asinh_series, doc=Doc("all reals", "inverse hyperbolic sine"))
elementwise(Op.ACOSH, ufunc(np.arccosh),
             lambda g, x, y: _inv_sqrt(g, sub(g, mul(g, x, x), const(g, 1.0))),
             series=T.acosh_series,
             doc=Doc("[1, inf); derivative infinite at 1", "inverse hyperbolic cosine"))
elementwise(Op.ATANH, ufunc(np.arctanh),
             lambda g, x, y: div(g, const(g, 1.0), sub(g, const(g, 1.0), mul(g, x, x))),
             series=T.atanh_series, doc=Doc("(-1, 1)", "inverse hyperbolic tangent"))
elementwise(Op.EXP, ufunc(np.exp), lambda g, x, y: y, series=T.exp_series,
             sign=Sign.POSITIVE, doc=Doc("all reals", "exponential"))
elementwise(Op.EXPM1, ufunc(np.expm1), lambda g, x, y: add(g, y, const(g, 1.0)),
             series=T.expm1_series, doc=Doc("all reals", "exp(x) - 1, accurate near 0"))
elementwise(Op.LOG, ufunc(np.log), lambda g, x, y: div(g, const(g, 1.0), x),
             series=T.log_series, latex=r"\log",
             doc=Doc("(0, inf); log(0) = -inf", "natural logarithm",
                     "at 0 the one-sided limits: +inf, -inf, +inf, ... by order"))
elementwise(Op.LOG1P, ufunc(np.log1p),
             lambda g, x, y: div(g, const(g, 1.0), add(g, x, const(g, 1.0))),
             series=T.log1p_series, doc=Doc("(-1, inf)", "log(1 + x), accurate near 0"))
# PyTorch's sqrt backward is grad / (2 * result): at 0 it is +inf, as here.
elementwise(Op.SQRT, ufunc(np.sqrt), lambda g, x, y: div(g, const(g, 0.5), y),
             series=S.sqrt_series, scalar=lambda a, args, params: a.power(args[0], 0.5),
             doc=Doc("[0, inf); derivative infinite at 0", "square root",
                     "at 0 the one-sided limits, in every operation: +inf at order 1, -inf "
                     "at order 2, alternating above"))
elementwise(Op.CBRT, ufunc(np.cbrt),
             lambda g, x, y: div(g, const(g, 1.0 / 3.0), mul(g, y, y)), series=T.cbrt_series,
             doc=Doc("all reals; derivative infinite at 0", "cube root",
                     "at 0: +inf at odd orders, NaN at even orders (their one-sided limits "
                     "differ), in every operation"))
elementwise(Op.ERF, ufunc(special.erf),
             lambda g, x, y: scale(g, _TWO_OVER_SQRT_PI,
                                   unary(g, Op.EXP, neg(g, mul(g, x, x)))),
             series=T.erf_series, doc=Doc("all reals", "error function"))
elementwise(Op.ERFC, ufunc(special.erfc),
             lambda g, x, y: scale(g, -_TWO_OVER_SQRT_PI,
                                   unary(g, Op.EXP, neg(g, mul(g, x, x)))),
             series=T.erfc_series, sign=Sign.POSITIVE,
             doc=Doc("all reals", "complementary error function"))

elementwise(Op.SIGMOID, ufunc(special.expit),
             lambda g, x, y: unary(g, Op.SIGMOID_SLOPE, x), series=T.sigmoid_series,
             latex=r"\sigma", sign=Sign.POSITIVE,
             doc=Doc("all reals", "logistic function 1/(1+exp(-x))",
                     "smooth; its derivatives do not flush to 0 at saturation"))
elementwise(Op.SOFTPLUS, ufunc(lambda x: np.logaddexp(0.0, x)),
             lambda g, x, y: unary(g, Op.SIGMOID, x), series=T.softplus_series,
             sign=Sign.POSITIVE, doc=Doc("all reals", "log(1 + exp(x)), computed stably"))
elementwise(Op.ABS, ufunc(np.abs), lambda g, x, y: unary(g, Op.SIGN, x), series=T.abs_series,
             sign=Sign.NONNEG,
             doc=Doc("all reals", "absolute value", f"abs'(0) = 0 (= sign(0)), at every order, "
                                                     f"{_KINK}"))
zero(Op.SIGN, 1, ufunc(np.sign), series=T.sign_series,
      doc=Doc("all reals", "sign: -1, 0 or 1", f"derivative 0 everywhere, {_KINK}"))
# relu'(0) = 0 as in PyTorch: the mask is x > 0.
elementwise(Op.RELU, ufunc(lambda x: np.maximum(x, 0.0)),
             lambda g, x, y: cmp(g, Op.GT, x, const(g, 0.0)), series=T.relu_series,
             sign=Sign.NONNEG, doc=Doc("all reals", "max(x, 0)", f"relu'(0) = 0, {_KINK}"))


def _powc_forward(params: tuple[float], x: np.ndarray) -> np.ndarray:
    (p,) = params
    # Small integer powers by multiplication: exact and several times faster than np.power.
    if p == 2.0:
        return np.square(x)
    if p == 3.0:
        return x * x * x
    if p == 4.0:
        sq = np.square(x)
        return sq * sq
    if p == -1.0:
        return np.reciprocal(x)
    return np.power(x, p)


def _powc_partial(g: Graph, x: int, y: int) -> int | None:
    (p,) = g.nodes[y].params
    if p == 0:
        return None
    return scale(g, p, powc(g, x, p - 1.0))


elementwise(Op.POWC, _powc_forward, _powc_partial, series=S.power_series,
             taylor=lambda params: S.powc_rule(params[0]),
             scalar=lambda a, args, params: a.power(args[0], params[0]))
linear(Op.NEG, 1, ufunc(np.negative), lambda g, nid, ct: [neg(g, ct)], ELEMENTWISE,
        series=np.negative, symbol="-", scalar=lambda a, args, params: a.neg(args[0]))


# ---------------------------------------------------------------- elementwise binary

linear(Op.ADD, 2, lambda params, a, b: a + b, lambda g, nid, ct: [ct, ct], ELEMENTWISE,
        series=T.add_series, symbol="+",
        scalar=lambda a, args, params: a.add([(args[0], 1.0), (args[1], 1.0)]))
linear(Op.SUB, 2, lambda params, a, b: a - b, lambda g, nid, ct: [ct, neg(g, ct)],
        ELEMENTWISE, series=T.sub_series, symbol="-",
        scalar=lambda a, args, params: a.sub(*args))
elementwise(Op.MUL, lambda params, a, b: a * b, lambda g, a, b, y: b, lambda g, a, b, y: a,
             series=S.mul_series, symbol="*",
             scalar=lambda a, args, params: a.mul([(args[0], 1), (args[1], 1)]))


def _tangent_product(params: tuple[Any, ...], d: Any, t: Any) -> Any:
    """d·t, with 0 where t is 0 and the product is NaN (an infinite or NaN partial times a
    tangent of 0); elsewhere exactly the product."""
    out = d * t
    lost = out != out
    if np.any(lost):
        out = np.where(lost & (t == 0), 0.0, out)
    return out


elementwise(Op.SMUL, _tangent_product, lambda g, a, b, y: b, lambda g, a, b, y: a,
             series=S.mul_series,
             scalar=lambda a, args, params: a.mul([(args[0], 1), (args[1], 1)]))
elementwise(Op.DIV, lambda params, a, b: a / b,
             lambda g, a, b, y: div(g, const(g, 1.0), b),
             lambda g, a, b, y: neg(g, div(g, y, b)), series=S.div_series, symbol="/",
             scalar=lambda a, args, params: a.mul([(args[0], 1), (args[1], -1)]))


def _pow_exponent_partial(g: Graph, a: int, b: int, y: int) -> int:
    # PyTorch masks the exponent's gradient to 0 where base == 0 and exponent >= 0. The mask
    # is on log(a) alone, so the mixed second partial at a = 0 is x**y's own (NaN at y < 1),
    # the same in both orders.
    mask = mul(g, cmp(g, Op.EQ, a, const(g, 0.0)), cmp(g, Op.GE, b, const(g, 0.0)))
    return mul(g, y, where(g, mask, const(g, 0.0), unary(g, Op.LOG, a)))


def _pow_scalar(a: Any, args: tuple[int, ...], params: tuple[Any, ...]) -> int:
    exponent = a.value(args[1])
    return int(a.power(args[0], exponent) if exponent is not None else a.pow_atom(*args))


def _pow_base_partial(g: Graph, a: int, b: int, y: int) -> int:
    return mul(g, b, emit(g, Op.POW, a, sub(g, b, const(g, 1.0))))


def _pow_jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
    """Σ partial·tangent, where an operand whose tangent is 0 contributes exactly 0: with the
    exponent still, x**y moves like x**c even where its exponent partial is NaN or infinite
    (a negative or zero base), as the Taylor rule treats a constant exponent series."""
    a, b = g.nodes[nid].args
    total = None
    for partial, t in ((_pow_base_partial, tangents[0]), (_pow_exponent_partial, tangents[1])):
        if t is None:
            continue
        zero = zeros(g, g.nodes[nid].shape)
        term = where(g, cmp(g, Op.EQ, t, zero), zero, mul(g, partial(g, a, b, nid), t))
        total = term if total is None else add(g, total, term)
    return total


def _pow_vjp(g: Graph, nid: int, ct: int) -> list[int | None]:
    a, b = g.nodes[nid].args
    return [chain(g, ct, _pow_base_partial(g, a, b, nid)),
            chain(g, ct, _pow_exponent_partial(g, a, b, nid))]


define(Op.POW, 2, ELEMENTWISE, lambda params, a, b: np.power(a, b), _pow_jvp, _pow_vjp,
        series=T.pow_series, symbol="**", scalar=_pow_scalar)


def _atan2_denominator(g: Graph, a: int, b: int) -> int:
    return add(g, mul(g, a, a), mul(g, b, b))


elementwise(Op.ATAN2, lambda params, a, b: np.arctan2(a, b),
             lambda g, a, b, y: div(g, b, _atan2_denominator(g, a, b)),
             lambda g, a, b, y: neg(g, div(g, a, _atan2_denominator(g, a, b))),
             series=T.atan2_series, doc=Doc("(y, x) != (0, 0)", "angle of the point (x, y)"))


def _tie_split(g: Graph, win: str, a: int, b: int) -> int:
    """1 where ``a`` wins, 0.5 on a tie, else 0 (PyTorch's max/min convention)."""
    return add(g, cmp(g, win, a, b), scale(g, 0.5, cmp(g, Op.EQ, a, b)))


_TIE = f"a tie splits the derivative 0.5/0.5, {_KINK}"
elementwise(Op.MAX, lambda params, a, b: np.maximum(a, b),
             lambda g, a, b, y: _tie_split(g, Op.GT, a, b),
             lambda g, a, b, y: _tie_split(g, Op.GT, b, a), series=T.max_series,
             latex=r"\max", doc=Doc("all reals", "elementwise maximum", _TIE))
elementwise(Op.MIN, lambda params, a, b: np.minimum(a, b),
             lambda g, a, b, y: _tie_split(g, Op.LT, a, b),
             lambda g, a, b, y: _tie_split(g, Op.LT, b, a), series=T.min_series,
             latex=r"\min", doc=Doc("all reals", "elementwise minimum", _TIE))


def _comparison(name: Op, ufunc: np.ufunc, symbol: str, latex: str) -> None:
    scalar: ScalarRule = lambda a, args, params: a.compare(name, *args)  # noqa: E731
    zero(name, 2, lambda params, a, b: ufunc(a, b).astype(np.float64),
          ZERO | {Group.COMPARISON}, series=T.comparison_series(ufunc), symbol=symbol,
          latex=latex, scalar=scalar)


_comparison(Op.LT, np.less, "<", "<")
_comparison(Op.LE, np.less_equal, "<=", r"\leq")
_comparison(Op.GT, np.greater, ">", ">")
_comparison(Op.GE, np.greater_equal, ">=", r"\geq")
_comparison(Op.EQ, np.equal, "==", "=")
_comparison(Op.NE, np.not_equal, "!=", r"\neq")


def _where_jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
    c = g.nodes[nid].args[0]
    _, ta, tb = tangents
    if ta is None and tb is None:
        return None
    shape = g.nodes[nid].shape
    return where(g, c, ta if ta is not None else zeros(g, shape),
                 tb if tb is not None else zeros(g, shape))


def _where_vjp(g: Graph, nid: int, ct: int) -> list[int | None]:
    c = g.nodes[nid].args[0]
    z = zeros(g, g.nodes[nid].shape)
    return [None, where(g, c, ct, z), where(g, c, z, ct)]


def _where_forward(params: tuple[()], c: np.ndarray, a: np.ndarray, b: np.ndarray
                   ) -> np.ndarray:
    return np.where(c != 0, a, b)


define(Op.WHERE, 3, ELEMENTWISE, _where_forward, _where_jvp, _where_vjp, series=T.where_series,
        scalar=lambda a, args, params: a.where(*args))


# ---------------------------------------------------------------- structural (linear)

def _prefix(x: np.ndarray, rank: int) -> tuple[int, ...]:
    return x.shape[:x.ndim - rank]


def _broadcast_forward(params: tuple[Shape, Shape], x: np.ndarray) -> np.ndarray:
    src, dst = params
    pre = _prefix(x, len(src))
    x = x.reshape(pre + (1,) * (len(dst) - len(src)) + src)
    return np.broadcast_to(x, pre + dst)


def _reshape_forward(params: tuple[Shape, Shape], x: np.ndarray) -> np.ndarray:
    src, dst = params
    return x.reshape(_prefix(x, len(src)) + dst)


def py_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """A normalized index key (ints and ``("s", start, stop, step)``) as a numpy key over the
    trailing axes."""
    return (Ellipsis, *(slice(k[1], k[2], k[3]) if isinstance(k, tuple) else k for k in key))


def _scatter_forward(params: tuple[Any, Shape], x: np.ndarray) -> np.ndarray:
    key, full = params
    pykey = py_key(key)
    ref = np.empty(full)[pykey]
    # x's own dtype: Taylor mode runs this on object arrays at extended precision too.
    out = np.zeros(_prefix(x, ref.ndim) + full, dtype=np.result_type(x, np.float64))
    out[pykey] = x
    return out


def _stack_forward(params: tuple[int], *xs: np.ndarray) -> np.ndarray:
    (rank,) = params
    # Operands may carry different batch prefixes (constants have size-1 ones).
    xs = tuple(np.broadcast_arrays(*xs))
    return np.stack(xs, axis=xs[0].ndim - rank)


linear(Op.BROADCAST, 1, _broadcast_forward,
        lambda g, nid, ct: [sum_to(g, ct, g.nodes[nid].params[0])])
linear(Op.RESHAPE, 1, _reshape_forward,
        lambda g, nid, ct: [reshape(g, ct, g.nodes[nid].params[0])])


def _sum_transpose(g: Graph, nid: int, ct: int) -> list[int | None]:
    node = g.nodes[nid]
    src = g.nodes[node.args[0]].shape
    axes = {ax + len(src) for ax in node.params[0]}
    kept = tuple(1 if i in axes else n for i, n in enumerate(src))
    return [broadcast_to(g, reshape(g, ct, kept), src)]


linear(Op.SUM, 1, lambda params, x: np.sum(x, axis=params[0]), _sum_transpose,
        MOVER | {Group.REDUCTION})


def _index_transpose(g: Graph, nid: int, ct: int) -> list[int | None]:
    node = g.nodes[nid]
    full = g.nodes[node.args[0]].shape
    return [emit(g, Op.SCATTER, ct, params=(node.params[0], full), shape=full)]


def _scatter_transpose(g: Graph, nid: int, ct: int) -> list[int | None]:
    node = g.nodes[nid]
    return [index(g, ct, node.params[0], g.nodes[node.args[0]].shape)]


linear(Op.INDEX, 1, lambda params, x: x[py_key(params[0])], _index_transpose)
linear(Op.SCATTER, 1, _scatter_forward, _scatter_transpose)


def _stack_transpose(g: Graph, nid: int, ct: int) -> list[int | None]:
    node = g.nodes[nid]
    item = node.shape[1:]
    rest = tuple(("s", 0, n, 1) for n in item)
    return [index(g, ct, (i, *rest), item) for i in range(len(node.args))]


linear(Op.STACK, None, _stack_forward, _stack_transpose)
linear(Op.TRANSPOSE, 1, lambda params, x: np.swapaxes(x, -1, -2),
        lambda g, nid, ct: [matrix_transpose(g, ct)])


def _matmul_forward(params: tuple[int, int], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ra, rb = params
    if ra >= 2 and rb >= 2:  # matrices, or stacks of equal static rank (emit.matmul)
        return np.matmul(a, b)
    if ra == 2:
        return np.matmul(a, b[..., None])[..., 0]
    if rb == 2:
        return np.matmul(a[..., None, :], b)[..., 0, :]
    return np.einsum("...i,...i->...", a, b)


def _matmul_jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
    a, b = g.nodes[nid].args
    ta, tb = tangents
    terms = []
    if ta is not None:
        terms.append(matmul(g, ta, b))
    if tb is not None:
        terms.append(matmul(g, a, tb))
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else add(g, terms[0], terms[1])


def _matmul_vjp(g: Graph, nid: int, ct: int) -> list[int | None]:
    a, b = g.nodes[nid].args
    ra, rb = g.nodes[nid].params
    if ra >= 2 and rb >= 2:
        return [matmul(g, ct, matrix_transpose(g, b)), matmul(g, matrix_transpose(g, a), ct)]
    if ra == 2:
        return [outer(g, ct, b), matmul(g, ct, a)]
    if rb == 2:
        return [matmul(g, b, ct), outer(g, a, ct)]
    return [mul(g, ct, b), mul(g, ct, a)]


def _matmul_taylor(params: tuple[Any, ...]) -> SeriesRule:
    """A product of series whose coefficient products are matrix products."""
    return lambda a, b: G.bilinear_series(a, b, lambda u, v: _matmul_forward(params, u, v))


define(Op.MATMUL, 2, frozenset({Group.LINALG}), _matmul_forward, _matmul_jvp, _matmul_vjp,
        taylor=_matmul_taylor, symbol="@")


# ---------------------------------------------------------------- linear algebra

def safe_inv(a: np.ndarray) -> np.ndarray:
    """Batched inverse; singular matrices give NaN entries instead of an exception."""
    return nan_where_it_fails(np.linalg.inv, a)


def _inv_jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
    (t,) = tangents
    if t is None:
        return None
    return neg(g, matmul(g, matmul(g, nid, t), nid))


def _inv_vjp(g: Graph, nid: int, ct: int) -> list[int | None]:
    yt = matrix_transpose(g, nid)
    return [neg(g, matmul(g, matmul(g, yt, ct), yt))]


def _inverse_of_arg(g: Graph, nid: int) -> int:
    a = g.nodes[nid].args[0]
    return emit(g, Op.INV, a, shape=g.nodes[a].shape)


COFACTOR_MAX = 4
"""Largest matrix whose determinant is differentiated through its cofactors (exact at singular
matrices, where det's gradient is still the cofactor matrix); larger ones go through
det(A)·A⁻ᵀ, NaN where A is singular."""


def _entries(g: Graph, a: int, i: int, j: int) -> int:
    """Entry (i, j) of the matrix ``a``, or of each matrix of a stack (shape: the stack's)."""
    batch = g.nodes[a].shape[:-2]
    return index(g, a, (*(("s", 0, k, 1) for k in batch), i, j), batch)


def _minor_det(g: Graph, a: int, rows: list[int], cols: list[int]) -> int:
    """det of the submatrix of ``a`` (of each matrix of a stack) on ``rows`` × ``cols``, as a
    polynomial in its entries for sizes 1 and 2 and as a ``det`` node (selected by constant 0/1
    matrices) above."""
    if len(rows) == 1:
        return _entries(g, a, rows[0], cols[0])
    if len(rows) == 2:
        (i, k), (j, m) = rows, cols
        return sub(g, mul(g, _entries(g, a, i, j), _entries(g, a, k, m)),
                   mul(g, _entries(g, a, i, m), _entries(g, a, k, j)))
    shape = g.nodes[a].shape
    n = shape[-1]
    pick_rows = g.const(np.eye(n)[rows])
    pick_cols = g.const(np.eye(n)[:, cols])
    minor = matmul(g, matmul(g, pick_rows, a), pick_cols)
    return emit(g, Op.DET, minor, shape=shape[:-2])


def _cofactors(g: Graph, nid: int) -> int:
    """The cofactor matrix C of det's operand (C_ij = (−1)^(i+j)·M_ij, the transposed
    adjugate), one per matrix of a stack: det's gradient, a polynomial, so exact where A is
    singular."""
    a = g.nodes[nid].args[0]
    shape = g.nodes[a].shape
    n, batch = shape[-1], shape[:-2]
    if n == 1:
        return g.const(np.ones((1, 1)))
    if n > COFACTOR_MAX:
        return mul(g, per_matrix(g, nid), matrix_transpose(g, _inverse_of_arg(g, nid)))
    rows = []
    for i in range(n):
        row = []
        for j in range(n):
            m = _minor_det(g, a, [r for r in range(n) if r != i], [c for c in range(n) if c != j])
            row.append(neg(g, m) if (i + j) % 2 else m)
        rows.append(stack(g, row))
    cof = stack(g, rows)
    if not batch:
        return cof
    # (n, n, *batch) -> (*batch, n, n): the stack axes move to the front.
    size = math.prod(batch)
    flat = matrix_transpose(g, reshape(g, cof, (n * n, size)))
    return reshape(g, flat, shape)


def _det_jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
    (t,) = tangents
    if t is None:
        return None
    return sum_matrices(g, mul(g, _cofactors(g, nid), t))


def _det_vjp(g: Graph, nid: int, ct: int) -> list[int | None]:
    return [mul(g, per_matrix(g, ct), _cofactors(g, nid))]


def _norm_forward(params: tuple[tuple[int, ...]], x: np.ndarray) -> np.ndarray:
    (axes,) = params
    return np.sqrt(np.sum(x * x, axis=axes))


def _over_norm(g: Graph, nid: int, numerator: int) -> int:
    """numerator / norm, and 0 where the norm is 0 (PyTorch's norm backward masks it)."""
    zero = g.const(0.0)
    return where(g, cmp(g, Op.EQ, nid, zero), zero, div(g, numerator, nid))


def _norm_jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
    (t,) = tangents
    if t is None:
        return None
    x = g.nodes[nid].args[0]
    return _over_norm(g, nid, sum_all(g, mul(g, x, t)))


def _norm_vjp(g: Graph, nid: int, ct: int) -> list[int | None]:
    x = g.nodes[nid].args[0]
    return [mul(g, x, _over_norm(g, nid, ct))]


def _norm_series(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """sqrt(sum(x*x)) on series, a composite of the product, sum and square-root rules; at the
    zero vector every coefficient above the value is 0, the derivative rules' convention."""
    y = S.sqrt_series(np.sum(S.mul_series(x, x), axis=axes))
    y[1:] = np.where(y[0] == 0, 0.0, y[1:])
    return y


def _norm_taylor(params: tuple[Any, ...]) -> SeriesRule:
    (axes,) = params
    return lambda x: _norm_series(x, axes)


define(Op.NORM, 1, frozenset({Group.STRUCTURAL}), _norm_forward, _norm_jvp, _norm_vjp,
        taylor=_norm_taylor)
define(Op.INV, 1, frozenset({Group.LINALG}), lambda params, a: safe_inv(a), _inv_jvp,
        _inv_vjp, series=T.inv_series)
define(Op.DET, 1, frozenset({Group.LINALG}), lambda params, a: np.linalg.det(a), _det_jvp,
        _det_vjp, series=T.det_series)

# Families of their own modules: imported here so that the table is complete below.
from engine.ir import linalg, logistic, reductions, rounding, sinc, special  # noqa: E402, F401

assert set(PRIMITIVES) == set(Op), sorted(set(Op) - set(PRIMITIVES))
