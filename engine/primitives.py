"""The primitive table: for every op its numpy forward rule, shape rule and derivative rules.

Forward rules take ``(params, *arrays)`` and act on the trailing (static) axes only, so any batch
prefix — points, tangent directions, Taylor orders — broadcasts through them. Derivative rules are
graph-to-graph: they emit new nodes with :func:`emit`, so reverse and forward mode compose
(Hessian = forward over reverse). Taylor rules are attached in :mod:`engine.taylor`.

Kink conventions follow PyTorch: ``abs'(0) = sign(0) = 0``, ``relu'(0) = 0``, ``max``/``min``
split a tie 0.5/0.5, ``where`` follows the chosen branch, ``sign`` and comparisons have
derivative 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from engine.errors import ShapeError
from engine.graph import Graph, Node, Shape

Forward = Callable[..., np.ndarray]
JvpRule = Callable[[Graph, int, list["int | None"]], "int | None"]
VjpRule = Callable[[Graph, int, int], list["int | None"]]


@dataclass
class Primitive:
    """Everything the engine knows about one op."""

    name: str
    forward: Forward
    jvp: JvpRule | None
    vjp: VjpRule | None
    kind: str = "elementwise"
    """``elementwise`` (same-shape operands), ``structural`` or ``linalg``."""
    linear: bool = False
    """Linear in its differentiable operands: its Taylor rule is its forward rule."""
    taylor: Callable[..., np.ndarray] | None = field(default=None)


PRIMITIVES: dict[str, Primitive] = {}


# ---------------------------------------------------------------- emission and shape rules

def broadcast_shapes(op: str, a: Shape, b: Shape) -> Shape:
    """NumPy's broadcast of two static shapes; ShapeError naming ``op`` and both shapes."""
    # Plain tuple logic: np.broadcast_shapes costs microseconds and this runs per emitted node.
    if a == b or not b:
        return a
    if not a:
        return b
    out = []
    for i in range(-max(len(a), len(b)), 0):
        m = a[i] if -i <= len(a) else 1
        n = b[i] if -i <= len(b) else 1
        if m != n and m != 1 and n != 1:
            raise ShapeError(f"operands of '{op}' do not broadcast: shapes {a} and {b}")
        out.append(n if m == 1 else m)
    return tuple(out)


def broadcast_to(g: Graph, x: int, shape: Shape) -> int:
    """``x`` broadcast (NumPy rules) to ``shape``; a no-op when the shape already fits."""
    src = g.nodes[x].shape
    if src == shape:
        return x
    if broadcast_shapes("broadcast", src, shape) != shape:
        raise ShapeError(f"cannot broadcast shape {src} to {shape}")
    return g.add(Node("broadcast", (x,), (src, shape), shape))


def emit(g: Graph, op: str, *args: int, params: tuple[Any, ...] = (), shape: Shape | None = None
         ) -> int:
    """Add ``op(*args)`` to ``g``: broadcast elementwise operands, fold constants, simplify.

    ``shape`` must be given for structural and linear-algebra ops (their rules compute it).
    This runs for every node of every new expression, hence the hand-inlined fast paths.
    """
    if PRIMITIVES[op].kind == "elementwise":
        nodes = g.nodes
        out: Shape = nodes[args[0]].shape
        mixed = False
        for a in args[1:]:
            s = nodes[a].shape
            if s != out:
                out = broadcast_shapes(op, out, s)
                mixed = True
        if mixed:
            args = tuple([broadcast_to(g, a, out) for a in args])
        if op in _SIMPLIFIABLE:
            simple = _simplify(g, op, args)
            if simple is not None:
                return simple
        shape = out
    assert shape is not None
    consts = g.consts
    if args and op != "broadcast" and all(a in consts for a in args):
        return _fold(g, op, args, params)
    return g.add(Node(op, args, params, shape))


def _fold(g: Graph, op: str, args: tuple[int, ...], params: tuple[Any, ...]) -> int:
    with np.errstate(all="ignore"):
        return g.const(PRIMITIVES[op].forward(params, *[g.consts[a] for a in args]))


def scalar_value(g: Graph, nid: int) -> float | None:
    """The value of a constant whose entries are all equal (looking through broadcasts)."""
    if nid in g.uniform:
        return g.uniform[nid]
    node = g.nodes[nid]
    while node.op == "broadcast":
        nid = node.args[0]
        node = g.nodes[nid]
    return g.uniform.get(nid)


