"""The transport floor of an HTTP benchmark: what moving its bytes costs with nothing computed.

:data:`app` is a bare ASGI app served by the same uvicorn stack as ``diffapi serve`` (httptools,
uvloop): it reads the whole request body and answers as many bytes as its path says
(``POST /7800000``, at most 64 MB), made once per size. Timing a request to it with the same
client, body and answer size as a service request gives the part of that request no server
code can remove: its ratio to the engine's time bounds what an HTTP target can reach on this
machine.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from benchmarks.service_common import HOST, ROOT, free_port, http_status

_BODIES: dict[int, bytes] = {}
_MAX_BYTES = 64 * 2**20


async def app(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
              send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """Read the body, answer the number of bytes the path names (none for ``/`` or junk)."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    digits = scope["path"].strip("/")
    size = min(int(digits), _MAX_BYTES) if digits.isdigit() else 0
    if size not in _BODIES:
        _BODIES[size] = b"0" * size
    body = _BODIES[size]
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(size).encode())]})
    await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def floor_server(timeout: float = 30.0) -> Iterator[str]:
    """A floor server on 127.0.0.1; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "benchmarks.transport_floor:app",
                             "--host", HOST, "--port", str(port), "--http", "httptools",
                             "--loop", "uvloop", "--log-level", "warning", "--no-access-log"],
                            cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while http_status(port, "/") != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the transport-floor server did not start")
            time.sleep(0.05)
        yield f"http://{HOST}:{port}"
    finally:
        proc.kill()  # it holds nothing to finish: no graceful shutdown needed
        proc.wait()
