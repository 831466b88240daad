"""Benchmarks: mixed load with hostile requests, memory over time, and a worker killed
mid-load — against a real ``diffapi serve --workers 2`` on 127.0.0.1.

5.1  soak: 64 concurrent clients (one asyncio httpx client and connection each, closed loop)
     mix every operation — evaluate, gradient, jacobian, hessian, derivative, taylor, jvp, vjp,
     hvp — with seed-like bodies, a few batches (column and list form, one big enough for the
     engine pool), for ``--soak-seconds`` (60 s; 15 s with ``--quick``); 1% of requests are
     hostile (parse errors, over-limit orders, a 9 MB body, NaN/Infinity literals, deep nesting,
     a 10^6-character expression, over-limit batches, …). Targets: zero 5xx, zero dropped
     connections, every normal request 200 and every hostile one 4xx (or 200 with warnings),
     RSS growth of every uvicorn worker and engine process < 10% from "minute 1" (60 s in, or
     a third of the run if it is shorter) to the end — each end the median of the RSS samples
     (two a second) in a 10 s window, as RSS swings with the requests in progress; the server
     counted every request (/metrics); p99 reported.
5.2  kill: the same load for ``--kill-seconds`` (20 s; 14 s with ``--quick``); halfway through,
     one uvicorn worker gets SIGKILL. Before the kill the benchmark reads which client
     connections that worker holds (/proc/PID/fd matched with /proc/net/tcp) and which clients
     have a request in flight. Targets: uvicorn's supervisor replaces the worker (times until a
     new worker process exists, its engine processes run, and it serves a fresh connection are
     reported); the connection errors are at most the requests in flight on the killed
     worker's connections, at most one per such client, none from other clients or outside
     the kill window; zero 5xx.

Every loop is bounded in count and time; nothing talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.harness import Row, Session, benchmark, markdown_table
from benchmarks.service_common import (
    HOST,
    Server,
    alive,
    established_peers,
    machine,
    ms,
    percentile,
    rss_mib,
)

GROUP = "soak"
CLIENTS = 64
HOSTILE_RATE = 0.01
WORKERS = 2
MEMORY_TARGET = 0.10
MEMORY_WINDOW = 10.0
"""Seconds of RSS samples whose median is each end of the growth comparison."""
REQUEST_TIMEOUT = 30.0
"""Client timeout of one request (a timeout counts as a dropped connection)."""
MAX_REQUESTS_PER_CLIENT = 1_000_000
"""A bound on the requests of one client besides the run's duration."""
KILL_WINDOW = 5.0
"""Seconds after the kill in which the killed worker's in-flight requests fail."""

JSON = {"Content-Type": "application/json"}
F = "x**3 * y**2 + sin(x*y)"
A = [[2, 1, 0], [0, 3, 1]]
ROSENBROCK = "sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)"


@dataclass(frozen=True)
class Request:
    """One request of the mix."""

    kind: str
    method: str
    path: str
    content: bytes | None
    headers: dict[str, str]
    hostile: bool = False


def _post(kind: str, op: str, body: dict[str, Any]) -> Request:
    return Request(kind, "POST", f"/v1/{op}", json.dumps(body).encode(), JSON)


def _raw(kind: str, op: str, content: bytes | str, headers: dict[str, str] | None = None
         ) -> Request:
    data = content.encode() if isinstance(content, str) else content
    return Request(kind, "POST", f"/v1/{op}", data, JSON if headers is None else headers, True)


def _n(rng: random.Random, lo: float = 0.2, hi: float = 2.5) -> float:
    return round(rng.uniform(lo, hi), 6)