_SIMPLIFIABLE = frozenset({"neg", "add", "sub", "mul", "div"})


def _simplify(g: Graph, op: str, args: tuple[int, ...]) -> int | None:
    """Identities that keep derivative graphs (and printed formulas) small."""
    if op == "neg" and g.nodes[args[0]].op == "neg":
        return g.nodes[args[0]].args[0]
    if len(args) != 2:
        return None
    a, b = args
    va, vb = scalar_value(g, a), scalar_value(g, b)
    if op == "add":
        if vb == 0:
            return a
        if va == 0:
            return b
    elif op == "sub":
        if vb == 0:
            return a
        if va == 0:
            return emit(g, "neg", b)
    elif op == "mul":
        if vb == 1:
            return a
        if va == 1:
            return b
        if vb == -1:
            return emit(g, "neg", a)
        if va == -1:
            return emit(g, "neg", b)
    elif op == "div" and vb == 1:
        return a
    return None


# ---------------------------------------------------------------- emission shorthands

def add(g: Graph, a: int, b: int) -> int:
    """a + b."""
    return emit(g, "add", a, b)


def sub(g: Graph, a: int, b: int) -> int:
    """a - b."""
    return emit(g, "sub", a, b)


def mul(g: Graph, a: int, b: int) -> int:
    """a * b."""
    return emit(g, "mul", a, b)


def div(g: Graph, a: int, b: int) -> int:
    """a / b."""
    return emit(g, "div", a, b)


def neg(g: Graph, a: int) -> int:
    """-a."""
    return emit(g, "neg", a)


def scale(g: Graph, c: float, a: int) -> int:
    """c * a for a Python number c."""
    return mul(g, g.const(c), a)


def powc(g: Graph, a: int, p: float) -> int:
    """a ** p for a constant exponent."""
    if p == 1:
        return a
    return emit(g, "powc", a, params=(float(p),))


def unary(g: Graph, op: str, a: int) -> int:
    """op(a) for an elementwise unary op."""
    return emit(g, op, a)


def cmp(g: Graph, op: str, a: int, b: int) -> int:
    """1.0 where ``a op b`` holds, else 0.0."""
    return emit(g, op, a, b)


def where(g: Graph, c: int, a: int, b: int) -> int:
    """a where c != 0, else b."""
    return emit(g, "where", c, a, b)


def zeros(g: Graph, shape: Shape) -> int:
    """A zero tensor of ``shape`` (a broadcast scalar: no storage)."""
    return broadcast_to(g, g.const(0.0), shape)


def reshape(g: Graph, a: int, shape: Shape) -> int:
    """``a`` with a new static shape of the same size."""
    src = g.nodes[a].shape
    if src == shape:
        return a
    return emit(g, "reshape", a, params=(src, shape), shape=shape)


def sum_axes(g: Graph, a: int, axes: tuple[int, ...]) -> int:
    """Sum over static axes (non-negative axis numbers)."""
    src = g.nodes[a].shape
    if not axes:
        return a
    rank = len(src)
    neg_axes = tuple(sorted(ax - rank for ax in axes))
    out = tuple(n for i, n in enumerate(src) if i not in set(axes))
    return emit(g, "sum", a, params=(neg_axes,), shape=out)


def sum_all(g: Graph, a: int) -> int:
    """Sum of every element."""
    return sum_axes(g, a, tuple(range(len(g.nodes[a].shape))))


def sum_to(g: Graph, a: int, shape: Shape) -> int:
    """Transpose of broadcasting: sum ``a`` down to ``shape``."""
    src = g.nodes[a].shape
    if src == shape:
        return a
    lead = len(src) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and src[lead + i] != 1)
    return reshape(g, sum_axes(g, a, axes), shape)


def index(g: Graph, a: int, key: tuple[Any, ...], shape: Shape) -> int:
    """Basic indexing with a normalized key (ints and ``("s", start, stop, step)``)."""
    return emit(g, "index", a, params=(key,), shape=shape)


def stack(g: Graph, items: list[int]) -> int:
    """Stack equal-shaped items along a new leading static axis."""
    shape = g.nodes[items[0]].shape
    return emit(g, "stack", *items, params=(len(shape),), shape=(len(items), *shape))


