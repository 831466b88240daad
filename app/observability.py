"""Request ids, one structured access-log line per request, and Prometheus metrics.

With several uvicorn workers each process keeps its own counters; ``diffapi serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory so ``/metrics`` sums all of them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("diffapi.access")

REQUESTS = Counter("diffapi_requests_total", "HTTP requests by route and status",
                   ["route", "method", "status"])
LATENCY = Histogram("diffapi_request_seconds", "HTTP request latency by route", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                             5, 10))
ENGINE = Histogram("diffapi_engine_seconds", "Engine computation time by operation and where "
                   "it ran (inline or pool)", ["operation", "where"],
                   buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10))
REJECTED = Counter("diffapi_rejected_total", "Requests refused by a limit", ["limit"])

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _route_label(scope: Scope) -> str:
    """The matched route's template (bounded label values), or ``unmatched``."""
    route = scope.get("route")
    return getattr(route, "path", "unmatched")


class ObservabilityMiddleware:
    """Assigns a request id (or keeps a well-formed ``X-Request-ID``), returns it as a header,
    logs one JSON line per request and records the request metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_label(scope)
            REQUESTS.labels(route, scope["method"], str(status)).inc()
            LATENCY.labels(route).observe(elapsed)
            log.info(json.dumps({
                "request_id": request_id, "method": scope["method"], "path": scope["path"],
                "route": route, "status": status, "ms": round(elapsed * 1e3, 3),
                "client": (scope.get("client") or ("", 0))[0]}))


def metrics(request: Request) -> Response:
    """The Prometheus text exposition of every counter (all worker processes if configured)."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
