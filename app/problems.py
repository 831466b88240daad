"""One place maps every failure to an RFC 9457 ``application/problem+json`` response."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from app.bodies import malformed_problem, problem, validation_problem
from app.observability import REJECTED
from engine.errors import EngineError

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


def body_too_large(limit: int, declared: int | None) -> ProblemResponse:
    """413 for a body over ``max_body_bytes``, declared by Content-Length or streamed."""
    size = f" (Content-Length: {declared})" if declared is not None else ""
    detail = f"the request body is over the limit max_body_bytes = {limit} bytes{size}"
    REJECTED.labels("max_body_bytes").inc()
    return ProblemResponse(
        problem(413, "limit-exceeded", "Limit exceeded", detail, [{"loc": ["body"], "msg": detail}],
                limit="max_body_bytes", limit_value=limit),
        status_code=413)


_Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]


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
        return ProblemResponse(malformed_problem(errors[0]["ctx"]["error"], exc.body,
                                                 errors[0]["loc"][-1]), status_code=422)
    return ProblemResponse(validation_problem(errors), status_code=422)


async def http_error(request: Request, exc: HTTPException) -> ProblemResponse:
    """Unknown routes (404), wrong methods (405) and undecodable bodies as problem documents."""
    status = exc.status_code
    if status == 400 and exc.detail == _BODY_PARSE_FAILED and exc.__cause__ is not None:
        cause = exc.__cause__
        reason = "nesting too deep" if isinstance(cause, RecursionError) else str(cause)
        return ProblemResponse(malformed_problem(reason), status_code=422)
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
    # Starlette types a handler as taking any Exception; it calls each with its own class only.
    app.add_exception_handler(EngineError, cast(_Handler, engine_error))
    app.add_exception_handler(RequestValidationError, cast(_Handler, validation_error))
    app.add_exception_handler(HTTPException, cast(_Handler, http_error))
    app.add_exception_handler(Exception, internal_error)
