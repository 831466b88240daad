"""Array functions as exact composites of the structural ops (index, scatter, reshape, stack,
where): reshape, concatenate, stack, diag, diagonal, triu, tril, flip, and integer-list indices.

They only move entries, so every derivative, Taylor, symbolic and sparsity rule is the one of
the ops they are built from; nothing is multiplied by a mask (``inf * 0`` would be NaN).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.errors import InputError, ShapeError
from engine.ir import emit as P
from engine.ir.graph import Graph, Shape

Key = tuple[Any, ...]


def axis_of(axis: Any, rank: int, what: str = "axis") -> int:
    """One axis number, negative counting from the end, checked against ``rank``."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise InputError(f"{what} must be an integer, got {axis!r}", loc=("body", "expression"))
    if not -rank <= axis < rank:
        raise ShapeError(f"{what} {axis} is out of bounds for a value of rank {rank}")
    return axis % rank


def axes_of(axis: Any, rank: int) -> tuple[int, ...]:
    """``axis=None`` (every axis), an integer or a tuple of distinct integers, as sorted
    non-negative axis numbers."""
    if axis is None:
        return tuple(range(rank))
    if isinstance(axis, tuple):
        axes = tuple(axis_of(a, rank) for a in axis)
        if len(set(axes)) != len(axes):
            raise ShapeError(f"repeated axis in {axis}")
        return tuple(sorted(axes))
    return (axis_of(axis, rank),)


def _full(shape: Shape) -> list[Any]:
    return [("s", 0, n, 1) for n in shape]


def _slab(shape: Shape, axis: int, start: int, stop: int) -> Key:
    key = _full(shape)
    key[axis] = ("s", start, stop, 1)
    return tuple(key)


def take(g: Graph, x: int, axis: int, i: int) -> int:
    """Entry ``i`` along ``axis``, that axis kept with length 1."""
    shape = g.nodes[x].shape
    out = (*shape[:axis], 1, *shape[axis + 1:])
    return P.index(g, x, _slab(shape, axis, i, i + 1), out)


def segment(g: Graph, x: int, axis: int, start: int, stop: int) -> int:
    """Entries ``start`` to ``stop`` (exclusive) along ``axis``."""
    shape = g.nodes[x].shape
    out = (*shape[:axis], stop - start, *shape[axis + 1:])
    return P.index(g, x, _slab(shape, axis, start, stop), out)


def concat(g: Graph, parts: list[int], axis: int) -> int:
    """Parts of equal rank, equal except along ``axis``, joined along it: each is scattered
    into its slab of the result and the slabs are added (no entry overlaps another)."""
    shapes = [g.nodes[p].shape for p in parts]
    first = shapes[0]
    for s in shapes[1:]:
        if len(s) != len(first) or s[:axis] + s[axis + 1:] != first[:axis] + first[axis + 1:]:
            raise ShapeError("concatenate needs shapes that agree except along axis "
                             f"{axis}, got " + ", ".join(str(t) for t in shapes))
    if len(parts) == 1:
        return parts[0]
    full = (*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1:])
    if all(s == first for s in shapes) and first[axis] == 1 and (axis == 0 or len(full) == 2):
        # Slabs of one entry each (a scan, a list index): one stack, not a scatter per part.
        rest = first[:axis] + first[axis + 1:]
        stacked = P.stack(g, [P.reshape(g, p, rest) for p in parts])
        return P.reshape(g, stacked, full) if axis == 0 else P.transpose(g, stacked)
    total = None
    offset = 0
    for p, s in zip(parts, shapes, strict=True):
        if s[axis]:
            key = _slab(full, axis, offset, offset + s[axis])
            piece = P.emit(g, "scatter", p, params=(key, full), shape=full)
            total = piece if total is None else P.add(g, total, piece)
        offset += s[axis]
    return P.zeros(g, full) if total is None else total


def concatenate(g: Graph, arrays: list[int], axis: Any) -> int:
    """NumPy's ``concatenate(arrays, axis=0)``; ``axis=None`` flattens the parts first."""
    if axis is None:
        return concat(g, [flatten(g, a) for a in arrays], 0)
    rank = len(g.nodes[arrays[0]].shape)
    if rank == 0:
        raise ShapeError("zero-dimensional values cannot be concatenated (use stack)")
    return concat(g, arrays, axis_of(axis, rank))


def stack(g: Graph, arrays: list[int], axis: Any) -> int:
    """NumPy's ``stack(arrays, axis=0)``: equal shapes joined along a new axis."""
    shapes = {g.nodes[a].shape for a in arrays}
    if len(shapes) > 1:
        raise ShapeError("stack needs equal shapes, got "
                         + ", ".join(str(s) for s in sorted(shapes)))
    (shape,) = shapes
    ax = axis_of(axis, len(shape) + 1)
    if ax == 0:
        return P.stack(g, arrays)
    grown = (*shape[:ax], 1, *shape[ax:])
    return concat(g, [P.reshape(g, a, grown) for a in arrays], ax)


def flatten(g: Graph, x: int) -> int:
    """``x`` as a vector, in C order."""
    return P.reshape(g, x, (math.prod(g.nodes[x].shape),))


