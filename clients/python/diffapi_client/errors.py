"""The one exception the client raises for an answer that is not a success."""

from __future__ import annotations

import json
from typing import Any


class DiffapiError(Exception):
    """An RFC 9457 problem from the service (or a transport failure after the retries).

    ``type``, ``title``, ``status`` and ``detail`` are the problem's members; ``column`` is the
    1-based column of an error in the expression (``None`` elsewhere) and ``line`` its 1-based
    line when the expression has several (else ``None``); ``problem`` is the whole document.
    """

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.type: str = str(problem.get("type", "about:blank"))
        self.title: str = str(problem.get("title", ""))
        self.detail: str = str(problem.get("detail", ""))
        self.column = _position(problem, "column")
        self.line = _position(problem, "line")
        super().__init__(f"{status} {self.title}: {self.detail}" if self.title else self.detail)

    @classmethod
    def from_response(cls, status: int, body: bytes, content_type: str) -> DiffapiError:
        """The error of a non-2xx answer, problem+json or not."""
        problem: dict[str, Any] = {}
        if "json" in content_type:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                problem = parsed
        if not problem:
            problem = {"type": "about:blank", "title": f"HTTP {status}",
                       "detail": body[:500].decode("utf-8", "replace")}
        return cls(status, problem)


def _position(problem: dict[str, Any], key: str) -> int | None:
    """``key`` of the problem, or of its first error (where every positioned error has it)."""
    errors = problem.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    value = problem.get(key, first.get(key))
    return value if isinstance(value, int) and not isinstance(value, bool) else None
