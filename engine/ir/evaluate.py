"""Running a graph with numpy: one pass over the needed nodes, vectorized over the batch prefix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.ir.graph import Graph, size_of
from engine.ir.ops import PRIMITIVES, Forward, Op
from engine.ir.transforms import ancestors


@dataclass(frozen=True)
class Plan:
    """The nodes to compute for ``outputs``, in order, and when each value can be dropped."""

    outputs: tuple[int, ...]
    order: tuple[int, ...]
    release: tuple[tuple[int, ...], ...]
    """``release[i]``: values no longer needed after step ``i`` (frees memory on big batches)."""
    elements: int
    """Element operations per point: the work estimate's unit."""
    tangent_products: bool = False
    """Whether it computes forward-mode products (``Op.SMUL``), whose zero rule :func:`run`
    applies only when the plain products give a NaN."""


def make_plan(g: Graph, outputs: list[int]) -> Plan:
    """Plan the evaluation of ``outputs`` (dead nodes are skipped)."""
    order = ancestors(g, outputs)
    last_use: dict[int, int] = {}
    for step, nid in enumerate(order):
        for a in g.nodes[nid].args:
            last_use[a] = step
    keep = set(outputs)
    release: list[list[int]] = [[] for _ in order]
    for nid, step in last_use.items():
        if nid not in keep:
            release[step].append(nid)
    elements = sum(size_of(g.nodes[n].shape) for n in order if g.nodes[n].args)
    products = any(g.nodes[n].op == Op.SMUL for n in order)
    return Plan(tuple(outputs), tuple(order), tuple(tuple(r) for r in release), elements,
                products)


def _plain_product(params: tuple[object, ...], d: np.ndarray, t: np.ndarray) -> np.ndarray:
    return d * t


_PLAIN: dict[str, Forward] = {Op.SMUL: _plain_product}
"""Forward rules of the first pass of :func:`run`: a tangent of 0 only matters where its
partial is not finite, and then the product is NaN, which the tangent's linear path to the
outputs carries (or drops, as it would drop the 0)."""


def run(g: Graph, plan: Plan, feeds: dict[int, np.ndarray], prefix_rank: int
        ) -> list[np.ndarray]:
    """Evaluate ``plan``; every input node needs a feed of shape ``(*prefix, *shape)``."""
    if not plan.tangent_products:
        return _run(g, plan, feeds, prefix_rank, {})
    out = _run(g, plan, feeds, prefix_rank, _PLAIN)
    if not any(o.dtype == object or np.isnan(o).any() for o in out):
        return out
    return _run(g, plan, feeds, prefix_rank, {})


def _run(g: Graph, plan: Plan, feeds: dict[int, np.ndarray], prefix_rank: int,
         instead: dict[str, Forward]) -> list[np.ndarray]:
    values: dict[int, np.ndarray] = {}
    nodes = g.nodes
    lead = (1,) * prefix_rank
    with np.errstate(all="ignore"):
        for nid, done in zip(plan.order, plan.release, strict=True):
            node = nodes[nid]
            if node.op == "const":
                values[nid] = g.consts[nid].reshape(lead + node.shape)
            elif node.op == "input":
                values[nid] = feeds[nid]
            else:
                forward = instead.get(node.op) or PRIMITIVES[node.op].forward
                values[nid] = forward(node.params, *[values[a] for a in node.args])
            for a in done:
                del values[a]
    return [values[o] for o in plan.outputs]
