"""Draining one server process before it stops: the readiness route says so, work goes on.

On SIGTERM (what Kubernetes, podman and the supervisor in app.serving send) a process does not
stop at once: for ``DIFFAPI_DRAIN_SECONDS`` ``GET /healthz`` answers 503 ``{"status":
"draining"}``, so a load balancer's health check takes it out of rotation, while every request
still in flight or still arriving is answered as usual, with ``Connection: close`` so that no
client keeps a keep-alive connection to a process about to go. Then uvicorn's graceful shutdown
closes the listening socket, waits for the last responses and stops the application.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from types import FrameType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEALTH_PATH = "/healthz"
log = logging.getLogger("uvicorn.error")
DRAINING_BODY = json.dumps({"status": "draining"}).encode()


class Drain:
    """Whether, and since when, this process drains."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started: float | None = None

    @property
    def draining(self) -> bool:
        return self.started is not None

    def start(self) -> None:
        """Begin draining (a second call changes nothing)."""
        if self.started is None:
            self.started = time.monotonic()

    def over(self) -> bool:
        """True once the drain has lasted its seconds."""
        return self.started is not None and time.monotonic() - self.started >= self.seconds


class DrainMiddleware:
    """ASGI middleware: while ``drain`` is on, ``GET /healthz`` is 503 and every other
    response carries ``Connection: close``."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.drain.draining:
            await self.app(scope, receive, send)
            return
        if scope["path"] == HEALTH_PATH:
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(DRAINING_BODY)).encode()),
                                    (b"connection", b"close"), (b"retry-after", b"1")]})
            await send({"type": "http.response.body", "body": DRAINING_BODY})
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first SIGTERM or SIGINT starts a drain instead of the shutdown.

    After ``drain.seconds`` it shuts down gracefully. During the drain a SIGINT (Ctrl-C again)
    ends it at once and a repeated SIGTERM (the supervisor passing on a Ctrl-C the worker got
    itself) changes nothing; during the shutdown a SIGINT forces the exit, as in uvicorn. With
    ``supervised``, the drain also starts when the supervising parent process is gone (killed),
    so that an orphaned worker does not serve on forever.
    """

    def __init__(self, config: uvicorn.Config, drain: Drain, *, supervised: bool = False
                 ) -> None:
        super().__init__(config)
        self.drain = drain
        self._parent = os.getppid() if supervised else None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.drain.draining:
            self.drain.start()
            log.info("Draining for %g s: /healthz answers 503, requests are still served",
                     self.drain.seconds)
        elif self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        elif sig == signal.SIGINT:
            self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self._parent is not None and os.getppid() != self._parent:
            self.drain.start()
        if self.drain.over():
            self.should_exit = True
        return await super().on_tick(counter)
