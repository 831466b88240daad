"""``python -m benchmarks [--quick] [--profile] [--list] [FILTER ...]``.

FILTER selects benchmarks by key (``2.1``), group (``first_order``, ``taylor``, ``accuracy``,
``service``, ``soak``, ``dataplane``, ``nlp``, ``serving``) or part of a name (``rosenbrock``,
``cold``);
``all`` selects everything. Without a filter the engine benchmarks run; the service ones
(``service``: wrk/hey load; ``soak``: mixed load, memory, worker kill; ``dataplane``: big
batches and vectors over HTTP, JSON and base64, against the engine in process; ``nlp``: Ipopt
through ``/v1/nlp`` against CasADi, one call against five; ``serving``: workers on SO_REUSEPORT
sockets, replicas behind HAProxy killed and rolled) start real servers on 127.0.0.1, take
minutes and run only when a filter names them. Prints a PASS/FAIL line per target as it goes,
then a markdown summary. Always exits 0 when the benchmarks ran (a missed target is a finding,
not a crash).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from time import perf_counter

import numpy as np

from benchmarks import engine_accuracy, engine_first_order, engine_sparse, engine_taylor, engine_vm
from benchmarks.harness import (
    REGISTRY,
    Config,
    Row,
    Session,
    line,
    load_torch,
    profile_text,
    summary,
)

try:  # the service benchmarks need httpx (a dev dependency); the engine ones do not
    from benchmarks import nlp, service_dataplane, service_load, service_soak, serving
except ImportError as error:
    SERVICE_GROUPS: tuple[object, ...] = ()
    SERVICE_MISSING = f"service benchmarks unavailable: {error}"
else:
    SERVICE_GROUPS = (service_load, service_soak, service_dataplane, nlp, serving)
    SERVICE_MISSING = ""

GROUPS = (engine_first_order, engine_taylor, engine_accuracy, engine_sparse, engine_vm,
          *SERVICE_GROUPS)
"""The modules whose import registers the benchmarks."""


def _environment() -> str:
    torch = load_torch()
    torch_text = ("not installed (torch baselines skipped)" if torch is None
                  else f"{torch.__version__}, {torch.get_num_threads()} intra-op threads")
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (f"Python {platform.python_version()}, numpy {np.__version__}, torch {torch_text}; "
            f"{os.cpu_count()} CPUs{load}, {platform.machine()} {platform.system()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("filters", nargs="*", metavar="FILTER",
                        help="benchmark key, group or part of a name (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats and a smaller torch budget (a smoke run)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the engine call of every failing target")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--load-seconds", type=float, metavar="S",
                        help="seconds of each wrk/hey run of the service benchmarks "
                             "(default 10; 3 with --quick)")
    parser.add_argument("--soak-seconds", type=float, metavar="S",
                        help="seconds of the mixed soak load (default 60; 15 with --quick)")
    parser.add_argument("--kill-seconds", type=float, metavar="S",
                        help="seconds of the mixed load around the worker kill (default 20; "
                             "14 with --quick)")
    parser.add_argument("--torch-threads", type=int, metavar="N",
                        help="torch.set_num_threads(N) for the baselines (default: torch's "
                             "own default; numpy's elementwise work is single-threaded)")
    args = parser.parse_args(argv)
    torch = load_torch()
    if torch is not None and args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    chosen = [b for b in REGISTRY if b.matches(args.filters)]
    if SERVICE_MISSING and (args.list or args.filters):
        print(SERVICE_MISSING)
    if args.list or not chosen:
        if not chosen:
            print(f"no benchmark matches {args.filters}; the benchmarks are:")
        for b in REGISTRY:
            flag = "  (only when named)" if b.explicit else ""
            print(f"{b.key:5} {b.group:12} {b.slug}{flag}")
        return 0
    for name in ("load_seconds", "soak_seconds", "kill_seconds"):
        value = getattr(args, name)
        if value is not None and not 0 < value <= 3600:
            parser.error(f"--{name.replace('_', '-')} must be in (0, 3600]")
    cfg = Config(quick=args.quick, profile=args.profile, load_seconds=args.load_seconds,
                 soak_seconds=args.soak_seconds, kill_seconds=args.kill_seconds)
    session = Session(cfg)
    print(f"# diffapi benchmarks{' (quick)' if cfg.quick else ''}\n")
    print(_environment())
    print(f"{cfg.repeats} interleaved repeats per benchmark; ratios are engine time / baseline "
          f"time of the best repeat (median of per-repeat ratios in brackets).\n", flush=True)
    rows: list[Row] = []
    start = perf_counter()
    for b in chosen:
        try:
            got = b.run(session)
        except Exception as exc:  # a broken benchmark is reported, the others still run
            got = [Row(b.key, b.slug, None, "—", None, limit=0.0, target="runs", ok=False,
                       note=f"error: {type(exc).__name__}: {exc}")]
        for row in got:
            print(line(row), flush=True)
        rows += got
    elapsed = perf_counter() - start
    failing = [r for r in rows if r.ok is False]
    passing = [r for r in rows if r.ok]
    print(f"\n## Summary ({len(passing)} PASS, {len(failing)} FAIL, {elapsed:.0f} s)\n")
    print(summary(rows))
    for title, text in session.sections:
        print(f"\n## {title}\n\n{text}")
    if cfg.profile:
        for r in failing:
            if r.profile is not None:
                print(f"\n## Profile of {r.key} (engine side, top functions by own time)\n")
                print("```\n" + profile_text(r.profile) + "\n```", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
