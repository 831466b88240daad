"""Univariate Taylor-mode propagation through a compiled graph.

Every node's value becomes a truncated series of shape ``(K+1, *prefix, *shape)`` holding the
normalized coefficients u_k = u^(k)/k!. Linear primitives apply their forward rule to the whole
series (the k axis is just one more batch axis); every node runs the rule its op's record
gives for its params (:attr:`engine.ir.ops.Primitive.taylor`).

A plan is turned once into a list of steps (rule, argument nodes, values to release) with its
constants' series cached, so a warm request pays only for the rules themselves: on the short
series of a mixed partial, per-call Python and numpy overhead is most of the cost. For the same
reason the products and integer powers of a polynomial subgraph (``x**3*y**2`` and ``x*y`` in
``x**3*y**2 + sin(x*y)``) run as one *monomial block*: one gather over their leaves' series
(:func:`engine.taylor_mode.gathers.monomial_series`) instead of one rule per node, falling back to
the rules when the series are too long for it.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from engine.ir.evaluate import Plan
from engine.ir.graph import Graph
from engine.ir.ops import PRIMITIVES
from engine.taylor_mode.gathers import Monomials, monomial_series

Rule = Callable[..., np.ndarray]


def _quiet(rule: Rule) -> Rule:
    """Run ``rule`` on float64 arrays with floating-point warnings off (inf/nan say it all)."""

    @functools.wraps(rule)
    def wrapped(*series: np.ndarray, **params: float) -> np.ndarray:
        with np.errstate(all="ignore"):
            return rule(*(np.asarray(s, dtype=np.float64) for s in series), **params)

    return wrapped


TAYLOR_RULES: dict[str, Rule] = {
    name: _quiet(prim.series) for name, prim in PRIMITIVES.items() if prim.series is not None}
"""Op -> its standalone Taylor rule: ``rule(*series, **params)`` returns the output series
(K+1, *rest). Only ``powc`` takes a parameter, ``p`` (the constant exponent). Linear
structural ops and matmul have none: their node rule is built from the forward rule."""


def _step_rule(op: str, params: tuple[Any, ...]) -> Rule:
    """The series rule of one node with its params bound, for use under np.errstate."""
    return PRIMITIVES[op].taylor(params)


_MAX_DEGREE = 8
"""Largest total degree of a monomial computed in one gather (x**3*y**2 has degree 5)."""

_MAX_LEAVES = 4
"""Most distinct factors of one such monomial."""


def _powc_exponent(node: Any) -> int | None:
    """The exponent of a ``powc`` node that a monomial block can absorb (an integer 1..8)."""
    p = node.params[0]
    if float(p).is_integer() and 1 <= p <= _MAX_DEGREE:
        return int(p)
    return None


class _Block:
    """Products and integer powers (a polynomial subgraph) computed in one gather.

    ``roots`` are the monomial nodes whose values the rest of the plan needs; each is
    Π_l leaves[l]^{monomials[q][l]}. The products and powers in between are never formed. When
    the gather does not fit (long series), ``fallback`` runs those nodes one by one instead.
    """

    def __init__(self, roots: list[int], leaves: list[int], monomials: Monomials,
                 fallback: list[tuple[int, Rule, tuple[int, ...]]], min_order: int) -> None:
        self.roots = roots
        self.leaves = leaves
        self.monomials = monomials
        self.fallback = fallback
        self.min_order = min_order

    def __call__(self, values: dict[int, Any]) -> None:
        leaves = [values[a] for a in self.leaves]
        out = None
        # A non-finite leaf goes through the product rule, which keeps a constant factor's
        # zero terms out of 0·inf (extended precision's object arrays are finite).
        if len(leaves[0]) > self.min_order:
            out = monomial_series(leaves, self.monomials)
        # (every leaf coefficient reaches some output term, so a non-finite leaf shows there)
        if out is None or (out.dtype != object and not np.isfinite(out).all()):
            local: dict[int, Any] = {}
            for nid, rule, args in self.fallback:
                local[nid] = rule(*[local[a] if a in local else values[a] for a in args])
            for r in self.roots:
                values[r] = local[r]
            return
        n = len(leaves[0])
        for q, r in enumerate(self.roots):
            values[r] = out[q * n:(q + 1) * n]


def _monomials(g: Graph, plan: Plan) -> tuple[dict[int, dict[int, int]], set[int]]:
    """The plan's maximal monomial subgraphs: per root node its factorization {leaf: exponent},
    and the inner nodes (products and powers used only inside monomials) it absorbs."""
    nodes = g.nodes
    outputs = set(plan.outputs)
    consumers: dict[int, list[int]] = {}
    for nid in plan.order:
        for a in nodes[nid].args:
            consumers.setdefault(a, []).append(nid)
    capable = {nid for nid in plan.order
               if (nodes[nid].op == "mul" and len(nodes[nid].args) == 2)
               or (nodes[nid].op == "powc" and _powc_exponent(nodes[nid]) is not None)}
    while True:
        inner = {nid for nid in capable if nid not in outputs and consumers.get(nid)
                 and all(c in capable for c in consumers[nid])}
        factors: dict[int, dict[int, int]] = {}
        for nid in plan.order:
            if nid not in capable:
                continue
            node = nodes[nid]
            parts = [factors[a] if a in inner else {a: 1} for a in node.args]
            if node.op == "mul":
                f = dict(parts[0])
                for leaf, e in parts[1].items():
                    f[leaf] = f.get(leaf, 0) + e
            else:
                p = _powc_exponent(node)
                assert p is not None
                f = {leaf: e * p for leaf, e in parts[0].items()}
            factors[nid] = f
        roots = {nid: f for nid, f in factors.items() if nid not in inner}
        too_big = {nid for nid, f in roots.items()
                   if sum(f.values()) > _MAX_DEGREE or len(f) > _MAX_LEAVES}
        if not too_big:
            return roots, inner
        capable -= too_big


def _schedule(g: Graph, plan: Plan) -> list[tuple[int, Any, tuple[int, ...]]]:
    """The plan's steps (node, rule, args); monomial blocks are steps with node −1 whose rule
    takes the values dict, placed as soon as their leaves are computed."""
    nodes = g.nodes
    position = {nid: i for i, nid in enumerate(plan.order)}
    roots, inner = _monomials(g, plan)

    def absorbed(nid: int) -> list[int]:
        """``nid`` and the inner nodes below it, in plan order."""
        found, stack = {nid}, [nid]
        while stack:
            for a in nodes[stack.pop()].args:
                if a in inner and a not in found:
                    found.add(a)
                    stack.append(a)
        return sorted(found, key=position.__getitem__)

    groups: dict[tuple[int, Any], list[int]] = {}
    for nid, f in roots.items():
        ready = max(position[leaf] for leaf in f)
        groups.setdefault((ready, nodes[nid].shape), []).append(nid)
    blocks: dict[int, list[_Block]] = {}
    in_blocks: set[int] = set()
    for (ready, _), members in groups.items():
        ops = [absorbed(r) for r in members]
        if sum(len(o) for o in ops) < 2:
            continue  # a lone product or power: its own rule is as fast
        leaves = list(dict.fromkeys(leaf for r in members for leaf in roots[r]))
        monomials = tuple(tuple(roots[r].get(leaf, 0) for leaf in leaves) for r in members)
        steps = sorted({nid for o in ops for nid in o}, key=position.__getitem__)
        fallback = [(nid, _step_rule(nodes[nid].op, nodes[nid].params), nodes[nid].args)
                    for nid in steps]
        min_order = max([_powc_exponent(nodes[nid]) or 0 for nid in steps
                         if nodes[nid].op == "powc"], default=0)
        blocks.setdefault(ready, []).append(
            _Block(members, leaves, monomials, fallback, min_order))
        in_blocks.update(steps)
    out: list[tuple[int, Any, tuple[int, ...]]] = []
    for i, nid in enumerate(plan.order):
        node = nodes[nid]
        if node.op not in ("const", "input") and nid not in in_blocks:
            out.append((nid, _step_rule(node.op, node.params), node.args))
        for block in blocks.get(i, ()):
            out.append((-1, block, tuple(block.leaves)))
    return out


class _Program:
    """A plan's steps for :func:`propagate`, and its constants' series per (order, prefix)."""

    def __init__(self, g: Graph, plan: Plan) -> None:
        self.consts: list[tuple[int, np.ndarray, tuple[int, ...]]] = [
            (nid, g.consts[nid], g.nodes[nid].shape) for nid in plan.order
            if g.nodes[nid].op == "const"]
        steps = _schedule(g, plan)
        keep = set(plan.outputs)
        last: dict[int, int] = {}
        for s, (_, _, args) in enumerate(steps):
            for a in args:
                last[a] = s
        done: list[list[int]] = [[] for _ in steps]
        for a, s in last.items():
            if a not in keep:
                done[s].append(a)
        self.steps = [(nid, rule, args, tuple(d))
                      for (nid, rule, args), d in zip(steps, done, strict=True)]
        self.const_ids = frozenset(nid for nid, _, _ in self.consts)
        self._const_series: dict[tuple[int, int], dict[int, np.ndarray]] = {}

    def constants(self, order: int, prefix_rank: int) -> dict[int, np.ndarray]:
        """Read-only series of the plan's constants (cached for a few (order, prefix) pairs)."""
        key = (order, prefix_rank)
        found = self._const_series.get(key)
        if found is None:
            lead = (1,) * prefix_rank
            found = {}
            for nid, value, shape in self.consts:
                series = constant_series(value.reshape(lead + shape), order)
                series.flags.writeable = False
                found[nid] = series
            if len(self._const_series) >= 8:
                self._const_series.clear()
            self._const_series[key] = found
        return found


