"""Reductions over axes (NumPy's ``axis=`` and ``keepdims=``) and the functions built on them:
sum, mean, prod, max/min, var/std, cumsum/cumprod, logsumexp and softmax.

All but max/min (the ``amax``/``amin`` records) are exact composites of existing ops. logsumexp
and softmax subtract the maximum first (stable for large entries) as a constant shift
(``maxshift``): they are invariant under any shift, so it adds no term and no kink.
"""

from __future__ import annotations

import math
from typing import Any

from engine.errors import InputError, ShapeError
from engine.ir import emit as P
from engine.ir.graph import Graph, Shape
from engine.ir.ops import Op
from engine.language.arrays import axes_of, axis_of, concat, flatten, segment, take


def _kept(shape: Shape, axes: tuple[int, ...]) -> Shape:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _finish(g: Graph, y: int, shape: Shape, axes: tuple[int, ...], keepdims: Any) -> int:
    """Reshape a reduction's result to keep the reduced axes with length 1 if asked."""
    if not isinstance(keepdims, bool | int):
        raise InputError(f"keepdims must be True or False, got {keepdims!r}",
                         loc=("body", "expression"))
    return P.reshape(g, y, _kept(shape, axes)) if keepdims else y


def sum_(g: Graph, a: int, axis: Any, keepdims: Any) -> int:
    """NumPy's ``sum(a, axis=None, keepdims=False)``."""
    shape = g.nodes[a].shape
    axes = axes_of(axis, len(shape))
    return _finish(g, P.sum_axes(g, a, axes), shape, axes, keepdims)


def _count(shape: Shape, axes: tuple[int, ...]) -> int:
    n = math.prod(shape[i] for i in axes)
    if n == 0:
        raise ShapeError(f"the mean of an empty axis (shape {shape})")
    return n


def mean(g: Graph, a: int, axis: Any, keepdims: Any) -> int:
    """NumPy's ``mean(a, axis=None, keepdims=False)``."""
    shape = g.nodes[a].shape
    axes = axes_of(axis, len(shape))
    y = P.div(g, P.sum_axes(g, a, axes), g.const(float(_count(shape, axes))))
    return _finish(g, y, shape, axes, keepdims)


def _prod_axis(g: Graph, x: int, axis: int) -> int:
    """Product along one axis by pairwise halving (strided slices): O(log n) nodes, exact at
    zeros (no division)."""
    shape = g.nodes[x].shape
    n = shape[axis]
    out_shape = shape[:axis] + shape[axis + 1:]
    if n == 0:
        return P.broadcast_to(g, g.const(1.0), out_shape)
    tails = []
    v = x
    while n > 1:
        half = n // 2
        if n % 2:
            tails.append(take(g, v, axis, n - 1))
        cur = g.nodes[v].shape
        halved = (*cur[:axis], half, *cur[axis + 1:])
        keys = []
        for start in (0, 1):
            key: list[Any] = [("s", 0, m, 1) for m in cur]
            key[axis] = ("s", start, 2 * half, 2)
            keys.append(tuple(key))
        v = P.mul(g, P.index(g, v, keys[0], halved), P.index(g, v, keys[1], halved))
        n = half
    for t in tails:
        v = P.mul(g, v, t)
    return P.reshape(g, v, out_shape)


def prod(g: Graph, a: int, axis: Any, keepdims: Any) -> int:
    """NumPy's ``prod(a, axis=None, keepdims=False)``."""
    shape = g.nodes[a].shape
    axes = axes_of(axis, len(shape))
    y = a
    for ax in reversed(axes):
        y = _prod_axis(g, y, ax)
    return _finish(g, y, shape, axes, keepdims)


def extremum(op: Op, g: Graph, a: int, axis: Any, keepdims: Any) -> int:
    """max (``amax``) or min (``amin``) over axes; ties split the derivative evenly."""
    shape = g.nodes[a].shape
    axes = axes_of(axis, len(shape))
    if any(shape[i] == 0 for i in axes):
        raise ShapeError(f"the maximum or minimum of an empty axis (shape {shape})")
    if not axes:
        return a
    out = tuple(n for i, n in enumerate(shape) if i not in axes)
    rank = len(shape)
    y = P.emit(g, op, a, params=(tuple(ax - rank for ax in axes),), shape=out)
    return _finish(g, y, shape, axes, keepdims)


def two_or_one(op: Op, pairwise: Op) -> Any:
    """``max(a, b)`` elementwise (as Python and ``torch.max``), ``max(a, axis=…)`` a reduction
    (as ``np.max``)."""
    def build(g: Graph, a: int, b: int | None, axis: Any, keepdims: Any) -> int:
        if b is None:
            return extremum(op, g, a, axis, keepdims)
        if axis is not None or keepdims:
            raise InputError(f"{pairwise}(a, b) is elementwise and takes no axis or keepdims "
                             f"(for a reduction write {pairwise}(a, axis=…))",
                             loc=("body", "expression"))
        return P.emit(g, pairwise, a, b)
    return build


