"""Runs one engine operation: inline when its work estimate is small, else in a worker process."""

from __future__ import annotations

import time

from pydantic import BaseModel
from starlette.responses import Response

import engine
from app.encoding import encode
from app.observability import ENGINE
from app.pool import EnginePool
from app.settings import Settings
from engine.jobs import check_work


class Dispatcher:
    """Calls the engine for validated requests and answers strict JSON.

    A small body is planned on the event loop (parse, compile, estimate: microseconds to
    milliseconds); if the estimate is under ``inline_work_threshold`` it also runs there, which
    serves more requests than a thread hop. Everything else goes to the process pool, where a
    hard time limit can stop it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = EnginePool(settings.max_concurrent_jobs, settings.request_timeout_seconds,
                               settings.worker_memory_mb)

    async def run(self, operation: str, request: BaseModel, body_bytes: int) -> Response:
        """The engine's answer to ``request`` (sent as ``body_bytes`` bytes); an EngineError
        propagates to the problem handler."""
        kwargs = {name: getattr(request, name) for name in request.model_fields_set}
        limits = self.settings.limits
        start = time.perf_counter()
        # Symbolic expansion has no work estimate: it always runs where a deadline applies.
        if body_bytes <= self.settings.inline_body_bytes and not kwargs.get("symbolic"):
            job = engine.plan(operation, limits=limits, **kwargs)
            if job.work <= self.settings.inline_work_threshold:
                content = encode(job.run())
                ENGINE.labels(operation, "inline").observe(time.perf_counter() - start)
                return Response(content, media_type="application/json")
            # Admission before work: an over-budget request is refused here, not in the pool.
            check_work(job.work, limits)
        content = await self.pool.run(operation, kwargs, limits)
        ENGINE.labels(operation, "pool").observe(time.perf_counter() - start)
        return Response(content, media_type="application/json")

    async def run_pooled(self, operation: str, request: BaseModel) -> Response:
        """``engine.<operation>`` in a worker process, for work without an estimate
        (symbolic expansion)."""
        kwargs = {name: getattr(request, name) for name in request.model_fields_set}
        start = time.perf_counter()
        content = await self.pool.run(operation, kwargs, self.settings.limits)
        ENGINE.labels(operation, "pool").observe(time.perf_counter() - start)
        return Response(content, media_type="application/json")
