"""Engine worker processes: expensive requests run here under a hard time limit.

A thread cannot be stopped, so a request that outruns ``request_timeout_seconds`` would hold its
thread forever; a process can be killed. Each uvicorn worker owns a fixed set of engine
processes (``max_concurrent_jobs``), which also bounds the engine jobs running at once.
Requests and answers cross the pipe as JSON bytes — nothing user-supplied is pickled.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import resource
import time
from dataclasses import asdict
from multiprocessing.connection import Connection
from typing import Any

from app.encoding import encode
from engine.errors import PROBLEM_BASE, EngineError, LimitError
from engine.limits import Limits

_CTX = multiprocessing.get_context("spawn")
_INLINE_SEND_BYTES = 32 * 1024
"""Jobs up to this size are written to the pipe from the event loop (it holds 64 KiB)."""
log = logging.getLogger("diffapi.pool")


def _serve(conn: Connection, memory_mb: int) -> None:
    """Worker loop: read a JSON job, answer JSON bytes (a result or a problem document)."""
    import engine  # imported in the child, before it reports ready

    if memory_mb:
        # A request that slips past the work estimate gets a MemoryError, not the OOM killer.
        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    conn.send_bytes(b"ready")
    while True:
        try:
            job = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return  # the server closed the pipe: it stopped or gave up on this worker
        kwargs = job["kwargs"]
        kwargs["limits"] = Limits(**job["limits"])
        try:
            answer = b"\x00" + encode(getattr(engine, job["operation"])(**kwargs))
        except EngineError as err:
            answer = b"\x01" + json.dumps(err.problem()).encode()
        except MemoryError:
            err = LimitError("worker_memory_mb", memory_mb, status=413,
                             what="the memory this request needs")
            answer = b"\x01" + json.dumps(err.problem()).encode()
        except Exception:
            # A bug must cost one answer, not the worker: log it, answer a 500 problem.
            log.exception("engine error in a %s request", job.get("operation"))
            answer = b"\x01" + json.dumps(_INTERNAL).encode()
        try:
            conn.send_bytes(answer)
        except OSError:
            return  # the server killed the request (its deadline passed) or stopped


_INTERNAL = {"type": PROBLEM_BASE + "internal-error", "title": "Internal Server Error",
             "status": 500, "detail": "an unexpected error occurred; it has been logged"}


class WorkerFailed(EngineError):
    """The engine process computing a request died (out of memory, killed, crashed)."""

    kind = "worker-failed"
    title = "Engine worker failed"
    status = 503


class RemoteError(EngineError):
    """An engine error raised in a worker process, carried back as its problem document."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail", ""))
        self.status = int(problem["status"])
        self._problem = problem

    def problem(self) -> dict[str, Any]:
        """The worker's problem document, unchanged."""
        return self._problem


class _Worker:
    def __init__(self, memory_mb: int) -> None:
        self.conn, child = _CTX.Pipe()
        self.process = _CTX.Process(target=_serve, args=(child, memory_mb), daemon=True)
        self.process.start()
        child.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


async def _readable(conn: Connection, timeout: float) -> bool:
    """Wait until ``conn`` has data (or EOF) without blocking the event loop."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = conn.fileno()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(True))
    try:
        await asyncio.wait_for(ready, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
        # uvloop leaves the descriptor non-blocking, and Connection's framing needs blocking
        # reads and writes (a big message would otherwise fail half-way).
        os.set_blocking(fd, True)


class EnginePool:
    """A fixed number of engine processes; a job past its deadline kills and replaces its worker."""

    def __init__(self, size: int, timeout: float, memory_mb: int = 0) -> None:
        self.size = max(size, 1)
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._idle: asyncio.Queue[_Worker] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._all: set[_Worker] = set()
        self._spawning: set[asyncio.Task[None]] = set()
        self.restarts = 0

    async def start(self) -> None:
        """Start every worker and wait until each has imported the engine.

        The pool belongs to one event loop; called from another (tests run one loop per
        test), it starts afresh. Requests arriving meanwhile wait in the queue.
        """
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        await self.stop()
        self._loop, self._idle = loop, asyncio.Queue()
        await asyncio.gather(*(self._spawn() for _ in range(self.size)))

    async def _spawn(self) -> None:
        worker = _Worker(self.memory_mb)
        self._all.add(worker)
        # A fresh process imports numpy and the engine before it can work (about a second).
        try:
            ready = await _readable(worker.conn, 60.0) and worker.conn.recv_bytes() == b"ready"
        except (EOFError, OSError):
            ready = False
        if ready:
            assert self._idle is not None
            self._idle.put_nowait(worker)
        else:
            # The worker died while starting; requests wait (up to their deadline) for others.
            log.error("an engine worker process failed to start")
            self._all.discard(worker)
            worker.kill()

    async def stop(self) -> None:
        """Stop every worker (at shutdown, after in-flight requests finished)."""
        for task in list(self._spawning):
            task.cancel()
        self._spawning.clear()
        for worker in list(self._all):
            worker.kill()
        self._all.clear()
        self._loop = self._idle = None

    async def run(self, operation: str, kwargs: dict[str, Any], limits: Limits) -> bytes:
        """The encoded answer of ``engine.<operation>(**kwargs)``; EngineError on failure."""
        if self._loop is not asyncio.get_running_loop():
            await self.start()
        assert self._idle is not None
        deadline = time.monotonic() + self.timeout
        try:
            worker = await asyncio.wait_for(self._idle.get(), self.timeout)
        except TimeoutError:
            raise self._timeout() from None
        try:
            answer = await self._exchange(worker, operation, kwargs, limits, deadline)
        except BaseException:
            # Whatever interrupted the exchange (a deadline, a dead worker, a cancelled
            # request), this worker's state is unknown: replace it, never lose it.
            self._replace(worker)
            raise
        self._idle.put_nowait(worker)
        if answer[:1] == b"\x01":
            raise RemoteError(json.loads(answer[1:]))
        return answer[1:]

    async def _exchange(self, worker: _Worker, operation: str, kwargs: dict[str, Any],
                        limits: Limits, deadline: float) -> bytes:
        """Send one job to ``worker`` and wait (until ``deadline``) for its answer."""
        payload = json.dumps({"operation": operation, "kwargs": kwargs,
                              "limits": asdict(limits)}, allow_nan=False).encode()
        try:
            if len(payload) > _INLINE_SEND_BYTES:
                # A large job fills the pipe; the worker drains it, but not on our loop.
                await asyncio.to_thread(worker.conn.send_bytes, payload)
            else:
                worker.conn.send_bytes(payload)
            if not await _readable(worker.conn, max(deadline - time.monotonic(), 0.0)):
                raise self._timeout()
            return worker.conn.recv_bytes()
        except (EOFError, OSError) as err:
            # Not a timeout: the process died under this request. Say so, and log it.
            log.error("engine worker %s died during a %s request: %r",
                      worker.process.pid, operation, err)
            raise WorkerFailed("the engine process computing this request stopped (it may "
                               "have run out of memory); it has been replaced, retry the "
                               "request") from None

    def _replace(self, worker: _Worker) -> None:
        self._all.discard(worker)
        worker.kill()
        self.restarts += 1
        task = asyncio.get_running_loop().create_task(self._spawn())
        self._spawning.add(task)
        task.add_done_callback(self._spawning.discard)

    def _timeout(self) -> LimitError:
        return LimitError("request_timeout_seconds", self.timeout, status=503,
                          what="the computation time (seconds) of this request")

