"""Timing, rows and reporting shared by the benchmark groups.

Every benchmark times the engine and its baseline in the same process, interleaved: each repeat
runs every candidate once (a calibrated number of calls), in a rotated order, with the garbage
collector paused (as ``timeit`` does). A row reports the ratio of the best-of-repeats times and,
as a check on noise, the median of the per-repeat ratios. Targets are ratios, never absolute times
(except the order-100 budget, which is an absolute time by its own definition).
"""

from __future__ import annotations

import cProfile
import gc
import io
import math
import pstats
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any


@dataclass(frozen=True)
class Config:
    """How hard to measure."""

    quick: bool = False
    profile: bool = False
    load_seconds: float | None = None
    """Seconds of each load-generator run of the service benchmarks (default 10, quick 3)."""
    soak_seconds: float | None = None
    """Seconds of the mixed soak load (default 60, quick 15)."""
    kill_seconds: float | None = None
    """Seconds of the mixed load around the worker kill (default 20, quick 14)."""

    @property
    def repeats(self) -> int:
        """Interleaved repeats per benchmark: many short ones, so that the best of them is
        rarely hit by other processes (torch's worker threads are the first to suffer)."""
        return 7 if self.quick else 31

    @property
    def min_time(self) -> float:
        """Seconds one repeat of one candidate lasts at least (calls are batched up to it)."""
        return 0.003 if self.quick else 0.005

    @property
    def torch_budget(self) -> float:
        """Seconds the nested-grad accuracy run of torch may take before higher orders are
        skipped (by projection of its growth per order)."""
        return 5.0 if self.quick else 20.0

    @property
    def load_duration(self) -> float:
        """Seconds of one wrk/hey run (each run is bounded by it)."""
        return self.load_seconds or (3.0 if self.quick else 10.0)

    @property
    def load_rounds(self) -> int:
        """Interleaved rounds of the service load matrix (best and median over them)."""
        return 1 if self.quick else 2

    @property
    def soak_duration(self) -> float:
        """Seconds of the mixed soak load."""
        return self.soak_seconds or (15.0 if self.quick else 60.0)

    @property
    def kill_duration(self) -> float:
        """Seconds of the mixed load of the worker-kill phase (the kill is at its middle)."""
        return self.kill_seconds or (14.0 if self.quick else 20.0)


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one candidate over the repeats."""

    best: float
    median: float
    number: int
    """Calls per repeat."""
    samples: list[float]


def _calibrate(fn: Callable[[], Any], min_time: float, max_number: int) -> int:
    """Calls per repeat so that one repeat lasts at least ``min_time``."""
    n = 1
    while True:
        t0 = perf_counter()
        for _ in range(n):
            fn()
        dt = perf_counter() - t0
        if dt >= min_time or n >= max_number:
            return n
        n = min(max_number, max(2 * n, math.ceil(1.2 * n * min_time / max(dt, 1e-9))))


def measure(candidates: dict[str, Callable[[], Any]], cfg: Config, *, warmup: int = 2,
            max_number: int = 20_000, repeats: int | None = None) -> dict[str, Timing]:
    """Warm up, calibrate, then time every candidate ``repeats`` times, interleaved."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    numbers = {name: _calibrate(fn, cfg.min_time, max_number)
               for name, fn in candidates.items()}
    names = list(candidates)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats or cfg.repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            fn, n = candidates[name], numbers[name]
            enabled = gc.isenabled()
            gc.disable()
            try:
                t0 = perf_counter()
                for _ in range(n):
                    fn()
                dt = perf_counter() - t0
            finally:
                if enabled:
                    gc.enable()
            samples[name].append(dt / n)
    return {name: Timing(min(s), statistics.median(s), numbers[name], s)
            for name, s in samples.items()}


@dataclass
class Row:
    """One line of the summary: the engine against a baseline, or an informational number."""

    key: str
    title: str
    engine: float | None
    """Engine seconds per call (best of repeats)."""
    baseline: str
    baseline_time: float | None
    limit: float | None = None
    """Target: ``engine / baseline_time <= limit``; None for an informational row."""
    target: str = "report"
    ratio: float | None = None
    median_ratio: float | None = None
    ok: bool | None = None
    note: str = ""
    profile: Callable[[], Any] | None = field(default=None, repr=False)
    """The engine call, for ``--profile`` of a failing target."""
    engine_text: str | None = None
    """Shown instead of the engine time (e.g. an error rather than a time)."""
    baseline_text: str | None = None
    """Shown instead of the baseline time."""

    @property
    def verdict(self) -> str:
        """PASS, FAIL or info."""
        if self.ok is None:
            return "info"
        return "PASS" if self.ok else "FAIL"