class Mix:
    """The request mix: weighted seed-like requests of every operation, batches, and 1%
    hostile requests (prebuilt once; the big ones are shared bytes)."""

    def __init__(self, hostile_rate: float = HOSTILE_RATE) -> None:
        self.hostile_rate = hostile_rate
        self._cold = 0
        n = _n
        normal: list[tuple[float, Callable[[random.Random], Request]]] = [
            (8, lambda r: _post("evaluate", "evaluate", {
                "expression": "A @ x", "point": {"x": [n(r), n(r), n(r)]}, "constants": {"A": A}})),
            (4, lambda r: _post("evaluate_scalar", "evaluate", {
                "expression": "exp(-x**2) * cos(3*y)", "point": {"x": n(r), "y": n(r)}})),
            (16, lambda r: _post("gradient_seed", "gradient", {
                "expression": "x**2 + 3*x + 1", "point": {"x": n(r, -5, 5)}})),
            (5, lambda r: _post("gradient_matmul", "gradient", {
                "expression": "(A @ x).sum()", "point": {"x": [n(r), n(r), n(r)]},
                "constants": {"A": A}})),
            (3, self._cold_gradient),
            (8, lambda r: _post("jacobian", "jacobian", {
                "expression": "[v[0]**2, v[0]*v[1], sin(v[1])]", "point": {"v": [n(r), n(r)]}})),
            (6, lambda r: _post("hessian", "hessian", {
                "expression": F, "point": {"x": n(r), "y": n(r)}})),
            (2, lambda r: _post("hessian_rosenbrock", "hessian", {
                "expression": ROSENBROCK, "point": {"x": [n(r, -1, 1) for _ in range(10)]}})),
            (6, lambda r: _post("derivative", "derivative", {
                "expression": "sin(t**3)", "point": {"t": n(r)}, "variable": "t",
                "order": r.randint(1, 12)})),
            (4, lambda r: _post("derivative_mixed", "derivative", {
                "expression": F, "point": {"x": n(r), "y": n(r)}, "wrt": ["x", "y", "x"]})),
            (1, lambda r: _post("derivative_100", "derivative", {
                "expression": "sin(t**3)", "point": {"t": n(r, 0.5, 1.2)}, "variable": "t",
                "order": 100})),
            (0.3, lambda r: _post("derivative_800_pool", "derivative", {
                "expression": "sin(t**3) * exp(t)", "point": {"t": n(r, 0.5, 1.2)},
                "variable": "t", "order": 800})),
            (6, lambda r: _post("taylor", "taylor", {
                "expression": "exp(x) * sin(y)", "point": {"x": n(r, -1, 1), "y": n(r, -1, 1)},
                "order": r.randint(1, 5)})),
            (5, lambda r: _post("jvp", "jvp", {
                "expression": "[x*y, x + y]", "point": {"x": n(r), "y": n(r)},
                "tangent": {"x": n(r), "y": n(r)}})),
            (5, lambda r: _post("vjp", "vjp", {
                "expression": "A @ x", "point": {"x": [n(r), n(r), n(r)]}, "constants": {"A": A},
                "cotangent": [n(r), n(r)]})),
            (5, lambda r: _post("hvp", "hvp", {
                "expression": F, "point": {"x": n(r), "y": n(r)},
                "vector": {"x": n(r), "y": n(r)}})),
            (2, lambda r: _post("batch_gradient_1000", "gradient", {
                "expression": F, "points": {"x": [n(r) for _ in range(1000)],
                                            "y": [n(r) for _ in range(1000)]}})),
            (1, lambda r: _post("batch_hessian_list_50", "hessian", {
                "expression": F, "points": [{"x": n(r), "y": n(r)} for _ in range(50)]})),
            (1, lambda r: _post("batch_jacobian_200", "jacobian", {
                "expression": "[x*y, sin(x) + y]", "points": {"x": [n(r) for _ in range(200)],
                                                            "y": [n(r) for _ in range(200)]}})),
            (0.15, lambda r: _post("batch_evaluate_1e4_pool", "evaluate", {
                "expression": "sin(x) * y", "points": {"x": [n(r) for _ in range(10**4)],
                                                      "y": [n(r) for _ in range(10**4)]}})),
        ]
        self._normal = [f for _, f in normal]
        self._normal_weights = [w for w, _ in normal]
        self.normal_kinds = {f(random.Random(0)).kind: w for w, f in normal}
        huge = b'{"expression": "x", "point": {"x": 1}, "pad": "' + b"a" * 9_000_000 + b'"}'
        over_batch = ('{"expression": "x", "points": {"x": [' + ",".join(["1"] * 1_100_000)
                      + "]}}")
        self._hostile = [
            _raw("parse_error", "gradient", '{"expression": "log(x) + 2x", "point": {"x": 1}}'),
            _raw("order_1e9", "derivative", '{"expression": "sin(t)", "point": {"t": 1}, '
                                            '"variable": "t", "order": 1000000000}'),
            _raw("order_over_max", "taylor", '{"expression": "sin(t)", "point": {"t": 1}, '
                                             '"order": 5000}'),
            _raw("mixed_order_50", "derivative", json.dumps({
                "expression": F, "point": {"x": 1, "y": 2}, "wrt": ["x", "y"] * 25})),
            _raw("body_9MB", "gradient", huge),
            _raw("nan_literal", "gradient", '{"expression": "x", "point": {"x": NaN}}'),
            _raw("infinity_literal", "evaluate", '{"expression": "x", "point": {"x": -Infinity}}'),
            _raw("deep_parentheses", "gradient", json.dumps({
                "expression": "(" * 5000 + "x" + ")" * 5000, "point": {"x": 1}})),
            _raw("deep_calls", "gradient", json.dumps({
                "expression": "sin(" * 400 + "x" + ")" * 400, "point": {"x": 1}})),
            _raw("deep_json", "evaluate", '{"expression": "x", "point": {"x": '
                 + "[" * 100_000 + "1" + "]" * 100_000 + "}}"),
            _raw("expression_1e6_chars", "gradient", json.dumps({
                "expression": "x+" * 500_000 + "x", "point": {"x": 1}})),
            _raw("batch_1.1e6_points", "evaluate", over_batch),
            _raw("control_chars", "gradient", '{"expression": "x\u0001 + \u202ey", '
                                              '"point": {"x": 1, "y": 1}}'),
            _raw("unicode", "gradient", json.dumps({"expression": "𝑥**2 + ∞", "point": {"x": 1}},
                                                   ensure_ascii=False)),
            _raw("malformed_json", "gradient", '{"expression": "x", "point": '),
            _raw("overflow_1e308", "gradient", '{"expression": "1e308*1e308*x", '
                                               '"point": {"x": 1}}'),
            _raw("power_tower", "gradient", '{"expression": "x**x**x**x**x**x**x**x", '
                                            '"point": {"x": 2}}'),
            _raw("string_order", "derivative", '{"expression": "sin(t)", "point": {"t": 1}, '
                                               '"variable": "t", "order": "2"}'),
            _raw("not_json_content_type", "gradient", "expression=x",
                 {"Content-Type": "application/x-www-form-urlencoded"}),
            Request("unknown_route", "POST", "/v1/integrate", b'{"expression": "x"}', JSON, True),
            Request("wrong_method", "GET", "/v1/gradient", None, {}, True),
        ]
        self.hostile_kinds = [h.kind for h in self._hostile]

    def _cold_gradient(self, rng: random.Random) -> Request:
        """A new expression text every time: parse and compile on the request path, and the
        compiled-expression cache fills and evicts."""
        self._cold += 1
        return _post("gradient_cold", "gradient", {
            "expression": f"x**3*y**2 + sin(x*y) + {self._cold}",
            "point": {"x": _n(rng), "y": _n(rng)}})

    def pick(self, rng: random.Random) -> Request:
        if rng.random() < self.hostile_rate:
            return rng.choice(self._hostile)
        return rng.choices(self._normal, self._normal_weights)[0](rng)


