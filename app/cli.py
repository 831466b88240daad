"""The ``diffapi`` console command: ``diffapi serve [--host H] [--port P] [--workers N]``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence

from app import serving
from app.settings import Settings


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run it."""
    parser = argparse.ArgumentParser(prog="diffapi", description="Differentiation as a web "
                                     "service; settings come from DIFFAPI_* variables.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API with uvicorn "
                                   "workers (SIGTERM drains first)")
    serve.add_argument("--host", help="interface to bind (default: DIFFAPI_HOST, HOST or "
                                      "127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: DIFFAPI_PORT, PORT or 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default: "
                                                   "DIFFAPI_WORKERS, WORKERS or 1)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as error:
        parser.error(str(error))
    workers = settings.workers if args.workers is None else args.workers
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker process counts on its own; a shared directory lets /metrics sum them.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="diffapi-metrics-")
    code = serving.serve(settings, settings.host if args.host is None else args.host,
                         settings.port if args.port is None else args.port, workers)
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main()
