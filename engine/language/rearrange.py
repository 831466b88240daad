"""NumPy's functions that rearrange entries without computing: axis permutations (transpose
with axes, swapaxes, moveaxis), ravel, squeeze, expand_dims, repeat, roll, rot90, append, and
tensordot (a permutation, then one matrix product).

Like :mod:`engine.language.arrays` they are composites of reshape, index, scatter and the swap
of the last two axes, so every derivative, Taylor, symbolic and sparsity rule is theirs.
"""

from __future__ import annotations

import math
from typing import Any

from engine.errors import InputError, ShapeError
from engine.ir import emit as P
from engine.ir.graph import Graph
from engine.language import arrays as A


def _ints(value: Any, what: str) -> tuple[int, ...]:
    """A static integer or tuple of integers, as a tuple."""
    items = value if isinstance(value, tuple) else (value,)
    for v in items:
        A.static_int(v, what)
    return items


def _to_end(g: Graph, x: int, pos: int) -> int:
    """Axis ``pos`` of ``x`` moved to the end: merge the axes before and after it, swap the
    last two, split again."""
    shape = g.nodes[x].shape
    before, n, after = shape[:pos], shape[pos], shape[pos + 1:]
    out = (*before, *after, n)
    if math.prod(after) == 1:
        return P.reshape(g, x, out)
    merged = P.reshape(g, x, (math.prod(before), n, math.prod(after)))
    return P.reshape(g, P.matrix_transpose(g, merged), out)


def permute(g: Graph, x: int, axes: tuple[int, ...]) -> int:
    """``np.transpose(x, axes)`` for axes already checked to be a permutation."""
    order = list(range(len(axes)))
    for target in axes:
        pos = order.index(target)
        if pos != len(order) - 1:
            x = _to_end(g, x, pos)
        order.append(order.pop(pos))
    return x


def _permutation(axes: Any, rank: int) -> tuple[int, ...]:
    found = tuple(A.axis_of(a, rank) for a in _ints(axes, "an axis"))
    if sorted(found) != list(range(rank)):
        raise ShapeError(f"axes {axes} are not a permutation of the {rank} axes")
    return found


def transpose(g: Graph, a: int, axes: Any) -> int:
    """NumPy's ``transpose(a, axes=None)``; without axes only vectors and matrices (a stack's
    reversed axes are rarely what is meant: P.transpose says so)."""
    if axes is None:
        return P.transpose(g, a)
    return permute(g, a, _permutation(axes, len(g.nodes[a].shape)))


def swapaxes(g: Graph, a: int, axis1: Any, axis2: Any) -> int:
    """NumPy's ``swapaxes(a, axis1, axis2)``."""
    rank = len(g.nodes[a].shape)
    i, j = A.axis_of(axis1, rank), A.axis_of(axis2, rank)
    order = list(range(rank))
    order[i], order[j] = order[j], order[i]
    return permute(g, a, tuple(order))