def var(g: Graph, a: int, axis: Any, ddof: Any, keepdims: Any) -> int:
    """NumPy's ``var(a, axis=None, ddof=0, keepdims=False)``: mean squared deviation, divided
    by N − ddof."""
    shape = g.nodes[a].shape
    axes = axes_of(axis, len(shape))
    if isinstance(ddof, bool) or not isinstance(ddof, int | float):
        raise InputError(f"ddof must be a number, got {ddof!r}", loc=("body", "expression"))
    n = _count(shape, axes)
    centre = P.broadcast_to(g, mean(g, a, axis, True), shape)
    dev = P.sub(g, a, centre)
    y = P.div(g, P.sum_axes(g, P.mul(g, dev, dev), axes), g.const(float(n - ddof)))
    return _finish(g, y, shape, axes, keepdims)


def std(g: Graph, a: int, axis: Any, ddof: Any, keepdims: Any) -> int:
    """NumPy's ``std``: the square root of :func:`var` (derivative infinite where it is 0)."""
    return P.unary(g, Op.SQRT, var(g, a, axis, ddof, keepdims))


def _scan(g: Graph, a: int, axis: Any, combine: Any) -> int:
    """Running ``combine`` along one axis (``axis=None``: of the flattened value), by
    doubling (Hillis–Steele): y_i ← y_i ∘ y_{i−d} for d = 1, 2, 4, …, so O(log n) nodes."""
    if axis is None:
        a, ax = flatten(g, a), 0
    else:
        ax = axis_of(axis, len(g.nodes[a].shape))
    n = g.nodes[a].shape[ax]
    y = a
    d = 1
    while d < n:
        shifted = combine(g, segment(g, y, ax, d, n), segment(g, y, ax, 0, n - d))
        y = concat(g, [segment(g, y, ax, 0, d), shifted], ax)
        d *= 2
    return y


def cumsum(g: Graph, a: int, axis: Any) -> int:
    """NumPy's ``cumsum(a, axis=None)``: a running sum along an axis (None: flattened)."""
    return _scan(g, a, axis, P.add)


def cumprod(g: Graph, a: int, axis: Any) -> int:
    """NumPy's ``cumprod(a, axis=None)``: a running product, exact at zeros (no division)."""
    return _scan(g, a, axis, P.mul)


def _shifted(g: Graph, a: int, axes: tuple[int, ...]) -> tuple[int, int]:
    """``a`` minus its maximum over ``axes`` (broadcast back), and that maximum (a constant
    shift: ``maxshift`` has derivative 0)."""
    shape = g.nodes[a].shape
    rank = len(shape)
    top = P.emit(g, Op.MAXSHIFT, a, params=(tuple(ax - rank for ax in axes),),
                 shape=tuple(n for i, n in enumerate(shape) if i not in axes))
    return P.sub(g, a, P.broadcast_to(g, P.reshape(g, top, _kept(shape, axes)), shape)), top


def logsumexp(g: Graph, a: int, axis: Any, b: int | None, keepdims: Any) -> int:
    """scipy's ``logsumexp(a, axis=None, b=None, keepdims=False)``: m + log Σ b·exp(a − m),
    m the maximum of a (weights b broadcast with a)."""
    if b is not None:
        shape = P.broadcast_shapes("logsumexp", g.nodes[a].shape, g.nodes[b].shape)
        a, b = P.broadcast_to(g, a, shape), P.broadcast_to(g, b, shape)
    shape = g.nodes[a].shape
    axes = axes_of(axis, len(shape))
    shifted, top = _shifted(g, a, axes)
    terms = P.unary(g, Op.EXP, shifted)
    if b is not None:
        terms = P.mul(g, b, terms)
    elif not axes:
        return a
    y = P.add(g, P.unary(g, Op.LOG, P.sum_axes(g, terms, axes)), top)
    return _finish(g, y, shape, axes, keepdims)


def softmax(g: Graph, x: int, axis: Any) -> int:
    """scipy's ``softmax(x, axis=None)``: exp(x − m) / Σ exp(x − m) over ``axis`` (None: the
    whole value)."""
    shape = g.nodes[x].shape
    axes = axes_of(axis, len(shape))
    shifted, _ = _shifted(g, x, axes)
    e = P.unary(g, Op.EXP, shifted)
    total = P.reshape(g, P.sum_axes(g, e, axes), _kept(shape, axes))
    return P.div(g, e, P.broadcast_to(g, total, shape))