def transpose(g: Graph, a: int) -> int:
    """Matrix transpose (rank 0 and 1 are returned unchanged, as in NumPy)."""
    shape = g.nodes[a].shape
    if len(shape) < 2:
        return a
    if len(shape) > 2:
        raise ShapeError(f"transpose (.T) takes a vector or a matrix, got shape {shape}")
    return emit(g, "transpose", a, shape=(shape[1], shape[0]))


def matmul(g: Graph, a: int, b: int) -> int:
    """a @ b with NumPy's rules for vectors and matrices."""
    sa, sb = g.nodes[a].shape, g.nodes[b].shape
    if not sa or not sb or len(sa) > 2 or len(sb) > 2:
        raise ShapeError(f"'@' needs vector or matrix operands, got shapes {sa} and {sb}")
    inner_a, inner_b = sa[-1], sb[0]
    if inner_a != inner_b:
        raise ShapeError(f"'@' shapes {sa} and {sb} do not align: {inner_a} != {inner_b}")
    out = sa[:-1] + sb[1:]
    return emit(g, "matmul", a, b, params=(len(sa), len(sb)), shape=out)


def outer(g: Graph, a: int, b: int) -> int:
    """Outer product of two vectors."""
    (m,), (n,) = g.nodes[a].shape, g.nodes[b].shape
    return mul(g, reshape(g, a, (m, 1)), reshape(g, b, (1, n)))


def square(g: Graph, n: int) -> None:
    """Raise unless ``n`` is a square matrix."""
    shape = g.nodes[n].shape
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ShapeError(f"expected a square matrix, got shape {shape}")


# ---------------------------------------------------------------- rule families

def _defelementwise(name: str, fwd: Forward, *partials: Callable[..., int | None]) -> None:
    """Register an elementwise op from its partial derivatives ``d(g, *args, ans) -> node``.

    A partial that returns None is identically zero.
    """

    def jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
        node = g.nodes[nid]
        total = None
        for partial, t in zip(partials, tangents, strict=True):
            if t is None:
                continue
            d = partial(g, *node.args, nid)
            if d is None:
                continue
            term = mul(g, d, t)
            total = term if total is None else add(g, total, term)
        return total

    def vjp(g: Graph, nid: int, ct: int) -> list[int | None]:
        node = g.nodes[nid]
        out: list[int | None] = []
        for partial in partials:
            d = partial(g, *node.args, nid)
            out.append(None if d is None else mul(g, ct, d))
        return out

    PRIMITIVES[name] = Primitive(name, fwd, jvp, vjp)


def _deflinear(name: str, fwd: Forward, transpose_rule: VjpRule, kind: str = "structural"
               ) -> None:
    """Register an op linear in all its operands: its JVP applies the op to the tangents."""

    def jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
        node = g.nodes[nid]
        if all(t is None for t in tangents):
            return None
        ts = [t if t is not None else zeros(g, g.nodes[a].shape)
              for t, a in zip(tangents, node.args, strict=True)]
        return emit(g, node.op, *ts, params=node.params, shape=node.shape)

    PRIMITIVES[name] = Primitive(name, fwd, jvp, transpose_rule, kind=kind, linear=True)


def _defzero(name: str, fwd: Forward) -> None:
    """Register a piecewise-constant op: every derivative is zero."""
    PRIMITIVES[name] = Primitive(name, fwd, lambda g, nid, ts: None,
                                 lambda g, nid, ct: [None] * len(g.nodes[nid].args))


def _c(g: Graph, v: float) -> int:
    return g.const(v)


# ---------------------------------------------------------------- elementwise unary

def _ufunc(f: Callable[[np.ndarray], np.ndarray]) -> Forward:
    return lambda params, x: f(x)


def _inv_sqrt(g: Graph, base: int) -> int:
    return powc(g, base, -0.5)


_TWO_OVER_SQRT_PI = 2.0 / np.sqrt(np.pi)

_defelementwise("sin", _ufunc(np.sin), lambda g, x, y: unary(g, "cos", x))
_defelementwise("cos", _ufunc(np.cos), lambda g, x, y: neg(g, unary(g, "sin", x)))
_defelementwise("tan", _ufunc(np.tan), lambda g, x, y: add(g, _c(g, 1.0), mul(g, y, y)))
_defelementwise("asin", _ufunc(np.arcsin),
                lambda g, x, y: _inv_sqrt(g, sub(g, _c(g, 1.0), mul(g, x, x))))
