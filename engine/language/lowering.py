"""Lowering the parsed expression to the graph IR; static shapes are checked before any run."""

from __future__ import annotations

from typing import Any

from engine.errors import (
    ArityError,
    EngineError,
    InputError,
    ShapeError,
    UnknownNameError,
    suggest,
)
from engine.ir import emit as P
from engine.ir.graph import Graph
from engine.ir.ops import PRIMITIVES
from engine.language import arrays as A
from engine.language.functions import CONSTANTS, FUNCTIONS, power
from engine.language.signatures import Bound, bind
from engine.language.syntax import (
    Binary,
    Call,
    Expr,
    Index,
    ListLit,
    Name,
    Num,
    Slice,
    TupleLit,
    Unary,
    sub_expressions,
)

_INFIX = {p.symbol: p.name for p in PRIMITIVES.values() if p.symbol and p.arity == 2}
"""The language's binary operators, from the op records (``**`` and ``@`` have builders)."""


class Lowering:
    """Turns one AST into nodes of ``graph``; names resolve to the given input nodes."""

    def __init__(self, graph: Graph, expression: str, inputs: dict[str, int]) -> None:
        self.g = graph
        self.expression = expression
        self.inputs = inputs
        self._bound: dict[int, Bound] = {}
        """Calls bound to their function's signature, by ``id`` of the syntax node."""

    def lower(self, root: Expr) -> int:
        """The node computing ``root``; errors carry the column they happened at.

        An explicit post-order stack, not recursion: long chains such as a 10,000-term sum make
        trees far deeper than Python's stack.
        """
        done: dict[int, int] = {}
        stack: list[tuple[Expr, bool]] = [(root, False)]
        while stack:
            e, ready = stack.pop()
            children = self._children(e)
            if not ready:
                stack.append((e, True))
                stack.extend((c, False) for c in reversed(children))
                continue
            done[id(e)] = self._at(e.col, self._combine, e, [done[id(c)] for c in children])
        return done[id(root)]

    def _children(self, e: Expr) -> tuple[Expr, ...]:
        """The sub-expressions lowered before ``e``: for a call with a signature, its tensor
        arguments (its static ones are literals, read when it is bound)."""
        if not isinstance(e, Call):
            return sub_expressions(e)
        bound = self._bound.get(id(e))
        if bound is not None:
            return bound.tensors
        fn = FUNCTIONS.get(e.func)
        if fn is not None and fn.signature is not None:
            bound = self._bound[id(e)] = bind(e.func, fn.signature, e, self.expression)
            return bound.tensors
        if e.kwargs and fn is not None:
            kw = e.kwargs[0]
            err = ArityError(f"{e.func}() takes no keyword arguments (got {kw.name!r})",
                             loc=("body", "expression"))
            err.locate(self.expression, kw.col)
            raise err
        return sub_expressions(e)

    def _combine(self, e: Expr, args: list[int]) -> int:
        """The node for ``e`` given the nodes of its children."""
        match e:
            case Num(value=v):
                return self.g.const(v)
            case Name(name=name, col=col):
                return self._name(name, col)
            case Unary(op=op):
                return P.neg(self.g, args[0]) if op == "-" else args[0]
            case Binary(op=op):
                return self._binary(op, *args)
            case Call(func=func, col=col):
                bound = self._bound.get(id(e))
                if bound is not None:
                    return FUNCTIONS[func].build(self.g, **bound.arguments(args))
                return self._call(func, args, col)
            case TupleLit():
                raise InputError("a tuple such as (0, 1) is only a function's static argument "
                                 "(axis=(0, 1), reshape(x, (2, 3))); for a vector write [a, b]",
                                 loc=("body", "expression"))
            case ListLit():
                return self._list(args)
            case Index(items=items):
                return self._index(args[0], items)
        raise AssertionError(f"unknown syntax node {e!r}")

    def _at(self, column: int, fn: Any, *args: Any) -> int:
        try:
            return fn(*args)
        except EngineError as err:
            if err.column is None:
                err.locate(self.expression, column)
            raise

    def _name(self, name: str, col: int) -> int:
        if name in self.inputs:
            return self.inputs[name]
        if name in CONSTANTS:
            return self.g.const(CONSTANTS[name])
        known = [*self.inputs, *CONSTANTS]
        what = "function (call it with parentheses)" if name in FUNCTIONS else "name"
        if name in FUNCTIONS:
            raise UnknownNameError(name, [f"{name}(...)"], column=col, what=what,
                                   expression=self.expression)
        raise UnknownNameError(name, suggest(name, known), column=col, what=what,
                               expression=self.expression)

    def _binary(self, op: str, a: int, b: int) -> int:
        if op == "**":
            return power(self.g, a, b)
        if op == "@":
            return P.matmul(self.g, a, b)
        return P.emit(self.g, _INFIX[op], a, b)

    def _call(self, func: str, args: list[int], col: int) -> int:
        fn = FUNCTIONS.get(func)
        if fn is None:
            raise UnknownNameError(func, suggest(func, list(FUNCTIONS)), column=col,
                                   what="function", expression=self.expression)
        if len(args) != fn.arity:
            plural = "s" if fn.arity != 1 else ""
            # no column: _at locates it at the call, with the caret
            raise ArityError(f"{func}() takes {fn.arity} argument{plural}, got {len(args)}",
                             loc=("body", "expression"))
        return fn.build(self.g, *args)

    def _list(self, nodes: list[int]) -> int:
        shapes = {self.g.nodes[n].shape for n in nodes}
        if len(shapes) > 1:
            raise ShapeError("list entries must all have the same shape, got "
                             + ", ".join(str(s) for s in sorted(shapes)))
        return P.stack(self.g, nodes)

    def _int(self, e: Expr | None, what: str) -> int | None:
        if e is None:
            return None
        sign = 1
        while isinstance(e, Unary):
            sign = -sign if e.op == "-" else sign
            e = e.operand
        if isinstance(e, Num) and float(e.value).is_integer():
            return sign * int(e.value)
        raise ShapeError(f"{what} must be an integer literal such as 0, -1 or 2")

    def _index(self, node: int, items: tuple[Expr | Slice, ...]) -> int:
        lists = [j for j, item in enumerate(items) if isinstance(item, ListLit)]
        if lists:
            return self._index_list(node, items, lists)
        return self._basic_index(node, items)

    def _index_list(self, node: int, items: tuple[Expr | Slice, ...], lists: list[int]
                    ) -> int:
        """``x[[0, 2]]``, ``M[:, [1, -1]]``: one integer-list index, taken along its axis after
        the other (basic) entries are applied."""
        if len(lists) > 1:
            raise ShapeError("only one integer-list index per subscript is supported "
                             "(index in two steps: x[[0, 1]][:, [2, 3]])")
        j = lists[0]
        entry = items[j]
        assert isinstance(entry, ListLit)
        ints = [i for i, item in enumerate(items) if not isinstance(item, Slice | ListLit)]
        shape = self.g.nodes[node].shape
        if j >= len(shape):
            raise ShapeError(f"too many indices ({len(items)}) for a value of shape {shape}")
        picks = [self._at(e.col, self._list_entry, e, j, shape) for e in entry.items]
        advanced = sorted([*ints, j])
        if advanced != list(range(advanced[0], advanced[-1] + 1)):
            # Integer indices apart from the list (a slice between): NumPy puts the list's axis
            # first, which is a stack of the basic indexings, one per entry.
            return P.stack(self.g, [self._basic_index(node, (*items[:j], Num(float(i), entry.col),
                                                              *items[j + 1:]))
                                    for i in picks])
        rest = (*items[:j], Slice(None, None, None, entry.col), *items[j + 1:])
        base = self._basic_index(node, rest)
        axis = j - sum(1 for i in ints if i < j)
        return A.pick(self.g, base, axis, picks)

    def _list_entry(self, e: Expr, axis: int, shape: tuple[int, ...]) -> int:
        """One entry of an integer-list index, checked against its axis (negative allowed)."""
        i = self._int(e, "an entry of an index list")
        assert i is not None
        n = shape[axis]
        if not -n <= i < n:
            raise ShapeError(f"index {i} is out of bounds for axis {axis} with size {n} "
                             f"(shape {shape})")
        return i % n

    def _basic_index(self, node: int, items: tuple[Expr | Slice, ...]) -> int:
        shape = self.g.nodes[node].shape
        if len(items) > len(shape):
            raise ShapeError(f"too many indices ({len(items)}) for a value of shape {shape}")
        key: list[Any] = []
        out: list[int] = []
        for axis, item in enumerate(items):
            n = shape[axis]
            if isinstance(item, Slice):
                step = self._int(item.step, "a slice step")
                if step == 0:
                    raise ShapeError("slice step cannot be zero")
                start, stop, step = slice(self._int(item.start, "a slice bound"),
                                          self._int(item.stop, "a slice bound"),
                                          step).indices(n)
                out.append(len(range(start, stop, step)))
                # slice.indices gives stop = -1 for "through index 0" with a negative step;
                # as a slice bound -1 would mean the last element.
                key.append(("s", start, None if stop < 0 else stop, step))
            else:
                i = self._int(item, "an index")
                assert i is not None
                if not -n <= i < n:
                    raise ShapeError(f"index {i} is out of bounds for axis {axis} "
                                     f"with size {n} (shape {shape})")
                key.append(i % n)
        out.extend(shape[len(items):])
        full = tuple(key) + tuple(("s", 0, n, 1) for n in shape[len(items):])
        if all(isinstance(k, tuple) and k[1:] == (0, shape[i], 1) for i, k in enumerate(full)):
            return node
        return P.index(self.g, node, full, tuple(out))


def lower(graph: Graph, expression: str, tree: Expr, inputs: dict[str, int]) -> int:
    """Lower ``tree`` into ``graph`` and return the output node."""
    return Lowering(graph, expression, inputs).lower(tree)
