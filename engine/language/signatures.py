"""Signatures of the functions that take keyword or static arguments, and binding calls to them.

A parameter is a tensor (lowered to a graph node), a list or tuple of tensors
(``concatenate([a, b])``, ``np.concatenate((a, b))``: the literal's entries are lowered one by
one, so they may differ in shape) or static (an axis, a flag, an offset, a shape): static
arguments are read from the call's literals, never computed. Binding follows Python: positional
arguments fill the parameters in order, keywords by name, a parameter given twice or not at all
is an error, and an unknown keyword is refused at its column with the keywords the function
takes.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from engine.errors import ArityError, EngineError, InputError, did_you_mean, suggest
from engine.language.syntax import Binary, Call, Expr, ListLit, Name, Num, TupleLit, Unary


class Kind(Enum):
    """What an argument is."""

    TENSOR = "tensor"
    TENSORS = "tensors"
    """A list literal of tensors, lowered entry by entry."""
    STATIC = "static"


class _Required:
    def __repr__(self) -> str:
        return "required"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Param:
    """One parameter; ``variadic`` collects every remaining positional argument (``*shape``)."""

    name: str
    kind: Kind = Kind.TENSOR
    default: Any = REQUIRED
    variadic: bool = False
    keyword_only: bool = False


@dataclass(frozen=True)
class Signature:
    """The parameters of a function, in positional order."""

    params: tuple[Param, ...]

    def text(self, name: str) -> str:
        """The signature as Python writes it: ``sum(a, axis=None, keepdims=False)``."""
        parts: list[str] = []
        starred = False
        for p in self.params:
            if p.keyword_only and not starred:
                parts.append("*")
                starred = True
            if p.variadic:
                parts.append(f"*{p.name}")
            elif p.default is REQUIRED:
                parts.append(p.name)
            else:
                parts.append(f"{p.name}={_show(p.default)}")
        return f"{name}({', '.join(parts)})"

    @property
    def required(self) -> int:
        """How many positional tensor arguments a call needs at least."""
        return sum(1 for p in self.params if p.default is REQUIRED and not p.variadic
                   and not p.keyword_only)


def _show(value: Any) -> str:
    return "None" if value is None else repr(value)


@dataclass(frozen=True)
class Bound:
    """A call bound to a signature: which expressions are lowered and the static values."""

    tensors: tuple[Expr, ...]
    """The sub-expressions to lower, in order (list entries flattened)."""
    layout: tuple[tuple[str, int | None], ...]
    """For each tensor parameter given: its name and how many entries it takes from
    ``tensors`` (None: one tensor, not a list)."""
    static: dict[str, Any]

    def arguments(self, nodes: list[int]) -> dict[str, Any]:
        """Keyword arguments for the builder, given the nodes of :attr:`tensors`."""
        out = dict(self.static)
        i = 0
        for name, count in self.layout:
            if count is None:
                out[name] = nodes[i]
                i += 1
            else:
                out[name] = nodes[i:i + count]
                i += count
        return out


def bind(name: str, sig: Signature, call: Call, expression: str) -> Bound:
    """Bind ``call``'s arguments to ``sig``; errors point at the culprit in ``expression``."""
    try:
        return _bind(name, sig, call)
    except EngineError as err:
        err.locate(expression, err.column if err.column is not None else call.col)
        raise


def _bind(name: str, sig: Signature, call: Call) -> Bound:
    given: dict[str, tuple[Expr | tuple[Expr, ...], int]] = {}
    positional = [p for p in sig.params if not p.keyword_only]
    args = list(call.args)
    for p in positional:
        if not args:
            break
        if p.variadic:
            given[p.name] = (tuple(args), _col(args[0]))
            args = []
            break
        arg = args.pop(0)
        given[p.name] = (arg, _col(arg))
    if args:
        most = len(positional)
        raise ArityError(f"{name}() takes {most} positional argument{'s' if most != 1 else ''}"
                         f" at most, got {len(call.args)} ({sig.text(name)})",
                         loc=("body", "expression"), column=_col(args[0]))
    by_name = {p.name: p for p in sig.params}
    for kw in call.kwargs:
        found = by_name.get(kw.name)
        if found is None or found.variadic:
            keywords = [q.name for q in sig.params if not q.variadic]
            takes = ", ".join(keywords) if keywords else "none"
            raise ArityError(f"{name}() got an unexpected keyword argument {kw.name!r}"
                             f"{did_you_mean(suggest(kw.name, keywords))} (its keywords: "
                             f"{takes}; {sig.text(name)})", loc=("body", "expression"),
                             column=kw.col)
        if found.name in given:
            raise ArityError(f"{name}() got multiple values for argument {kw.name!r}",
                             loc=("body", "expression"), column=kw.col)
        given[found.name] = (kw.value, kw.col)
    tensors: list[Expr] = []
    layout: list[tuple[str, int | None]] = []
    static: dict[str, Any] = {}
    for p in sig.params:
        if p.name not in given:
            if p.default is REQUIRED:
                raise ArityError(f"{name}() is missing the argument {p.name!r} "
                                 f"({sig.text(name)})", loc=("body", "expression"))
            static[p.name] = p.default
            continue
        value, col = given[p.name]
        if p.kind is Kind.STATIC:
            static[p.name] = (tuple(literal(v, p.name) for v in value)
                              if isinstance(value, tuple) else literal(value, p.name))
        elif p.kind is Kind.TENSORS:
            if not isinstance(value, ListLit | TupleLit):
                raise InputError(f"{name}() takes a list [a, b] or a tuple (a, b) as {p.name!r}",
                                 loc=("body", "expression"), column=col)
            tensors.extend(value.items)
            layout.append((p.name, len(value.items)))
        elif isinstance(value, Name) and value.name == "None" and p.default is not REQUIRED:
            static[p.name] = None  # an optional tensor given as None: clip(a, None, 1)
        else:
            assert not isinstance(value, tuple)
            tensors.append(value)
            layout.append((p.name, None))
    return Bound(tuple(tensors), tuple(layout), static)


_ARITHMETIC: dict[str, Callable[[int, int], int]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "**": operator.pow}
"""Integer arithmetic allowed in a static argument (``reshape(x, (5 * 4, 6))``)."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_BOOLEANS = {"True": True, "true": True, "False": False, "false": False}


def literal(e: Expr, what: str) -> Any:
    """A static argument's value: an integer (integer arithmetic such as ``5 * 4`` allowed), a
    number, True/False (or true/false), None, or a tuple or list of those."""
    if isinstance(e, TupleLit | ListLit):
        return tuple(literal(item, what) for item in e.items)
    if isinstance(e, Name):
        if e.name in _BOOLEANS:
            return _BOOLEANS[e.name]
        if e.name == "None":
            return None
    sign = 1
    inner: Expr = e
    while isinstance(inner, Unary):
        sign = -sign if inner.op == "-" else sign
        inner = inner.operand
    if isinstance(inner, Num):
        v = sign * inner.value
        return int(v) if float(v).is_integer() else v
    if isinstance(inner, Binary) and inner.op in _ARITHMETIC:
        left, right = literal(inner.left, what), literal(inner.right, what)
        if _is_int(left) and _is_int(right) and (inner.op != "**" or 0 <= right <= 64):
            return sign * _ARITHMETIC[inner.op](left, right)
    raise InputError(f"{what!r} must be a literal (an integer, a tuple of integers, True or "
                     "False)", loc=("body", "expression"), column=_col(e))


def _col(e: Expr) -> int:
    return e.col
