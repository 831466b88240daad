"""What the service benchmarks share: a real ``diffapi serve`` on 127.0.0.1, its process tree
read from /proc (uvicorn workers, engine processes, their RSS, CPU time and TCP connections),
and the load generators (Debian ``wrk`` and ``hey``), every run bounded in time.

Linux only (/proc). Nothing here listens on or connects to anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WRK_SCRIPT = HERE / "wrk_report.lua"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SEED_GRADIENT = {"expression": "x**2 + 3*x + 1", "point": {"x": 2}}
"""Seed case 1 of API.md §3: value 11, gradient 7."""


# ---------------------------------------------------------------- /proc

def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3 onwards), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text[text.rfind(")") + 2:].split()


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def children(pid: int) -> list[int]:
    """Live (non-zombie) child processes of ``pid``, by scanning /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[0] != "Z" and int(fields[1]) == pid:
                found.append(int(entry))
    return sorted(found)


def cmdline(pid: int) -> str:
    """The command line of ``pid`` ('' if gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 if gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float | None:
    """Resident set size of ``pid`` in MiB (VmRSS), None if gone."""
    try:
        for text in Path(f"/proc/{pid}/status").read_text().splitlines():
            if text.startswith("VmRSS:"):
                return int(text.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(FileNotFoundError, ProcessLookupError, PermissionError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(int(link[8:-1]))
    return inodes


def established_peers(pid: int, port: int) -> set[int]:
    """Client ports of the ESTABLISHED TCP connections to local ``port`` that ``pid`` holds
    (/proc/PID/fd matched with /proc/net/tcp by socket inode)."""
    inodes = _socket_inodes(pid)
    peers = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for text in Path(table).read_text().splitlines()[1:]:
                cols = text.split()
                if len(cols) < 10 or cols[3] != "01" or int(cols[9]) not in inodes:
                    continue
                if int(cols[1].rsplit(":", 1)[1], 16) == port:
                    peers.add(int(cols[2].rsplit(":", 1)[1], 16))
    return peers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- the server

@dataclass
class Server:
    """``diffapi serve --host 127.0.0.1 --port P --workers N`` as a subprocess (own session,
    stdout — the access log — discarded, stderr kept in a temporary file)."""

    workers: int
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pool_size(self) -> int:
        """Engine processes per uvicorn worker (``DIFFAPI_MAX_CONCURRENT_JOBS``)."""
        value = self.env.get("DIFFAPI_MAX_CONCURRENT_JOBS",
                             os.environ.get("DIFFAPI_MAX_CONCURRENT_JOBS", ""))
        return int(value) if value.strip() else (os.cpu_count() or 1)

    @property
    def master(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def app_root(self) -> Path:
        """The checkout whose app is served: this one, or ``DIFFAPI_BENCH_APP_ROOT`` (another
        checkout, e.g. with a fix, run with this venv's packages)."""
        return Path(os.environ.get("DIFFAPI_BENCH_APP_ROOT") or ROOT).resolve()

    def command(self) -> list[str]:
        exe = Path(sys.executable).with_name("diffapi")
        if exe.exists() and self.app_root == ROOT:
            head = [str(exe)]
        else:
            head = [sys.executable, "-m", "app.cli"]
        return [*head, "serve", "--host", HOST, "--port", str(self.port),
                "--workers", str(self.workers)]

    def start(self, timeout: float = 90.0) -> Server:
        """Start the server and wait (at most ``timeout`` s) until every uvicorn worker and
        engine process is up and /healthz answers."""
        self._tmp = tempfile.TemporaryDirectory(prefix="diffapi-bench-")
        env = os.environ | self.env
        if self.app_root != ROOT:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.app_root),
                                                              env.get("PYTHONPATH")]))
        if self.workers > 1:
            # what `diffapi serve` would do itself, but in a directory removed afterwards
            metrics = Path(self._tmp.name) / "metrics"
            metrics.mkdir()
            env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics))
        self._log = open(Path(self._tmp.name) / "stderr.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(self.command(), cwd=self.app_root, env=env,
                                     stdout=subprocess.DEVNULL, stderr=self._log,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout * 10) + 1):  # bounded in count and in time
            if time.monotonic() >= deadline:
                break
            if self.proc.poll() is not None:
                text = self.stderr()[-2000:]
                self.stop()
                raise RuntimeError(f"server exited with {self.proc.returncode}: {text}")
            if self.ready():
                return self
            time.sleep(0.1)
        text = self.stderr()[-2000:]
        self.stop()
        raise RuntimeError(f"server not ready within {timeout:.0f} s: {text}")

    def ready(self) -> bool:
        """All workers and engine processes are up and /healthz answers 200."""
        pids = self.worker_pids()
        if len(pids) != self.workers or any(len(self.engine_pids(p)) < self.pool_size
                                            for p in pids):
            return False
        return http_status(self.port, "/healthz") == 200

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (with one worker, uvicorn serves in the master)."""
        if self.workers == 1:
            return [self.master] if alive(self.master) else []
        return [p for p in children(self.master) if "resource_tracker" not in cmdline(p)]

    def engine_pids(self, worker: int) -> list[int]:
        """The engine processes (app/pool.py) of one uvicorn worker."""
        return [p for p in children(worker)
                if "resource_tracker" not in cmdline(p) and "spawn_main" in cmdline(p)]

    def tree(self) -> dict[int, list[int]]:
        """uvicorn worker pid → its engine pids."""
        return {w: self.engine_pids(w) for w in self.worker_pids()}

    def all_pids(self) -> list[int]:
        pids = [self.master]
        for pid in pids:
            pids += [c for c in children(pid) if c not in pids]
        return pids

    def cpu(self) -> float:
        """CPU seconds used so far by the master, its workers and engine processes."""
        return sum(cpu_seconds(p) for p in self.all_pids())

    def stderr(self) -> str:
        if self._tmp is None:
            return ""
        with contextlib.suppress(FileNotFoundError):
            return (Path(self._tmp.name) / "stderr.log").read_text(errors="replace")
        return ""

    def stop(self) -> None:
        """SIGTERM to the master (graceful), then SIGKILL to what is left of its process
        group (only processes this server started) after 20 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=20)
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None) is not None:
            self._log.close()
        if self._tmp is not None:
            self.last_stderr = self.stderr()
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def http_status(port: int, path: str, timeout: float = 2.0) -> int | None:
    """Status of a one-off GET on 127.0.0.1:port (None on a connection error)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
                      .encode())
            head = s.recv(64)
    except OSError:
        return None
    try:
        return int(head.split()[1])
    except (IndexError, ValueError):
        return None


# ---------------------------------------------------------------- load generators

@dataclass
class LoadResult:
    """One bounded load-generator run against one URL."""

    tool: str
    url: str
    connections: int
    seconds: float
    requests: int
    rps: float
    p50: float
    p90: float
    p99: float
    p999: float | None
    max: float
    errors: int
    """Connect, read, write and timeout errors."""
    non_2xx: int
    usage: Usage


@dataclass
class Usage:
    """Where the machine's CPU went during a run (CPU-seconds per second, i.e. cores)."""

    server: float
    """All processes of the server."""
    workers: list[float]
    """Each uvicorn worker (with its engine processes), busiest first."""
    client: float
    """The load generator."""
    others: float
    """Everything else on the machine (other tenants included)."""
    spread: list[int]
    """Client connections held by each uvicorn worker at mid-run, most first."""


