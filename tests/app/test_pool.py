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


async def test_big_jobs_and_answers_cross_in_shared_memory() -> None:
    """A job and an answer bigger than the memory a worker keeps (both grow it, it is trimmed
    afterwards), a body handed over in the chunks it arrived in, and small jobs between."""
    import base64

    import numpy as np

    from app.models import DifferentiableRequest
    from app.pool import _SHARED_KEEP

    x = np.linspace(-3.0, 3.0, 10**6)
    pool = EnginePool(1, timeout=60.0)
    try:
        for _ in range(2):
            content = await pool.run("gradient", {"expression": "x**2", "points": {"x": x}},
                                     Limits(), array_encoding="base64")
            assert len(content) > _SHARED_KEEP
            answer = json.loads(bytes(content))
            got = np.frombuffer(base64.b64decode(answer["gradient"]["x"]["data"]), "<f8")
            assert np.array_equal(got, 2 * x)  # exact in binary floating point
            (worker,) = pool._all
            assert worker.shared is not None and len(worker.shared.map) == _SHARED_KEEP
            small = await pool.run("gradient", {"expression": "x**3", "point": {"x": 2}},
                                   Limits())
            assert json.loads(bytes(small))["gradient"] == {"x": 12.0}
        body = json.dumps({"expression": "x*y", "points": {"x": [1.5, 2.0], "y": [4, -1]}}
                          ).encode()
        chunks = [body[i:i + 7] for i in range(0, len(body), 7)]
        answer = json.loads(bytes(await pool.run_body("gradient", DifferentiableRequest, chunks,
                                                      Limits(), 1000)))
        assert answer["gradient"] == {"x": [4.0, -1.0], "y": [1.5, 2.0]}
    finally:
        await pool.stop()


def test_workers_pin_the_heap_so_big_arrays_reuse_it() -> None:
    """After ``pin_heap`` (run first by every worker), a 1 MiB array lives in the [heap]
    region instead of pages of its own; before it, glibc gives it a fresh mmap."""
    import subprocess
    import sys

    script = (
        "import sys, numpy as np\n"
        "from app.pool import pin_heap\n"
        "def in_heap():\n"
        "    a = np.empty(1 << 17)\n"
        "    at = a.ctypes.data\n"
        "    for line in open('/proc/self/maps'):\n"
        "        span, *rest = line.split()\n"
        "        lo, hi = (int(v, 16) for v in span.split('-'))\n"
        "        if lo <= at < hi:\n"
        "            return rest[-1] == '[heap]'\n"
        "print(in_heap(), pin_heap(), in_heap())\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True", "True"]


async def test_workers_run_below_the_servers_priority() -> None:
    import os

    pool = EnginePool(1, timeout=60.0, nice=7)
    try:
        await pool.start()
        (worker,) = pool._all
        own = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, worker.process.pid) == min(own + 7, 19)
    finally:
        await pool.stop()


async def test_the_deadline_stops_a_long_batch_on_the_tape() -> None:
    """A batch the tape VM runs in one compiled loop (no Python between points) is stopped by
    the deadline all the same: the worker process is killed and replaced."""
    import time

    import numpy as np

    from engine.jobs import prepare
    from engine.vm import fastpath
    from engine.vm.entries import make_entry

    terms = " + ".join(f"{i + 1}*sin({i + 2}*x*y + {i})*exp(-x**2/{i + 3})" for i in range(60))
    points = {"x": np.linspace(-1, 1, 10**6), "y": np.linspace(2, -2, 10**6)}
    limits = Limits(max_work=1e15, max_tensor_elements=10**8)
    c, inp = prepare(terms, None, points, None, None, limits)
    assert fastpath.MODE != "off" and make_entry(c, inp, "gradient") is not None
    pool = EnginePool(1, timeout=0.3)
    try:
        await pool.start()
        start = time.perf_counter()
        with pytest.raises(LimitError) as err:
            await pool.run("gradient", {"expression": terms, "points": points}, limits)
        assert time.perf_counter() - start < 2.0
        assert err.value.problem()["limit"] == "request_timeout_seconds"
        assert pool.restarts == 1
    finally:
        await pool.stop()
