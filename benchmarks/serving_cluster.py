"""Replicas behind HAProxy on 127.0.0.1, and a client that counts every request it sends.

Used by the replica tests (tests/deploy/test_balancer.py) and the serving benchmark
(benchmarks/serving.py): N ``diffapi serve`` processes, each in its own session (so that
``kill -9`` of a replica takes its whole process group, as a dying container would), Debian's
``haproxy`` with deploy/haproxy.cfg, and a closed-loop load of seed-gradient POSTs from client
threads that record, per request, when it started and ended and whether the right answer came
back. Nothing here listens on or connects to anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]
HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"
REPLICA_ENV = {"DIFFAPI_MAX_CONCURRENT_JOBS": "1"}
"""Each replica keeps one engine process: the machine has few cores for three replicas."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check()`` every 0.1 s until true; RuntimeError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not within {timeout:g} s")


def get_status(url: str, timeout: float = 1.0) -> int | None:
    """Status of a one-off GET, None on a transport error."""
    try:
        return httpx.get(url, timeout=timeout).status_code
    except httpx.TransportError:
        return None


@dataclass
class Replica:
    """One ``diffapi serve`` on 127.0.0.1:port, in its own session, log in ``log_dir``."""

    log_dir: Path
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> Replica:
        """Start it (again, on the same port, after a kill or a stop)."""
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIFFAPI_")}
        env |= REPLICA_ENV | self.env
        log = (self.log_dir / f"replica-{self.port}-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", HOST, "--port", str(self.port),
             "--workers", str(self.workers)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        log.close()
        return self

    def ready(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"replica on {self.port} exited: {self.log()[-1500:]}")
        return get_status(self.url + "/healthz") == 200

    def log(self) -> str:
        path = self.log_dir / f"replica-{self.port}-{self.starts}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill9(self) -> None:
        """SIGKILL to its whole process group (workers and engine processes included)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM, as an orchestrator sends it (the replica drains, then stops)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """SIGTERM and wait; SIGKILL to the group after 30 s; then the group's leftovers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def gradient_requests(self) -> float:
        """``POST /v1/gradient`` answers this replica's current process has counted."""
        text = httpx.get(self.url + "/metrics", timeout=2).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("diffapi_requests_total{")
                   and 'route="/v1/gradient"' in line)


def stop_all(replicas: list[Replica]) -> None:
    """SIGTERM to every running replica at once (they drain side by side), then wait."""
    for replica in replicas:
        if replica.proc is not None and replica.proc.poll() is None:
            replica.terminate()
    for replica in replicas:
        replica.stop()


@dataclass
class Balancer:
    """Debian's ``haproxy -db -f deploy/haproxy.cfg`` in front of ``replicas``."""

    replicas: list[Replica]
    log_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ, DIFFAPI_LB_BIND=f"{HOST}:{self.port}")
        for i, replica in enumerate(self.replicas, 1):
            env[f"DIFFAPI_REPLICA_{i}"] = replica.address
        return env

    def start(self) -> Balancer:
        haproxy = haproxy_path()
        if haproxy is None:
            raise RuntimeError("haproxy is not installed (apt-get install haproxy)")
        log = (self.log_dir / "haproxy.log").open("wb")
        self.proc = subprocess.Popen([haproxy, "-db", "-f", str(HAPROXY_CFG)], env=self.env(),
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        wait_for(lambda: get_status(self.url + "/healthz") == 200, 20, "haproxy answering")
        return self

    def log(self) -> str:
        return (self.log_dir / "haproxy.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def haproxy_path() -> str | None:
    """Debian's haproxy (in /usr/sbin, which a non-root PATH may lack), or None."""
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy",) if os.access(p, os.X_OK)), None)


@contextlib.contextmanager
def cluster(replicas: int = 3, workers: int = 1, log_dir: Path | None = None,
            env: dict[str, str] | None = None) -> Iterator[Balancer]:
    """``replicas`` diffapi replicas and HAProxy in front, all ready; stopped afterwards."""
    with contextlib.ExitStack() as stack:
        if log_dir is None:
            log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="diffapi-cluster-")))
        group = [Replica(log_dir, workers, dict(env or {})) for _ in range(replicas)]
        stack.callback(stop_all, group)
        for replica in group:
            replica.start()
        for replica in group:
            wait_for(replica.ready, 60, f"replica {replica.port} ready")
        balancer = Balancer(group, log_dir)
        stack.callback(balancer.stop)
        balancer.start()
        yield balancer


