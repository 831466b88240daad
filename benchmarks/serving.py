"""Benchmarks: how ``diffapi serve`` spreads load over its workers, and replicas behind HAProxy
losing no request when one is killed or rolled (all on 127.0.0.1).

sv1  requests/s of the seed gradient (``POST /v1/gradient``) and ``GET /healthz`` at 16 and 64
     keep-alive connections (wrk, one thread) against three servers started side by side:
     ``diffapi serve`` with 1 and with 2 workers (one SO_REUSEPORT socket per worker), and, as
     the candidate it replaces, uvicorn's own ``--workers 2`` (one shared socket). Cells are
     interleaved in rotated order, round after round. Targets, in EVERY round: 2 workers ≥ 1.7×
     one worker (same endpoint and concurrency); gradient ≥ 0.7× healthz (same server and
     concurrency). Each round's connections per worker are reported (the shared socket's
     16/0 splits were the reason for the change).
sv2  three replicas (1 worker each) behind Debian's haproxy with deploy/haproxy.cfg, a closed
     loop of seed gradients from 8 client threads, ``kill -9`` of one replica's process group
     mid-load, its restart, and its return to the rotation: requests sent, answered, failed
     (target 0), sent again by a client (a connection closed with no answer), and the p99 latency
     during the event against before it.
sv3  the same with a rolling update: SIGTERM to each replica in turn (it drains, stops, is
     started again and rejoins), target 0 failed.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import Row, Session, benchmark, fmt_ratio, markdown_table
from benchmarks.service_common import HOST, LoadResult, Server, machine, ms, run_wrk
from benchmarks.service_load import ENDPOINTS, _check_seed
from benchmarks.serving_cluster import (
    Counts,
    Load,
    Replica,
    cluster,
    counts,
    haproxy_path,
    wait_for,
)

GROUP = "serving"
CONCURRENCY = (16, 64)
SCALE_TARGET = 1.7
RATIO_TARGET = 0.7
SERVER_ENV = {"DIFFAPI_MAX_CONCURRENT_JOBS": "1"}
"""The seed requests run on the event loop; one engine process per worker is enough."""
CLIENTS = 8


class SharedSocketServer(Server):
    """uvicorn's own ``--workers N``: one listening socket that every worker accepts from."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "app.main:app", "--host", HOST,
                "--port", str(self.port), "--workers", str(self.workers), "--http", "httptools",
                "--loop", "uvloop", "--no-access-log"]


def _spread(r: LoadResult) -> str:
    return "/".join(map(str, r.usage.spread))


