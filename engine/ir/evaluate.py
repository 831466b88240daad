"""Running a graph with numpy: one pass over the needed nodes, vectorized over the batch prefix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.ir.graph import Graph, size_of
from engine.ir.ops import PRIMITIVES
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
    return Plan(tuple(outputs), tuple(order), tuple(tuple(r) for r in release), elements)


def run(g: Graph, plan: Plan, feeds: dict[int, np.ndarray], prefix_rank: int
        ) -> list[np.ndarray]:
    """Evaluate ``plan``; every input node needs a feed of shape ``(*prefix, *shape)``."""
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
                values[nid] = PRIMITIVES[node.op].forward(
                    node.params, *[values[a] for a in node.args])
            for a in done:
                del values[a]
    return [values[o] for o in plan.outputs]
