"""Benchmarks: the data plane — big batches and big vectors over HTTP against the engine's own
in-process call on the same arrays, in the same run.

D1  gradient of ``x**3*y**2 + sin(x*y)`` at 10^4, 10^5 and 2·10^5 points (column form), JSON
    lists both ways: HTTP time / engine time. Target at 10^5: ≤ 10×.
D2  the same with base64 arrays both ways (``"array_encoding": "base64"``). Target at 10^5: ≤ 3×.
D3  gradient of Rosenbrock at one point, n = 10^5: JSON ≤ 10×, base64 ≤ 3×.
D4  dense Hessian of Rosenbrock, n = 1000 (10^6 entries out): base64 ≤ 5× (JSON reported).
D5  a 10^6-point, 2-variable base64 gradient batch end to end: < 1.5 s (an absolute budget by
    its own definition).
D6  while 4 clients upload 8 MB JSON batches in a loop, seed-gradient requests on the same
    (one-worker) server: p99 ≤ 10 ms, max ≤ 30 ms.
D7  small requests: seed gradient / ``GET /healthz`` requests/s at concurrency 16, one worker
    (wrk): ≥ 0.8.

HTTP time is what a client waits for: from sending the (pre-encoded) body to holding the whole
answer, over a kept-alive connection; the client's own JSON or base64 decoding is not in it
(every answer is decoded once, untimed, and checked against closed forms). The engine time is
``engine.gradient``/``engine.hessian`` in this process on the same numpy arrays. HTTP and engine
calls are interleaved, median of the repeats.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np

import engine
from benchmarks.harness import Row, Session, benchmark, markdown_table
from benchmarks.service_common import (
    SEED_GRADIENT,
    Server,
    machine,
    median,
    ms,
    percentile,
    run_wrk,
)
from benchmarks.transport_floor import floor_server

GROUP = "dataplane"
XY = "x**3*y**2 + sin(x*y)"
ROSENBROCK = "sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)"
UPLOADERS = 4
UPLOAD_POINTS = 200_000
"""2·10^5 two-variable points in JSON lists: a body of about 8 MB."""


def encoded(array: np.ndarray) -> dict[str, Any]:
    """The base64 encoded-array object of API.md §5."""
    data = np.ascontiguousarray(array, dtype="<f8")
    return {"dtype": "float64", "shape": list(data.shape),
            "data": base64.b64encode(data.tobytes()).decode("ascii")}


def decoded(value: Any) -> np.ndarray:
    """An answer's array field as float64, in either form (``null`` → NaN)."""
    if isinstance(value, dict):
        raw = base64.b64decode(value["data"], validate=True)
        return np.frombuffer(raw, dtype="<f8").reshape(value["shape"])
    return np.array(value, dtype=float)


