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
    """``+ - * / % ** @`` and comparisons ``< <= > >= == !=``; ``^`` is stored as ``**``.

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


@dataclass(frozen=True, slots=True)
class Define:
    """A definition statement: ``name = body`` (``params`` None) or ``name(a, b) = body``.

    ``col`` is the column of the defined name.
    """

    name: str
    params: tuple[Name, ...] | None
    body: Expr
    col: int


@dataclass(frozen=True, slots=True)
class Block:
    """Several statements: the definitions in order, then the expression whose value it is."""

    definitions: tuple[Define, ...]
    result: Expr
    col: int


Expr = Num | Name | Unary | Binary | Call | ListLit | Index | TupleLit | Block


def sub_expressions(e: Expr) -> tuple[Expr, ...]:
    """The sub-expressions lowered before ``e`` (index entries are literals, read directly);
    a block's are its definitions' bodies and its result."""
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
        case Block(definitions=definitions, result=result):
            return (*(d.body for d in definitions), result)
    return ()


def walk(root: Expr) -> Iterator[Expr]:
    """Every sub-expression of ``root`` (itself first), left to right, without recursion."""
    stack = [root]
    while stack:
        e = stack.pop()
        yield e
        stack.extend(reversed(sub_expressions(e)))



def free_names(root: Expr) -> list[str]:
    """The names ``root`` uses, in order of first appearance, except the names its definitions
    define and, inside a function's body, its parameters."""
    if not isinstance(root, Block):
        return list(dict.fromkeys(e.name for e in walk(root) if isinstance(e, Name)))
    defined = {d.name for d in root.definitions}
    names: dict[str, None] = {}
    for d in root.definitions:
        local = defined | {p.name for p in d.params or ()}
        names.update(dict.fromkeys(n for n in free_names(d.body) if n not in local))
    names.update(dict.fromkeys(n for n in free_names(root.result) if n not in defined))
    return list(names)
