"""Compiled expressions: the graph, its inputs, lazily built derivative graphs, the LRU cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from engine.ir.emit import zeros
from engine.ir.evaluate import Plan, make_plan
from engine.ir.graph import Graph, Shape
from engine.ir.transforms import jvp, vjp
from engine.language.lowering import lower
from engine.language.parser import parse
from engine.language.syntax import Expr
from engine.limits import Limits

CACHE_SIZE = 256


class Compiled:
    """One expression compiled for fixed input shapes.

    Derivative graphs are appended to the same graph on first use and remembered under a key,
    so a repeated request only evaluates. ``lock`` serializes graph growth across threads.
    """

    def __init__(self, expression: str, shapes: dict[str, Shape],
                 const_shapes: dict[str, Shape], limits: Limits, tree: Expr | None = None
                 ) -> None:
        self.graph = Graph(limits)
        self.inputs = {name: self.graph.input(name, s) for name, s in shapes.items()}
        for name, s in const_shapes.items():
            self.inputs[name] = self.graph.input(name, s)
        if tree is None:
            tree = parse(expression, limits)
        self.output = lower(self.graph, expression, tree, self.inputs)
        self.shape = self.graph.nodes[self.output].shape
        self.lock = threading.RLock()
        self._derived: dict[Any, Any] = {}

    def derived(self, key: Any, build: Callable[[], Any]) -> Any:
        """The value ``build()`` made once for ``key`` (graph growth happens under the lock)."""
        found = self._derived.get(key)
        if found is None:
            with self.lock:
                found = self._derived.get(key)
                if found is None:
                    found = build()
                    self._derived[key] = found
        return found

    def plan(self, key: Any, outputs: Callable[[], list[int]]) -> Plan:
        """A cached evaluation plan for the nodes ``outputs()`` returns."""
        return self.derived(("plan", key), lambda: make_plan(self.graph, outputs()))

    def hessian_plan(self, variables: tuple[str, ...]) -> Plan:
        """The plan of the value, the gradient and the Hessian's rows (forward over reverse,
        along the tangent inputs)."""
        def outputs() -> list[int]:
            grads = self.gradient_nodes(variables)
            return [self.output, *grads, *self.jvp_nodes(tuple(grads), variables)]
        return self.plan(("hessian", variables), outputs)

    def tangent_input(self, name: str) -> int:
        """An input node carrying the tangent (direction) of variable ``name``."""
        shape = self.graph.nodes[self.inputs[name]].shape
        return self.graph.input(f"tangent {name}", shape)

    def cotangent_input(self) -> int:
        """An input node carrying a cotangent of the output."""
        return self.graph.input("cotangent", self.shape)

    def _nonzero(self, nodes: list[int | None], like: list[int]) -> list[int]:
        return [n if n is not None else zeros(self.graph, self.graph.nodes[w].shape)
                for n, w in zip(nodes, like, strict=True)]

    def gradient_nodes(self, variables: tuple[str, ...]) -> list[int]:
        """Reverse-mode gradient nodes (seed 1) of a scalar output, one per variable."""
        def build() -> list[int]:
            wrt = [self.inputs[v] for v in variables]
            one = self.graph.const(1.0)
            return self._nonzero(vjp(self.graph, [self.output], [one], wrt), wrt)
        return self.derived(("grad", variables), build)

    def jvp_nodes(self, of: tuple[int, ...], variables: tuple[str, ...]) -> list[int]:
        """Forward-mode tangents of the nodes ``of`` along the tangent inputs of ``variables``."""
        def build() -> list[int]:
            wrt = [self.inputs[v] for v in variables]
            tangents = [self.tangent_input(v) for v in variables]
            return self._nonzero(jvp(self.graph, list(of), wrt, tangents), list(of))
        return self.derived(("jvp", of, variables), build)

    def along(self, of: list[int], name: str, tangent: int) -> list[int]:
        """Forward-mode tangents of the nodes ``of`` when variable ``name`` moves along the
        node ``tangent`` (a constant one-hot folds into a formula)."""
        with self.lock:
            out = jvp(self.graph, of, [self.inputs[name]], [tangent])
            return self._nonzero(out, of)

    def vjp_nodes(self, variables: tuple[str, ...]) -> list[int]:
        """Reverse-mode cotangents of ``variables`` for the cotangent input of the output."""
        def build() -> list[int]:
            wrt = [self.inputs[v] for v in variables]
            out = vjp(self.graph, [self.output], [self.cotangent_input()], wrt)
            return self._nonzero(out, wrt)
        return self.derived(("vjp", variables), build)


class CompileCache:
    """A bounded, thread-safe LRU of :class:`Compiled` keyed by expression and input shapes."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[Any, Compiled] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, expression: str, shapes: dict[str, Shape], const_shapes: dict[str, Shape],
            limits: Limits) -> Compiled:
        """The compiled expression, compiling it on a miss."""
        key = (expression, tuple(shapes.items()), tuple(const_shapes.items()), limits)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        compiled = Compiled(expression, shapes, const_shapes, limits)
        with self._lock:
            self._items[key] = compiled
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return compiled


CACHE = CompileCache()
