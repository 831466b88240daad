"""The parsed expression: plain frozen nodes, each carrying its 1-based source column."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Num:
    """A numeric literal."""

    value: float
    col: int


@dataclass(frozen=True, slots=True)
class Name:
    """A bare name: variable, constant or built-in (``pi``, ``e``); module prefixes removed."""

    name: str
    col: int


@dataclass(frozen=True, slots=True)
class Unary:
    """``-x`` or ``+x``."""

    op: str
    operand: Expr
    col: int


@dataclass(frozen=True, slots=True)
class Binary:
    """``+ - * / ** @`` and comparisons ``< <= > >= == !=``; ``^`` is stored as ``**``.

    ``col`` is the operator's column.
    """

    op: str
    left: Expr
    right: Expr
    col: int


@dataclass(frozen=True, slots=True)
class Keyword:
    """A keyword argument ``name=value`` of a call; ``col`` is the column of its name."""

    name: str
    value: Expr
    col: int


@dataclass(frozen=True, slots=True)
class Call:
    """A function call; method sugar ``a.f(b)`` becomes ``Call("f", (a, b))`` and ``M.T``
    becomes ``Call("transpose", (M,))``. ``col`` is the column of the function's name.

    Keyword arguments are static (axes, flags, offsets): they are read as literals when the
    call is lowered, so they are not sub-expressions."""

    func: str
    args: tuple[Expr, ...]
    col: int
    kwargs: tuple[Keyword, ...] = ()


@dataclass(frozen=True, slots=True)
class TupleLit:
    """``(a, b)``: a tuple of literals, only meaningful as a static argument (``axis=(0, 1)``,
    ``reshape(x, (2, 3))``)."""

    items: tuple[Expr, ...]
    col: int


@dataclass(frozen=True, slots=True)
class ListLit:
    """``[a, b, c]``; nested lists make matrices."""

    items: tuple[Expr, ...]
    col: int


@dataclass(frozen=True, slots=True)
class Slice:
    """``start:stop:step`` inside brackets; absent parts are None."""

    start: Expr | None
    stop: Expr | None
    step: Expr | None
    col: int


@dataclass(frozen=True, slots=True)
class Index:
    """``target[i, j:k]``: one entry per indexed axis."""

    target: Expr
    items: tuple[Expr | Slice, ...]
    col: int


Expr = Num | Name | Unary | Binary | Call | ListLit | Index | TupleLit


def sub_expressions(e: Expr) -> tuple[Expr, ...]:
    """The sub-expressions lowered before ``e`` (index entries are literals, read directly)."""
    match e:
        case Unary(operand=x):
            return (x,)
        case Binary(left=a, right=b):
            return (a, b)
        case Call(args=args):
            return args
        case ListLit(items=items):
            return items
        case Index(target=t):
            return (t,)
    return ()


def walk(root: Expr) -> Iterator[Expr]:
    """Every sub-expression of ``root`` (itself first), left to right, without recursion."""
    stack = [root]
    while stack:
        e = stack.pop()
        yield e
        stack.extend(reversed(sub_expressions(e)))
