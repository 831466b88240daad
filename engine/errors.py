"""The engine's exceptions: everything the HTTP layer needs for an RFC 9457 problem document.

Every error the engine raises on bad input is an :class:`EngineError`; the web layer only
translates ``problem()`` into a response. Nothing else may escape the public functions.
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://diffapi.dev/problems/"


def caret_snippet(expression: str, column: int) -> str:
    """The expression on one line and a caret under ``column`` (1-based)."""
    line = expression.replace("\n", " ").replace("\t", " ")
    return f"{line}\n{' ' * (max(column, 1) - 1)}^"


def _number(x: float) -> str:
    """Integers exactly (8388608, not 8.38861e+06); other numbers compactly."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


class EngineError(Exception):
    """Base class: a request the engine cannot answer, with a stable ``kind`` and HTTP status."""

    kind = "invalid-request"
    title = "Invalid request"
    status = 422

    def __init__(self, detail: str, *, loc: tuple[Any, ...] = ("body",),
                 column: int | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.loc = loc
        self.column = column
        self.extra = extra or {}

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 body (without ``instance``) for this error."""
        entry: dict[str, Any] = {"loc": list(self.loc), "msg": self.detail}
        if self.column is not None:
            entry["column"] = self.column
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "errors": [entry],
        }
        body.update(self.extra)
        return body


class ExpressionError(EngineError):
    """The expression does not parse; ``column`` is 1-based and the detail shows a caret."""

    kind = "parse-error"
    title = "Expression does not parse"

    def __init__(self, message: str, expression: str, column: int, *,
                 expected: str | None = None) -> None:
        self.message = message
        self.expression = expression
        self.expected = expected
        text = message if expected is None else f"{message}; expected {expected}"
        detail = f"{text} at column {column}:\n{caret_snippet(expression, column)}"
        super().__init__(detail, loc=("body", "expression"), column=column,
                         extra={"column": column, "expression": expression})


class UnknownNameError(EngineError):
    """A name or function that is not a variable, constant or built-in."""

    kind = "unknown-name"
    title = "Unknown name"

    def __init__(self, name: str, suggestions: list[str], *, column: int | None,
                 what: str = "name", expression: str | None = None) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        detail = f"unknown {what} '{name}'{hint}"
        if expression is not None and column is not None:
            detail += f"\n{caret_snippet(expression, column)}"
        super().__init__(detail, loc=("body", "expression"), column=column,
                         extra={"name": name, "suggestions": suggestions})


class ArityError(EngineError):
    """A function called with the wrong number of arguments."""

    kind = "wrong-arity"
    title = "Wrong number of arguments"


class ShapeError(EngineError):
    """Operand shapes that do not fit (matmul, broadcasting, indexing, stacking)."""

    kind = "shape-mismatch"
    title = "Shape mismatch"


class NonScalarError(EngineError):
    """An operation that needs a scalar-valued expression got a tensor-valued one."""

    kind = "non-scalar"
    title = "Expression is not scalar-valued"


class InputError(EngineError):
    """A request field (point, constants, variables, tangent, …) is missing or malformed."""

    kind = "invalid-input"
    title = "Invalid input"


class LimitError(EngineError):
    """A request over one of the configured limits; names the limit, its value and the request's."""

    kind = "limit-exceeded"
    title = "Limit exceeded"

    def __init__(self, limit: str, value: float, actual: float | None = None, *,
                 status: int = 422, loc: tuple[Any, ...] = ("body",),
                 column: int | None = None, what: str | None = None) -> None:
        self.limit = limit
        self.value = value
        self.actual = actual
        self.status = status
        got = "" if actual is None else f" (this request: {_number(actual)})"
        subject = what or limit
        detail = f"{subject} is over the limit {limit} = {_number(value)}{got}"
        super().__init__(detail, loc=loc, column=column,
                         extra={"limit": limit, "limit_value": value})
