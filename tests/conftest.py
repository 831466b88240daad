"""Fixtures shared by every test directory: a real server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_support import uvicorn_server


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of ``diffapi serve`` running under uvicorn on a free 127.0.0.1 port."""
    with uvicorn_server(tmp_path_factory.mktemp("uvicorn")) as url:
        yield url
