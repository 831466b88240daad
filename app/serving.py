"""How ``diffapi serve`` runs: uvicorn workers, each on its own ``SO_REUSEPORT`` socket.

One worker serves in this process. With N > 1 this process is a small supervisor: it binds N
listening sockets to the same address with ``SO_REUSEPORT``, so the kernel spreads incoming
connections over them (by a hash of the client address and port) instead of letting whichever
worker wakes first accept them all, as happens with uvicorn's single shared socket; it starts one
worker process per socket (``python -m app.serving --fd N``), starts a new worker on the same
socket when one dies (connections queued on that socket meanwhile wait, they are not lost), and on
SIGTERM closes its copies of the sockets and passes the signal on, so every worker drains
(app.drain) and then shuts down gracefully. The Prometheus multiprocess directory is shared by the
workers and a dead worker's live gauges are removed from it.
"""

from __future__ import annotations

import argparse
import copy
import logging
import logging.config
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.importer import import_from_string

from app.drain import Drain, DrainingServer, DrainMiddleware
from app.settings import Settings

APP = "app.main:app"
BACKLOG = 2048
QUICK_DEATH_SECONDS = 5.0
"""A worker that exits sooner than this after its start counts as failing to start."""
MAX_QUICK_DEATHS = 5
"""Consecutive failed starts after which the supervisor gives up (a broken installation)."""
TICK_SECONDS = 0.2

log = logging.getLogger("uvicorn.error")


def log_config() -> dict[str, Any]:
    """Uvicorn's logging set-up plus the ``diffapi.access`` logger (bare JSON lines)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["json_line"] = {"format": "%(message)s"}
    config["handlers"]["json_line"] = {"class": "logging.StreamHandler",
                                       "formatter": "json_line",
                                       "stream": "ext://sys.stdout"}
    config["loggers"]["diffapi.access"] = {"handlers": ["json_line"], "level": "INFO",
                                           "propagate": False}
    return config


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening (IPv6 when ``host`` has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings, host: str, port: int, workers: int) -> int:
    """Serve the API on ``host:port`` with ``workers`` uvicorn workers until stopped; the exit
    status (0 after a graceful stop)."""
    if workers <= 1:
        run_worker(listening_socket(host, port, reuse_port=False), settings)
        return 0
    sockets = [listening_socket(host, port, reuse_port=True) for _ in range(workers)]
    logging.config.dictConfig(log_config())
    log.info("Serving on http://%s:%d with %d workers, one SO_REUSEPORT socket each",
             host, port, workers)
    return Supervisor(sockets, settings).run()


def run_worker(sock: socket.socket, settings: Settings, *, supervised: bool = False) -> None:
    """Serve the application on the listening ``sock`` in this process, draining on SIGTERM."""
    drain = Drain(settings.drain_seconds)
    config = uvicorn.Config(
        DrainMiddleware(import_from_string(APP), drain),
        http="httptools",  # uvicorn[standard]: fast parser, and uvloop sets TCP_NODELAY
        loop="uvloop",
        access_log=False,  # app.observability writes one JSON line per request instead
        log_config=log_config(),
        # in-flight requests are bounded by the request timeout: give them that, and a second
        timeout_graceful_shutdown=math.ceil(settings.request_timeout_seconds) + 1,
    )
    DrainingServer(config, drain, supervised=supervised).run(sockets=[sock])


class Supervisor:
    """Keeps one worker process per listening socket until SIGTERM or SIGINT."""

    def __init__(self, sockets: Sequence[socket.socket], settings: Settings) -> None:
        self.sockets = list(sockets)
        self.settings = settings
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * len(sockets)
        self.started: list[float] = [0.0] * len(sockets)
        self.stop_signal: int | None = None

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.stop_signal = sig

    def start(self, index: int) -> int:
        """Start the worker of socket ``index``; its pid."""
        fd = self.sockets[index].fileno()
        proc = subprocess.Popen([sys.executable, "-m", "app.serving", "--fd", str(fd)],
                                pass_fds=(fd,))
        self.workers[index] = proc
        self.started[index] = time.monotonic()
        return proc.pid

    def run(self) -> int:
        """Start the workers, replace dead ones, stop them all on a signal; the exit status."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        for index in range(len(self.sockets)):
            self.start(index)
        quick_deaths = 0
        while self.stop_signal is None:
            time.sleep(TICK_SECONDS)
            self._reap_orphans()
            for index, proc in enumerate(self.workers):
                if proc is None or proc.poll() is None or self.stop_signal is not None:
                    continue
                uptime = time.monotonic() - self.started[index]
                quick_deaths = quick_deaths + 1 if uptime < QUICK_DEATH_SECONDS else 0
                log.warning("Worker %d exited with %s after %.1f s", proc.pid, proc.returncode,
                            uptime)
                _forget_metrics(proc.pid)
                if quick_deaths >= MAX_QUICK_DEATHS:
                    log.error("Workers keep failing at start; stopping")
                    self.stop_signal = signal.SIGTERM
                    self.stop()
                    return 1
                log.info("Started worker %d in place of %d", self.start(index), proc.pid)
        self.stop()
        return 0

    def _reap_orphans(self) -> None:
        """Collect exited processes that are not workers: as PID 1 of a container this process
        inherits the engine processes of a killed worker, which would stay zombies."""
        ours = {p.pid for p in self.workers if p is not None}
        while True:
            try:
                found = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if found is None or found.si_pid in ours:
                return
            os.waitpid(found.si_pid, 0)

    def stop(self) -> None:
        """Close the listening sockets here, SIGTERM every worker (each drains, then stops),
        wait for them; SIGKILL what is left after the drain and the graceful timeout."""
        for sock in self.sockets:
            sock.close()
        live = [p for p in self.workers if p is not None and p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        deadline = (time.monotonic() + self.settings.drain_seconds
                    + self.settings.request_timeout_seconds + 10)
        for proc in live:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("Worker %d did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.wait()
            _forget_metrics(proc.pid)


def _forget_metrics(pid: int) -> None:
    """Drop a dead worker's live gauges from the Prometheus multiprocess directory."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def worker_main(argv: Sequence[str] | None = None) -> None:
    """Entry point of a supervised worker: serve on the inherited listening socket ``--fd``."""
    parser = argparse.ArgumentParser(prog="python -m app.serving")
    parser.add_argument("--fd", type=int, required=True, help="inherited listening socket")
    args = parser.parse_args(argv)
    run_worker(socket.socket(fileno=args.fd), Settings.from_env(), supervised=True)


if __name__ == "__main__":
    worker_main()
