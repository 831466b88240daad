"""The engine's exceptions: everything the HTTP layer needs for an RFC 9457 problem document.

Every error the engine raises on bad input is an :class:`EngineError`; the web layer only
translates ``problem()`` into a response. Nothing else may escape the public functions.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from engine.limits import status_of

PROBLEM_BASE = "https://diffapi.dev/problems/"


def line_and_column(expression: str, column: int) -> tuple[int | None, int]:
    """Where the 1-based offset ``column`` of ``expression`` stands: its 1-based line and the
    column counted from the start of that line. The line is None for a one-line expression
    (its column is the offset itself)."""
    if "\n" not in expression:
        return None, column
    offset = min(max(column, 1), len(expression) + 1) - 1
    start = expression.rfind("\n", 0, offset) + 1
    return expression.count("\n", 0, offset) + 1, offset - start + 1


def position(expression: str, column: int) -> str:
    """``column 5`` or, in a multi-line expression, ``line 2, column 5`` for the 1-based
    offset ``column``."""
    line, col = line_and_column(expression, column)
    return f"column {col}" if line is None else f"line {line}, column {col}"


def caret_snippet(expression: str, column: int) -> str:
    """The line of ``expression`` holding the 1-based offset ``column`` and a caret under it
    (a one-line expression is its own line)."""
    line, col = line_and_column(expression, column)
    text = expression if line is None else expression.split("\n")[line - 1]
    text = text.replace("\t", " ").replace("\r", " ")
    return f"{text}\n{' ' * (max(col, 1) - 1)}^"


def suggest(name: str, known: Iterable[str]) -> list[str]:
    """Up to three known names nearest to ``name``."""
    return difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)


def did_you_mean(suggestions: list[str]) -> str:
    """``; did you mean 'a', 'b'?`` for a message, or nothing without suggestions."""
    return f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""


_P = ParamSpec("_P")
_R = TypeVar("_R")


@functools.cache
def accepted_keywords(fn: Callable[..., Any]) -> tuple[str, ...] | None:
    """The keyword arguments ``fn`` takes, or None when it takes any (``**kwargs``)."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))


def check_keywords(fn: Callable[..., Any], given: Iterable[str], what: str, skip: int = 0
                   ) -> None:
    """Raise :class:`InputError` naming the first keyword in ``given`` that ``fn`` does not
    take after its first ``skip`` parameters (a TypeError would be a server error, not the
    client's)."""
    accepted = accepted_keywords(fn)
    if accepted is None:
        return
    accepted = accepted[skip:]
    for name in given:
        if name not in accepted:
            hint = did_you_mean(suggest(name, accepted))
            raise InputError(f"{what} takes no field {name!r}{hint}", loc=("body", name))


