"""The graph IR: an append-only list of primitive nodes with static shapes.

Nodes are plain frozen data (``op``, ``args``, ``params``, ``shape``) referring to earlier nodes
by index, so the list is always in topological order and no pass ever recurses over it.
Identical nodes are one node (hash-consing) and nodes whose inputs are all constants fold.
Every array a node computes has shape ``(*prefix, *node.shape)``: the prefix holds batch axes
(points, tangent directions, Taylor orders) and every primitive acts on the trailing axes only.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from engine.errors import LimitError
from engine.limits import Limits

Shape = tuple[int, ...]


class Node(NamedTuple):
    """One primitive application. ``params`` is hashable op-specific data.

    A named tuple rather than a frozen dataclass: nodes are created by the thousand on a cold
    request, and a tuple is several times cheaper to build.
    """

    op: str
    args: tuple[int, ...]
    params: tuple[Any, ...]
    shape: Shape


def size_of(shape: Shape) -> int:
    """Number of elements of a static shape."""
    return math.prod(shape)


class Graph:
    """An append-only DAG with hash-consing, constant folding and size limits.

    Op-specific shape rules and folding live in :mod:`engine.ir.emit`; this class only
    stores nodes, deduplicates them and enforces ``max_nodes`` / ``max_tensor_elements``.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.nodes: list[Node] = []
        self.consts: dict[int, np.ndarray] = {}
        self.uniform: dict[int, float] = {}
        """Constants whose entries are all equal, by id: the value (drives simplification)."""
        self._index: dict[Any, int] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def add(self, node: Node) -> int:
        """Append ``node`` unless an identical one exists; return its id."""
        key = node[:3]
        found = self._index.get(key)
        if found is not None:
            return found
        nid = len(self.nodes)
        if nid >= self.limits.max_nodes or node.shape:
            self._check(node.shape)
        self.nodes.append(node)
        self._index[key] = nid
        return nid

    def const(self, value: Any) -> int:
        """A constant node (float64); equal constants are one node."""
        if type(value) is float:
            # Fast path for the scalar constants derivative rules emit all the time.
            found = self._index.get(("float", value))
            if found is None:
                found = self._index["float", value] = self.const(np.float64(value))
            return found
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
        if arr.size and (arr.size == 1 or bool(np.all(arr == arr.flat[0]))):
            self.uniform[nid] = float(arr.flat[0])
        self._index[key] = nid
        return nid

    def input(self, name: str, shape: Shape) -> int:
        """A named input (variable, constant parameter, tangent, cotangent)."""
        return self.add(Node("input", (), (name,), tuple(shape)))

    def _check(self, shape: Shape) -> None:
        if len(self.nodes) >= self.limits.max_nodes:
            raise LimitError("max_nodes", self.limits.max_nodes, len(self.nodes) + 1,
                             what="the compiled graph's node count")
        if len(shape) > self.limits.max_rank:
            raise LimitError("max_rank", self.limits.max_rank, len(shape),
                             what=f"the rank of a tensor of shape {shape}")
        elements = size_of(shape) if shape else 1
        if elements > self.limits.max_tensor_elements:
            raise LimitError("max_tensor_elements", self.limits.max_tensor_elements, elements,
                             what=f"a tensor of shape {shape}")
