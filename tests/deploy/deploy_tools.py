"""What the deployment tests need from the machine: skip with the reason, fail under CI=true."""

from __future__ import annotations

import os

import pytest


def require(tool: str, path: str | None) -> str:
    """``path`` of ``tool``; without it, skip (fail when CI=true)."""
    if path is not None:
        return path
    reason = f"needs {tool}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and this test {reason}", pytrace=False)
    pytest.skip(reason)
