"""Lowering the parsed expression to the graph IR; static shapes are checked before any run.

Definitions are resolved here, where the request's names are known: they may not shadow a
built-in, an input or one another, and are used only after they are defined (so never
recursively).
"""

from __future__ import annotations

import math
from typing import Any

from engine.errors import (
    ArityError,
    DefinitionError,
    EngineError,
    InputError,
    LimitError,
    ShapeError,
    UnknownNameError,
    position,
    suggest,
)
from engine.ir import emit as P
from engine.ir.graph import Graph
from engine.ir.ops import PRIMITIVES
from engine.language import arrays as A
from engine.language.functions import CONSTANTS, FUNCTIONS, power
from engine.language.parser import MODULE_PREFIXES
from engine.language.signatures import Bound, bind
from engine.language.syntax import (
    Binary,
    Block,
    Call,
    Define,
    Expr,
    Index,
    ListLit,
    Name,
    Num,
    Slice,
    TupleLit,
    Unary,
    sub_expressions,
    walk,
)

_INFIX = {p.symbol: p.name for p in PRIMITIVES.values() if p.symbol and p.arity == 2}
"""The language's binary operators, from the op records (``**`` and ``@`` have builders)."""


_VISIT, _BUILD, _RETURN = 0, 1, 2
"""Work items of the lowering loop: lower a node's children, build the node from them, and
remember the value of an inlined call."""

_CALLS_SHOWN = 5
"""Calls listed (innermost first, then the outermost) under an error inside inlined bodies."""

BUILT_INS = frozenset(FUNCTIONS) | frozenset(CONSTANTS) | MODULE_PREFIXES
"""Names a definition or a parameter may not take."""


class _Frame:
    """The inside of one inlined call: the parameters' nodes, the call, and the frame the call
    stands in (None at the top level)."""

    __slots__ = ("function", "params", "parent", "site")

    def __init__(self, function: Define, params: dict[str, int], site: Call,
                 parent: _Frame | None) -> None:
        self.function = function
        self.params = params
        self.site = site
        self.parent = parent


def _new_axis(item: Expr | Slice) -> bool:
    """``None`` or ``np.newaxis`` in a subscript: a new axis of length 1."""
    return isinstance(item, Name) and item.name in ("None", "newaxis")