# ---------------------------------------------------------------- the load generator

@dataclass
class Sample:
    t: float
    """Start of the request, seconds since the load started."""
    latency: float
    kind: str
    hostile: bool
    status: int
    """HTTP status; 0 for a transport error (a dropped connection)."""
    error: str
    client: int


@dataclass
class ClientState:
    index: int
    port: int | None = None
    """Local port of this client's connection (from the last answer)."""
    inflight: bool = False
    inflight_since: float = 0.0


@dataclass
class LoadRun:
    """64 closed-loop clients for ``seconds``; ``hooks`` run alongside (memory sampler,
    killer), each given this run."""

    server: Server
    seconds: float
    seed: int = 5
    mix: Mix = field(default_factory=Mix)
    samples: list[Sample] = field(default_factory=list)
    clients: list[ClientState] = field(default_factory=list)
    t0: float = 0.0
    client_cpu: float = 0.0

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def _client(self, state: ClientState, deadline: float) -> None:
        rng = random.Random(self.seed * 1000 + state.index)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=self.server.url, timeout=REQUEST_TIMEOUT,
                                     limits=limits) as client:
            for _ in range(MAX_REQUESTS_PER_CLIENT):
                if time.monotonic() >= deadline:
                    break
                req = self.mix.pick(rng)
                start = time.monotonic()
                state.inflight, state.inflight_since = True, start
                error = ""
                try:
                    r = await client.request(req.method, req.path, content=req.content,
                                             headers=req.headers)
                    status = r.status_code
                    stream = r.extensions.get("network_stream")
                    if stream is not None:
                        with contextlib.suppress(Exception):
                            state.port = int(stream.get_extra_info("client_addr")[1])
                except httpx.HTTPError as exc:
                    status, error = 0, type(exc).__name__
                finally:
                    state.inflight = False
                end = time.monotonic()
                self.samples.append(Sample(start - self.t0, end - start, req.kind, req.hostile,
                                           status, error, state.index))

    async def run(self, hooks: list[Callable[[LoadRun], Any]]) -> None:
        self.clients = [ClientState(i) for i in range(CLIENTS)]
        cpu0 = time.process_time()
        self.t0 = time.monotonic()
        deadline = self.t0 + self.seconds
        tasks = [asyncio.create_task(self._client(c, deadline)) for c in self.clients]
        extra = [asyncio.create_task(h(self)) for h in hooks]
        await asyncio.wait_for(asyncio.gather(*tasks), self.seconds + REQUEST_TIMEOUT + 30)
        for task in extra:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(task, 60)
        self.client_cpu = time.process_time() - cpu0


