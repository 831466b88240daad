"""Op records of the reductions with a tie convention: ``amax`` and ``amin`` over axes, and
``maxshift``, the maximum as a constant shift (derivative 0) for logsumexp and softmax.

``params = (axes,)``, negative axis numbers over the operand's static axes (as ``sum``). Where
several entries reach the extremum the derivative is split evenly among them, as PyTorch's
``amax``/``amin`` do: d max / d x_i = [x_i is a maximum] / (number of maxima).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.ir.declare import define, zero
from engine.ir.emit import broadcast_to, cmp, div, mul, reshape, sum_axes
from engine.ir.graph import Graph, Shape
from engine.ir.ops import Group, Op, SeriesRule
from engine.taylor_mode.reductions import extremum_series, shift_series

_REDUCTION = frozenset({Group.STRUCTURAL, Group.REDUCTION})


def _spread(g: Graph, y: int, src: Shape, axes: tuple[int, ...]) -> int:
    """``y`` (the reduced shape) broadcast back over the reduced axes of ``src``."""
    rank = len(src)
    reduced = {a + rank for a in axes}
    kept = tuple(1 if i in reduced else n for i, n in enumerate(src))
    return broadcast_to(g, reshape(g, y, kept), src)


def _positive(axes: tuple[int, ...], rank: int) -> tuple[int, ...]:
    return tuple(a + rank for a in axes)


def _share(g: Graph, nid: int) -> tuple[int, int, tuple[int, ...]]:
    """The extremum's share of each entry (1/count where it is reached, else 0), the
    operand and the positive axes."""
    node = g.nodes[nid]
    x = node.args[0]
    src = g.nodes[x].shape
    axes = _positive(node.params[0], len(src))
    ties = cmp(g, Op.EQ, x, _spread(g, nid, src, node.params[0]))
    count = sum_axes(g, ties, axes)
    return div(g, ties, _spread(g, count, src, node.params[0])), x, axes


def _jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
    (t,) = tangents
    if t is None:
        return None
    share, _, axes = _share(g, nid)
    return sum_axes(g, mul(g, share, t), axes)


def _vjp(g: Graph, nid: int, ct: int) -> list[int | None]:
    share, x, _ = _share(g, nid)
    return [mul(g, share, _spread(g, ct, g.nodes[x].shape, g.nodes[nid].params[0]))]


def _taylor(largest: bool) -> Any:
    def step(params: tuple[Any, ...]) -> SeriesRule:
        (axes,) = params
        return lambda x: extremum_series(x, axes=axes, largest=largest)
    return step


define(Op.AMAX, 1, _REDUCTION, lambda params, x: np.max(x, axis=params[0]), _jvp, _vjp,
        taylor=_taylor(True), latex=r"\max")
define(Op.AMIN, 1, _REDUCTION, lambda params, x: np.min(x, axis=params[0]), _jvp, _vjp,
        taylor=_taylor(False), latex=r"\min")


def shift_forward(params: tuple[tuple[int, ...]], x: np.ndarray) -> np.ndarray:
    """The maximum over the axes, 0 where it is not finite (scipy's logsumexp does the same:
    shifting by ±inf would make inf − inf)."""
    top = np.max(x, axis=params[0])
    return np.where(np.isfinite(top), top, 0.0)


# logsumexp and softmax are invariant under any shift, so the derivative rules take the shift
# as a constant (no terms that cancel); the Taylor rule follows the maximum (see shift_series).
zero(Op.MAXSHIFT, 1, shift_forward, frozenset({Group.STRUCTURAL, Group.PIECEWISE_CONSTANT}),
      taylor=lambda params: lambda x: shift_series(x, axes=params[0]))
