"""The engine worker pool: answers, a hard deadline, and a worker that dies mid-request."""

from __future__ import annotations

import asyncio
import json

import pytest

from app.pool import EnginePool, WorkerFailed
from engine.errors import EngineError, LimitError
from engine.limits import Limits

pytestmark = pytest.mark.anyio

SLOW = {"expression": "sin(x)*exp(x)", "points": {"x": [0.5] * 200},
        "variable": "x", "order": 1000}
"""Order 1000 with the underflow rescue at 200 points: a second or more of work."""


async def test_answers_and_engine_errors_come_back() -> None:
    pool = EnginePool(1, timeout=30.0)
    try:
        answer = await pool.run("gradient", {"expression": "x**2", "point": {"x": 3}}, Limits())
        assert json.loads(answer)["gradient"] == {"x": 6.0}
        with pytest.raises(EngineError) as err:
            await pool.run("derivative", {"expression": "x", "point": {"x": 1},
                                          "variable": "x", "order": 5}, Limits(max_order=2))
        assert err.value.problem()["limit"] == "max_order"
    finally:
        await pool.stop()


async def test_deadline_kills_and_replaces_the_worker() -> None:
    pool = EnginePool(1, timeout=0.3)
    try:
        await pool.start()
        with pytest.raises(LimitError) as err:
            await pool.run("derivative", SLOW, Limits(max_work=1e15))
        assert err.value.status == 503
        assert err.value.problem()["limit"] == "request_timeout_seconds"
        assert pool.restarts == 1
        pool.timeout = 30.0
        answer = await pool.run("evaluate", {"expression": "x + 1", "point": {"x": 1}},
                                Limits())
        assert json.loads(answer)["value"] == 2.0
    finally:
        await pool.stop()


async def test_a_worker_dying_mid_request_is_not_called_a_timeout() -> None:
    pool = EnginePool(1, timeout=30.0)
    try:
        await pool.start()
        (worker,) = pool._all
        job = asyncio.create_task(pool.run("derivative", SLOW, Limits(max_work=1e15)))
        await asyncio.sleep(0.3)
        worker.process.kill()
        with pytest.raises(WorkerFailed) as err:
            await job
        assert err.value.status == 503
        assert err.value.problem()["type"].endswith("/worker-failed")
    finally:
        await pool.stop()
