"""Benchmarks: the service under a real load generator (Debian ``wrk``, ``hey`` as a
cross-check) on 127.0.0.1, and a 10^5-point batch gradient end to end.

4.1  requests/s and p50/p99 latency of the seed gradient request (``POST /v1/gradient``) and of
     ``GET /healthz`` at concurrency 1, 16 and 64, against a 1-worker and a 2-worker server
     started side by side; every (server, endpoint, concurrency) cell is a bounded wrk run, and
     the cells are interleaved in rotated order, round after round, so every ratio compares runs
     made minutes apart at most. Targets: gradient ≥ 60% of healthz's requests/s (same server,
     same concurrency); 2 workers ≥ 1.6× one (same endpoint, concurrency 16 and 64).
4.2  a batch gradient of 10^5 points in column form, end to end with an httpx client (encode,
     send, compute, answer, decode): < 1 s.

The machine has few cores and wrk runs on them too: wrk is pinned to one thread, and the CPU
seconds the server and wrk used in each run are reported beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from typing import Any

import httpx
import numpy as np

from benchmarks.harness import Row, Session, benchmark, fmt_ratio, markdown_table
from benchmarks.service_common import (
    SEED_GRADIENT,
    LoadResult,
    Server,
    machine,
    median,
    ms,
    run_hey,
    run_wrk,
)

GROUP = "service"
CONCURRENCY = (1, 16, 64)
WORKERS = (1, 2)
ENDPOINTS = {"healthz": ("/healthz", None), "gradient": ("/v1/gradient", SEED_GRADIENT)}
RATIO_TARGET = 0.60
SCALE_TARGET = 1.6


def _check_seed(server: Server) -> None:
    """The seed answer over the wire, before any load (a wrong answer would make the numbers
    meaningless)."""
    r = httpx.post(server.url + "/v1/gradient", json=SEED_GRADIENT, timeout=10)
    body = r.json()
    if r.status_code != 200 or body["value"] != 11.0 or body["gradient"] != {"x": 7.0}:
        raise RuntimeError(f"seed gradient answered {r.status_code} {r.text[:200]}")


def _spread(r: LoadResult) -> str:
    return "/".join(map(str, r.usage.spread))


def _cell(r: LoadResult) -> str:
    return f"{r.rps:,.0f} req/s · p50 {ms(r.p50)} · p99 {ms(r.p99)}"


@benchmark("4.1", "load_wrk", GROUP, explicit=True)
def load_matrix(s: Session) -> list[Row]:
    """Gradient vs healthz, 1 vs 2 workers, at concurrency 1/16/64 (wrk, bounded runs)."""
    seconds, rounds = s.cfg.load_duration, s.cfg.load_rounds
    runs: dict[tuple[int, str, int], list[LoadResult]] = {}
    with Server(1) as one, Server(2) as two:
        servers = {1: one, 2: two}
        for server in servers.values():
            _check_seed(server)
            for path, body in ENDPOINTS.values():  # warm-up: caches, JIT-free but lazy imports
                run_wrk(server, path, 16, min(2.0, seconds), body=body)
        cells = [(w, e) for w in WORKERS for e in ENDPOINTS]
        k = 0
        for _ in range(rounds):
            for c in CONCURRENCY:
                order = cells[k % len(cells):] + cells[:k % len(cells)]
                k += 1
                for w, e in order:
                    path, body = ENDPOINTS[e]
                    result = run_wrk(servers[w], path, c, seconds, body=body)
                    runs.setdefault((w, e, c), []).append(result)
        hey_runs: list[LoadResult] = []
        if shutil.which("hey"):
            hey_runs = [run_hey(two, path, 64, seconds, body=body)
                        for path, body in ENDPOINTS.values()]
        stderr = one.stderr() + two.stderr()

    def best(w: int, e: str, c: int) -> LoadResult:
        return max(runs[w, e, c], key=lambda r: r.rps)

    def paired(num: tuple[int, str, int], den: tuple[int, str, int]) -> float:
        return median([a.rps / b.rps for a, b in zip(runs[num], runs[den], strict=True)])

    rows: list[Row] = []
    for w in WORKERS:
        for c in CONCURRENCY:
            g, h = best(w, "gradient", c), best(w, "healthz", c)
            ratio = g.rps / h.rps
            ok = ratio >= RATIO_TARGET and g.errors + g.non_2xx + h.errors + h.non_2xx == 0
            note = "errors or non-2xx answers" if ratio >= RATIO_TARGET and not ok else ""
            rows.append(Row(f"4.1 w{w} c{c}",
                            f"seed gradient vs GET /healthz, {w} worker{'s' * (w > 1)}, "
                            f"concurrency {c} (req/s ratio)",
                            1 / g.rps, "GET /healthz", 1 / h.rps, limit=RATIO_TARGET,
                            ratio=ratio,
                            median_ratio=paired((w, "gradient", c), (w, "healthz", c)),
                            target=f"≥ {RATIO_TARGET:.2f}× (gradient ≥ 60% of healthz)",
                            ok=ok, note=note, engine_text=_cell(g), baseline_text=_cell(h)))
    for e in ENDPOINTS:
        for c in CONCURRENCY:
            two_r, one_r = best(2, e, c), best(1, e, c)
            ratio = two_r.rps / one_r.rps
            target = c > 1  # one connection keeps one worker busy at most: nothing to scale
            rows.append(Row(f"4.1 {e} c{c} 2w/1w",
                            f"{'seed gradient' if e == 'gradient' else 'GET /healthz'}, "
                            f"2 workers vs 1, concurrency {c} (req/s ratio)",
                            1 / two_r.rps, "1 worker", 1 / one_r.rps,
                            limit=SCALE_TARGET if target else None, ratio=ratio,
                            median_ratio=paired((2, e, c), (1, e, c)),
                            target=f"≥ {SCALE_TARGET}×" if target else "report",
                            ok=(ratio >= SCALE_TARGET) if target else None,
                            note=("" if target else "one connection: one worker at a time; ")
                            + f"connections per worker {_spread(two_r)}; "
                              f"server used {two_r.usage.server:.2f} vs "
                              f"{one_r.usage.server:.2f} cores, other processes "
                              f"{two_r.usage.others:.2f} vs {one_r.usage.others:.2f}",
                            engine_text=_cell(two_r), baseline_text=_cell(one_r)))

    table = []

    def table_row(w: int, c: int, name: str, i: int, r: LoadResult) -> list[str]:
        u = r.usage
        return [str(w), str(c), name, str(i), f"{r.rps:,.0f}", ms(r.p50), ms(r.p90),
                ms(r.p99), ms(r.max), f"{r.requests:,}", str(r.errors), str(r.non_2xx),
                _spread(r),
                f"{u.server:.2f} ({' + '.join(f'{x:.2f}' for x in u.workers)})",
                f"{u.client:.2f}", f"{u.others:.2f}"]

    for c in CONCURRENCY:
        for w in WORKERS:
            for e in ENDPOINTS:
                for i, r in enumerate(runs[w, e, c]):
                    table.append(table_row(w, c, e, i + 1, r))
    for r in hey_runs:
        table.append(table_row(2, 64, f"{'healthz' if r.url == '/healthz' else 'gradient'} (hey)",
                               1, r))
    hey_text = (f"gradient/healthz = {fmt_ratio(hey_runs[1].rps / hey_runs[0].rps)}"
                if hey_runs else "skipped (hey is not installed)")
    errors_in_stderr = sum("Traceback" in x or " ERROR" in x for x in stderr.splitlines())
    s.section(
        "Service load (4.1): every wrk run",
        f"{machine()} at the end. Each run: `wrk -t1 -cC -d{seconds:g}s --timeout 10s` "
        f"(one wrk thread), {rounds} interleaved round(s); the rows above take the best round "
        f"of each cell (median of per-round ratios in brackets). The last columns say where "
        f"the machine's {os.cpu_count()} cores went (CPU-seconds per second): the server "
        f"(each uvicorn worker with its engine processes in brackets), the load generator, "
        f"and every other process on the machine; `conns` is how many of the client "
        f"connections each uvicorn worker held at mid-run. hey cross-check (GOMAXPROCS=1, "
        f"c=64, 2 workers): {hey_text}. Server stderr lines "
        f"with Traceback/ERROR: {errors_in_stderr}.\n\n"
        + markdown_table(["workers", "c", "endpoint", "round", "req/s", "p50", "p90", "p99",
                          "max", "requests", "socket errors", "non-2xx", "conns",
                          "server cores", "client cores", "other cores"], table))
    return rows


INLINE_ENV = {"DIFFAPI_INLINE_BODY_BYTES": str(8 * 2**20), "DIFFAPI_INLINE_WORK_THRESHOLD": "1e12"}
"""Settings under which a 10^5-point batch runs on the event loop, not in an engine process
(reported beside the default configuration, which sends it to the pool)."""


def _time_batches(server: Server, cases: dict[str, tuple[dict[str, Any], Any]], repeats: int
                  ) -> dict[str, dict[str, Any]]:
    """End-to-end seconds of every case (encode, POST, compute, answer, decode), interleaved,
    after one untimed round; with the statuses and whether every answer was right."""
    out: dict[str, dict[str, Any]] = {k: {"times": [], "statuses": Counter(), "correct": True,
                                          "detail": ""} for k in cases}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(repeats + 1):
            for key, (body, check) in cases.items():
                t0 = time.perf_counter()
                content = json.dumps(body).encode()
                r = client.post("/v1/gradient", content=content,
                                headers={"Content-Type": "application/json"})
                answer = r.json()
                dt = time.perf_counter() - t0
                o = out[key]
                if r.status_code != 200 or not check(answer):
                    o["correct"] = False
                    o["detail"] = o["detail"] or str(answer.get("detail", ""))[:120]
                o["statuses"][r.status_code] += 1
                if i:
                    o["times"].append(dt)
                o["sizes"] = (len(content), len(r.content))
    return out


@benchmark("4.2", "batch_1e5_http", GROUP, explicit=True)
def batch_gradient(s: Session) -> list[Row]:
    """A 10^5-point batch gradient, column form, end to end over HTTP with httpx."""
    n = 10**5
    repeats = 3 if s.cfg.quick else 7
    rng = np.random.default_rng(4)
    x = rng.uniform(-10, 10, n)
    xy = rng.uniform(-2, 2, (2, n))
    cases = {
        "seed": ({"expression": SEED_GRADIENT["expression"], "points": {"x": x.tolist()}},
                 lambda b: np.allclose(b["gradient"]["x"], 2 * x + 3, rtol=1e-12)),
        "xy": ({"expression": "x**3*y**2 + sin(x*y)",
                "points": {"x": xy[0].tolist(), "y": xy[1].tolist()}},
               lambda b: np.allclose(b["gradient"]["y"],
                                     2 * xy[0] ** 3 * xy[1] + xy[0] * np.cos(xy[0] * xy[1]),
                                     rtol=1e-10)),
    }
    with Server(1) as server:
        pooled = _time_batches(server, cases, repeats)
    with Server(1, env=INLINE_ENV) as server:
        inline = _time_batches(server, {"seed": cases["seed"]}, repeats)
    rows = []
    for key, title, result, limit in (
            ("4.2", "batch seed gradient `x**2 + 3*x + 1`", pooled["seed"], 1.0),
            ("4.2xy", "batch gradient of `x**3*y**2 + sin(x*y)` (report)", pooled["xy"], None),
            ("4.2i", "batch seed gradient, everything inline (DIFFAPI_INLINE_BODY_BYTES=8 MiB, "
                     "DIFFAPI_INLINE_WORK_THRESHOLD=1e12; report)", inline["seed"], None)):
        times = result["times"]
        t = median(times)
        sent, got = result["sizes"]
        note = (f"median of {repeats}, best {ms(min(times))}, worst {ms(max(times))}; "
                f"{sent / 1e6:.1f} MB sent, {got / 1e6:.1f} MB received")
        if not result["correct"]:
            answered = ", ".join(f"{code} ×{k}" for code, k in sorted(result["statuses"].items()))
            note = f"NOT ANSWERED: {answered} ({result['detail']}); {note}"
        ok = None if limit is None else (result["correct"] and t < limit)
        rows.append(Row(key, f"{title} at 10^5 points, column form, end to end (httpx)",
                        t, "1 s budget", 1.0, limit, "< 1 s" if limit else "report",
                        t / 1.0, None, ok, note))
    return rows
