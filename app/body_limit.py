"""Refuses a request body over ``max_body_bytes`` before anything reads or parses it."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.problems import body_too_large

BODY_CHUNKS = "diffapi.body_chunks"
"""The scope key under which the buffered body's chunks are kept, as received: a big body is
copied from them straight to an engine process, not joined first."""


class BodyLimitMiddleware:
    """413 when Content-Length or the streamed bytes exceed the limit; else the buffered body
    is replayed to the app (joined only if the app reads it) and its chunks are left in the
    scope under ``BODY_CHUNKS``."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            await body_too_large(self.max_body_bytes, int(length))(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await body_too_large(self.max_body_bytes, None)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        scope[BODY_CHUNKS] = chunks
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)
