"""The graph IR: an append-only list of primitive nodes with static shapes.

Nodes are plain frozen data (``op``, ``args``, ``params``, ``shape``) referring to earlier nodes
by index, so the list is always in topological order and no pass ever recurses over it.
Identical nodes are one node (hash-consing) and nodes whose inputs are all constants fold.
Every array a node computes has shape ``(*prefix, *node.shape)``: the prefix holds batch axes
(points, tangent directions, Taylor orders) and every primitive acts on the trailing axes only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import LimitError
from engine.limits import Limits

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Node:
    """One primitive application. ``params`` is hashable op-specific data."""

    op: str
    args: tuple[int, ...]
    params: tuple[Any, ...]
    shape: Shape


def size_of(shape: Shape) -> int:
    """Number of elements of a static shape."""
    return math.prod(shape)


class Graph:
    """An append-only DAG with hash-consing, constant folding and size limits.

    Primitive-specific shape rules and folding live in :mod:`engine.primitives`; this class only
    stores nodes, deduplicates them and enforces ``max_nodes`` / ``max_tensor_elements``.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.nodes: list[Node] = []
        self.consts: dict[int, np.ndarray] = {}
        self.input_names: dict[int, str] = {}
        self._index: dict[Any, int] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def add(self, node: Node) -> int:
        """Append ``node`` unless an identical one exists; return its id."""
        key = (node.op, node.args, node.params)
        found = self._index.get(key)
        if found is not None:
            return found
        self._check(node.shape)
        self.nodes.append(node)
        nid = len(self.nodes) - 1
        self._index[key] = nid
        return nid

    def const(self, value: Any) -> int:
        """A constant node (float64); equal constants are one node."""
        arr = np.asarray(value, dtype=np.float64)
        key = ("const", arr.shape, arr.tobytes())
        found = self._index.get(key)
        if found is not None:
            return found
        self._check(arr.shape)
        arr = arr.copy()
        arr.flags.writeable = False
        self.nodes.append(Node("const", (), (), arr.shape))
        nid = len(self.nodes) - 1
        self.consts[nid] = arr
        self._index[key] = nid
        return nid

    def input(self, name: str, shape: Shape) -> int:
        """A named input (variable, constant parameter, tangent, cotangent)."""
        nid = self.add(Node("input", (), (name,), tuple(shape)))
        self.input_names[nid] = name
        return nid

    def const_value(self, nid: int) -> np.ndarray | None:
        """The value of a constant node, or None for any other node."""
        return self.consts.get(nid)

    def is_const_scalar(self, nid: int, value: float | None = None) -> bool:
        """Whether ``nid`` is a constant whose entries all equal ``value`` (any, if None)."""
        arr = self.consts.get(nid)
        if arr is None or arr.size == 0:
            return False
        first = arr.flat[0]
        if not bool(np.all(arr == first)):
            return False
        return value is None or first == value

    def _check(self, shape: Shape) -> None:
        if len(self.nodes) >= self.limits.max_nodes:
            raise LimitError("max_nodes", self.limits.max_nodes, len(self.nodes) + 1,
                             what="the compiled graph's node count")
        elements = size_of(shape)
        if elements > self.limits.max_tensor_elements:
            raise LimitError("max_tensor_elements", self.limits.max_tensor_elements, elements,
                             what=f"a tensor of shape {shape}")
