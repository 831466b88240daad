"""Fixtures of the hardening suites: in-process apps with their engine pool running, a real
uvicorn subprocess with a short request timeout. The checks every answer must pass live in
``hardening_support``.

The in-process clients enter the app's lifespan, as uvicorn would, so the engine worker
processes are up before anything is timed (a cold pool takes about a second to import numpy).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from hardening_support import LIVE_TIMEOUT_SECONDS
from server_support import uvicorn_server

from app.main import create_app
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]



@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """One asyncio runner for the session, so that module-scoped apps keep their pool."""
    return "asyncio"


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``create_app(settings)`` with its lifespan entered (engine pool started).

    App exceptions are not re-raised into the test: a crash must show as the 500 a client
    would see, so that every test asserts on statuses only.
    """
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://diffapi.test",
                                         timeout=30) as client:
                client.app = app  # type: ignore[attr-defined]
                yield client
        finally:
            await settle(app.state.dispatcher.pool)


async def settle(pool: Any, within: float = 20.0) -> None:
    """Wait until every worker is idle again: no replacement is still starting.

    The apps of this directory share one event loop; stopping a pool while a replacement
    starts leaves its start-up task behind, which later steals or removes the reader of
    whatever new pipe reuses the closed descriptor (see test_hostile's
    test_a_pool_stopped_while_a_worker_restarts_does_not_disturb_the_next_pool).
    """
    deadline = time.monotonic() + within
    await asyncio.sleep(0)  # a replacement's start-up task has not begun before this
    while pool._idle is not None and pool._idle.qsize() < pool.size:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with default settings but two engine workers (one app per module:
    starting a pool costs a second)."""
    async with serving(Settings(max_concurrent_jobs=2)) as c:
        yield c


@pytest.fixture
def make_client() -> Callable[..., Any]:
    """``async with make_client(**settings) as client``."""
    return lambda **settings: serving(Settings(**settings))


@pytest.fixture(scope="session")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``diffapi serve`` under uvicorn on a free 127.0.0.1 port, with a 0.5 s request timeout
    and two engine workers."""
    env = {"DIFFAPI_REQUEST_TIMEOUT_SECONDS": str(LIVE_TIMEOUT_SECONDS),
           "DIFFAPI_MAX_CONCURRENT_JOBS": "2"}
    with uvicorn_server(tmp_path_factory.mktemp("uvicorn-hardening"), env) as url:
        yield url