def moveaxis(g: Graph, a: int, source: Any, destination: Any) -> int:
    """NumPy's ``moveaxis(a, source, destination)`` (integers or tuples of equal length)."""
    rank = len(g.nodes[a].shape)
    src = [A.axis_of(s, rank, "source") for s in _ints(source, "source")]
    dst = [A.axis_of(d, rank, "destination") for d in _ints(destination, "destination")]
    if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ShapeError("moveaxis needs as many distinct source axes as destination axes")
    order = [n for n in range(rank) if n not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return permute(g, a, tuple(order))


def squeeze(g: Graph, a: int, axis: Any) -> int:
    """NumPy's ``squeeze(a, axis=None)``: axes of length 1 removed (all, or the ones named)."""
    shape = g.nodes[a].shape
    if axis is None:
        axes = {i for i, n in enumerate(shape) if n == 1}
    else:
        axes = set(A.axes_of(axis, len(shape)))
        wide = [i for i in sorted(axes) if shape[i] != 1]
        if wide:
            raise ShapeError(f"cannot squeeze axis {wide[0]}: its length is {shape[wide[0]]}, "
                             f"not 1 (shape {shape})")
    return P.reshape(g, a, tuple(n for i, n in enumerate(shape) if i not in axes))


def expand_dims(g: Graph, a: int, axis: Any) -> int:
    """NumPy's ``expand_dims(a, axis)``: axes of length 1 inserted where ``axis`` says (in the
    result's numbering)."""
    shape = g.nodes[a].shape
    rank = len(shape) + len(_ints(axis, "an axis"))
    new = set(A.axes_of(axis, rank))
    rest = iter(shape)
    return P.reshape(g, a, tuple(1 if i in new else next(rest) for i in range(rank)))


def ravel(g: Graph, a: int) -> int:
    """NumPy's ``ravel(a)`` and ``a.flatten()``: the entries as a vector, in C order."""
    return A.flatten(g, a)


def repeat(g: Graph, a: int, repeats: Any, axis: Any) -> int:
    """NumPy's ``repeat(a, repeats, axis=None)``: each entry repeated (``axis=None``: of the
    flattened value); ``repeats`` an integer, or one per entry along the axis."""
    if axis is None:
        a, axis = A.flatten(g, a), 0
    shape = g.nodes[a].shape
    if not shape:
        a, shape, axis = P.reshape(g, a, (1,)), (1,), 0
    ax = A.axis_of(axis, len(shape))
    n = shape[ax]
    counts = _ints(repeats, "repeats")
    if any(r < 0 for r in counts):
        raise InputError(f"repeats must be non-negative, got {repeats}",
                         loc=("body", "expression"))
    if len(counts) == 1 and not isinstance(repeats, tuple):
        r = counts[0]
        # One count: each entry broadcast along a new axis right after it, then merged.
        grown = P.broadcast_to(g, P.reshape(g, a, (*shape[:ax + 1], 1, *shape[ax + 1:])),
                               (*shape[:ax + 1], r, *shape[ax + 1:]))
        return P.reshape(g, grown, (*shape[:ax], n * r, *shape[ax + 1:]))
    if len(counts) != n:
        raise ShapeError(f"repeats has {len(counts)} entries for an axis of length {n}")
    picks = [i for i, r in enumerate(counts) for _ in range(r)]
    if not picks:
        return P.zeros(g, (*shape[:ax], 0, *shape[ax + 1:]))
    return A.pick(g, a, ax, picks)


def roll(g: Graph, a: int, shift: Any, axis: Any) -> int:
    """NumPy's ``roll(a, shift, axis=None)``: entries shifted cyclically (``axis=None``: the
    flattened value, reshaped back); shifts and axes may be tuples (broadcast)."""
    shape = g.nodes[a].shape
    if axis is None:
        total = sum(_ints(shift, "shift"))
        return P.reshape(g, roll(g, A.flatten(g, a), total, 0), shape)
    shifts, axes = _ints(shift, "shift"), _ints(axis, "an axis")
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(axes) == 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise ShapeError(f"roll needs as many shifts as axes, got {shift} and {axis}")
    for s, ax in zip(shifts, axes, strict=True):
        ax = A.axis_of(ax, len(shape))
        n = shape[ax]
        k = s % n if n else 0
        if k:
            a = A.concat(g, [A.segment(g, a, ax, n - k, n), A.segment(g, a, ax, 0, n - k)], ax)
    return a


def rot90(g: Graph, m: int, k: Any, axes: Any) -> int:
    """NumPy's ``rot90(m, k=1, axes=(0, 1))``: k quarter turns from the first axis towards the
    second."""
    shape = g.nodes[m].shape
    turns = A.static_int(k, "k") % 4
    pair = _ints(axes, "an axis")
    if len(pair) != 2 or len(shape) < 2:
        raise ShapeError(f"rot90 needs two axes of a value of rank >= 2, got {axes} for shape "
                         f"{shape}")
    a0, a1 = (A.axis_of(ax, len(shape)) for ax in pair)
    if a0 == a1:
        raise ShapeError(f"rot90 needs two different axes, got {axes}")
    swap = list(range(len(shape)))
    swap[a0], swap[a1] = a1, a0
    if turns == 0:
        return m
    if turns == 2:
        return A.flip(g, A.flip(g, m, a0), a1)
    if turns == 1:
        return permute(g, A.flip(g, m, a1), tuple(swap))
    return A.flip(g, permute(g, m, tuple(swap)), a1)


def append(g: Graph, arr: int, values: int, axis: Any) -> int:
    """NumPy's ``append(arr, values, axis=None)``: both flattened and joined, or joined along
    ``axis``."""
    if axis is None:
        return A.concat(g, [A.flatten(g, arr), A.flatten(g, values)], 0)
    return A.concatenate(g, [arr, values], axis)


def tensordot(g: Graph, a: int, b: int, axes: Any) -> int:
    """NumPy's ``tensordot(a, b, axes=2)``: the last ``axes`` axes of a against the first of b,
    or the pairs ``axes=((a axes), (b axes))``; one matrix product after a permutation."""
    sa, sb = g.nodes[a].shape, g.nodes[b].shape
    if isinstance(axes, tuple):
        if len(axes) != 2:
            raise ShapeError(f"tensordot's axes are an integer or a pair of axis lists, got "
                             f"{axes}")
        ca = [A.axis_of(x, len(sa)) for x in _ints(axes[0], "an axis")]
        cb = [A.axis_of(x, len(sb)) for x in _ints(axes[1], "an axis")]
    else:
        n = A.static_int(axes, "axes")
        if not 0 <= n <= min(len(sa), len(sb)):
            raise ShapeError(f"tensordot axes={n} for shapes {sa} and {sb}")
        ca, cb = list(range(len(sa) - n, len(sa))), list(range(n))
    if len(ca) != len(cb) or len(set(ca)) != len(ca) or len(set(cb)) != len(cb):
        raise ShapeError(f"tensordot needs as many distinct axes of a as of b, got {axes}")
    if any(sa[i] != sb[j] for i, j in zip(ca, cb, strict=True)):
        raise ShapeError(f"tensordot: shape mismatch for sum over axes of {sa} and {sb}")
    free_a = [i for i in range(len(sa)) if i not in ca]
    free_b = [j for j in range(len(sb)) if j not in cb]
    inner = math.prod(sa[i] for i in ca)
    left = P.reshape(g, permute(g, a, (*free_a, *ca)),
                     (math.prod(sa[i] for i in free_a), inner))
    right = P.reshape(g, permute(g, b, (*cb, *free_b)),
                      (inner, math.prod(sb[j] for j in free_b)))
    return P.reshape(g, P.matmul(g, left, right),
                     (*(sa[i] for i in free_a), *(sb[j] for j in free_b)))


def diagonal(g: Graph, a: int, offset: Any, axis1: Any, axis2: Any) -> int:
    """NumPy's ``diagonal(a, offset=0, axis1=0, axis2=1)``: for rank > 2 the diagonals of the
    planes (axis1, axis2), along a last axis."""
    rank = len(g.nodes[a].shape)
    if rank < 2:
        raise ShapeError(f"diagonal takes a tensor of rank >= 2, got shape {g.nodes[a].shape}")
    i, j = A.axis_of(axis1, rank, "axis1"), A.axis_of(axis2, rank, "axis2")
    if i == j:
        raise ShapeError("diagonal needs two different axes (axis1 and axis2)")
    if rank == 2 and (i, j) == (0, 1):
        return A.diagonal(g, a, offset)
    order = (*(k for k in range(rank) if k not in (i, j)), i, j)
    return A.stacked_diagonal(g, permute(g, a, order), offset)