Built = TypeVar("Built")


def per_plan(store: dict[int, tuple[weakref.ref[Plan], Built]], g: Graph, plan: Plan,
             build: Callable[[Graph, Plan], Built]) -> Built:
    """``build(g, plan)``, made on first use and kept in ``store`` until the plan is dropped."""
    key = id(plan)
    found = store.get(key)
    if found is not None and found[0]() is plan:
        return found[1]
    made = build(g, plan)

    def forget(_: weakref.ref[Plan]) -> None:
        store.pop(key, None)

    store[key] = (weakref.ref(plan, forget), made)
    return made


_PROGRAMS: dict[int, tuple[weakref.ref[Plan], _Program]] = {}


def _program(g: Graph, plan: Plan) -> _Program:
    """The program of ``plan`` (built on first use, dropped with the plan)."""
    return per_plan(_PROGRAMS, g, plan, _Program)


def constant_series(value: np.ndarray, order: int) -> np.ndarray:
    """The series ``[value, 0, 0, …]`` with ``order + 1`` terms."""
    out = np.zeros((order + 1, *value.shape))
    out[0] = value
    return out


Lift = Callable[[Any, list[np.ndarray]], np.ndarray]
"""The series of a node none of whose inputs move, from the node and its inputs' series."""


def lift_constant(node: Any, args: list[np.ndarray]) -> np.ndarray:
    """Its forward value as a constant series, even where its rule is singular (sqrt(y) at
    y = 0 in a derivative along x), as in the graph."""
    value = PRIMITIVES[node.op].forward(node.params, *[a[0] for a in args])
    return constant_series(np.asarray(value, dtype=np.float64), len(args[0]) - 1)