_defelementwise("acos", _ufunc(np.arccos),
                lambda g, x, y: neg(g, _inv_sqrt(g, sub(g, _c(g, 1.0), mul(g, x, x)))))
_defelementwise("atan", _ufunc(np.arctan),
                lambda g, x, y: div(g, _c(g, 1.0), add(g, _c(g, 1.0), mul(g, x, x))))
_defelementwise("sinh", _ufunc(np.sinh), lambda g, x, y: unary(g, "cosh", x))
_defelementwise("cosh", _ufunc(np.cosh), lambda g, x, y: unary(g, "sinh", x))
_defelementwise("tanh", _ufunc(np.tanh), lambda g, x, y: sub(g, _c(g, 1.0), mul(g, y, y)))
_defelementwise("asinh", _ufunc(np.arcsinh),
                lambda g, x, y: _inv_sqrt(g, add(g, mul(g, x, x), _c(g, 1.0))))
_defelementwise("acosh", _ufunc(np.arccosh),
                lambda g, x, y: _inv_sqrt(g, sub(g, mul(g, x, x), _c(g, 1.0))))
_defelementwise("atanh", _ufunc(np.arctanh),
                lambda g, x, y: div(g, _c(g, 1.0), sub(g, _c(g, 1.0), mul(g, x, x))))
_defelementwise("exp", _ufunc(np.exp), lambda g, x, y: y)
_defelementwise("expm1", _ufunc(np.expm1), lambda g, x, y: add(g, y, _c(g, 1.0)))
_defelementwise("log", _ufunc(np.log), lambda g, x, y: div(g, _c(g, 1.0), x))
_defelementwise("log1p", _ufunc(np.log1p),
                lambda g, x, y: div(g, _c(g, 1.0), add(g, x, _c(g, 1.0))))
# PyTorch's sqrt backward is grad / (2 * result): at 0 it is +inf, as here.
_defelementwise("sqrt", _ufunc(np.sqrt), lambda g, x, y: div(g, _c(g, 0.5), y))
_defelementwise("cbrt", _ufunc(np.cbrt),
                lambda g, x, y: div(g, _c(g, 1.0 / 3.0), mul(g, y, y)))
_defelementwise("abs", _ufunc(np.abs), lambda g, x, y: unary(g, "sign", x))
_defelementwise("erf", _ufunc(special.erf),
                lambda g, x, y: scale(g, _TWO_OVER_SQRT_PI, unary(g, "exp", neg(g, mul(g, x, x)))))
_defelementwise("erfc", _ufunc(special.erfc),
                lambda g, x, y: scale(g, -_TWO_OVER_SQRT_PI,
                                      unary(g, "exp", neg(g, mul(g, x, x)))))
_defelementwise("sigmoid", _ufunc(special.expit),
                lambda g, x, y: mul(g, y, sub(g, _c(g, 1.0), y)))
_defelementwise("softplus", _ufunc(lambda x: np.logaddexp(0.0, x)),
                lambda g, x, y: unary(g, "sigmoid", x))
# relu'(0) = 0 as in PyTorch: the mask is x > 0.
_defelementwise("relu", _ufunc(lambda x: np.maximum(x, 0.0)),
                lambda g, x, y: cmp(g, "gt", x, _c(g, 0.0)))
_defzero("sign", _ufunc(np.sign))


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


_defelementwise("powc", _powc_forward, _powc_partial)
_deflinear("neg", _ufunc(np.negative), lambda g, nid, ct: [neg(g, ct)], kind="elementwise")


# ---------------------------------------------------------------- elementwise binary

_deflinear("add", lambda params, a, b: a + b, lambda g, nid, ct: [ct, ct], kind="elementwise")
_deflinear("sub", lambda params, a, b: a - b, lambda g, nid, ct: [ct, neg(g, ct)],
           kind="elementwise")
_defelementwise("mul", lambda params, a, b: a * b, lambda g, a, b, y: b, lambda g, a, b, y: a)
_defelementwise("div", lambda params, a, b: a / b,
                lambda g, a, b, y: div(g, _c(g, 1.0), b),
                lambda g, a, b, y: neg(g, div(g, y, b)))


