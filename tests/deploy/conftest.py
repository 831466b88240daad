"""What the deployment tests need from the machine: skip with the reason, fail under CI=true."""

from __future__ import annotations

import os

import pytest

from benchmarks.serving_cluster import haproxy_path


def require(tool: str, path: str | None) -> str:
    """``path`` of ``tool``; without it, skip (fail when CI=true)."""
    if path is not None:
        return path
    reason = f"needs {tool} (apt-get install {tool})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def haproxy() -> str:
    """Debian's haproxy binary."""
    return require("haproxy", haproxy_path())
