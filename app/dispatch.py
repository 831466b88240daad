"""Runs one engine operation: inline when its work estimate is small, else in a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
from pydantic import BaseModel
from starlette.responses import Response

import engine
from app.encoding import encode
from app.settings import Settings
from engine.errors import LimitError

OPERATIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "evaluate": engine.evaluate,
    "gradient": engine.gradient,
    "jacobian": engine.jacobian,
    "hessian": engine.hessian,
    "derivative": engine.derivative,
    "taylor": engine.taylor,
    "jvp": engine.jvp,
    "vjp": engine.vjp,
    "hvp": engine.hvp,
}


class Dispatcher:
    """Calls the engine for validated requests and answers strict JSON."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limiter = anyio.CapacityLimiter(settings.max_concurrent_jobs)

    async def run(self, operation: str, request: BaseModel, body_bytes: int) -> Response:
        """The engine's answer to ``request`` (sent as ``body_bytes`` bytes); an EngineError
        propagates to the problem handler."""
        kwargs = {name: getattr(request, name) for name in request.model_fields_set}
        kwargs["limits"] = self.settings.limits
        job = partial(_answer, OPERATIONS[operation], kwargs)
        if (body_bytes <= self.settings.inline_body_bytes
                and engine.work_estimate(operation, **kwargs)
                <= self.settings.inline_work_threshold):
            content = job()
        else:
            content = await self._in_thread(job)
        return Response(content, media_type="application/json")

    async def _in_thread(self, job: Callable[[], bytes]) -> bytes:
        timeout = self.settings.request_timeout_seconds
        try:
            with anyio.fail_after(timeout):
                return await anyio.to_thread.run_sync(job, limiter=self.limiter,
                                                      abandon_on_cancel=True)
        except TimeoutError:
            raise LimitError("request_timeout_seconds", timeout, status=503,
                             what="computation time (seconds)") from None


def _answer(operation: Callable[..., dict[str, Any]], kwargs: dict[str, Any]) -> bytes:
    return encode(operation(**kwargs))
