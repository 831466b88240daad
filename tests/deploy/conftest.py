"""Fixtures of the deployment tests."""

from __future__ import annotations

import pytest
from deploy_tools import require

from benchmarks.serving_cluster import haproxy_path


@pytest.fixture(scope="session")
def haproxy() -> str:
    """Debian's haproxy binary."""
    return require("haproxy (apt-get install haproxy)", haproxy_path())