class Lowering:
    """Turns one AST into nodes of ``graph``; names resolve to the given input nodes.

    Definitions are lowered in order: a value once (every use is that node), a function at each
    call with new arguments, its body inlined with the parameters bound to the arguments' nodes.
    A function's names are checked where it is defined, so a wrong one is reported even when
    the function is never called.
    """

    def __init__(self, graph: Graph, expression: str, inputs: dict[str, int]) -> None:
        self.g = graph
        self.expression = expression
        self.inputs = inputs
        self.values: dict[str, int] = {}
        self.functions: dict[str, Define] = {}
        self.pending: dict[str, Define] = {}
        """Every definition of the block by name (the first when redefined): a name here but
        not yet defined is used before its definition."""
        self.current: Define | None = None
        self.calls: dict[tuple[str, tuple[int, ...]], int] = {}
        """The node of each function called with the given argument nodes."""
        self.sizes: dict[str, int] = {}
        """Syntax nodes in each function's body."""
        self.inlined = 0
        self._bound: dict[int, Bound] = {}
        """Calls bound to their function's signature, by ``id`` of the syntax node."""

    def lower(self, root: Expr) -> int:
        """The node computing ``root``; errors carry the line and column they happened at."""
        if not isinstance(root, Block):
            return self._lower(root)
        for d in root.definitions:
            self.pending.setdefault(d.name, d)
        for d in root.definitions:
            self._define(d)
        self.current = None
        return self._lower(root.result)

    # -- definitions ------------------------------------------------------------------------

    def _define(self, d: Define) -> None:
        self._check_new(d.name, d.col, "a definition")
        self.current = d
        if d.params is None:
            self.values[d.name] = self._lower(d.body)
            return
        for p in d.params:
            self._check_new(p.name, p.col, "a parameter", parameter=True)
        params = {p.name for p in d.params}
        for e in walk(d.body):
            if isinstance(e, Name) and e.name not in params:
                if not self._known(e.name):
                    raise self._missing_name(e.name, e.col)
            elif isinstance(e, Call) and e.func not in FUNCTIONS:
                if e.func not in self.functions:
                    raise self._missing_function(e.func, e.col)
                try:
                    self._check_arity(self.functions[e.func], len(e.args))
                except ArityError as err:
                    err.locate(self.expression, e.col)
                    raise
        self.functions[d.name] = d

    def _check_new(self, name: str, col: int, what: str, *, parameter: bool = False) -> None:
        """Refuse a definition or parameter named like a built-in or (unless a parameter,
        which is local) like an input or an earlier definition."""
        if name in BUILT_INS:
            kind = "function" if name in FUNCTIONS else (
                "constant" if name in CONSTANTS else "module prefix")
            raise self._definition_error(f"'{name}' is a built-in {kind}; {what} may not "
                                         "shadow it", f"choose another name, e.g. '{name}_'",
                                         col)
        if parameter:
            return
        if name in self.inputs:
            raise self._definition_error(
                f"'{name}' is a variable or constant of the request; a definition may not "
                "shadow it", f"choose another name, or remove '{name}' from the request", col)
        if name in self.values or name in self.functions:
            first = self.pending[name]
            raise self._definition_error(
                f"'{name}' is already defined at {position(self.expression, first.col)}",
                "a name is defined once; choose another name", col)

    def _known(self, name: str) -> bool:
        return name in self.values or name in self.inputs or name in CONSTANTS

    def _check_arity(self, d: Define, given: int) -> None:
        assert d.params is not None
        wanted = len(d.params)
        if given != wanted:
            plural = "s" if wanted != 1 else ""
            signature = f"{d.name}({', '.join(p.name for p in d.params)})"
            hint = f"{signature} is defined at {position(self.expression, d.col)}"
            # no column: the caller locates it at the call, with the caret
            raise ArityError(f"{d.name}() takes {wanted} argument{plural}, got {given} "
                             f"({hint})", loc=("body", "expression"), extra={"hint": hint})

    def _definition_error(self, message: str, hint: str, col: int) -> DefinitionError:
        return DefinitionError(message, hint, expression=self.expression, column=col)

    def _undefined(self, name: str, col: int) -> DefinitionError | None:
        """The error for a use of ``name`` in its own definition or before it, if it is one."""
        d = self.current
        if d is not None and name == d.name:
            return self._definition_error(
                f"'{name}' is used in its own definition",
                "definitions are not recursive: write the formula out, or define a helper "
                "before it", col)
        later = self.pending.get(name)
        if later is not None and name not in self.functions and name not in self.values:
            return self._definition_error(
                f"'{name}' is used before its definition at "
                f"{position(self.expression, later.col)}",
                f"move the definition of '{name}' above its first use", col)
        return None

    def _missing_name(self, name: str, col: int) -> EngineError:
        if name in self.functions:
            return self._definition_error(f"'{name}' is a function",
                                          f"call it with parentheses: {name}(…)", col)
        undefined = self._undefined(name, col)
        if undefined is not None:
            return undefined
        known = [*self.inputs, *self.values, *CONSTANTS]
        if name in FUNCTIONS:
            return UnknownNameError(name, [f"{name}(...)"], column=col,
                                    what="function (call it with parentheses)",
                                    expression=self.expression)
        return UnknownNameError(name, suggest(name, known), column=col, what="name",
                                expression=self.expression)

    def _missing_function(self, func: str, col: int) -> EngineError:
        undefined = self._undefined(func, col)
        if undefined is not None:
            return undefined
        if func in self.values:
            return self._definition_error(f"'{func}' is a value, not a function",
                                          f"use it without parentheses: {func}", col)
        return UnknownNameError(func, suggest(func, [*FUNCTIONS, *self.functions]), column=col,
                                what="function", expression=self.expression)

    # -- expressions ------------------------------------------------------------------------

    def _lower(self, root: Expr) -> int:
        """The node computing ``root`` with the definitions made so far.

        An explicit stack, not recursion: long chains such as a 10,000-term sum make trees far
        deeper than Python's stack, and a call inlines its function's body on the same stack.
        """
        values: list[int] = []
        stack: list[tuple[int, Any, _Frame | None, int]] = [(_VISIT, root, None, 0)]
        e: Any = root
        frame: _Frame | None = None
        # Bound once: this loop runs once per syntax node of every inlined body.
        children_of, combine, functions = self._children, self._combine, self.functions
        pop, push = stack.pop, stack.append
        try:
            while stack:
                kind, e, frame, n = pop()
                if kind == _VISIT:
                    children = children_of(e)
                    if not children and type(e) is not Call:  # a leaf is built at once
                        values.append(combine(e, [], frame))
                        continue
                    push((_BUILD, e, frame, len(children)))
                    stack.extend([(_VISIT, c, frame, 0) for c in reversed(children)])
                elif kind == _BUILD:
                    args = values[len(values) - n:] if n else []
                    del values[len(values) - n:]
                    if type(e) is Call and e.func in functions:
                        self._inline(e, frame, args, stack, values)
                    else:
                        values.append(combine(e, args, frame))
                else:
                    self.calls[e] = values[-1]
        except EngineError as err:
            if err.column is None:
                err.locate(self.expression, e.col)
            if frame is not None and not isinstance(err, LimitError):
                self._add_calls(err, frame)
            raise
        return values[-1]

    def _add_calls(self, err: EngineError, frame: _Frame) -> None:
        """End the detail of ``err`` with the calls the failing body was inlined through,
        innermost first (the innermost few and the outermost when there are many)."""
        calls: list[_Frame] = []
        at: _Frame | None = frame
        while at is not None:
            calls.append(at)
            at = at.parent
        shown = calls if len(calls) <= _CALLS_SHOWN + 1 else [*calls[:_CALLS_SHOWN], calls[-1]]
        lines = [f"in {f.function.name}(…) called at {position(self.expression, f.site.col)}"
                 for f in shown]
        if len(shown) < len(calls):
            lines.insert(_CALLS_SHOWN, f"… {len(calls) - len(shown)} calls more …")
        err.detail += "\n" + "\n".join(lines)
        err.args = (err.detail,)

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

    def _at(self, column: int, fn: Any, *args: Any) -> int:
        try:
            return fn(*args)
        except EngineError as err:
            if err.column is None:
                err.locate(self.expression, column)
            raise

    def _inline(self, call: Call, frame: _Frame | None, args: list[int],
                stack: list[tuple[int, Any, _Frame | None, int]], values: list[int]) -> None:
        """Push the body of the function ``call`` names, bound to ``args`` (or its node, when
        called with these arguments before)."""
        d = self.functions[call.func]
        if call.kwargs:
            kw = call.kwargs[0]
            refused = ArityError(f"{d.name}() takes no keyword arguments (got {kw.name!r})",
                                 loc=("body", "expression"))
            refused.locate(self.expression, kw.col)
            raise refused
        self._check_arity(d, len(args))
        key = (d.name, tuple(args))
        found = self.calls.get(key)
        if found is not None:
            values.append(found)
            return
        size = self.sizes.get(d.name)
        if size is None:
            size = self.sizes[d.name] = sum(1 for _ in walk(d.body))
        self.inlined += size
        limit = self.g.limits.max_inlined_nodes
        if self.inlined > limit:
            err = LimitError("max_inlined_nodes", limit, self.inlined, loc=("body", "expression"),
                             what="the syntax nodes the definitions expand to")
            outermost = call
            while frame is not None:  # the whole expansion is too big: point at where it starts
                outermost, frame = frame.site, frame.parent
            err.locate(self.expression, outermost.col)
            raise err
        assert d.params is not None
        params = {p.name: node for p, node in zip(d.params, args, strict=True)}
        stack.append((_RETURN, key, frame, 0))
        stack.append((_VISIT, d.body, _Frame(d, params, call, frame), 0))

    def _combine(self, e: Expr, args: list[int], frame: _Frame | None) -> int:
        """The node for ``e`` given the nodes of its children."""
        match e:
            case Num(value=v):
                return self.g.const(v)
            case Name(name=name, col=col):
                if frame is not None:
                    found = frame.params.get(name)
                    if found is not None:
                        return found
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

    def _name(self, name: str, col: int) -> int:
        found = self.values.get(name)
        if found is not None:
            return found
        if name in self.inputs:
            return self.inputs[name]
        if name in CONSTANTS:
            return self.g.const(CONSTANTS[name])
        raise self._missing_name(name, col)

    def _binary(self, op: str, a: int, b: int) -> int:
        if op == "**":
            return power(self.g, a, b)
        if op == "@":
            return P.matmul(self.g, a, b)
        return P.emit(self.g, _INFIX[op], a, b)

    def _call(self, func: str, args: list[int], col: int) -> int:
        fn = FUNCTIONS.get(func)
        if fn is None:
            raise self._missing_function(func, col)
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
        items = self._without_ellipsis(node, items)
        lists = [j for j, item in enumerate(items) if isinstance(item, ListLit)]
        if any(_new_axis(item) for item in items):
            if lists:
                raise ShapeError("a new axis (None) and an index list in one subscript are not "
                                 "supported (index in two steps: x[[0, 2]][:, None])")
            return self._index_new_axes(node, items)
        if lists:
            return self._index_list(node, items, lists)
        return self._basic_index(node, items)

    def _without_ellipsis(self, node: int, items: tuple[Expr | Slice, ...]
                          ) -> tuple[Expr | Slice, ...]:
        """``x[..., 0]``: the ellipsis becomes as many full slices as the rank leaves."""
        at = [j for j, item in enumerate(items) if isinstance(item, Name) and item.name == "..."]
        if not at:
            return items
        if len(at) > 1:
            raise ShapeError("an index can only have a single ellipsis ('...')")
        j = at[0]
        rank = len(self.g.nodes[node].shape)
        used = sum(1 for item in items if not _new_axis(item)) - 1
        if used > rank:
            raise ShapeError(f"too many indices ({used}) for a value of shape "
                             f"{self.g.nodes[node].shape}")
        full = tuple(Slice(None, None, None, items[j].col) for _ in range(rank - used))
        return (*items[:j], *full, *items[j + 1:])

    def _index_new_axes(self, node: int, items: tuple[Expr | Slice, ...]) -> int:
        """``v[:, None]``, ``x[None]``: basic indexing, then an axis of length 1 where each
        ``None`` (``np.newaxis``) stands."""
        out = self._basic_index(node, tuple(item for item in items if not _new_axis(item)))
        kept = iter(self.g.nodes[out].shape)
        shape: list[int] = []
        for item in items:
            if _new_axis(item):
                shape.append(1)
            elif isinstance(item, Slice):
                shape.append(next(kept))
        return P.reshape(self.g, out, (*shape, *kept))

    def _index_list(self, node: int, items: tuple[Expr | Slice, ...], lists: list[int]
                    ) -> int:
        """``x[[0, 2]]``, ``M[:, [1, -1]]``: one integer-list index, taken along its axis after
        the other (basic) entries are applied."""
        if len(lists) > 1:
            return self._index_lists(node, items, lists)
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

    def _index_lists(self, node: int, items: tuple[Expr | Slice, ...], lists: list[int]
                     ) -> int:
        """``M[[0, 1], [2, 0]]``: several integer lists (and integers) pick entries together,
        as NumPy's advanced indexing: the lists broadcast (equal lengths, or length 1), and the
        picked axis replaces them where they are adjacent, else comes first."""
        shape = self.g.nodes[node].shape
        if len(items) > len(shape):
            raise ShapeError(f"too many indices ({len(items)}) for a value of shape {shape}")
        picks: dict[int, list[int]] = {}
        for j, item in enumerate(items):
            if isinstance(item, ListLit):
                picks[j] = [self._at(e.col, self._list_entry, e, j, shape) for e in item.items]
            elif not isinstance(item, Slice):
                picks[j] = [self._at(item.col, self._list_entry, item, j, shape)]
        lengths = {len(p) for j, p in picks.items() if j in lists}
        if len(lengths - {1}) > 1 or 0 in lengths:
            sizes = ", ".join(str(len(picks[j])) for j in lists)
            raise ShapeError(f"index lists of lengths {sizes} do not broadcast together (each "
                             "must have the same length, or length 1)")
        length = max(lengths)
        rows = [[p[0] if len(p) == 1 else p[r] for p in picks.values()] for r in range(length)]
        axes = sorted(picks)
        if axes != list(range(axes[0], axes[-1] + 1)):
            # Not adjacent: NumPy puts the picked axis first, a stack of basic indexings.
            return P.stack(self.g, [self._basic_index(node, tuple(
                Num(float(row[axes.index(j)]), 0) if j in picks else item
                for j, item in enumerate(items))) for row in rows])
        # Adjacent: merge those axes (C order) and pick the flat positions along the merged one.
        first, merged = axes[0], shape[axes[0]:axes[-1] + 1]
        whole = tuple(Slice(None, None, None, 0) if j in picks else item
                      for j, item in enumerate(items))
        base = self._basic_index(node, whole)
        kept = self.g.nodes[base].shape
        at = first - sum(1 for j, item in enumerate(items[:first]) if not isinstance(item, Slice))
        flat = P.reshape(self.g, base, (*kept[:at], math.prod(merged),
                                        *kept[at + len(merged):]))
        strides = [math.prod(merged[m + 1:]) for m in range(len(merged))]
        return A.pick(self.g, flat, at, [sum(i * st for i, st in zip(row, strides, strict=True))
                                         for row in rows])

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