def _xy_gradient(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value and gradient of ``x**3*y**2 + sin(x*y)`` in closed form."""
    c = np.cos(x * y)
    return (x**3 * y**2 + np.sin(x * y), 3 * x**2 * y**2 + y * c, 2 * x**3 * y + x * c)


def _rosen_gradient(x: np.ndarray) -> np.ndarray:
    g = np.zeros_like(x)
    d = x[1:] - x[:-1] ** 2
    g[:-1] += -400 * x[:-1] * d - 2 * (1 - x[:-1])
    g[1:] += 200 * d
    return g


def _rosen_hessian(x: np.ndarray) -> np.ndarray:
    n = x.size
    h = np.zeros((n, n))
    i = np.arange(n - 1)
    h[i, i] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    h[i + 1, i + 1] += 200
    h[i, i + 1] = h[i + 1, i] = -400 * x[:-1]
    return h


class Case:
    """One request, sent pre-encoded, with its in-process engine call and an answer check."""

    def __init__(self, operation: str, body: dict[str, Any], call: Callable[[], Any],
                 check: Callable[[dict[str, Any]], bool]) -> None:
        self.operation = operation
        self.content = json.dumps(body).encode()
        self.call = call
        self.check = check


def _close(got: Any, want: np.ndarray) -> bool:
    return bool(np.allclose(decoded(got), want, rtol=1e-10, atol=1e-12))


def _xy_case(n: int, base64_form: bool) -> Case:
    rng = np.random.default_rng(n)
    x, y = rng.uniform(-2, 2, (2, n))
    f, gx, gy = _xy_gradient(x, y)
    points = ({"x": encoded(x), "y": encoded(y)} if base64_form
              else {"x": x.tolist(), "y": y.tolist()})
    body: dict[str, Any] = {"expression": XY, "points": points}
    if base64_form:
        body["array_encoding"] = "base64"
    return Case("gradient", body,
                lambda: engine.gradient(expression=XY, points={"x": x, "y": y}),
                lambda a: (_close(a["value"], f) and _close(a["gradient"]["x"], gx)
                           and _close(a["gradient"]["y"], gy)))


def _rosen_case(operation: str, n: int, base64_form: bool) -> Case:
    x = np.random.default_rng(n).uniform(-2, 2, n)
    body: dict[str, Any] = {"expression": ROSENBROCK,
                            "point": {"x": encoded(x) if base64_form else x.tolist()}}
    if base64_form:
        body["array_encoding"] = "base64"
    if operation == "gradient":
        g = _rosen_gradient(x)
        return Case("gradient", body,
                    lambda: engine.gradient(expression=ROSENBROCK, point={"x": x}),
                    lambda a: _close(a["gradient"]["x"], g))
    h = _rosen_hessian(x)
    return Case("hessian", body,
                lambda: engine.hessian(expression=ROSENBROCK, point={"x": x}),
                lambda a: _close(a["hessian"], h))


def _time_cases(server: Server, cases: dict[str, Case], repeats: int) -> dict[str, dict[str, Any]]:
    """Median HTTP and engine seconds of every case, interleaved, after one untimed round that
    also checks every answer."""
    out: dict[str, dict[str, Any]] = {}
    headers = {"Content-Type": "application/json"}
    with (httpx.Client(base_url=server.url, timeout=60) as client, floor_server() as url,
          httpx.Client(base_url=url, timeout=60) as bare):
        def post(case: Case) -> httpx.Response:
            return client.post(f"/v1/{case.operation}", content=case.content, headers=headers)

        for key, case in cases.items():
            r = post(case)
            ok = r.status_code == 200 and case.check(r.json())
            detail = "" if ok else f"{r.status_code}: {r.text[:160]}"
            case.call()
            out[key] = {"http": [], "engine": [], "floor": [], "ok": ok, "detail": detail,
                        "sizes": (len(case.content), len(r.content))}
        for i in range(repeats):
            order = list(cases)[i % len(cases):] + list(cases)[:i % len(cases)]
            for key in order:
                case, o = cases[key], out[key]
                t0 = time.perf_counter()
                r = post(case)
                _ = r.content
                o["http"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                case.call()
                o["engine"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                _ = bare.post(f"/{o['sizes'][1]}", content=case.content, headers=headers).content
                o["floor"].append(time.perf_counter() - t0)
    return out


def _ratio_row(key: str, title: str, result: dict[str, Any], limit: float | None) -> Row:
    h, e = median(result["http"]), median(result["engine"])
    ratio = h / e
    sent, got = result["sizes"]
    floor = median(result["floor"])
    note = (f"HTTP best {ms(min(result['http']))}, engine best {ms(min(result['engine']))}; "
            f"{sent / 1e6:.2f} MB sent, {got / 1e6:.2f} MB received; transport floor (the same "
            f"bytes, nothing computed) {ms(floor)} = {floor / e:.2f}× the engine")
    if not result["ok"]:
        note = f"NOT ANSWERED ({result['detail']}); {note}"
    ok = None if limit is None else (result["ok"] and ratio <= limit)
    return Row(key, title, h, "engine in process", e, limit,
               f"≤ {limit:g}×" if limit else "report", ratio,
               median([a / b for a, b in zip(result["http"], result["engine"], strict=True)]),
               ok, note)


@benchmark("D1", "dataplane_ratios", GROUP, explicit=True)
def ratios(s: Session) -> list[Row]:
    """Big batches and vectors over HTTP (JSON and base64) vs the engine in process."""
    repeats = 3 if s.cfg.quick else 5
    cases: dict[str, Case] = {}
    for n in (10**4, 10**5, 2 * 10**5):
        cases[f"xy json {n}"] = _xy_case(n, False)
        cases[f"xy b64 {n}"] = _xy_case(n, True)
    for form in ("json", "b64"):
        cases[f"rosen grad {form}"] = _rosen_case("gradient", 10**5, form == "b64")
        cases[f"rosen hess {form}"] = _rosen_case("hessian", 1000, form == "b64")
    with Server(1) as server:
        results = _time_cases(server, cases, repeats)
    rows = []
    for n, label in ((10**4, "10^4"), (10**5, "10^5"), (2 * 10**5, "2·10^5")):
        target = n == 10**5
        rows.append(_ratio_row("D1", f"gradient of `{XY}`, {label} points, JSON both ways",
                               results[f"xy json {n}"], 10.0 if target else None))
        rows.append(_ratio_row("D2", f"gradient of `{XY}`, {label} points, base64 both ways",
                               results[f"xy b64 {n}"], 3.0 if target else None))
    rows.append(_ratio_row("D3", "gradient of Rosenbrock, n = 10^5, JSON both ways",
                           results["rosen grad json"], 10.0))
    rows.append(_ratio_row("D3", "gradient of Rosenbrock, n = 10^5, base64 both ways",
                           results["rosen grad b64"], 3.0))
    rows.append(_ratio_row("D4", "dense Hessian of Rosenbrock, n = 1000, JSON both ways",
                           results["rosen hess json"], None))
    rows.append(_ratio_row("D4", "dense Hessian of Rosenbrock, n = 1000, base64 both ways",
                           results["rosen hess b64"], 5.0))
    return rows


@benchmark("D5", "dataplane_million", GROUP, explicit=True)
def million(s: Session) -> list[Row]:
    """A 10^6-point, 2-variable base64 gradient batch end to end (encode, send, compute, answer,
    decode) in < 1.5 s."""
    n = 10**6
    repeats = 3 if s.cfg.quick else 5
    rng = np.random.default_rng(6)
    x, y = rng.uniform(-2, 2, (2, n))
    _, gx, gy = _xy_gradient(x, y)
    times, statuses, correct, detail, sizes = [], [], True, "", (0, 0)
    with Server(1) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            content = json.dumps({"expression": XY, "array_encoding": "base64",
                                  "points": {"x": encoded(x), "y": encoded(y)}}).encode()
            r = client.post("/v1/gradient", content=content,
                            headers={"Content-Type": "application/json"})
            answer = r.json()
            grads = ({k: decoded(v) for k, v in answer["gradient"].items()}
                     if r.status_code == 200 else {})
            dt = time.perf_counter() - t0
            statuses.append(r.status_code)
            if r.status_code != 200 or not (np.allclose(grads["x"], gx, rtol=1e-10)
                                            and np.allclose(grads["y"], gy, rtol=1e-10)):
                correct = False
                detail = detail or f"{r.status_code}: {r.text[:160]}"
            if i:
                times.append(dt)
            sizes = (len(content), len(r.content))
    t = median(times)
    note = (f"median of {repeats}, best {ms(min(times))}; {sizes[0] / 1e6:.1f} MB sent, "
            f"{sizes[1] / 1e6:.1f} MB received")
    if not correct:
        note = f"NOT ANSWERED ({detail}); {note}"
    return [Row("D5", "10^6-point 2-variable base64 gradient batch, end to end (httpx)", t,
                "1.5 s budget", 1.5, 1.0, "< 1.5 s", t / 1.5, None, correct and t < 1.5, note)]


def _upload(url: str, content: bytes, stop: Any, counter: Any) -> None:
    """One uploader process: POST ``content`` in a loop until ``stop`` is set (answers read,
    not decoded)."""
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            r = client.post("/v1/gradient", content=content,
                            headers={"Content-Type": "application/json"})
            _ = r.content
            with counter.get_lock():
                counter.value += 1 if r.status_code == 200 else 1_000_000


@benchmark("D6", "dataplane_event_loop", GROUP, explicit=True)
def event_loop(s: Session) -> list[Row]:
    """Seed-gradient latency while 4 processes upload 8 MB JSON batches to the same worker."""
    seconds = 8.0 if s.cfg.quick else 20.0
    rng = np.random.default_rng(7)
    x, y = rng.uniform(-2, 2, (2, UPLOAD_POINTS))
    content = json.dumps({"expression": XY, "points": {"x": x.tolist(), "y": y.tolist()}}
                         ).encode()
    seed = json.dumps(SEED_GRADIENT).encode()
    ctx = multiprocessing.get_context("spawn")
    latencies: list[float] = []
    bad = 0
    with Server(1) as server:
        stop, counter = ctx.Event(), ctx.Value("q", 0)
        procs = [ctx.Process(target=_upload, args=(server.url, content, stop, counter),
                             daemon=True) for _ in range(UPLOADERS)]
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for p in procs:
                p.start()
            time.sleep(2.0)  # the uploads are under way
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                r = client.post("/v1/gradient", content=seed,
                                headers={"Content-Type": "application/json"})
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200 or r.json()["gradient"] != {"x": 7.0}:
                    bad += 1
                time.sleep(0.005)
            stop.set()
            for p in procs:
                p.join(timeout=60)
                if p.is_alive():
                    p.kill()
        uploads = counter.value
    failed_uploads, uploads = divmod(uploads, 1_000_000)
    p99, worst = percentile(latencies, 99), max(latencies)
    note = (f"{len(latencies)} seed requests ({bad} wrong), p50 {ms(percentile(latencies, 50))}; "
            f"{uploads} uploads of {len(content) / 1e6:.1f} MB answered 200, {failed_uploads} "
            f"not; {machine()}")
    ok = bad == 0 and failed_uploads == 0 and uploads > 0
    return [Row("D6", f"seed gradient p99 while {UPLOADERS} clients upload 8 MB JSON", p99,
                "10 ms", 0.010, 1.0, "≤ 10 ms", p99 / 0.010, None, ok and p99 <= 0.010, note),
            Row("D6", f"seed gradient max while {UPLOADERS} clients upload 8 MB JSON", worst,
                "30 ms", 0.030, 1.0, "≤ 30 ms", worst / 0.030, None, ok and worst <= 0.030,
                note)]


@benchmark("D7", "dataplane_small", GROUP, explicit=True)
def small_requests(s: Session) -> list[Row]:
    """Seed gradient vs healthz requests/s at concurrency 16, one worker (wrk)."""
    seconds = s.cfg.load_duration
    rounds = 1 if s.cfg.quick else 3
    runs: dict[str, list[Any]] = {"gradient": [], "healthz": []}
    with Server(1) as server:
        for path, body in (("/v1/gradient", SEED_GRADIENT), ("/healthz", None)):
            run_wrk(server, path, 16, min(2.0, seconds), body=body)
        for i in range(rounds):
            order = [("gradient", "/v1/gradient", SEED_GRADIENT), ("healthz", "/healthz", None)]
            for name, path, body in order[i % 2:] + order[:i % 2]:
                runs[name].append(run_wrk(server, path, 16, seconds, body=body))
    ratios = [g.rps / h.rps for g, h in zip(runs["gradient"], runs["healthz"], strict=True)]
    g = max(runs["gradient"], key=lambda r: r.rps)
    h = max(runs["healthz"], key=lambda r: r.rps)
    errors = sum(r.errors + r.non_2xx for rs in runs.values() for r in rs)
    ratio = g.rps / h.rps
    s.section("Data plane: small requests (D7)", markdown_table(
        ["endpoint", "round", "req/s", "p50", "p99", "max", "errors"],
        [[name, str(i + 1), f"{r.rps:,.0f}", ms(r.p50), ms(r.p99), ms(r.max),
          str(r.errors + r.non_2xx)] for name, rs in runs.items() for i, r in enumerate(rs)]))
    return [Row("D7", "seed gradient / GET /healthz requests/s, concurrency 16, one worker",
                1 / g.rps, "GET /healthz", 1 / h.rps, 0.8, "≥ 0.8", ratio, median(ratios),
                ratio >= 0.8 and errors == 0,
                f"{g.rps:,.0f} vs {h.rps:,.0f} req/s; errors {errors}")]
