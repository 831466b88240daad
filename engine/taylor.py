"""Univariate Taylor-mode propagation through a compiled graph.

Every node's value becomes a truncated series of shape ``(K+1, *prefix, *shape)`` holding the
normalized coefficients u_k = u^(k)/k!. Linear primitives apply their forward rule to the whole
series (the k axis is just one more batch axis); the others use their rule from
:mod:`engine.taylor_rules`, attached here to the primitive table so every op has one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine.evaluate import Plan
from engine.graph import Graph
from engine.primitives import PRIMITIVES, Primitive
from engine.taylor_rules import TAYLOR_RULES, series_bilinear


def _attach() -> None:
    for name, prim in PRIMITIVES.items():
        if prim.linear:
            prim.taylor = _linear_rule(prim)
        elif name == "powc":
            rule = TAYLOR_RULES["powc"]
            prim.taylor = lambda params, x, _r=rule: _r(x, p=params[0])
        elif name == "matmul":
            prim.taylor = lambda params, a, b, _f=prim.forward: series_bilinear(
                a, b, lambda u, v: _f(params, u, v))
        else:
            rule = TAYLOR_RULES[name]
            prim.taylor = lambda params, *xs, _r=rule: _r(*xs)


def _linear_rule(prim: Primitive) -> Callable[..., np.ndarray]:
    return lambda params, *xs: prim.forward(params, *xs)


_attach()


def constant_series(value: np.ndarray, order: int) -> np.ndarray:
    """The series ``[value, 0, 0, …]`` with ``order + 1`` terms."""
    out = np.zeros((order + 1, *value.shape))
    out[0] = value
    return out


def propagate(g: Graph, plan: Plan, feeds: dict[int, np.ndarray], order: int,
              prefix_rank: int) -> list[np.ndarray]:
    """Series of ``plan.outputs`` given the input series in ``feeds``."""
    values: dict[int, Any] = {}
    lead = (1,) * prefix_rank
    with np.errstate(all="ignore"):
        for nid, done in zip(plan.order, plan.release, strict=True):
            node = g.nodes[nid]
            if node.op == "const":
                values[nid] = constant_series(g.consts[nid].reshape(lead + node.shape), order)
            elif node.op == "input":
                values[nid] = feeds[nid]
            else:
                args = [values[a] for a in node.args]
                values[nid] = PRIMITIVES[node.op].taylor(node.params, *args)
            for a in done:
                del values[a]
    return [values[o] for o in plan.outputs]
