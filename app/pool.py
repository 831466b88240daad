"""Engine worker processes: expensive requests run here under a hard time limit.

A thread cannot be stopped, so a request that outruns ``request_timeout_seconds`` would hold its
thread forever; a process can be killed. Each uvicorn worker owns a fixed set of engine
processes (``max_concurrent_jobs``), which also bounds the engine jobs running at once.

A job crosses to the worker as a small JSON header (no arrays in it) on the pipe and raw buffers
in memory both processes map (a memfd, one per worker): the float64 bytes of every array of an
already validated request, or the request body itself (a big body is parsed and validated there,
not on the event loop). The answer comes back the same way: a 9-byte header (kind, length) on
the pipe and the final response body, encoded once, in the shared memory. One copy into it and
one out of it (in a thread when big), no kernel socket buffers; nothing is pickled.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib
import json
import logging
import mmap
import multiprocessing
import os
import resource
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import asdict
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from pydantic import BaseModel

from app.encoding import encode
from engine.errors import PROBLEM_BASE, EngineError, LimitError
from engine.limits import Limits

_CTX = multiprocessing.get_context("spawn")
_SHARED_GRAIN = 1 << 20
"""The shared memory grows in steps of this many bytes (its pages are only allocated when
written)."""
_LOOP_COPY_BYTES = 8 << 20
"""Copies to and from shared memory up to this size run on the event loop: with the heap pinned
(:func:`pin_heap`) they run at about 15 GB/s, half a millisecond at most, while a hop to a thread
costs 0.1 ms idle and 2 ms on a busy machine. Bigger ones run in a thread."""
_SHARED_KEEP = 16 << 20
"""After an answer, shared memory beyond this size is given back to the system: a worker keeps
the pages of typical big jobs without holding those of the biggest one forever."""
_ANSWER = struct.Struct("<BQ")
"""An answer's header: 0 (a result) or 1 (a problem document), then the body's length."""
_READY = b"ready"
"""A started worker's first message; its shared memory's descriptor travels with it."""
log = logging.getLogger("diffapi.pool")


class Shared:
    """The memory one worker and its server process both map: a memfd, grown on demand.

    Only one side touches it at a time (the server writes a job, then waits for the answer),
    and each side remaps it when the other has resized it. Copies go through numpy, which
    releases the GIL for them, so a big one can run in a thread beside the event loop.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.map = mmap.mmap(fd, max(os.fstat(fd).st_size, _SHARED_GRAIN))

    @classmethod
    def create(cls) -> Shared:
        """A new, empty shared memory (close-on-exec; passed to the server over the pipe)."""
        fd = os.memfd_create("diffapi-engine", os.MFD_CLOEXEC)
        os.ftruncate(fd, _SHARED_GRAIN)
        return cls(fd)

    def reserve(self, size: int) -> mmap.mmap:
        """The mapping, at least ``size`` bytes long."""
        current = os.fstat(self.fd).st_size
        if current < size:
            current = -(-size // _SHARED_GRAIN) * _SHARED_GRAIN
            os.ftruncate(self.fd, current)
        if len(self.map) != current:
            self.map.close()
            self.map = mmap.mmap(self.fd, current)
        return self.map

    def put(self, buffers: Sequence[Any]) -> list[int]:
        """Write ``buffers`` one after the other from offset 0; their byte counts."""
        sources = [np.frombuffer(b, dtype=np.uint8) for b in buffers]
        target = self.reserve(sum(a.size for a in sources))
        offset = 0
        for source in sources:
            np.copyto(np.frombuffer(target, np.uint8, source.size, offset), source)
            offset += source.size
        return [a.size for a in sources]

    def take(self, sizes: list[int]) -> list[bytes]:
        """Copies of the buffers of byte counts ``sizes`` written from offset 0."""
        source = self.reserve(sum(sizes))
        out, offset = [], 0
        for size in sizes:
            out.append(source[offset:offset + size])
            offset += size
        return out

    def take_one(self, size: int) -> memoryview:
        """A copy of the first ``size`` bytes, in memory of its own (a response body)."""
        out = np.empty(size, dtype=np.uint8)
        np.copyto(out, np.frombuffer(self.reserve(size), np.uint8, size))
        return out.data

    def trim(self) -> None:
        """Give back the memory beyond ``_SHARED_KEEP`` (between jobs only)."""
        if os.fstat(self.fd).st_size > _SHARED_KEEP:
            os.ftruncate(self.fd, _SHARED_KEEP)
            self.reserve(_SHARED_KEEP)

    def close(self) -> None:
        """Close the memfd and unmap it (the memory is freed once the other side closed it too;
        a copy still running in a thread keeps the mapping until it finishes)."""
        os.close(self.fd)
        with contextlib.suppress(BufferError):
            self.map.close()


_MMAP_THRESHOLD = 32 << 20
"""Allocations above this many bytes get pages of their own (mmap); smaller ones reuse the heap.
glibc starts at 128 KiB and raises it to at most 32 MiB only after a big block is freed."""
_TRIM_THRESHOLD = 2 * _MMAP_THRESHOLD
"""Free memory at the heap's top kept for the next job (glibc's own choice: twice the above)."""


def pin_heap() -> bool:
    """Fix glibc's malloc thresholds where its dynamic rule ends up, from the first job on.

    Under the default threshold every array over 128 KiB is a fresh mmap, and its pages are
    faulted in and zeroed again on each use: a 10^5-entry Rosenbrock gradient spends 2.3 of its
    2.9 ms doing that, 0.56 ms once arrays reuse the heap. False where there is no glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    return bool(mallopt(m_mmap_threshold, _MMAP_THRESHOLD)
                and mallopt(m_trim_threshold, _TRIM_THRESHOLD))


def _serve(conn: Connection, memory_mb: int, nice: int) -> None:
    """Worker loop: read a job (header on the pipe, buffers in shared memory), answer a header
    on the pipe and the response body in shared memory."""
    pin_heap()
    # Below the server's priority: when both want the CPU, the event loop (which answers small
    # requests inline and frames every other one) goes first, the long job a little later.
    os.nice(nice)
    shared = Shared.create()
    import engine  # imported in the child, before it reports ready
    import engine.vm

    engine.vm.warm()  # load the compiled tape interpreter now, not in the first request

    # So are the request models and their validators: a big body is parsed here.
    from app import bodies, models  # noqa: F401

    if memory_mb:
        # A request that slips past the work estimate gets a MemoryError, not the OOM killer.
        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with socket.socket(fileno=os.dup(conn.fileno())) as pipe:
        socket.send_fds(pipe, [_READY], [shared.fd])
    while True:
        try:
            header = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return  # the server closed the pipe: it stopped or gave up on this worker
        # Copies: nothing the engine keeps may point into memory the next job overwrites.
        sizes = header["buffers"]
        buffers = shared.take([sum(sizes)] if "model" in header else sizes)
        kind, answer = _answer(engine, header, buffers, memory_mb)
        del buffers
        try:
            (size,) = shared.put([answer])
        except (MemoryError, OSError):  # the shared memory could not grow to the answer
            kind, answer = 1, _memory_problem(memory_mb)
            (size,) = shared.put([answer])
        del answer
        try:
            conn.send_bytes(_ANSWER.pack(kind, size))
        except OSError:
            return  # the server killed the request (its deadline passed) or stopped


def _answer(engine: Any, header: dict[str, Any], buffers: list[bytes], memory_mb: int
            ) -> tuple[int, bytes]:
    """Compute one job: (0, the response body) or (1, a problem document)."""
    try:
        if "model" in header:
            from app.big_bodies import FAST_LIST_LENGTH, parse_big
            from app.bodies import check_list_values, engine_kwargs, parse

            commas = check_list_values(buffers[0], header["max_list_numbers"])
            model = _model(header["model"])
            # A body without long lists (base64 arrays) gains nothing from the fast path.
            request = parse_big(model, buffers[0]) if commas >= FAST_LIST_LENGTH else None
            if request is None:  # not the plain case: the ordinary parse decides
                request = parse(model, buffers[0])
            kwargs, encoding = engine_kwargs(request)
        else:
            kwargs, encoding = _rebuild(header, buffers), header["array_encoding"]
        del buffers[:]
        kwargs["limits"] = Limits(**header["limits"])
        return 0, encode(getattr(engine, header["operation"])(**kwargs), encoding)
    except EngineError as err:
        return 1, json.dumps(err.problem()).encode()
    except MemoryError:
        return 1, _memory_problem(memory_mb)
    except Exception:
        # A bug must cost one answer, not the worker: log it, answer a 500 problem.
        log.exception("engine error in a %s request", header.get("operation"))
        return 1, json.dumps(_INTERNAL).encode()


def _memory_problem(memory_mb: int) -> bytes:
    refusal = LimitError("worker_memory_mb", memory_mb, status=413,
                         what="the memory this request needs")
    return json.dumps(refusal.problem()).encode()


def _model(name: str) -> type[BaseModel]:
    """The request model ``module:qualname`` named by the server (only app's own models)."""
    module, _, qualname = name.partition(":")
    model = getattr(importlib.import_module(module), qualname) if module.startswith("app.") \
        else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ValueError(f"not a request model: {name}")
    return model


def _split(kwargs: dict[str, Any]) -> tuple[Any, list[list[Any]], list[np.ndarray]]:
    """``kwargs`` with every array replaced by None, the arrays' paths and shapes, and the
    arrays (C-contiguous float64) in that order."""
    paths: list[list[Any]] = []
    arrays: list[np.ndarray] = []

    def walk(value: Any, path: list[Any]) -> Any:
        if isinstance(value, np.ndarray):
            paths.append([path, list(value.shape)])
            arrays.append(np.ascontiguousarray(value, dtype=np.float64))
            return None
        if isinstance(value, dict):
            return {key: walk(item, [*path, key]) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [walk(item, [*path, i]) for i, item in enumerate(value)]
        return value

    return walk(kwargs, []), paths, arrays


def _rebuild(header: dict[str, Any], buffers: list[bytes]) -> dict[str, Any]:
    """The keyword arguments of a job: its header's tree with each array put back at its path."""
    kwargs = header["kwargs"]
    for (path, shape), raw in zip(header["arrays"], buffers, strict=True):
        *parents, last = path
        node = kwargs
        for key in parents:
            node = node[key]
        node[last] = np.frombuffer(raw, dtype=np.float64).reshape(shape)
    return kwargs


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
    def __init__(self, memory_mb: int, nice: int) -> None:
        self.conn, child = _CTX.Pipe()
        self.process = _CTX.Process(target=_serve, args=(child, memory_mb, nice), daemon=True)
        self.process.start()
        child.close()
        self.shared: Shared | None = None

    def ready(self) -> bool:
        """Read the worker's ready message and its shared memory (sent together, once)."""
        with socket.socket(fileno=os.dup(self.conn.fileno())) as pipe:
            message, fds, _, _ = socket.recv_fds(pipe, len(_READY), 1)
        if message != _READY or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            return False
        self.shared = Shared(fds[0])
        return True

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()
        if self.shared is not None:
            self.shared.close()


async def _readable(conn: Connection, timeout: float) -> bool:
    """Wait until ``conn`` has data (or EOF) without blocking the event loop."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = conn.fileno()
    def wake() -> None:
        if not ready.done():
            ready.set_result(True)

    loop.add_reader(fd, wake)
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

    def __init__(self, size: int, timeout: float, memory_mb: int = 0, nice: int = 0) -> None:
        self.size = max(size, 1)
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.nice = nice
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
        worker = _Worker(self.memory_mb, self.nice)
        self._all.add(worker)
        # A fresh process imports numpy and the engine before it can work (about a second).
        try:
            ready = await _readable(worker.conn, 60.0) and worker.ready()
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

    async def run(self, operation: str, kwargs: dict[str, Any], limits: Limits,
                  array_encoding: str = "list") -> bytes | memoryview:
        """The encoded answer of ``engine.<operation>(**kwargs)``; EngineError on failure."""
        tree, paths, arrays = _split(kwargs)
        header = {"operation": operation, "limits": asdict(limits), "kwargs": tree,
                  "arrays": paths, "array_encoding": array_encoding}
        return await self._submit(operation, header, arrays)

    async def run_body(self, operation: str, model: type[BaseModel], chunks: list[bytes],
                       limits: Limits, max_list_numbers: int) -> bytes | memoryview:
        """The encoded answer to a request body (``chunks``, in order) not yet parsed: the
        worker counts its list values against ``max_list_numbers``, validates it as ``model``
        (a 422 comes back as an InvalidBody problem) and computes it."""
        header = {"operation": operation, "limits": asdict(limits),
                  "max_list_numbers": max_list_numbers,
                  "model": f"{model.__module__}:{model.__qualname__}"}
        return await self._submit(operation, header, chunks)

    async def _submit(self, operation: str, header: dict[str, Any], buffers: list[Any]
                      ) -> bytes | memoryview:
        if self._loop is not asyncio.get_running_loop():
            await self.start()
        assert self._idle is not None
        deadline = time.monotonic() + self.timeout
        try:
            worker = await asyncio.wait_for(self._idle.get(), self.timeout)
        except TimeoutError:
            raise self._timeout() from None
        try:
            kind, answer = await self._exchange(worker, operation, header, buffers, deadline)
        except BaseException:
            # Whatever interrupted the exchange (a deadline, a dead worker, a cancelled
            # request), this worker's state is unknown: replace it, never lose it.
            self._replace(worker)
            raise
        self._idle.put_nowait(worker)
        if kind:
            raise RemoteError(json.loads(bytes(answer)))
        return answer

    async def _exchange(self, worker: _Worker, operation: str, header: dict[str, Any],
                        buffers: list[Any], deadline: float) -> tuple[int, bytes | memoryview]:
        """Send one job to ``worker`` and wait (until ``deadline``) for its answer."""
        conn, shared = worker.conn, worker.shared
        assert shared is not None
        try:
            if sum(memoryview(b).nbytes for b in buffers) > _LOOP_COPY_BYTES:
                header["buffers"] = await asyncio.to_thread(shared.put, buffers)
            else:
                header["buffers"] = shared.put(buffers)
            del buffers[:]
            # The json module, not orjson: names may hold lone surrogates (escaped as \ud800).
            conn.send_bytes(json.dumps(header).encode())
            if not await _readable(conn, max(deadline - time.monotonic(), 0.0)):
                raise self._timeout()
            kind, size = _ANSWER.unpack(conn.recv_bytes())
            answer: bytes | memoryview
            if size > _LOOP_COPY_BYTES:
                answer = await asyncio.to_thread(shared.take_one, size)
            else:
                (answer,) = shared.take([size])
            shared.trim()
            return kind, answer
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