def _pow_exponent_partial(g: Graph, a: int, b: int, y: int) -> int:
    # PyTorch masks the exponent's gradient to 0 where base == 0 and exponent >= 0.
    mask = mul(g, cmp(g, "eq", a, _c(g, 0.0)), cmp(g, "ge", b, _c(g, 0.0)))
    return where(g, mask, _c(g, 0.0), mul(g, unary(g, "log", a), y))


_defelementwise("pow", lambda params, a, b: np.power(a, b),
                lambda g, a, b, y: mul(g, b, emit(g, "pow", a, sub(g, b, _c(g, 1.0)))),
                _pow_exponent_partial)


def _atan2_denominator(g: Graph, a: int, b: int) -> int:
    return add(g, mul(g, a, a), mul(g, b, b))


_defelementwise("atan2", lambda params, a, b: np.arctan2(a, b),
                lambda g, a, b, y: div(g, b, _atan2_denominator(g, a, b)),
                lambda g, a, b, y: neg(g, div(g, a, _atan2_denominator(g, a, b))))


def _tie_split(g: Graph, win: str, a: int, b: int) -> int:
    """1 where ``a`` wins, 0.5 on a tie, else 0 (PyTorch's max/min convention)."""
    return add(g, cmp(g, win, a, b), scale(g, 0.5, cmp(g, "eq", a, b)))


_defelementwise("max", lambda params, a, b: np.maximum(a, b),
                lambda g, a, b, y: _tie_split(g, "gt", a, b),
                lambda g, a, b, y: _tie_split(g, "gt", b, a))
_defelementwise("min", lambda params, a, b: np.minimum(a, b),
                lambda g, a, b, y: _tie_split(g, "lt", a, b),
                lambda g, a, b, y: _tie_split(g, "lt", b, a))

COMPARISONS = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
               "eq": np.equal, "ne": np.not_equal}
for _name, _ufn in COMPARISONS.items():
    _defzero(_name, lambda params, a, b, _f=_ufn: _f(a, b).astype(np.float64))


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


PRIMITIVES["where"] = Primitive(
    "where", lambda params, c, a, b: np.where(c != 0, a, b), _where_jvp, _where_vjp)


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


def _py_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return (Ellipsis, *(slice(k[1], k[2], k[3]) if isinstance(k, tuple) else k for k in key))


def _scatter_forward(params: tuple[Any, Shape], x: np.ndarray) -> np.ndarray:
    key, full = params
    pykey = _py_key(key)
    ref = np.empty(full)[pykey]
    out = np.zeros(_prefix(x, ref.ndim) + full)
    out[pykey] = x
    return out


def _stack_forward(params: tuple[int], *xs: np.ndarray) -> np.ndarray:
    (rank,) = params
    # Operands may carry different batch prefixes (constants have size-1 ones).
    xs = np.broadcast_arrays(*xs)
    return np.stack(xs, axis=xs[0].ndim - rank)


_deflinear("broadcast", _broadcast_forward,
           lambda g, nid, ct: [sum_to(g, ct, g.nodes[nid].params[0])])
_deflinear("reshape", _reshape_forward,
           lambda g, nid, ct: [reshape(g, ct, g.nodes[nid].params[0])])


def _sum_transpose(g: Graph, nid: int, ct: int) -> list[int | None]:
    node = g.nodes[nid]
    src = g.nodes[node.args[0]].shape
    axes = {ax + len(src) for ax in node.params[0]}
    kept = tuple(1 if i in axes else n for i, n in enumerate(src))
    return [broadcast_to(g, reshape(g, ct, kept), src)]


_deflinear("sum", lambda params, x: np.sum(x, axis=params[0]), _sum_transpose)


def _index_transpose(g: Graph, nid: int, ct: int) -> list[int | None]:
    node = g.nodes[nid]
    full = g.nodes[node.args[0]].shape
    return [emit(g, "scatter", ct, params=(node.params[0], full), shape=full)]


def _scatter_transpose(g: Graph, nid: int, ct: int) -> list[int | None]:
    node = g.nodes[nid]
    return [index(g, ct, node.params[0], g.nodes[node.args[0]].shape)]


_deflinear("index", lambda params, x: x[_py_key(params[0])], _index_transpose)
_deflinear("scatter", _scatter_forward, _scatter_transpose)


