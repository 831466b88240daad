"""The ``diffapi`` console command: ``diffapi serve [--host H] [--port P] [--workers N]``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence

import engine
from app import serving
from app.settings import Settings
from engine.errors import EngineError


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
    dump = commands.add_parser("dump", help="print the graph IR an operation evaluates")
    dump.add_argument("expression")
    dump.add_argument("--operation", default="evaluate", help="evaluate (default), gradient, "
                      "jacobian, hessian, jvp, vjp or hvp")
    dump.add_argument("--shape", action="append", default=[], metavar="NAME=N,M",
                      help="a tensor variable's shape (names are scalars otherwise)")
    dump.add_argument("--variables", help="comma-separated differentiated names (default: all)")
    args = parser.parse_args(argv)
    if args.command == "dump":
        print(_dump(parser, args))
        return
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


def _dump(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """``engine.dump`` of the command line's expression; errors are usage errors."""
    try:
        shapes = {name: [int(n) for n in dims.split(",") if n]
                  for name, _, dims in (s.partition("=") for s in args.shape)}
        variables = args.variables.split(",") if args.variables else None
        return engine.dump(args.expression, operation=args.operation, shapes=shapes,
                           variables=variables)
    except (ValueError, EngineError) as error:
        parser.error(str(error))


if __name__ == "__main__":
    main()
