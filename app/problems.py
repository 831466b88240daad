"""One place maps every failure to an RFC 9457 ``application/problem+json`` response."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from app.observability import REJECTED
from engine.errors import PROBLEM_BASE, EngineError

_BODY_PARSE_FAILED = "There was an error parsing the body"
"""FastAPI's detail when the body cannot be decoded at all (bad UTF-8, nesting too deep)."""


class ProblemResponse(JSONResponse):
    """A problem document (ASCII JSON: it may quote text with lone surrogates)."""

    media_type = "application/problem+json"

    def render(self, content: Any) -> bytes:
        """Strict JSON, non-ASCII escaped: a lone surrogate in a quoted expression cannot
        be encoded as UTF-8, but ``\\ud800`` is valid JSON."""
        return json.dumps(content, ensure_ascii=True, allow_nan=False,
                          separators=(",", ":")).encode()


def problem(status: int, kind: str, title: str, detail: str,
            errors: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """The body of a problem document whose ``type`` is ``PROBLEM_BASE + kind``."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + kind, "title": title, "status": status,
                            "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return body | extra


def body_too_large(limit: int, declared: int | None) -> ProblemResponse:
    """413 for a body over ``max_body_bytes``, declared by Content-Length or streamed."""
    size = f" (Content-Length: {declared})" if declared is not None else ""
    detail = f"the request body is over the limit max_body_bytes = {limit} bytes{size}"
    REJECTED.labels("max_body_bytes").inc()
    return ProblemResponse(
        problem(413, "limit-exceeded", "Limit exceeded", detail, [{"loc": ["body"], "msg": detail}],
                limit="max_body_bytes", limit_value=limit),
        status_code=413)


async def engine_error(_: Request, exc: EngineError) -> ProblemResponse:
    """The engine's own problem document, as is; a refusal by a limit is counted."""
    body = exc.problem()
    if "limit" in body:
        REJECTED.labels(body["limit"]).inc()
    return ProblemResponse(body, status_code=exc.status)


async def validation_error(_: Request, exc: RequestValidationError) -> ProblemResponse:
    """422 naming each bad field and what was expected; malformed JSON with line and column."""
    errors = list(exc.errors())
    if errors and errors[0]["type"] == "json_invalid":
        return _malformed_json(errors[0]["ctx"]["error"], exc.body, errors[0]["loc"][-1])
    items = [{"loc": list(error["loc"]), "msg": _message(error)} for error in errors]
    detail = "; ".join(f"{_where(item['loc'])}: {item['msg']}" for item in items)
    return ProblemResponse(problem(422, "validation-error", "Invalid request", detail, items),
                           status_code=422)


async def http_error(request: Request, exc: HTTPException) -> ProblemResponse:
    """Unknown routes (404), wrong methods (405) and undecodable bodies as problem documents."""
    status = exc.status_code
    if status == 400 and exc.detail == _BODY_PARSE_FAILED and exc.__cause__ is not None:
        cause = exc.__cause__
        reason = "nesting too deep" if isinstance(cause, RecursionError) else str(cause)
        return _malformed_json(reason, None, None)
    if status == 404:
        detail = f"there is no {request.method} {request.url.path}; the API is listed at /docs"
    elif status == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        detail = f"{request.method} is not allowed on {request.url.path}; allowed: {allowed}"
    else:
        detail = str(exc.detail)
    phrase = HTTPStatus(status).phrase
    return ProblemResponse(problem(status, phrase.lower().replace(" ", "-"), phrase, detail),
                           status_code=status, headers=exc.headers)


async def internal_error(_: Request, __: Exception) -> ProblemResponse:
    """500 without internals (the traceback goes to the server log)."""
    return ProblemResponse(problem(500, "internal-error", "Internal Server Error",
                                   "an unexpected error occurred; it has been logged"),
                           status_code=500)


def install(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(EngineError, engine_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)


def _malformed_json(reason: str, document: Any, position: Any) -> ProblemResponse:
    item: dict[str, Any] = {"loc": ["body"], "msg": reason}
    detail = f"the body is not valid JSON: {reason}"
    if isinstance(document, str) and isinstance(position, int):
        line = document.count("\n", 0, position) + 1
        column = position - document.rfind("\n", 0, position)
        item |= {"line": line, "column": column}
        detail += f" at line {line}, column {column}"
    return ProblemResponse(problem(422, "malformed-json", "Malformed JSON", detail, [item]),
                           status_code=422)


def _message(error: Any) -> str:
    """Pydantic's message, plus what was received where that helps."""
    message, given = error["msg"], error.get("input")
    if tuple(error["loc"]) == ("body",):
        if error["type"] == "missing":
            return "a JSON object body is required"
        if isinstance(given, bytes):
            return "the body must be a JSON object sent with Content-Type: application/json"
    if error["type"].endswith("_type") or error["type"].startswith(("greater", "less")):
        message += f", got {_show(given)}"
    return message


def _show(value: Any) -> str:
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "an object"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _where(loc: list[Any]) -> str:
    parts = loc[1:] if len(loc) > 1 and loc[0] == "body" else loc
    return ".".join(str(part) for part in parts)
