"""``diffapi serve``: one SO_REUSEPORT socket per uvicorn worker, worker replacement, metrics
summed over workers, and the drain on SIGTERM (app.serving, app.drain)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.drain import Drain, DrainMiddleware
from app.main import create_app
from app.settings import Settings
from benchmarks.service_common import children, cmdline, established_peers
from benchmarks.serving_cluster import free_port, get_status, wait_for

ROOT = Path(__file__).resolve().parents[2]
SEED = {"expression": "x**2 + 3*x + 1", "point": {"x": 2}}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_drain_turns_readiness_off_and_closes_connections() -> None:
    drain = Drain(seconds=5)
    app = DrainMiddleware(create_app(Settings()), drain)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        before = await client.get("/healthz")
        assert (before.status_code, before.json()) == (200, {"status": "ok"})
        assert "connection" not in before.headers
        drain.start()
        health = await client.get("/healthz")
        assert (health.status_code, health.json()) == (503, {"status": "draining"})
        assert health.headers["connection"] == "close"
        answer = await client.post("/v1/gradient", json=SEED)
        assert answer.status_code == 200
        assert (answer.json()["value"], answer.json()["gradient"]) == (11.0, {"x": 7.0})
        assert answer.headers["connection"] == "close"
    assert not drain.over()


def _listening_inodes(port: int) -> set[int]:
    """Socket inodes of the TCP sockets listening on 127.0.0.1:port (/proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(int(cols[9]))
    return inodes


def _socket_inodes(pid: int) -> set[int]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            found.add(int(link[8:-1]))
    return found


def _workers(master: int) -> list[int]:
    return [p for p in children(master) if "app.serving" in cmdline(p)]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``diffapi serve --workers 2``, shared by the tests below in their order (the last one
    stops it)."""
    tmp_path = tmp_path_factory.mktemp("two-workers")
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DIFFAPI_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env |= {"DIFFAPI_MAX_CONCURRENT_JOBS": "1", "DIFFAPI_DRAIN_SECONDS": "2"}
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "2"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
                            start_new_session=True)
    log.close()
    try:
        wait_for(lambda: len(_workers(proc.pid)) == 2
                 and get_status(f"http://127.0.0.1:{port}/healthz") == 200, 60, "two workers")
        yield proc, port
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_each_worker_has_its_own_socket_and_connections_spread(
        two_workers: tuple[subprocess.Popen[bytes], int]) -> None:
    proc, port = two_workers
    workers = _workers(proc.pid)
    listening = _listening_inodes(port)
    assert len(listening) == 2
    held = [_socket_inodes(w) & listening for w in workers]
    assert all(len(h) == 1 for h in held) and held[0] != held[1]
    # 32 keep-alive connections: the kernel's hash puts fewer than 4 on one socket with
    # probability 3e-6 (binomial), where the shared socket of uvicorn gave 16/0 splits
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
    try:
        for c in conns:
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        for c in conns:
            assert c.recv(4096).startswith(b"HTTP/1.1 200")
        split = sorted(len(established_peers(w, port)) for w in workers)
        assert sum(split) == 32 and split[0] >= 4, split
    finally:
        for c in conns:
            c.close()


def test_a_killed_worker_is_replaced_and_metrics_keep_counting(
        two_workers: tuple[subprocess.Popen[bytes], int]) -> None:
    proc, port = two_workers
    url = f"http://127.0.0.1:{port}"
    for _ in range(20):
        assert httpx.get(url + "/healthz", headers={"Connection": "close"}).status_code == 200
    victim, survivor = _workers(proc.pid)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(set(_workers(proc.pid)) - {victim, survivor}) == 1, 30,
             "a replacement worker")
    replacement = (set(_workers(proc.pid)) - {survivor}).pop()
    wait_for(lambda: len(_socket_inodes(replacement) & _listening_inodes(port)) == 1, 30,
             "the replacement on the dead worker's socket")
    for _ in range(40):  # new connections reach both workers again, none is refused: those on
        # the new worker's socket wait in its queue while it starts (seconds on a busy machine)
        assert httpx.get(url + "/healthz", headers={"Connection": "close"},
                         timeout=60).status_code == 200
    text = httpx.get(url + "/metrics").text
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line.startswith("diffapi_requests_total{") and '"/healthz"' in line)
    assert counted >= 60  # the dead worker's counts stay in the multiprocess directory
    assert proc.poll() is None


def test_sigterm_drains_then_exits(two_workers: tuple[subprocess.Popen[bytes], int]) -> None:
    proc, port = two_workers
    url = f"http://127.0.0.1:{port}"
    workers = _workers(proc.pid)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    wait_for(lambda: get_status(url + "/healthz") == 503, 5, "/healthz answering 503")
    health = httpx.get(url + "/healthz")
    assert health.json() == {"status": "draining"}
    answer = httpx.post(url + "/v1/gradient", json=SEED)
    assert answer.status_code == 200 and answer.json()["gradient"] == {"x": 7.0}
    assert answer.headers["connection"] == "close"
    assert proc.wait(timeout=30) == 0
    assert time.monotonic() - t0 >= 2  # DIFFAPI_DRAIN_SECONDS
    assert not any(Path(f"/proc/{w}").exists() and "app.serving" in cmdline(w)
                   for w in workers)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/healthz")