def keywords_checked(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """``fn`` (same signature) with an unknown keyword argument reported as an InputError."""

    @functools.wraps(fn)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        check_keywords(fn, kwargs, fn.__name__)
        return fn(*args, **kwargs)

    return checked


def problem_body(status: int, kind: str, title: str, detail: str,
                 errors: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """An RFC 9457 problem document (without ``instance``) whose ``type`` is
    ``PROBLEM_BASE + kind``; the one builder of every problem body."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + kind, "title": title, "status": status,
                            "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return body | extra


def _number(x: float) -> str:
    """Integers exactly (8388608, not 8.38861e+06); other numbers compactly."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


class EngineError(Exception):
    """Base class: a request the engine cannot answer, with a stable ``kind`` and HTTP status."""

    kind = "invalid-request"
    title = "Invalid request"
    status = 422

    def __init_subclass__(cls, *, kind: str | None = None, title: str | None = None,
                          **rest: Any) -> None:
        super().__init_subclass__(**rest)
        if kind is not None:
            cls.kind = kind
        if title is not None:
            cls.title = title

    def __init__(self, detail: str, *, loc: tuple[Any, ...] = ("body",),
                 column: int | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.loc = loc
        self.column = column
        self.line: int | None = None
        """The 1-based line of ``column`` in a multi-line expression."""
        self.extra = extra or {}

    def place(self, expression: str, column: int) -> None:
        """Set ``line`` and ``column`` from the 1-based offset ``column`` of ``expression``."""
        self.line, self.column = line_and_column(expression, column)

    def locate(self, expression: str, column: int) -> None:
        """Point the error at the 1-based offset ``column`` of ``expression``: the detail ends
        with the caret."""
        self.place(expression, column)
        self.detail = (f"{self.detail} (at {position(expression, column)}):\n"
                       f"{caret_snippet(expression, column)}")
        self.args = (self.detail,)

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 body (without ``instance``) for this error."""
        entry: dict[str, Any] = {"loc": list(self.loc), "msg": self.detail}
        if self.column is not None:
            entry["column"] = self.column
        if self.line is not None:
            entry["line"] = self.line
        return problem_body(self.status, self.kind, self.title, self.detail, [entry],
                            **self.extra)


class ExpressionError(EngineError, kind="parse-error", title="Expression does not parse"):
    """The expression does not parse at the 1-based offset ``column``; the detail shows a caret,
    and ``line``/``column`` say where (the column counted from the start of its line)."""

    def __init__(self, message: str, expression: str, column: int, *,
                 expected: str | None = None) -> None:
        self.message = message
        self.expression = expression
        self.expected = expected
        text = message if expected is None else f"{message}; expected {expected}"
        detail = (f"{text} at {position(expression, column)}:\n"
                  f"{caret_snippet(expression, column)}")
        line, col = line_and_column(expression, column)
        extra: dict[str, Any] = {"column": col, "expression": expression}
        if line is not None:
            extra["line"] = line
        super().__init__(detail, loc=("body", "expression"), column=col, extra=extra)
        self.line = line


class UnknownNameError(EngineError, kind="unknown-name", title="Unknown name"):
    """A name or function that is not a variable, constant or built-in."""

    def __init__(self, name: str, suggestions: list[str], *, column: int | None,
                 what: str = "name", expression: str | None = None) -> None:
        self.name = name
        self.suggestions = suggestions
        detail = f"unknown {what} '{name}'{did_you_mean(suggestions)}"
        if expression is not None and column is not None:
            detail += f"\n{caret_snippet(expression, column)}"
        super().__init__(detail, loc=("body", "expression"), column=column,
                         extra={"name": name, "suggestions": suggestions})
        if expression is not None and column is not None:
            self.place(expression, column)


class ArityError(EngineError, kind="wrong-arity", title="Wrong number of arguments"):
    """A function called with the wrong number of arguments."""


class DefinitionError(EngineError, kind="definition-error", title="Invalid definition"):
    """A definition or a use of one that the language does not allow: recursion, shadowing,
    redefinition, use before the definition. ``hint`` (also a member of the problem) says what
    to write instead; the error stands at the 1-based offset ``column`` of ``expression``."""

    def __init__(self, message: str, hint: str, *, expression: str, column: int) -> None:
        self.hint = hint
        super().__init__(f"{message} ({hint})", loc=("body", "expression"),
                         extra={"hint": hint})
        self.locate(expression, column)


class ShapeError(EngineError, kind="shape-mismatch", title="Shape mismatch"):
    """Operand shapes that do not fit (matmul, broadcasting, indexing, stacking)."""


class NonScalarError(EngineError, kind="non-scalar", title="Expression is not scalar-valued"):
    """An operation that needs a scalar-valued expression got a tensor-valued one."""


class InputError(EngineError, kind="invalid-input", title="Invalid input"):
    """A request field (point, constants, variables, tangent, …) is missing or malformed."""


class LimitError(EngineError, kind="limit-exceeded", title="Limit exceeded"):
    """A request over one of the configured limits; names the limit, its value and the request's.

    Its status is the limit's own, from :data:`engine.limits.STATUS`; ``status`` overrides it
    (nothing in the engine does).
    """

    def __init__(self, limit: str, value: float, actual: float | None = None, *,
                 status: int | None = None, loc: tuple[Any, ...] = ("body",),
                 column: int | None = None, what: str | None = None) -> None:
        self.limit = limit
        self.value = value
        self.actual = actual
        self.status = status_of(limit) if status is None else status
        got = "" if actual is None else f" (this request: {_number(actual)})"
        subject = what or limit
        detail = f"{subject} is over the limit {limit} = {_number(value)}{got}"
        super().__init__(detail, loc=loc, column=column,
                         extra={"limit": limit, "limit_value": value})