@benchmark("sv1", "workers_reuseport", GROUP, explicit=True)
def workers(s: Session) -> list[Row]:
    """2 workers vs 1 (SO_REUSEPORT per worker; uvicorn's shared socket for comparison)."""
    seconds = s.cfg.load_duration
    rounds = 1 if s.cfg.quick else 3
    runs: dict[tuple[str, str, int], list[LoadResult]] = {}
    with (Server(1, env=dict(SERVER_ENV)) as one, Server(2, env=dict(SERVER_ENV)) as two,
          SharedSocketServer(2, env=dict(SERVER_ENV)) as shared):
        servers = {"1w": one, "2w": two, "2w shared": shared}
        for server in servers.values():
            _check_seed(server)
            for path, body in ENDPOINTS.values():
                run_wrk(server, path, 16, min(2.0, seconds), body=body)
        cells = [(name, e, c) for c in CONCURRENCY for name in servers for e in ENDPOINTS]
        for k in range(rounds):
            shift = (k * 5) % len(cells)
            for name, e, c in cells[shift:] + cells[:shift]:
                path, body = ENDPOINTS[e]
                runs.setdefault((name, e, c), []).append(
                    run_wrk(servers[name], path, c, seconds, body=body))

    def per_round(num: tuple[str, str, int], den: tuple[str, str, int]) -> list[float]:
        return [a.rps / b.rps for a, b in zip(runs[num], runs[den], strict=True)]

    def clean(*keys: tuple[str, str, int]) -> bool:
        return all(r.errors + r.non_2xx == 0 for key in keys for r in runs[key])

    rows: list[Row] = []
    for two_name, target in (("2w", True), ("2w shared", False)):
        for e in ENDPOINTS:
            for c in CONCURRENCY:
                ratios = per_round((two_name, e, c), ("1w", e, c))
                worst = min(ratios)
                splits = ", ".join(_spread(r) for r in runs[two_name, e, c])
                ok = (worst >= SCALE_TARGET and clean((two_name, e, c), ("1w", e, c))
                      if target else None)
                label = ("SO_REUSEPORT per worker" if target
                         else "uvicorn --workers 2, one shared socket (the old way)")
                rows.append(Row(
                    f"sv1 {e} c{c} {two_name.replace(' ', '-')}",
                    f"{'seed gradient' if e == 'gradient' else 'GET /healthz'}, 2 workers vs "
                    f"1, concurrency {c}, {label} (req/s ratio, worst round)",
                    1 / max(r.rps for r in runs[two_name, e, c]), "1 worker",
                    1 / max(r.rps for r in runs["1w", e, c]),
                    limit=SCALE_TARGET if target else None, ratio=worst,
                    median_ratio=sorted(ratios)[len(ratios) // 2],
                    target=f"≥ {SCALE_TARGET}× every round" if target else "report", ok=ok,
                    note=f"rounds {', '.join(fmt_ratio(x) for x in ratios)}; "
                         f"connections per worker {splits}",
                    engine_text=f"{max(r.rps for r in runs[two_name, e, c]):,.0f} req/s",
                    baseline_text=f"{max(r.rps for r in runs['1w', e, c]):,.0f} req/s"))
    for name in ("1w", "2w"):
        for c in CONCURRENCY:
            ratios = per_round((name, "gradient", c), (name, "healthz", c))
            worst = min(ratios)
            rows.append(Row(
                f"sv1 w{name[0]} c{c} grad/healthz",
                f"seed gradient vs GET /healthz, {name[0]} worker(s), concurrency {c} "
                f"(req/s ratio, worst round)",
                1 / max(r.rps for r in runs[name, "gradient", c]), "GET /healthz",
                1 / max(r.rps for r in runs[name, "healthz", c]), limit=RATIO_TARGET,
                ratio=worst, median_ratio=sorted(ratios)[len(ratios) // 2],
                target=f"≥ {RATIO_TARGET}× every round",
                ok=worst >= RATIO_TARGET and clean((name, "gradient", c), (name, "healthz", c)),
                note=f"rounds {', '.join(fmt_ratio(x) for x in ratios)}"))
    table = []
    for (name, e, c), results in sorted(runs.items(), key=lambda kv: (kv[0][2], kv[0][0])):
        for i, r in enumerate(results, 1):
            u = r.usage
            table.append([name, e, str(c), str(i), f"{r.rps:,.0f}", ms(r.p50), ms(r.p99),
                          str(r.errors), str(r.non_2xx), _spread(r),
                          f"{u.server:.2f} ({' + '.join(f'{x:.2f}' for x in u.workers)})",
                          f"{u.client:.2f}", f"{u.others:.2f}"])
    s.section("Serving (sv1): every wrk run",
              f"{machine()} at the end. `wrk -t1 -cC -d{seconds:g}s`, {rounds} interleaved "
              f"round(s). `conns`: client connections each worker held at mid-run. Cores: "
              f"CPU-seconds per second used by the server (per worker in brackets), by wrk, and "
              f"by every other process on the machine (other tenants included).\n\n"
              + markdown_table(["server", "endpoint", "c", "round", "req/s", "p50", "p99",
                                "socket errors", "non-2xx", "conns", "server cores",
                                "client cores", "other cores"], table))
    return rows


def _event_row(key: str, title: str, before: Counts, during: Counts, total: Counts,
               seconds: float) -> Row:
    ok = total.failed == 0
    note = (f"sent {total.sent}, answered {total.answered}, failed {total.failed}, sent again "
            f"by a client {total.client_retried}; during the event ({seconds:.1f} s): sent "
            f"{during.sent}, failed {during.failed}, p50 {ms(during.p50)}, p99 "
            f"{ms(during.p99)}, max {ms(during.max)}; before: p99 {ms(before.p99)}")
    if total.errors:
        note += f"; errors: {'; '.join(total.errors)}"
    return Row(key, title, during.p99, "p99 before the event", before.p99, limit=None,
               target="0 failed", ratio=during.p99 / before.p99 if before.p99 else None,
               ok=ok, note=note)


def _rejoined(replica: Replica) -> bool:
    """The restarted replica's new process has answered gradients: HAProxy sends to it."""
    return replica.gradient_requests() > 0


def _haproxy_retries(log: str) -> int:
    """Retries in HAProxy's log lines (the last of the ``act/fe/be/srv/retries`` counts; a
    ``+`` means on another server)."""
    total = 0
    for line in log.splitlines():
        cols = line.split()
        if len(cols) > 10 and cols[10].count("/") == 4:
            total += int(cols[10].rsplit("/", 1)[1].lstrip("+") or 0)
    return total


@benchmark("sv2", "replica_kill9", GROUP, explicit=True)
def replica_kill(s: Session) -> list[Row]:
    """kill -9 of one of three replicas behind HAProxy under load."""
    if haproxy_path() is None:
        return [Row("sv2", "replica kill -9 behind HAProxy", None, "—", None, ok=False,
                    target="0 failed", note="haproxy is not installed")]
    calm = s.cfg.kill_duration / 4
    with tempfile.TemporaryDirectory(prefix="diffapi-sv2-") as tmp, \
            cluster(3, log_dir=Path(tmp)) as lb:
        with Load(lb.url, clients=CLIENTS) as load:
            time.sleep(calm)
            victim = lb.replicas[0]
            t0 = time.monotonic()
            victim.kill9()
            time.sleep(1.0)
            victim.start()
            wait_for(victim.ready, 90, "the killed replica restarted")
            wait_for(lambda: _rejoined(victim), 30, "the replica back in rotation")
            t1 = time.monotonic()
            time.sleep(calm)
        retries = _haproxy_retries(lb.log())
    records = load.records
    row = _event_row("sv2", "kill -9 of one of 3 replicas behind HAProxy, mid-load: latency "
                     "p99 during the event (kill → restart → back in rotation)",
                     counts(records, until=t0), counts(records, t0, t1), counts(records),
                     t1 - t0)
    row.note += f"; requests HAProxy retried on another replica: {retries}"
    return [row]


@benchmark("sv3", "replica_roll", GROUP, explicit=True)
def replica_roll(s: Session) -> list[Row]:
    """A rolling update: SIGTERM, restart and rejoin of each of three replicas in turn."""
    if haproxy_path() is None:
        return [Row("sv3", "rolling update behind HAProxy", None, "—", None, ok=False,
                    target="0 failed", note="haproxy is not installed")]
    calm = s.cfg.kill_duration / 4
    with tempfile.TemporaryDirectory(prefix="diffapi-sv3-") as tmp, \
            cluster(3, log_dir=Path(tmp)) as lb:
        with Load(lb.url, clients=CLIENTS) as load:
            time.sleep(calm)
            t0 = time.monotonic()
            for victim in lb.replicas:
                victim.terminate()
                assert victim.proc is not None
                code = victim.proc.wait(timeout=60)
                if code != 0:
                    raise RuntimeError(f"replica exited with {code} after SIGTERM")
                victim.start()
                wait_for(victim.ready, 90, "the rolled replica restarted")
                wait_for(lambda v=victim: _rejoined(v), 30, "the replica back in rotation")
            t1 = time.monotonic()
            time.sleep(calm)
        retries = _haproxy_retries(lb.log())
    records = load.records
    row = _event_row("sv3", "rolling update (SIGTERM, drain, restart, rejoin) of all 3 "
                     "replicas behind HAProxy, mid-load: latency p99 during the roll",
                     counts(records, until=t0), counts(records, t0, t1), counts(records),
                     t1 - t0)
    row.note += f"; requests HAProxy retried on another replica: {retries}"
    return [row]