def _stack_transpose(g: Graph, nid: int, ct: int) -> list[int | None]:
    node = g.nodes[nid]
    item = node.shape[1:]
    rest = tuple(("s", 0, n, 1) for n in item)
    return [index(g, ct, (i, *rest), item) for i in range(len(node.args))]


_deflinear("stack", _stack_forward, _stack_transpose)
_deflinear("transpose", lambda params, x: np.swapaxes(x, -1, -2),
           lambda g, nid, ct: [transpose(g, ct)])


def _matmul_forward(params: tuple[int, int], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ra, rb = params
    if ra == 2 and rb == 2:
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
    if ra == 2 and rb == 2:
        return [matmul(g, ct, transpose(g, b)), matmul(g, transpose(g, a), ct)]
    if ra == 2:
        return [outer(g, ct, b), matmul(g, ct, a)]
    if rb == 2:
        return [matmul(g, b, ct), outer(g, a, ct)]
    return [mul(g, ct, b), mul(g, ct, a)]


PRIMITIVES["matmul"] = Primitive("matmul", _matmul_forward, _matmul_jvp, _matmul_vjp,
                                 kind="linalg")


# ---------------------------------------------------------------- linear algebra

def safe_inv(a: np.ndarray) -> np.ndarray:
    """Batched inverse; singular matrices give NaN entries instead of an exception."""
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        flat = a.reshape(-1, *a.shape[-2:])
        out = np.full(flat.shape, np.nan)
        for i, m in enumerate(flat):
            try:
                out[i] = np.linalg.inv(m)
            except np.linalg.LinAlgError:
                continue
        return out.reshape(a.shape)


def _inv_jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
    (t,) = tangents
    if t is None:
        return None
    return neg(g, matmul(g, matmul(g, nid, t), nid))


def _inv_vjp(g: Graph, nid: int, ct: int) -> list[int | None]:
    yt = transpose(g, nid)
    return [neg(g, matmul(g, matmul(g, yt, ct), yt))]


def _inverse_of_arg(g: Graph, nid: int) -> int:
    a = g.nodes[nid].args[0]
    return emit(g, "inv", a, shape=g.nodes[a].shape)


def _det_jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
    (t,) = tangents
    if t is None:
        return None
    inv_t = transpose(g, _inverse_of_arg(g, nid))
    return mul(g, nid, sum_all(g, mul(g, inv_t, t)))


def _det_vjp(g: Graph, nid: int, ct: int) -> list[int | None]:
    inv_t = transpose(g, _inverse_of_arg(g, nid))
    return [mul(g, mul(g, ct, nid), inv_t)]


def _norm_forward(params: tuple[tuple[int, ...]], x: np.ndarray) -> np.ndarray:
    (axes,) = params
    return np.sqrt(np.sum(x * x, axis=axes))


def _over_norm(g: Graph, nid: int, numerator: int) -> int:
    """numerator / norm, and 0 where the norm is 0 (PyTorch's norm backward masks it)."""
    zero = g.const(0.0)
    return where(g, cmp(g, "eq", nid, zero), zero, div(g, numerator, nid))


def _norm_jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
    (t,) = tangents
    if t is None:
        return None
    x = g.nodes[nid].args[0]
    return _over_norm(g, nid, sum_all(g, mul(g, x, t)))


def _norm_vjp(g: Graph, nid: int, ct: int) -> list[int | None]:
    x = g.nodes[nid].args[0]
    return [mul(g, x, _over_norm(g, nid, ct))]


def norm(g: Graph, x: int) -> int:
    """Euclidean (Frobenius) norm over every axis; its derivative at 0 is 0, as in PyTorch."""
    shape = g.nodes[x].shape
    if not shape:
        return unary(g, "abs", x)
    return emit(g, "norm", x, params=(tuple(range(-len(shape), 0)),), shape=())


PRIMITIVES["norm"] = Primitive("norm", _norm_forward, _norm_jvp, _norm_vjp, kind="structural")
PRIMITIVES["inv"] = Primitive("inv", lambda params, a: safe_inv(a), _inv_jvp, _inv_vjp,
                              kind="linalg")
PRIMITIVES["det"] = Primitive("det", lambda params, a: np.linalg.det(a), _det_jvp, _det_vjp,
                              kind="linalg")
