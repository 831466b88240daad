"""Fixtures: an in-process httpx client over ASGITransport, and a real uvicorn subprocess."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

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