def _run_loop(coro: Any) -> Any:
    """Run ``coro`` on uvloop when it is installed (a faster load generator), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# ---------------------------------------------------------------- reporting helpers

def _problems(samples: list[Sample]) -> dict[str, Any]:
    server_errors = [s for s in samples if s.status >= 500]
    dropped = [s for s in samples if s.status == 0]
    bad_normal = [s for s in samples if not s.hostile and s.status != 200 and s.status]
    bad_hostile = [s for s in samples if s.hostile and s.status >= 500]
    return {"5xx": server_errors, "dropped": dropped, "bad_normal": bad_normal,
            "bad_hostile": bad_hostile}


def _by_kind(samples: list[Sample]) -> str:
    counts = Counter(f"{s.kind}: {s.status or s.error}" for s in samples)
    return ", ".join(f"{k} ×{v}" for k, v in counts.most_common(8)) or "none"


def _latency_table(samples: list[Sample], seconds: float) -> str:
    groups: dict[str, list[Sample]] = {}
    for s in samples:
        groups.setdefault(("hostile: " if s.hostile else "") + s.kind, []).append(s)
    rows = []
    for kind in sorted(groups, key=lambda k: (k.startswith("hostile"), -len(groups[k]))):
        g = groups[kind]
        lat = [s.latency for s in g]
        statuses = Counter(s.status or s.error for s in g)
        rows.append([kind, str(len(g)), f"{len(g) / seconds:.1f}", ms(percentile(lat, 50)),
                     ms(percentile(lat, 99)), ms(max(lat)),
                     ", ".join(f"{k}×{v}" for k, v in sorted(statuses.items(), key=str))])
    return markdown_table(["request kind", "count", "per s", "p50", "p99", "max", "statuses"],
                          rows)


def _server_counts(server: Server) -> int | None:
    """Requests the server counted (``diffapi_requests_total``, all routes but /healthz and
    /metrics), or None if /metrics does not answer."""
    try:
        text = httpx.get(server.url + "/metrics", timeout=10).text
    except httpx.HTTPError:
        return None
    total = 0.0
    for line in text.splitlines():
        if line.startswith("diffapi_requests_total{") and 'route="/healthz"' not in line \
                and 'route="/metrics"' not in line:
            total += float(line.rsplit(" ", 1)[1])
    return round(total)


# ---------------------------------------------------------------- 5.1 soak

@benchmark("5.1", "soak_mix", GROUP, explicit=True)
def soak(s: Session) -> list[Row]:
    """Mixed load with 1% hostile requests: no 5xx, no drops, p99, memory over time."""
    seconds = s.cfg.soak_duration
    baseline_at = min(60.0, seconds / 3)
    memory: list[tuple[float, dict[int, tuple[str, float]]]] = []

    def snapshot(server: Server) -> dict[int, tuple[str, float]]:
        out = {}
        for i, (worker, engines) in enumerate(sorted(server.tree().items())):
            out[worker] = (f"uvicorn worker {i + 1}", rss_mib(worker) or float("nan"))
            for j, e in enumerate(engines):
                out[e] = (f"engine {i + 1}.{j + 1}", rss_mib(e) or float("nan"))
        return out

    async def sampler(run: LoadRun) -> None:
        # two samples per second until the load ends, bounded in count
        for _ in range(int(run.seconds * 2) + 4):
            t = run.now()
            if t > run.seconds:
                break
            memory.append((t, await asyncio.to_thread(snapshot, run.server)))
            await asyncio.sleep(max(0.0, min(0.5, run.seconds - run.now() - 0.2)))

    with Server(WORKERS) as server:
        idle = snapshot(server)
        workers_before = set(server.worker_pids())
        run = LoadRun(server, seconds)
        _run_loop(run.run([sampler]))
        workers_after = set(server.worker_pids())
        counted = _server_counts(server)
        healthz = httpx.get(server.url + "/healthz", timeout=5).status_code
        stderr = server.stderr()

    samples = run.samples
    p = _problems(samples)
    normal = [x.latency for x in samples if not x.hostile]
    every = [x.latency for x in samples]
    hostile = [x for x in samples if x.hostile]
    rps = len(samples) / seconds
    # RSS swings with the requests in progress (a 9 MB body, a 2 MB batch being parsed), so
    # each end of the comparison is the median of the samples in a window, not one sample
    window = min(MEMORY_WINDOW, seconds / 6)
    base_samples = [m for m in memory if abs(m[0] - baseline_at) <= window / 2]
    end_samples = [m for m in memory if m[0] >= memory[-1][0] - window]
    base_t = (base_samples[0][0], base_samples[-1][0])
    end_t = (end_samples[0][0], end_samples[-1][0])

    def window_rss(samples: list[tuple[float, dict[int, tuple[str, float]]]], pid: int
                   ) -> float | None:
        values = [snap[pid][1] for _, snap in samples if pid in snap]
        return statistics.median(values) if len(values) == len(samples) else None

    mem_rows, growths, replaced = [], [], []
    for pid, (role, rss0) in sorted(idle.items(), key=lambda kv: kv[1][0]):
        b, e = window_rss(base_samples, pid), window_rss(end_samples, pid)
        spread = [snap[pid][1] for _, snap in memory if pid in snap]
        low_high = f"{min(spread):.1f}–{max(spread):.1f}" if spread else "—"
        if b is None or e is None:
            replaced.append(role)
            mem_rows.append([role, str(pid), f"{rss0:.1f}", "—" if b is None else f"{b:.1f}",
                             "—" if e is None else f"{e:.1f}", low_high, "replaced"])
            continue
        growth = (e - b) / b
        growths.append((growth, role))
        mem_rows.append([role, str(pid), f"{rss0:.1f}", f"{b:.1f}", f"{e:.1f}", low_high,
                         f"{growth * 100:+.1f}%"])
    for pid, (role, rss) in sorted(memory[-1][1].items()):
        if pid not in idle:
            mem_rows.append([f"{role} (new)", str(pid), "—", "—", f"{rss:.1f}", "—",
                             "started during the run"])
    worst = max(growths, default=(float("nan"), "none"))
    mem_ok = bool(growths) and worst[0] < MEMORY_TARGET and not replaced

    restarts = stderr.count("died")
    lost = None if counted is None else len(samples) - counted
    rows = [
        Row("5.1 load", f"{CLIENTS} clients, all 9 operations + batches, "
            f"{HOSTILE_RATE:.0%} hostile, {seconds:g} s, {WORKERS} uvicorn workers (report)",
            None, "—", None, engine_text=f"{len(samples):,} requests, {rps:,.0f} req/s",
            note=f"{len(hostile)} hostile; load generator used "
                 f"{run.client_cpu / seconds:.2f} cores of {os.cpu_count()}"),
        Row("5.1 5xx", "5xx answers", None, "—", None, limit=0, target="0",
            ok=not p["5xx"], engine_text=str(len(p["5xx"])), note=_by_kind(p["5xx"])),
        Row("5.1 drops", "dropped connections (transport errors, timeouts)", None, "—", None,
            limit=0, target="0", ok=not p["dropped"], engine_text=str(len(p["dropped"])),
            note=_by_kind(p["dropped"])),
        Row("5.1 normal", "normal requests answered other than 200", None, "—", None, limit=0,
            target="0", ok=not p["bad_normal"], engine_text=str(len(p["bad_normal"])),
            note=_by_kind(p["bad_normal"])),
        Row("5.1 hostile", "hostile requests answered 4xx (or 200 with warnings)", None, "—",
            None, limit=0, target="no 5xx, no drop",
            ok=not p["bad_hostile"] and not [x for x in hostile if x.status == 0],
            engine_text=f"{len(hostile)} sent",
            note=", ".join(f"{k}×{v}" for k, v in sorted(
                Counter(x.status or x.error for x in hostile).items(), key=str))),
        Row("5.1 p99", "latency p50 / p99 / p99.9 / max, normal requests (report)",
            None, "—", None,
            engine_text=f"{ms(percentile(normal, 50))} / {ms(percentile(normal, 99))} / "
                        f"{ms(percentile(normal, 99.9))} / {ms(max(normal, default=None))}",
            note=f"all requests: p99 {ms(percentile(every, 99))}"),
        Row("5.1 memory", f"RSS growth of every uvicorn worker and engine process, "
            f"median of t = {base_t[0]:.0f}–{base_t[1]:.0f} s → {end_t[0]:.0f}–{end_t[1]:.0f} s",
            None, "—", None, limit=MEMORY_TARGET,
            target="< 10% each", ok=mem_ok,
            engine_text=f"worst {worst[0] * 100:+.1f}% ({worst[1]})",
            note="; ".join(filter(None, [f"replaced: {', '.join(replaced)}" if replaced else "",
                                         f"uvicorn worker restarts: {restarts}"
                                         if restarts else ""]))),
        Row("5.1 counted", "requests the server counted (/metrics) vs sent", None, "—", None,
            limit=0, target="equal", ok=lost == 0,
            engine_text="—" if counted is None else f"{counted:,} of {len(samples):,}",
            note="" if lost == 0 else f"difference {lost}"),
        Row("5.1 after", "afterwards: /healthz 200, same uvicorn workers", None, "—", None,
            limit=0, target="yes", ok=healthz == 200 and workers_before == workers_after,
            engine_text=f"/healthz {healthz}, workers "
                        f"{'unchanged' if workers_before == workers_after else 'CHANGED'}"),
    ]
    trace = []
    step = max(1, len(memory) // 12)
    picked = memory[::step]
    if picked[-1] is not memory[-1]:
        picked.append(memory[-1])
    for t, snap in picked:
        workers_rss = sum(v for r, v in snap.values() if r.startswith("uvicorn"))
        engines_rss = sum(v for r, v in snap.values() if r.startswith("engine"))
        trace.append([f"{t:.1f}", f"{workers_rss:.1f}", f"{engines_rss:.1f}", str(len(snap))])
    tracebacks = sum("Traceback" in x for x in stderr.splitlines())
    s.section(
        f"Soak (5.1): {seconds:g} s, {CLIENTS} clients, {len(samples):,} requests",
        f"{machine()} at the end. Client: one asyncio (uvloop) httpx client and connection per "
        f"client, closed loop, request timeout {REQUEST_TIMEOUT:g} s. RSS sampled twice a "
        f"second; baseline = median of the samples at t = {base_t[0]:.0f}–{base_t[1]:.0f} s "
        f"(\"minute 1\": 60 s in, or a third of a shorter run), end = median of the samples "
        f"at t = {end_t[0]:.0f}–{end_t[1]:.0f} s. Server stderr: {tracebacks} Traceback(s), "
        f"{restarts} worker restart(s).\n\n"
        "RSS (MiB) of every process:\n\n"
        + markdown_table(["process", "pid", "idle, before load", "baseline (median)",
                          "end (median)", "min–max during the run", "growth"], mem_rows)
        + "\n\nRSS over time (MiB, sums):\n\n"
        + markdown_table(["t (s)", "uvicorn workers", "engine processes", "processes"], trace)
        + "\n\nBy request kind:\n\n" + _latency_table(samples, seconds)
        + _first_traceback(stderr))
    return rows


# ---------------------------------------------------------------- 5.2 worker kill

@dataclass
class KillReport:
    victim: int = 0
    t_kill: float = float("nan")
    victim_clients: set[int] = field(default_factory=set)
    """Clients whose connection the victim held."""
    inflight_on_victim: set[int] = field(default_factory=set)
    inflight_total: int = 0
    victim_engines: list[int] = field(default_factory=list)
    new_worker: int | None = None
    t_process: float | None = None
    """Seconds from the kill until the master had its worker count again (new process)."""
    t_pool: float | None = None
    """… until the new worker's engine processes were all running."""
    t_serving: float | None = None
    """… until a fresh connection was served by the new worker."""
    probes: int = 0
    connections_before: list[int] = field(default_factory=list)
    """Client connections held by each uvicorn worker just before the kill."""
    t_orphans_gone: float | None = None
    """… until the killed worker's engine processes had exited."""


