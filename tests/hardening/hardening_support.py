"""Checks shared by the hardening suites (a module of its own: ``conftest`` is ambiguous
across test directories)."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import httpx

LIVE_TIMEOUT_SECONDS = 0.5
"""``DIFFAPI_REQUEST_TIMEOUT_SECONDS`` of the uvicorn subprocess."""

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def strict_json(text: str) -> Any:
    """``text`` parsed as strict JSON: a bare NaN or Infinity fails the test."""
    def refuse(constant: str) -> None:
        raise AssertionError(f"bare {constant} in a JSON answer")
    return json.loads(text, parse_constant=refuse)


def assert_problem(response: httpx.Response, *statuses: int, kind: str | None = None,
                   limit: str | None = None) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem document with one of ``statuses``; ``kind`` is the
    end of its ``type`` and ``limit`` the limit it names (in ``limit`` and in ``detail``)."""
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body = strict_json(response.text)
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == response.status_code, body
    assert isinstance(body["detail"], str) and body["detail"], body
    if kind is not None:
        assert body["type"].endswith("/" + kind), body
    if limit is not None:
        assert body.get("limit") == limit, body
        assert limit in body["detail"], body
    return body


def assert_answer(response: httpx.Response) -> dict[str, Any]:
    """A 200 with strict JSON carrying ``value``, ``shape``, ``variables`` and ``warnings``."""
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    body = strict_json(response.text)
    assert {"value", "shape", "variables", "warnings"} <= set(body), body
    return body


def nonfinite_warning(body: dict[str, Any], field: str, count: int | None = None) -> str:
    """The warning naming ``field``'s non-finite numbers (exactly one such warning)."""
    found = [w for w in body["warnings"] if w.startswith(f"{field}: ")]
    assert len(found) == 1, (field, body["warnings"])
    if count is not None:
        assert found[0].startswith(f"{field}: {count} non-finite number(s)"), found[0]
    return found[0]


def is_finite_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


async def assert_healthy(client: httpx.AsyncClient, within: float = 0.25) -> None:
    """``GET /healthz`` answers ``{"status": "ok"}`` at once."""
    start = time.perf_counter()
    response = await client.get("/healthz")
    elapsed = time.perf_counter() - start
    assert response.status_code == 200 and response.json() == {"status": "ok"}, response.text
    assert elapsed < within, f"/healthz took {elapsed:.3f} s"