# ---------------------------------------------------------------- the load


@dataclass(frozen=True)
class Record:
    """One request: when it was sent and answered (monotonic seconds), and how it ended."""

    start: float
    end: float
    ok: bool
    error: str = ""
    retried: bool = False
    """Sent twice: the first connection was closed before any byte of the answer."""


class Load:
    """``clients`` threads, each with its own keep-alive httpx connection (no client retries),
    posting seed gradients at distinct points and checking every answer against the closed form
    d/dx (x**2 + 3x + 1) = 2x + 3; at most ``rate`` requests/s per thread when given."""

    def __init__(self, url: str, clients: int = 8, rate: float | None = None) -> None:
        self.url = url
        self.clients = clients
        self.interval = 0.0 if rate is None else 1.0 / rate
        self.records: list[Record] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(clients)]

    def _post(self, client: httpx.Client, x: float) -> tuple[bool, str]:
        r = client.post("/v1/gradient", json={"expression": "x**2 + 3*x + 1", "point": {"x": x}})
        body = r.json() if r.status_code == 200 else {}
        ok = (r.status_code == 200
              and math.isclose(body["gradient"]["x"], 2 * x + 3, rel_tol=1e-14)
              and math.isclose(body["value"], x * x + 3 * x + 1, rel_tol=1e-14))
        return ok, "" if ok else f"{r.status_code} {r.text[:120]}"

    def _run(self, index: int) -> None:
        transport = httpx.HTTPTransport(retries=0)
        with httpx.Client(base_url=self.url, timeout=30, transport=transport) as client:
            k = 0
            while not self._stop.is_set():
                x = index + k / 1000
                k += 1
                t0 = time.monotonic()
                retried = False
                try:
                    try:
                        ok, error = self._post(client, x)
                    except httpx.RemoteProtocolError:
                        # The keep-alive connection was closed with no byte of an answer: what
                        # HAProxy does when a replica reset the connection after the request was
                        # sent, leaving the retry to the client (RFC 9112 9.3.1; every diffapi
                        # request is idempotent). Once, on a new connection; counted.
                        retried = True
                        ok, error = self._post(client, x)
                except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                    ok, error = False, f"{type(exc).__name__}: {exc}"
                t1 = time.monotonic()
                with self._lock:
                    self.records.append(Record(t0, t1, ok, error, retried))
                if self.interval:
                    self._stop.wait(max(0.0, self.interval - (t1 - t0)))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


@dataclass(frozen=True)
class Counts:
    """What the clients saw: requests sent, answered right, failed, sent again by the client
    (the connection closed with no answer), and latency percentiles."""

    sent: int
    answered: int
    failed: int
    client_retried: int
    p50: float
    p99: float
    max: float
    errors: list[str]


def counts(records: list[Record], since: float = 0.0, until: float = float("inf")) -> Counts:
    """The requests that were in flight at some time in [since, until]."""
    chosen = [r for r in records if r.end >= since and r.start <= until]
    times = sorted(r.end - r.start for r in chosen)

    def pct(q: float) -> float:
        return times[min(len(times) - 1, int(q / 100 * len(times)))] if times else float("nan")

    failed = [r for r in chosen if not r.ok]
    return Counts(len(chosen), len(chosen) - len(failed), len(failed),
                  sum(r.retried for r in chosen), pct(50), pct(99),
                  times[-1] if times else float("nan"), sorted({r.error for r in failed})[:5])