def _probe(port: int, timeout: float = 2.0) -> tuple[int, socket.socket] | None:
    """GET /healthz on a fresh keep-alive connection; its local port and the open socket
    (closed by the caller after looking up which worker holds it)."""
    try:
        s = socket.create_connection((HOST, port), timeout=timeout)
    except OSError:
        return None
    try:
        s.sendall(f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        data = b""
        for _ in range(64):  # the answer is ~200 bytes; at most 64 reads
            if b"\r\n\r\n" in data and data.endswith(b"}"):
                break
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        s.close()
        return None
    return int(s.getsockname()[1]), s


def _watch_replacement(server: Server, report: KillReport, old: set[int], limit: float) -> None:
    """Poll /proc (every 20 ms, at most ``limit`` s) for the replacement worker, its engine
    processes, its first served connection and the exit of the victim's engine processes."""
    t_kill_wall = time.monotonic()
    deadline = t_kill_wall + limit
    for _ in range(int(limit / 0.02) + 1):  # bounded in count and in time
        if time.monotonic() >= deadline:
            return
        now = time.monotonic() - t_kill_wall
        pids = server.worker_pids()
        new = [p for p in pids if p not in old]
        if report.t_process is None and new and len(pids) == server.workers:
            report.t_process, report.new_worker = now, new[0]
        if report.new_worker is not None and report.t_pool is None and \
                len(server.engine_pids(report.new_worker)) >= server.pool_size:
            report.t_pool = now
        if report.t_orphans_gone is None and not any(alive(p) for p in report.victim_engines):
            report.t_orphans_gone = now
        if report.t_pool is not None and report.t_serving is None and report.probes < 500:
            report.probes += 1
            got = _probe(server.port)
            if got is not None:
                local, sock = got
                try:
                    if local in established_peers(report.new_worker or 0, server.port):
                        report.t_serving = time.monotonic() - t_kill_wall
                finally:
                    sock.close()
        if report.t_serving is not None and report.t_orphans_gone is not None:
            return
        time.sleep(0.02)


@benchmark("5.2", "worker_kill", GROUP, explicit=True)
def worker_kill(s: Session) -> list[Row]:
    """SIGKILL one uvicorn worker mid-load: replaced, and only its in-flight requests fail."""
    seconds = s.cfg.kill_duration
    report = KillReport()

    async def killer(run: LoadRun) -> None:
        await asyncio.sleep(max(0.0, run.seconds / 2 - run.now()))
        server = run.server
        workers = server.worker_pids()
        # the worker holding the most client connections (the bigger effect to account for)
        held = {w: established_peers(w, server.port) for w in workers}
        victim = max(workers, key=lambda w: len(held[w]))
        # one consistent snapshot: no client runs between here and the kill (same loop)
        report.victim, report.victim_engines = victim, server.engine_pids(victim)
        report.connections_before = sorted((len(p) for p in held.values()), reverse=True)
        report.victim_clients = {c.index for c in run.clients if c.port in held[victim]}
        report.inflight_on_victim = {c.index for c in run.clients
                                     if c.inflight and c.port in held[victim]}
        report.inflight_total = sum(c.inflight for c in run.clients)
        os.kill(victim, signal.SIGKILL)
        report.t_kill = run.now()
        await asyncio.to_thread(_watch_replacement, server, report, set(workers), 30.0)

    connections_end: list[int] = []

    async def balance(run: LoadRun) -> None:
        # the connections each worker holds shortly before the load ends
        await asyncio.sleep(max(0.0, run.seconds - 0.5 - run.now()))
        held = await asyncio.to_thread(
            lambda: [len(established_peers(w, run.server.port))
                     for w in run.server.worker_pids()])
        connections_end.extend(sorted(held, reverse=True))

    with Server(WORKERS) as server:
        run = LoadRun(server, seconds, seed=52)
        _run_loop(run.run([killer, balance]))
        workers_end = server.worker_pids()
        healthz = httpx.get(server.url + "/healthz", timeout=5).status_code
        stderr = server.stderr()

    t_kill = report.t_kill
    drops = [x for x in run.samples if x.status == 0]
    server_errors = [x for x in run.samples if x.status >= 500]
    # a request in flight at the kill, or sent in the window, that lost its connection
    in_window = [x for x in drops if x.t <= t_kill + KILL_WINDOW and x.t + x.latency >= t_kill]
    outside = [x for x in drops if x not in in_window]
    per_client = Counter(x.client for x in in_window)
    strangers = [x for x in in_window if x.client not in report.inflight_on_victim]
    drops_ok = (len(in_window) <= len(report.inflight_on_victim) and not strangers
                and not outside and max(per_client.values(), default=0) <= 1)
    replaced = report.t_process is not None and report.t_serving is not None \
        and len(workers_end) == WORKERS
    rows = [
        Row("5.2 replaced", "SIGKILL of a uvicorn worker mid-load: replaced by the supervisor",
            None, "—", None, limit=0, target="new worker serving", ok=replaced,
            engine_text=(f"process back after {_sec(report.t_process)}, engines up after "
                         f"{_sec(report.t_pool)}, serving after {_sec(report.t_serving)}"),
            note=f"{report.probes} probe connection(s); workers at the end: {len(workers_end)}, "
                 f"/healthz {healthz}"),
        Row("5.2 drops", "connection errors vs requests in flight on the killed worker's "
            "connections at the kill", None, "—", None, limit=0,
            target="≤ in flight on it, ≤ 1 per such client, none elsewhere", ok=drops_ok,
            engine_text=f"{len(in_window)} dropped in the {KILL_WINDOW:g} s window",
            baseline_text=f"{len(report.inflight_on_victim)} in flight",
            note=(f"{len(in_window) - len(strangers)} from those clients (at most "
                  f"{max(per_client.values(), default=0)} each), {len(strangers)} from other "
                  f"clients, {len(outside)} outside the window; the killed worker held "
                  f"{len(report.victim_clients)} of {CLIENTS} client connections; "
                  f"{report.inflight_total} requests in flight in all")),
        Row("5.2 5xx", "5xx answers during the kill run", None, "—", None, limit=0,
            target="0", ok=not server_errors, engine_text=str(len(server_errors)),
            note=_by_kind(server_errors)),
        Row("5.2 orphans", "engine processes of the killed worker exit (report)", None, "—",
            None, engine_text=f"gone after {_sec(report.t_orphans_gone)}",
            note=f"{len(report.victim_engines)} engine processes"),
        Row("5.2 balance", "client connections per uvicorn worker: before the kill → end "
            "(report)", None, "—", None,
            engine_text=f"{report.connections_before} → {connections_end}",
            note="keep-alive clients that reconnect while the new worker starts all land on "
                 "the survivor, and stay there"),
    ]
    total = len(run.samples)
    before = [x for x in run.samples if x.t + x.latency < t_kill]
    after = [x for x in run.samples if x.t > t_kill + KILL_WINDOW]
    s.section(
        f"Worker kill (5.2): {seconds:g} s, SIGKILL at t = {t_kill:.1f} s",
        f"{machine()} at the end. {total:,} requests; {len(before) / max(t_kill, 1e-9):,.0f} "
        f"req/s before the kill, "
        f"{len(after) / max(seconds - t_kill - KILL_WINDOW, 1e-9):,.0f} req/s after the "
        f"window. Latency p99 before {ms(percentile([x.latency for x in before], 99))}, after "
        f"{ms(percentile([x.latency for x in after], 99))}. Server stderr: "
        f"{_grep(stderr, r'died|Traceback|ERROR')}.\n\n"
        "Failed requests (connection errors and 5xx; start relative to the kill, latency, "
        "kind, error, client; * = in flight on the killed worker's connection at the kill):"
        "\n\n"
        + markdown_table(["start − kill", "latency", "kind", "error", "client"],
                         [[f"{x.t - t_kill:+.3f} s", ms(x.latency), x.kind,
                           str(x.status or x.error),
                           f"{x.client}{' *' if x.client in report.inflight_on_victim else ''}"]
                          for x in sorted(drops + server_errors, key=lambda x: x.t)[:80]])
        + _first_traceback(stderr))
    return rows


def _sec(value: float | None) -> str:
    return "never (30 s)" if value is None else f"{value:.2f} s"


def _first_traceback(text: str, limit: int = 14) -> str:
    """The first Python traceback in ``text`` (at most ``limit`` lines) as a code block, or ''."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            block = lines[i:i + limit]
            for j in range(1, len(block)):
                if block[j] and not block[j].startswith(" "):
                    block = block[:j + 1]
                    break
            return "\n\nFirst traceback in the server's stderr:\n\n```\n" + "\n".join(block) \
                + "\n```"
    return ""


def _grep(text: str, pattern: str) -> str:
    lines = [x.strip() for x in text.splitlines() if re.search(pattern, x)]
    return "; ".join(lines[:5]) + (f" (+{len(lines) - 5} more)" if len(lines) > 5 else "") \
        if lines else "nothing unusual"
