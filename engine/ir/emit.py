"""Emitting nodes: shape rules, broadcasting, constant folding and the identities that keep
derivative graphs small, plus one shorthand per op that rules and builders call.

This runs for every node of every new expression, hence the hand-inlined fast paths.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.errors import ShapeError
from engine.ir.graph import Graph, Node, Shape
from engine.ir.ops import PRIMITIVES, Op

# Attribute access on an enum class costs ~0.2 µs on Python 3.11, and emission runs for every
# node of every new expression: the ops it names are bound once, here.
(_ABS, _ADD, _BROADCAST, _DIV, _INDEX, _MATMUL, _MUL, _NEG, _NORM, _POWC, _RESHAPE, _SMUL, _STACK,
 _SUB, _SUM, _TRANSPOSE, _WHERE) = (
    Op.ABS, Op.ADD, Op.BROADCAST, Op.DIV, Op.INDEX, Op.MATMUL, Op.MUL, Op.NEG, Op.NORM, Op.POWC,
    Op.RESHAPE, Op.SMUL, Op.STACK, Op.SUB, Op.SUM, Op.TRANSPOSE, Op.WHERE)


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
    return g.add(Node(_BROADCAST, (x,), (src, shape), shape))


def emit(g: Graph, op: str, *args: int, params: tuple[Any, ...] = (), shape: Shape | None = None
         ) -> int:
    """Add ``op(*args)`` to ``g``: broadcast elementwise operands, fold constants, simplify.

    ``shape`` must be given for structural and linear-algebra ops (their rules compute it).
    This runs for every node of every new expression, hence the hand-inlined fast paths.
    """
    if PRIMITIVES[op].elementwise:
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
    if args and op != _BROADCAST and all(a in consts for a in args):
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
    while node.op == _BROADCAST:
        nid = node.args[0]
        node = g.nodes[nid]
    return g.uniform.get(nid)


_SIMPLIFIABLE = frozenset({_NEG, _ADD, _SUB, _MUL, _SMUL, _DIV})


def _simplify(g: Graph, op: str, args: tuple[int, ...]) -> int | None:
    """Identities that keep derivative graphs (and printed formulas) small."""
    if op == _NEG and g.nodes[args[0]].op == _NEG:
        return g.nodes[args[0]].args[0]
    if len(args) != 2:
        return None
    a, b = args
    va, vb = scalar_value(g, a), scalar_value(g, b)
    if op == _ADD:
        if vb == 0:
            return a
        if va == 0:
            return b
    elif op == _SUB:
        if vb == 0:
            return a
        if va == 0:
            return emit(g, _NEG, b)
    elif op in (_MUL, _SMUL):  # a factor ±1 is finite: the strong zero changes nothing
        if vb == 1:
            return a
        if va == 1:
            return b
        if vb == -1:
            return emit(g, _NEG, a)
        if va == -1:
            return emit(g, _NEG, b)
    elif op == _DIV and vb == 1:
        return a
    return None


# ---------------------------------------------------------------- emission shorthands

def add(g: Graph, a: int, b: int) -> int:
    """a + b."""
    return emit(g, _ADD, a, b)


def sub(g: Graph, a: int, b: int) -> int:
    """a - b."""
    return emit(g, _SUB, a, b)


def mul(g: Graph, a: int, b: int) -> int:
    """a * b."""
    return emit(g, _MUL, a, b)


def tangent_product(g: Graph, d: int, t: int) -> int:
    """d·t for a partial ``d`` and a tangent ``t``: 0 where t is 0 (see ``Op.SMUL``)."""
    return emit(g, _SMUL, d, t)


def div(g: Graph, a: int, b: int) -> int:
    """a / b."""
    return emit(g, _DIV, a, b)


def neg(g: Graph, a: int) -> int:
    """-a."""
    return emit(g, _NEG, a)


def scale(g: Graph, c: float, a: int) -> int:
    """c * a for a Python number c."""
    return mul(g, g.const(c), a)


def powc(g: Graph, a: int, p: float) -> int:
    """a ** p for a constant exponent."""
    if p == 1:
        return a
    return emit(g, _POWC, a, params=(float(p),))


def unary(g: Graph, op: str, a: int) -> int:
    """op(a) for an elementwise unary op."""
    return emit(g, op, a)


def cmp(g: Graph, op: str, a: int, b: int) -> int:
    """1.0 where ``a op b`` holds, else 0.0."""
    return emit(g, op, a, b)


def where(g: Graph, c: int, a: int, b: int) -> int:
    """a where c != 0, else b."""
    return emit(g, _WHERE, c, a, b)


def chain(g: Graph, ct: int, d: int) -> int:
    """The reverse-mode product ``ct * d`` of a cotangent and a partial derivative.

    A cotangent that ``where`` masked (``where(c, u, 0)``, possibly negated) stays masked:
    the product is ``where(c, u * d, 0)``, so the branch ``where`` did not choose contributes
    exactly 0 even where its partial is infinite or NaN (log'(0) in ``where(x > 0, log(x), 0)``),
    as in forward and Taylor mode. Any other ``0 * inf`` stays NaN, as in PyTorch.
    """
    node = g.nodes[ct]
    if node.op == _WHERE:
        c, a, b = node.args
        if scalar_value(g, b) == 0:
            return where(g, c, chain(g, a, d), b)
        if scalar_value(g, a) == 0:
            return where(g, c, a, chain(g, b, d))
    elif node.op == _NEG and g.nodes[node.args[0]].op == _WHERE:
        return neg(g, chain(g, node.args[0], d))
    return mul(g, ct, d)


def zeros(g: Graph, shape: Shape) -> int:
    """A zero tensor of ``shape`` (a broadcast scalar: no storage)."""
    return broadcast_to(g, g.const(0.0), shape)


def reshape(g: Graph, a: int, shape: Shape) -> int:
    """``a`` with a new static shape of the same size."""
    src = g.nodes[a].shape
    if src == shape:
        return a
    return emit(g, _RESHAPE, a, params=(src, shape), shape=shape)


def sum_axes(g: Graph, a: int, axes: tuple[int, ...]) -> int:
    """Sum over static axes (non-negative axis numbers)."""
    src = g.nodes[a].shape
    if not axes:
        return a
    rank = len(src)
    neg_axes = tuple(sorted(ax - rank for ax in axes))
    out = tuple(n for i, n in enumerate(src) if i not in set(axes))
    return emit(g, _SUM, a, params=(neg_axes,), shape=out)


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
    return emit(g, _INDEX, a, params=(key,), shape=shape)


def stack(g: Graph, items: list[int]) -> int:
    """Stack equal-shaped items along a new leading static axis."""
    shape = g.nodes[items[0]].shape
    return emit(g, _STACK, *items, params=(len(shape),), shape=(len(items), *shape))


def transpose(g: Graph, a: int) -> int:
    """Matrix transpose (rank 0 and 1 are returned unchanged, as in NumPy)."""
    shape = g.nodes[a].shape
    if len(shape) < 2:
        return a
    if len(shape) > 2:
        # NumPy's .T of a stack reverses every axis, which is rarely what is meant.
        raise ShapeError(f"transpose (.T) takes a vector or a matrix, got shape {shape} (for "
                         f"a stack of matrices, matrix_transpose(a) swaps the last two axes)")
    return matrix_transpose(g, a)


def matrix_transpose(g: Graph, a: int) -> int:
    """NumPy's ``matrix_transpose`` (``a.mT``): the last two axes swapped, rank ≥ 2."""
    shape = g.nodes[a].shape
    if len(shape) < 2:
        raise ShapeError(f"matrix_transpose takes a matrix or a stack of matrices (rank ≥ 2), "
                         f"got shape {shape}")
    return emit(g, _TRANSPOSE, a, shape=(*shape[:-2], shape[-1], shape[-2]))


def batch_shape(op: str, sa: Shape, sb: Shape, *, core_a: int = 2, core_b: int = 2) -> Shape:
    """The broadcast of the leading (stack) axes of two operands whose last ``core_a`` and
    ``core_b`` axes are their matrices; ShapeError naming ``op`` and both full shapes."""
    try:
        return broadcast_shapes(op, sa[:len(sa) - core_a], sb[:len(sb) - core_b])
    except ShapeError:
        raise ShapeError(f"{op}: the stack dimensions of shapes {sa} and {sb} do not "
                         f"broadcast") from None


def matmul(g: Graph, a: int, b: int) -> int:
    """a @ b with NumPy's rules: vectors, matrices and stacks of matrices (leading axes
    broadcast; a vector operand is a row or column, its axis dropped from the result)."""
    sa, sb = g.nodes[a].shape, g.nodes[b].shape
    if not sa or not sb:
        raise ShapeError(f"'@' needs operands of rank ≥ 1 (a scalar multiplies with '*'), got "
                         f"shapes {sa} and {sb}")
    inner_a, inner_b = sa[-1], sb[-2] if len(sb) >= 2 else sb[0]
    if inner_a != inner_b:
        raise ShapeError(f"'@' shapes {sa} and {sb} do not align: {inner_a} != {inner_b}")
    if len(sa) <= 2 and len(sb) <= 2:
        out = sa[:-1] + sb[1:]
        return emit(g, _MATMUL, a, b, params=(len(sa), len(sb)), shape=out)
    # A stack: vectors become a 1-row or 1-column matrix and both operands are broadcast to
    # the common stack shape, so the op's rules see equal static ranks (the batch prefixes of
    # points and directions then line up in front of them).
    am = reshape(g, a, (1, inner_a)) if len(sa) == 1 else a
    bm = reshape(g, b, (inner_b, 1)) if len(sb) == 1 else b
    sam, sbm = g.nodes[am].shape, g.nodes[bm].shape
    batch = batch_shape("'@'", sa, sb, core_a=min(len(sa), 2), core_b=min(len(sb), 2))
    am = broadcast_to(g, am, (*batch, *sam[-2:]))
    bm = broadcast_to(g, bm, (*batch, *sbm[-2:]))
    rank = len(batch) + 2
    product = emit(g, _MATMUL, am, bm, params=(rank, rank), shape=(*batch, sam[-2], sbm[-1]))
    rows = sa[-2:-1]
    cols = sb[-1:] if len(sb) >= 2 else ()
    return reshape(g, product, (*batch, *rows, *cols))


def outer(g: Graph, a: int, b: int) -> int:
    """Outer product of two vectors."""
    (m,), (n,) = g.nodes[a].shape, g.nodes[b].shape
    return mul(g, reshape(g, a, (m, 1)), reshape(g, b, (1, n)))


def square(g: Graph, n: int) -> None:
    """Raise unless ``n`` is a square matrix."""
    shape = g.nodes[n].shape
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ShapeError(f"expected a square matrix, got shape {shape}")


def square_matrices(g: Graph, n: int, fn: str) -> int:
    """The size of the square matrix ``n`` or of the square matrices it stacks (its last two
    axes); ShapeError naming ``fn`` and the shape otherwise."""
    shape = g.nodes[n].shape
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeError(f"{fn} takes a square matrix or a stack of them (shape (..., n, n)), got "
                         f"shape {shape}")
    return shape[-1]


def sum_matrices(g: Graph, a: int) -> int:
    """The sum over the last two axes: one number per matrix of a stack."""
    rank = len(g.nodes[a].shape)
    return sum_axes(g, a, (rank - 2, rank - 1))


def per_matrix(g: Graph, a: int) -> int:
    """A value with one entry per matrix of a stack, shaped to broadcast against the stack
    (two trailing axes of length 1); a scalar (one matrix) broadcasts as it is."""
    shape = g.nodes[a].shape
    return reshape(g, a, (*shape, 1, 1)) if shape else a


def norm(g: Graph, x: int) -> int:
    """Euclidean (Frobenius) norm over every axis; its derivative at 0 is 0, as in PyTorch."""
    shape = g.nodes[x].shape
    if not shape:
        return unary(g, _ABS, x)
    return emit(g, _NORM, x, params=(tuple(range(-len(shape), 0)),), shape=())