def _machine_busy() -> float:
    """Busy CPU-seconds of the whole machine so far (/proc/stat, all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICKS


def _child_cpu() -> float:
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_tool(server: Server, cmd: list[str], seconds: float,
              env: dict[str, str] | None = None) -> tuple[str, Usage]:
    """Run a load generator for about ``seconds`` (killed at ``seconds`` + 30), sampling
    the connections per worker at mid-run and the CPU used by everyone."""
    def per_worker() -> dict[int, float]:
        return {w: cpu_seconds(w) + sum(cpu_seconds(e) for e in server.engine_pids(w))
                for w in server.worker_pids()}

    cpu0, ccpu0, m0, w0 = server.cpu(), _child_cpu(), _machine_busy(), per_worker()
    t0 = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=None if env is None else os.environ | env) as proc:
        time.sleep(seconds / 2)
        spread = sorted((len(established_peers(w, server.port)) for w in server.worker_pids()),
                        reverse=True)
        try:
            out, err = proc.communicate(timeout=seconds / 2 + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    wall = time.perf_counter() - t0
    cpu1, ccpu1, m1, w1 = server.cpu(), _child_cpu(), _machine_busy(), per_worker()
    server_cpu, client_cpu = (cpu1 - cpu0) / wall, (ccpu1 - ccpu0) / wall
    workers = sorted(((w1[w] - w0.get(w, 0.0)) / wall for w in w1), reverse=True)
    others = max(0.0, (m1 - m0) / wall - server_cpu - client_cpu)
    return out + "\n" + err, Usage(server_cpu, workers, client_cpu, others, spread)


def run_wrk(server: Server, path: str, connections: int, seconds: float, *,
            body: dict[str, Any] | None = None, threads: int = 1) -> LoadResult:
    """``wrk -t{threads} -c{connections} -d{seconds}s`` against ``path`` (a POST of ``body``
    as JSON when given), bounded by ``seconds`` (killed after ``seconds`` + 30)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        if body is not None:
            json.dump(body, f)
        body_path = f.name if body is not None else ""
    seconds = max(1, math.ceil(seconds))  # wrk takes whole seconds only
    cmd = [wrk, f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds}s",
           "--timeout", "10s", "-s", str(WRK_SCRIPT), server.url + path, "--", body_path]
    try:
        text, usage = _run_tool(server, cmd, seconds)
    finally:
        os.unlink(f.name)
    line = next((x for x in text.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no report: {text[-800:]}")
    d = json.loads(line[len("WRK_JSON "):])
    secs = d["duration_us"] / 1e6
    return LoadResult("wrk", path, connections, secs, d["requests"], d["requests"] / secs,
                      d["p50_us"] / 1e6, d["p90_us"] / 1e6, d["p99_us"] / 1e6,
                      d["p999_us"] / 1e6, d["max_us"] / 1e6,
                      d["connect"] + d["read"] + d["write"] + d["timeout"], d["status"], usage)


def run_hey(server: Server, path: str, connections: int, seconds: float, *,
            body: dict[str, Any] | None = None, procs: int = 1) -> LoadResult:
    """``hey -z {seconds}s -c {connections}`` with ``GOMAXPROCS={procs}`` (a cross-check of
    wrk; hey keeps every latency, so its percentiles are exact)."""
    hey = shutil.which("hey")
    if hey is None:
        raise RuntimeError("hey is not installed (apt-get install hey)")
    cmd = [hey, "-z", f"{seconds:g}s", "-c", str(connections), "-t", "10"]
    if body is not None:
        cmd += ["-m", "POST", "-T", "application/json", "-d", json.dumps(body)]
    cmd.append(server.url + path)
    text, usage = _run_tool(server, cmd, seconds, {"GOMAXPROCS": str(procs)})
    values: dict[str, float] = {}
    status: dict[int, int] = {}
    errors = 0
    section = ""
    for raw in text.splitlines():
        s = raw.strip()
        if s.startswith(("Total:", "Requests/sec:", "Slowest:")):
            key, value = s.split(":", 1)
            values[key] = float(value.split()[0])
        elif s.endswith(("Latency distribution:", "Status code distribution:",
                         "Error distribution:")):
            section = s
        elif section.startswith("Latency") and "% in " in s:
            pct, rest = s.split("% in ")
            values[f"p{pct}"] = float(rest.split()[0])
        elif section.startswith("Status") and s.startswith("["):
            code, count = s[1:].split("]")
            status[int(code)] = int(count.split()[0])
        elif section.startswith("Error") and s.startswith("["):
            errors += int(s[1:].split("]")[0])
    if "Requests/sec" not in values:
        raise RuntimeError(f"hey gave no report: {text[-800:]}")
    total = sum(status.values())
    secs = values.get("Total", seconds)
    return LoadResult("hey", path, connections, secs, total, values["Requests/sec"],
                      values.get("p50", float("nan")), values.get("p90", float("nan")),
                      values.get("p99", float("nan")), None, values.get("Slowest", float("nan")),
                      errors, sum(n for code, n in status.items() if not 200 <= code < 300),
                      usage)


# ---------------------------------------------------------------- small helpers

def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    data = sorted(values)
    k = (len(data) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float | None) -> str:
    """``3.61 ms``, ``—`` for None/nan."""
    if seconds is None or seconds != seconds:
        return "—"
    return f"{seconds * 1e3:.2f} ms" if seconds < 10 else f"{seconds:.1f} s"


def machine() -> str:
    """CPUs and load average, for the report."""
    load = os.getloadavg()
    return (f"{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
            f"(1/5/15 min)")
