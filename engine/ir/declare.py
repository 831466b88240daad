"""Declaring op records: the rule families every op record is built from.

:func:`elementwise` builds an op from its partial derivatives, :func:`linear` one that is linear
in its operands, :func:`zero` a piecewise-constant one, :func:`define` any other. Each call puts
one :class:`~engine.ir.ops.Primitive` in :data:`~engine.ir.ops.PRIMITIVES`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine.ir.emit import add, chain, emit, tangent_product, zeros
from engine.ir.graph import Graph
from engine.ir.ops import (
    PRIMITIVES,
    Forward,
    Group,
    JvpRule,
    Op,
    Primitive,
    SeriesRule,
    TaylorStep,
    VjpRule,
)

ELEMENTWISE = frozenset({Group.ELEMENTWISE})
ZERO = frozenset({Group.ELEMENTWISE, Group.PIECEWISE_CONSTANT})
MOVER = frozenset({Group.STRUCTURAL, Group.LINEAR})


# ---------------------------------------------------------------- rule families

def _fixed(series: SeriesRule | None) -> TaylorStep:
    assert series is not None, "an op that is not linear needs a Taylor rule"
    return lambda params: series


def _linear_step(forward: Forward) -> TaylorStep:
    """Linear ops: the forward rule applied to the whole series (k is one more batch axis)."""
    return lambda params: lambda *xs: forward(params, *xs)


def define(name: Op, arity: int | None, groups: frozenset[Group], forward: Forward,
            jvp: JvpRule, vjp: VjpRule, *, taylor: TaylorStep | None = None,
            series: SeriesRule | None = None, **fields: Any) -> None:
    """Record op ``name``; a linear op's Taylor rule defaults to its forward rule."""
    if taylor is None:
        taylor = _linear_step(forward) if Group.LINEAR in groups else _fixed(series)
    PRIMITIVES[name] = Primitive(name, arity, groups, forward, jvp, vjp, taylor, series,
                                 **fields)


def elementwise(name: Op, fwd: Forward, *partials: Callable[..., int | None],
                 **fields: Any) -> None:
    """An elementwise op from its partial derivatives ``d(g, *args, ans) -> node``.

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
            term = tangent_product(g, d, t)
            total = term if total is None else add(g, total, term)
        return total

    def vjp(g: Graph, nid: int, ct: int) -> list[int | None]:
        node = g.nodes[nid]
        out: list[int | None] = []
        for partial in partials:
            d = partial(g, *node.args, nid)
            out.append(None if d is None else chain(g, ct, d))
        return out

    define(name, len(partials), fields.pop("groups", ELEMENTWISE), fwd, jvp, vjp, **fields)


def linear(name: Op, arity: int | None, fwd: Forward, transpose_rule: VjpRule,
            groups: frozenset[Group] = MOVER, **fields: Any) -> None:
    """An op linear in all its operands: its JVP applies the op to the tangents."""

    def jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
        node = g.nodes[nid]
        if all(t is None for t in tangents):
            return None
        ts = [t if t is not None else zeros(g, g.nodes[a].shape)
              for t, a in zip(tangents, node.args, strict=True)]
        return emit(g, node.op, *ts, params=node.params, shape=node.shape)

    define(name, arity, groups | {Group.LINEAR}, fwd, jvp, transpose_rule, **fields)


def zero(name: Op, arity: int, fwd: Forward, groups: frozenset[Group] = ZERO,
          **fields: Any) -> None:
    """A piecewise-constant op: every derivative is zero."""
    define(name, arity, groups, fwd, lambda g, nid, ts: None,
            lambda g, nid, ct: [None] * len(g.nodes[nid].args), **fields)


def const(g: Graph, v: float) -> int:
    """A constant node (shorthand in partial-derivative rules)."""
    return g.const(v)



def ufunc(f: Callable[[np.ndarray], np.ndarray]) -> Forward:
    """A forward rule from a one-argument numpy function."""
    return lambda params, x: f(x)
