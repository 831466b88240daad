"""Runs one engine operation: inline when its work estimate is small, else in a worker process."""

from __future__ import annotations

import time

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

import engine
from app.bodies import check_content_type, check_list_values, engine_kwargs, parse
from app.body_limit import BODY_CHUNKS
from app.encoding import encode
from app.observability import ENGINE
from app.pool import EnginePool
from app.settings import Settings
from engine.jobs import check_work


class Dispatcher:
    """Calls the engine for requests and answers strict JSON.

    A small body is parsed and planned on the event loop (microseconds to milliseconds); if the
    work estimate is under ``inline_work_threshold`` it also runs there, which serves more
    requests than a thread hop. Everything else goes to the process pool, where a hard time
    limit can stop it; a body over ``inline_body_bytes`` goes there unparsed.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = EnginePool(settings.max_concurrent_jobs, settings.request_timeout_seconds,
                               settings.worker_memory_mb, settings.worker_nice)

    async def answer(self, operation: str, model: type[BaseModel], request: Request, *,
                     planned: bool = True) -> Response:
        """The engine's answer to the body of ``request``, a ``model``; an EngineError
        (InvalidBody for a 422) propagates to the problem handler. ``planned=False``: work
        without an estimate, always pooled."""
        # Buffered by the body-limit middleware, as received.
        chunks = request.scope.get(BODY_CHUNKS)
        if chunks is None:
            chunks = [await request.body()]
        size = sum(map(len, chunks))
        content_type = request.headers.get("content-type")
        if size <= self.settings.inline_body_bytes:
            body = b"".join(chunks)
            check_list_values(body, self.settings.max_list_numbers)
            validated = parse(model, body, content_type)
            if planned:
                return await self.run(operation, validated, len(body))
            return await self.run_pooled(operation, validated)
        check_content_type(content_type)
        start = time.perf_counter()
        # Even counting its list values is left to the engine process (a pass over the bytes).
        content = await self.pool.run_body(operation, model, chunks, self.settings.limits,
                                           self.settings.max_list_numbers)
        ENGINE.labels(operation, "pool").observe(time.perf_counter() - start)
        return Response(content, media_type="application/json")

    async def run(self, operation: str, request: BaseModel, body_bytes: int) -> Response:
        """The engine's answer to the validated ``request`` (sent as ``body_bytes`` bytes); an
        EngineError propagates to the problem handler."""
        kwargs, encoding = engine_kwargs(request)
        limits = self.settings.limits
        start = time.perf_counter()
        # Symbolic expansion has no work estimate: it always runs where a deadline applies.
        if body_bytes <= self.settings.inline_body_bytes and not kwargs.get("symbolic"):
            job = engine.plan(operation, limits=limits, **kwargs)
            if job.work <= self.settings.inline_work_threshold:
                answer = encode(job.run(), encoding)
                ENGINE.labels(operation, "inline").observe(time.perf_counter() - start)
                return Response(answer, media_type="application/json")
            # Admission before work: an over-budget request is refused here, not in the pool.
            check_work(job.work, limits)
        content = await self.pool.run(operation, kwargs, limits, encoding)
        ENGINE.labels(operation, "pool").observe(time.perf_counter() - start)
        return Response(content, media_type="application/json")

    async def run_pooled(self, operation: str, request: BaseModel) -> Response:
        """``engine.<operation>`` in a worker process, for work without an estimate
        (symbolic expansion)."""
        kwargs, encoding = engine_kwargs(request)
        start = time.perf_counter()
        content = await self.pool.run(operation, kwargs, self.settings.limits, encoding)
        ENGINE.labels(operation, "pool").observe(time.perf_counter() - start)
        return Response(content, media_type="application/json")
