"""Graph-to-graph transforms: forward mode (JVP) and reverse mode (VJP).

Both append their result to the same graph from the same primitives, so they compose: a Hessian
is the JVP of a VJP. Neither recurses: forward mode is one loop over node ids in increasing
order, reverse mode one loop in decreasing order, accumulating cotangents in a dict (``a + a``
gets both contributions). ``None`` stands for a symbolic zero and is never materialized.
"""

from __future__ import annotations

from engine.ir.emit import add
from engine.ir.graph import Graph
from engine.ir.ops import PRIMITIVES


def ancestors(g: Graph, outputs: list[int]) -> list[int]:
    """Ids of every node ``outputs`` depend on (themselves included), in increasing order."""
    seen = set(outputs)
    stack = list(outputs)
    while stack:
        for a in g.nodes[stack.pop()].args:
            if a not in seen:
                seen.add(a)
                stack.append(a)
    return sorted(seen)


def _depends(g: Graph, nodes: list[int], wrt: set[int]) -> set[int]:
    """The subset of ``nodes`` (increasing ids) that depends on any node of ``wrt``."""
    dep = set()
    for nid in nodes:
        if nid in wrt or any(a in dep for a in g.nodes[nid].args):
            dep.add(nid)
    return dep


def jvp(g: Graph, outputs: list[int], wrt: list[int], tangents: list[int]) -> list[int | None]:
    """Tangent nodes of ``outputs`` when ``wrt[i]`` moves along ``tangents[i]``."""
    tan: dict[int, int | None] = dict(zip(wrt, tangents, strict=True))
    order = ancestors(g, outputs)
    active = _depends(g, order, set(wrt))
    for nid in order:
        if nid in tan or nid not in active:
            continue
        node = g.nodes[nid]
        arg_tangents = [tan.get(a) for a in node.args]
        if all(t is None for t in arg_tangents):
            tan[nid] = None
            continue
        tan[nid] = PRIMITIVES[node.op].jvp(g, nid, arg_tangents)
    return [tan.get(o) for o in outputs]


def vjp(g: Graph, outputs: list[int], cotangents: list[int], wrt: list[int]
        ) -> list[int | None]:
    """Cotangent nodes of ``wrt`` given ``cotangents`` of ``outputs`` (Jᵀ·c)."""
    order = ancestors(g, outputs)
    active = _depends(g, order, set(wrt))
    ct: dict[int, int] = {}
    for o, seed in zip(outputs, cotangents, strict=True):
        if o in active:
            ct[o] = add(g, ct[o], seed) if o in ct else seed
    for nid in reversed(order):
        c = ct.get(nid)
        node = g.nodes[nid]
        if c is None or not node.args:
            continue
        contributions = PRIMITIVES[node.op].vjp(g, nid, c)
        for a, contrib in zip(node.args, contributions, strict=True):
            if contrib is None or a not in active:
                continue
            ct[a] = add(g, ct[a], contrib) if a in ct else contrib
    return [ct.get(w) for w in wrt]
