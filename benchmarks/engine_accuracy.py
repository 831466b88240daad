"""Benchmarks: what the accuracy contract of high orders costs (API.md §7) — the error
estimate on a warm call, ``"auto"`` escalation and an explicit ``"precision": 50``."""

from __future__ import annotations

from typing import Any

import mpmath

import engine
from benchmarks.harness import Row, Session, benchmark, compare, measure

GROUP = "accuracy"
SINE = "sin(t**3)"
QUOTIENT = "sin(t)/t"


def _sine(n: int, estimate: bool) -> dict[str, Any]:
    return engine.derivative(expression=SINE, point={"t": 1.0}, variable="t", order=n,
                             precision="float64", estimate=estimate)


def _quotient_reference(n: int) -> mpmath.mpf:
    """d^n sin(t)/t at 0.5 by Leibniz over sin^(k) = sin(t + kπ/2), (1/t)^(j) = (−1)^j j!/t^(j+1)
    at 400 digits (the sum cancels ~190 of them at n = 100)."""
    with mpmath.workdps(400):
        t = mpmath.mpf(0.5)
        return +mpmath.fsum(mpmath.binomial(n, j) * mpmath.sin(t + (n - j) * mpmath.pi / 2)
                            * (-1) ** j * mpmath.factorial(j) / t ** (j + 1)
                            for j in range(n + 1))


def _estimate_row(s: Session, key: str, n: int) -> Row:
    timings = measure({"with estimate": lambda: _sine(n, True),
                       "without": lambda: _sine(n, False)}, s.cfg, warmup=5)
    return compare(key, f"d^{n}/dt^{n} `{SINE}` at 1, warm: error estimate on vs off",
                   timings, "with estimate", "without", limit=1.3, target="≤ 1.3×",
                   profile=lambda: _sine(n, True))


@benchmark("7.1", "estimate5", GROUP)
def estimate5(s: Session) -> list[Row]:
    """The estimate's overhead on a warm order-5 call."""
    return [_estimate_row(s, "7.1", 5)]


@benchmark("7.2", "estimate100", GROUP)
def estimate100(s: Session) -> list[Row]:
    """The estimate's overhead on a warm order-100 call."""
    return [_estimate_row(s, "7.2", 100)]


def _quotient_row(s: Session, key: str, precision: Any, budget: float, title: str) -> Row:
    ref = _quotient_reference(100)

    def run() -> dict[str, Any]:
        return engine.derivative(expression=QUOTIENT, point={"t": 0.5}, variable="t",
                                 order=100, precision=precision)

    got = run()
    err = abs(mpmath.mpf(float(got["derivative"])) - ref) / abs(ref)
    correct = err <= 2.3e-16 and not got["warnings"]
    e = measure({"engine": run}, s.cfg, warmup=2)["engine"]
    note = f"rel. error {float(err):.2g}" + ("" if correct else " — WRONG RESULT")
    return Row(key, title, e.best, f"{budget * 1e3:g} ms budget", budget, limit=1.0,
               target=f"≤ {budget * 1e3:g} ms", ratio=e.best / budget,
               median_ratio=e.median / budget, ok=correct and e.best <= budget, note=note,
               profile=run)


@benchmark("7.3", "auto100", GROUP)
def auto100(s: Session) -> list[Row]:
    """``"auto"`` at order 100 on sin(t)/t at 0.5: float64 loses every digit, the engine
    notices and recomputes in extended precision."""
    return [_quotient_row(s, "7.3", "auto", 50e-3,
                          f"d^100/dt^100 `{QUOTIENT}` at 0.5, \"auto\" (float64 garbage → "
                          f"recomputed)")]


@benchmark("7.4", "precision50", GROUP)
def precision50(s: Session) -> list[Row]:
    """``"precision": 50`` at order 100 on sin(t)/t at 0.5."""
    return [_quotient_row(s, "7.4", 50, 200e-3,
                          f"d^100/dt^100 `{QUOTIENT}` at 0.5, \"precision\": 50")]