def compare(key: str, title: str, timings: dict[str, Timing], engine: str, baseline: str, *,
            limit: float | None, target: str, correct: bool = True, note: str = "",
            profile: Callable[[], Any] | None = None) -> Row:
    """A row from interleaved timings of ``engine`` and ``baseline`` (an informational row
    naming the missing baseline when it was not timed, e.g. torch is not installed)."""
    e, b = timings[engine], timings.get(baseline)
    if b is None:
        missing = f"{baseline} not run (torch not installed)"
        return info(key, title, e.best, "; ".join(filter(None, [missing, note])))
    ratio = e.best / b.best
    paired = statistics.median(x / y for x, y in zip(e.samples, b.samples, strict=True))
    ok = None if limit is None else (correct and ratio <= limit)
    if not correct:
        note = "; ".join(filter(None, ["WRONG RESULT", note]))
    return Row(key, title, e.best, baseline, b.best, limit, target, ratio, paired, ok, note,
               profile)


def info(key: str, title: str, seconds: float | None, note: str = "", *,
         baseline: str = "—", baseline_time: float | None = None) -> Row:
    """An informational row (no target)."""
    ratio = (seconds / baseline_time if seconds is not None and baseline_time else None)
    return Row(key, title, seconds, baseline, baseline_time, ratio=ratio, note=note)


def fmt_time(seconds: float | None) -> str:
    """``12.3 µs``, ``4.56 ms``, ``1.23 s``."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(ratio: float | None) -> str:
    """``1.23×``, or ``0.0012×`` for the large speed-ups."""
    if ratio is None:
        return "—"
    if ratio >= 0.1:
        return f"{ratio:.2f}×"
    return f"{ratio:.2g}×"


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    """The summary table of all rows."""
    headers = ["#", "benchmark", "engine", "baseline", "baseline time", "engine/baseline (best)",
               "(median)", "target", "result", "note"]
    body = [[r.key, r.title, r.engine_text or fmt_time(r.engine), r.baseline,
             r.baseline_text or fmt_time(r.baseline_time),
             fmt_ratio(r.ratio), fmt_ratio(r.median_ratio), r.target, r.verdict, r.note]
            for r in rows]
    return markdown_table(headers, body)


def line(row: Row) -> str:
    """A one-line progress report of a row."""
    parts = [f"[{row.verdict}]", row.key, row.title,
             f"engine {row.engine_text or fmt_time(row.engine)}"]
    if row.baseline_time is not None or row.baseline_text:
        parts.append(f"{row.baseline} {row.baseline_text or fmt_time(row.baseline_time)}")
    if row.ratio is not None:
        parts.append(f"ratio {fmt_ratio(row.ratio)} (median {fmt_ratio(row.median_ratio)})")
    if row.limit is not None:
        parts.append(f"target {row.target}")
    if row.note:
        parts.append(f"— {row.note}")
    return "  ".join(parts)


def profile_text(fn: Callable[[], Any], seconds: float = 1.0, top: int = 15) -> str:
    """cProfile of repeated calls of ``fn`` for about ``seconds``: the top functions by own
    time, then by cumulative time (where the stages — parse, lower, transform, plan, run —
    show up)."""
    fn()
    prof = cProfile.Profile()
    calls, t0 = 0, perf_counter()
    prof.enable()
    while perf_counter() - t0 < seconds or calls == 0:
        fn()
        calls += 1
    prof.disable()
    parts = [f"{calls} calls profiled"]
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats(key).print_stats(top)
        text = out.getvalue()
        start = text.find("   ncalls")
        parts.append(f"-- by {key}\n" + (text[start:] if start >= 0 else text).rstrip())
    return "\n".join(parts)


@dataclass
class Session:
    """What one benchmark run collects besides rows: extra markdown sections."""

    cfg: Config
    sections: list[tuple[str, str]] = field(default_factory=list)

    def section(self, title: str, text: str) -> None:
        """Add a markdown section printed after the summary table."""
        self.sections.append((title, text))


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark: ``run(session)`` returns its rows."""

    key: str
    slug: str
    group: str
    run: Callable[[Session], list[Row]]
    explicit: bool = False
    """Run only when a filter names it (the service benchmarks start servers and take minutes)."""

    def matches(self, filters: list[str]) -> bool:
        """True if a filter names this benchmark's key, slug or group, or if no filter is given
        and the benchmark is not ``explicit``."""
        if not filters:
            return not self.explicit
        if "all" in filters:
            return True
        return any(f == self.key or f.lower() in self.slug or f.lower() in self.group
                   for f in filters)


REGISTRY: list[Benchmark] = []


def benchmark(key: str, slug: str, group: str, *, explicit: bool = False
              ) -> Callable[[Callable[[Session], list[Row]]], Callable[[Session], list[Row]]]:
    """Register a benchmark function under ``key`` (e.g. "2.1"), ``slug`` and ``group``;
    an ``explicit`` one runs only when a filter names it."""
    def register(fn: Callable[[Session], list[Row]]) -> Callable[[Session], list[Row]]:
        REGISTRY.append(Benchmark(key, slug, group, fn, explicit))
        return fn
    return register


def load_torch() -> Any:
    """The torch module, or None when it is not installed (baselines are then skipped)."""
    try:
        import torch
    except ImportError:
        return None
    return torch