@np.errstate(all="ignore")  # the decorator form: half the cost of a ``with`` per call
def run_steps(steps: list[tuple[int, Any, tuple[int, ...], tuple[int, ...]]],
              values: dict[int, Any], g: Graph, still: set[int],
              lift: Lift = lift_constant, lanes: tuple[int, ...] = ()) -> None:
    """Run the rules in order; a node whose inputs are all in ``still`` does not move.

    With ``lanes`` (the leading axes of a series that are not lanes: the coefficient axis,
    and the value/majorant axis of stacked series) an elementwise node is also kept constant
    in each lane and element where its inputs are: rays and points in one array move different
    inputs, and a rule run on a lane that does not move can still give 0/0 there (``sqrt`` at
    0), which would reach lanes that a weight or a neighbour needs.
    """
    nodes = g.nodes
    for nid, rule, args, done in steps:
        # (``still and``: when every input moves, as in most mixed partials, nothing can
        # stand still, and the per-step checks are skipped)
        if nid < 0:
            rule(values)
            if still and all(a in still for a in args):
                still.update(rule.roots)
            elif lanes:
                for r in rule.roots:
                    _keep_still_lanes(values, r, args, lanes)
        elif still and all(a in still for a in args) and not _exact(values, args):
            values[nid] = lift(nodes[nid], [values[a] for a in args])
            still.add(nid)
        else:
            if len(args) == 1:
                values[nid] = rule(values[args[0]])
            else:
                values[nid] = rule(*[values[a] for a in args])
            if lanes and PRIMITIVES[nodes[nid].op].elementwise:
                _keep_still_lanes(values, nid, args, lanes)
        for a in done:
            del values[a]


def _keep_still_lanes(values: dict[int, Any], nid: int, args: tuple[int, ...],
                      axes: tuple[int, ...]) -> None:
    """Zero the coefficients k ≥ 1 of ``nid`` where every input's are zero, when it has a
    non-finite one (elsewhere the rules already give exact zeros there)."""
    out = values[nid]
    if out.dtype == object or np.isfinite(out).all():
        return
    still = None
    for a in args:
        here = ~np.any(values[a][1:] != 0, axis=axes)
        still = here if still is None else still & here
    if still is not None and still.any():
        out = out.copy()
        out[1:] = np.where(still, 0.0, out[1:])
        values[nid] = out


def _exact(values: dict[int, Any], args: tuple[int, ...]) -> bool:
    """Extended precision (object arrays): its rules run even on series that do not move,
    since the forward rules are float64's."""
    return any(values[a].dtype == object for a in args)


def not_moving(feeds: dict[int, np.ndarray]) -> set[int]:
    """The fed inputs whose series is constant."""
    return {nid for nid, series in feeds.items() if not np.count_nonzero(series[1:])}


def propagate(g: Graph, plan: Plan, feeds: dict[int, np.ndarray], order: int,
              prefix_rank: int) -> list[np.ndarray]:
    """Series of ``plan.outputs`` given the input series in ``feeds``."""
    program = _program(g, plan)
    values: dict[int, Any] = dict(feeds)  # extra feeds (inputs the plan skips) are harmless
    if program.consts:
        values.update(program.constants(order, prefix_rank))
    run_steps(program.steps, values, g, not_moving(feeds) | program.const_ids)
    if program.const_ids:
        return [values[o].copy() if o in program.const_ids else values[o]
                for o in plan.outputs]
    return [values[o] for o in plan.outputs]