def reshape(g: Graph, a: int, shape: Any) -> int:
    """NumPy's ``reshape(a, shape)`` (C order; one entry may be -1); ``x.reshape(2, 3)`` and
    ``x.reshape((2, 3))`` both give ``shape``."""
    if isinstance(shape, tuple) and len(shape) == 1 and isinstance(shape[0], tuple):
        shape = shape[0]
    if not isinstance(shape, tuple):
        shape = (shape,)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= -1 for n in shape):
        raise InputError(f"a shape is a tuple of non-negative integers (one may be -1), got "
                         f"{shape}", loc=("body", "expression"))
    size = math.prod(g.nodes[a].shape)
    if shape.count(-1) > 1:
        raise ShapeError("only one dimension of a shape can be -1")
    if -1 in shape:
        known = math.prod(n for n in shape if n != -1)
        if known == 0 or size % known:
            raise ShapeError(f"cannot reshape a value of shape {g.nodes[a].shape} into {shape}")
        shape = tuple(size // known if n == -1 else n for n in shape)
    if math.prod(shape) != size:
        raise ShapeError(f"cannot reshape a value of shape {g.nodes[a].shape} (size {size}) "
                         f"into {shape}")
    return P.reshape(g, a, shape)


def diagonal_key(rows: int, cols: int, k: int) -> tuple[Key, int]:
    """The strided slice of the flattened rows × cols matrix that is its diagonal ``k``, and
    the diagonal's length."""
    if k >= 0:
        start, length = k, max(0, min(rows, cols - k))
    else:
        start, length = -k * cols, max(0, min(rows + k, cols))
    stop = start + (length - 1) * (cols + 1) + 1 if length else start
    return (("s", start, stop, cols + 1),), length


def static_int(value: Any, what: str) -> int:
    """A static argument that must be an integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{what} must be an integer, got {value!r}", loc=("body", "expression"))
    return value


def diagonal(g: Graph, a: int, offset: Any) -> int:
    """Diagonal ``offset`` of a matrix, as a vector: a strided slice of the flattened matrix."""
    shape = g.nodes[a].shape
    if len(shape) != 2:
        raise ShapeError(f"diagonal takes a matrix, got shape {shape}")
    rows, cols = shape
    key, length = diagonal_key(rows, cols, static_int(offset, "the offset k"))
    return P.index(g, flatten(g, a), key, (length,))


def stacked_diagonal(g: Graph, a: int, offset: Any) -> int:
    """Diagonal ``offset`` of the last two axes, shape (..., length): a strided slice of
    them flattened."""
    shape = g.nodes[a].shape
    *rest, rows, cols = shape
    key, length = diagonal_key(rows, cols, static_int(offset, "the offset k"))
    flat = P.reshape(g, a, (*rest, rows * cols))
    return P.index(g, flat, (*_full(tuple(rest)), *key), (*rest, length))


def diag(g: Graph, v: int, k: Any) -> int:
    """NumPy's ``diag(v, k=0)``: a vector becomes the matrix with it on diagonal ``k``; a
    matrix gives its diagonal ``k``."""
    shape = g.nodes[v].shape
    k = static_int(k, "the offset k")
    if len(shape) == 2:
        return diagonal(g, v, k)
    if len(shape) != 1:
        raise ShapeError(f"diag takes a vector or a matrix, got shape {shape}")
    n = shape[0] + abs(k)
    key, _ = diagonal_key(n, n, k)
    flat = P.emit(g, "scatter", v, params=(key, (n * n,)), shape=(n * n,))
    return P.reshape(g, flat, (n, n))


def _triangle(g: Graph, m: int, k: Any, lower: bool) -> int:
    shape = g.nodes[m].shape
    if len(shape) < 2:
        raise ShapeError(f"{'tril' if lower else 'triu'} takes a matrix, got shape {shape}")
    k = static_int(k, "the offset k")
    rows, cols = shape[-2:]
    keep = np.tril(np.ones((rows, cols)), k) if lower else np.triu(np.ones((rows, cols)), k)
    mask = P.broadcast_to(g, g.const(keep), shape)
    return P.where(g, mask, m, P.zeros(g, shape))


def tril(g: Graph, m: int, k: Any) -> int:
    """NumPy's ``tril(m, k=0)``: entries on and below diagonal ``k``, zeros above."""
    return _triangle(g, m, k, lower=True)


def triu(g: Graph, m: int, k: Any) -> int:
    """NumPy's ``triu(m, k=0)``: entries on and above diagonal ``k``, zeros below."""
    return _triangle(g, m, k, lower=False)


def flip(g: Graph, m: int, axis: Any) -> int:
    """NumPy's ``flip(m, axis=None)``: the entries in reverse order along the axes."""
    shape = g.nodes[m].shape
    axes = axes_of(axis, len(shape))
    key = _full(shape)
    for ax in axes:
        key[ax] = ("s", shape[ax] - 1, None, -1)
    if not axes:
        return m
    return P.index(g, m, tuple(key), shape)


def pick(g: Graph, x: int, axis: int, indices: list[int]) -> int:
    """``x`` indexed with an integer list along ``axis`` (NumPy's ``take``); the indices are
    checked and may be negative."""
    n = g.nodes[x].shape[axis]
    for i in indices:
        if not -n <= i < n:
            raise ShapeError(f"index {i} is out of bounds for axis {axis} with size {n} "
                             f"(shape {g.nodes[x].shape})")
    return concat(g, [take(g, x, axis, i % n) for i in indices], axis)
