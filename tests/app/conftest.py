"""Fixtures: an in-process httpx client over ASGITransport, and a real uvicorn subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _client(settings: Settings) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(settings))
    return httpx.AsyncClient(transport=transport, base_url="http://diffapi.test")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with default settings."""
    async with _client(Settings()) as c:
        yield c


@pytest.fixture(params=["in-process", "uvicorn"])
async def api(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """The same default app twice: in-process, and over the wire from a uvicorn subprocess."""
    if request.param == "in-process":
        async with _client(Settings()) as c:
            yield c
    else:
        async with httpx.AsyncClient(base_url=request.getfixturevalue("live_server")) as c:
            yield c


@pytest.fixture
def make_client() -> Callable[..., httpx.AsyncClient]:
    """``make_client(**settings)``: a client of an app with those settings."""
    return lambda **settings: _client(Settings(**settings))


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of ``diffapi serve`` running under uvicorn on a free 127.0.0.1 port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("uvicorn") / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIFFAPI_")}
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(server, url, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_healthy(server: subprocess.Popen[Any], url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"uvicorn exited with {server.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"uvicorn did not answer /healthz within 30 s:\n{log.read_text()}")
