"""Benchmarks: higher-order derivatives by Taylor mode against nested
``torch.autograd.grad(create_graph=True)``, plus an accuracy table against exact values."""

from __future__ import annotations

import functools
import itertools
import math
from time import perf_counter
from typing import Any

import mpmath
import numpy as np

import engine
from benchmarks.harness import (
    Row,
    Session,
    benchmark,
    compare,
    fmt_time,
    info,
    load_torch,
    markdown_table,
    measure,
)

GROUP = "taylor"
SINE = "sin(t**3)"
MIXED = "x**3*y**2 + sin(x*y)"
MIXED_WRT = ["x", "x", "y", "y", "y"]
MIXED_POINT = {"x": 1.0, "y": 2.0}
FLOAT64_MAX = mpmath.mpf(np.finfo(np.float64).max)


# ---------------------------------------------------------------- exact references

@functools.cache
def _sine_integers(n: int) -> tuple[int, int]:
    """Integers (P, Q) with d^n/dt^n sin(t³) at t = 1 equal to P·sin 1 + Q·cos 1.

    With t = 1 + h, t³ = 1 + u(h), u = 3h + 3h² + h³ (u' = 3, u'' = 6, u''' = 6 at 0). The
    derivatives S_k of sin(1 + u) and C_k of cos(1 + u) at h = 0 follow from Leibniz's rule on
    S' = C·u', C' = -S·u': S_k = Σ_j C(k-1, j) u^(j+1) C_(k-1-j), and likewise C_k with a minus.
    Each is kept as an exact integer pair (coefficient of sin 1, coefficient of cos 1).
    """
    du = (3, 6, 6)
    s: list[tuple[int, int]] = [(1, 0)]
    c: list[tuple[int, int]] = [(0, 1)]
    for k in range(1, n + 1):
        sk, ck = [0, 0], [0, 0]
        for j in range(min(3, k)):
            w = math.comb(k - 1, j) * du[j]
            sk[0] += w * c[k - 1 - j][0]
            sk[1] += w * c[k - 1 - j][1]
            ck[0] -= w * s[k - 1 - j][0]
            ck[1] -= w * s[k - 1 - j][1]
        s.append((sk[0], sk[1]))
        c.append((ck[0], ck[1]))
    return s[n]


def sine_reference(n: int) -> mpmath.mpf:
    """d^n/dt^n sin(t³) at t = 1 to 50 significant digits (exact integers, then mpmath with
    enough extra digits to absorb the cancellation between the two terms)."""
    p, q = _sine_integers(n)
    with mpmath.workdps(60 + len(str(max(abs(p), abs(q), 1)))):
        value = p * mpmath.sin(1) + q * mpmath.cos(1)
    with mpmath.workdps(50):
        return +value


def mixed_reference() -> mpmath.mpf | None:
    """∂⁵f/∂x²∂y³ of the seed function at (1, 2) by sympy at 50 digits (None without sympy)."""
    try:
        import sympy
    except ImportError:
        return None
    x, y = sympy.symbols("x y")
    f = x**3 * y**2 + sympy.sin(x * y)
    d = sympy.diff(f, x, 2, y, 3).subs({x: 1, y: 2}).evalf(50)
    with mpmath.workdps(50):
        return mpmath.mpf(str(d))


def relative_error(value: float, ref: mpmath.mpf) -> float:
    """|value - ref| / |ref| in mpmath (inf for a non-finite value)."""
    if not math.isfinite(value):
        return math.inf
    with mpmath.workdps(50):
        return float(abs(mpmath.mpf(value) - ref) / abs(ref))


def check(value: float, ref: mpmath.mpf, warnings: list[str], rtol: float = 1e-12
          ) -> tuple[bool, str]:
    """Whether an engine answer is right, and a note when it is not obvious: a reference beyond
    float64 must come back as ±inf with a warning."""
    if abs(ref) > FLOAT64_MAX:
        expect = math.copysign(math.inf, float(mpmath.sign(ref)))
        ok = value == expect and bool(warnings)
        note = (f"exact {mpmath.nstr(ref, 5)} overflows float64; engine returns {value!r}"
                + (" with a warning" if warnings else " with no warning"))
        return ok, note if not ok else ""
    err = relative_error(value, ref)
    return err <= rtol, "" if err <= rtol else f"rel. error {err:.2g} (exact {mpmath.nstr(ref, 8)})"


# ---------------------------------------------------------------- torch baselines

def torch_nth(torch: Any, n: int) -> Any:
    """d^n sin(t³)/dt^n at 1 by nested autograd.grad (create_graph except on the last step)."""
    def run() -> float:
        t = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
        y = torch.sin(t**3)
        for k in range(n):
            (y,) = torch.autograd.grad(y, t, create_graph=k < n - 1)
        return y.item()
    return run


def torch_mixed(torch: Any) -> Any:
    """∂⁵f/∂x²∂y³ at (1, 2) by nested autograd.grad."""
    def run() -> float:
        x = torch.tensor(MIXED_POINT["x"], dtype=torch.float64, requires_grad=True)
        y = torch.tensor(MIXED_POINT["y"], dtype=torch.float64, requires_grad=True)
        f = x**3 * y**2 + torch.sin(x * y)
        wrt = [x if v == "x" else y for v in MIXED_WRT]
        for k, v in enumerate(wrt):
            (f,) = torch.autograd.grad(f, v, create_graph=k < len(wrt) - 1)
        return f.item()
    return run


def _engine_nth(n: int, expression: str = SINE) -> dict[str, Any]:
    return engine.derivative(expression=expression, point={"t": 1.0}, variable="t", order=n)


# ---------------------------------------------------------------- 3.1 / 3.2 per call

@benchmark("3.1", "order5", GROUP)
def order5(s: Session) -> list[Row]:
    """Seed case: 5th derivative of sin(t³) at 1, warm, per call vs torch nested grad."""
    return [_nth_row(s, "3.1", 5, limit=1.0, target="≤ 1×")]


@benchmark("3.2", "order10", GROUP)
def order10(s: Session) -> list[Row]:
    """Order 10: the engine ≥ 100× faster than torch nested grad."""
    return [_nth_row(s, "3.2", 10, limit=0.01, target="≤ 0.01× (≥ 100× faster)")]


def _nth_row(s: Session, key: str, n: int, *, limit: float, target: str) -> Row:
    torch = load_torch()

    def run_engine() -> dict[str, Any]:
        return _engine_nth(n)

    got = run_engine()
    correct, note = check(float(got["derivative"]), sine_reference(n), got["warnings"])
    candidates = {"engine": run_engine}
    if torch is not None:
        candidates["torch nested grad"] = torch_nth(torch, n)
    t = measure(candidates, s.cfg, warmup=2 if n > 5 else 20)
    return compare(key, f"d^{n}/dt^{n} `{SINE}` at 1, warm, per call", t, "engine",
                   "torch nested grad", limit=limit, target=target, correct=correct,
                   note=note, profile=run_engine)


# ---------------------------------------------------------------- 3.3 order 100 and 1000

@benchmark("3.3", "order100", GROUP)
def order100(s: Session) -> list[Row]:
    """Order 100 in under 5 ms including parsing (a new expression text each call); order 1000
    reported, cold and warm."""
    counter = itertools.count(1)
    rows = []
    budget = 5e-3
    for n in (100, 1000):
        ref = sine_reference(n)

        def cold(n: int = n) -> dict[str, Any]:
            # sin(t**3) + i: a new text (cache miss) with the same n-th derivative (n ≥ 1).
            return _engine_nth(n, f"{SINE} + {next(counter)}")

        def warm(n: int = n) -> dict[str, Any]:
            return _engine_nth(n)

        got = cold()
        ok_cold, note_cold = check(float(got["derivative"]), ref, got["warnings"])
        got = warm()
        _, note_warm = check(float(got["derivative"]), ref, got["warnings"])
        t = measure({"cold": cold, "warm": warm}, s.cfg, warmup=2)
        if n == 100:
            e = t["cold"]
            note = "; ".join(filter(None, ["" if ok_cold else "WRONG RESULT", note_cold]))
            rows.append(Row("3.3", f"d^100/dt^100 `{SINE} + <i>`, new text each call (cold)",
                            e.best, "5 ms budget", budget, limit=1.0, target="< 5 ms",
                            ratio=e.best / budget, median_ratio=e.median / budget,
                            ok=ok_cold and e.best < budget, note=note, profile=cold))
            rows.append(info("3.3w", "… same expression, warm (report)", t["warm"].best,
                             note_warm, baseline="5 ms budget", baseline_time=budget))
        else:
            rows.append(info("3.3k", f"d^1000/dt^1000 `{SINE} + <i>`, cold (report)",
                             t["cold"].best, note_cold))
            rows.append(info("3.3kw", "… same expression, warm (report)", t["warm"].best,
                             note_warm))
    return rows


# ---------------------------------------------------------------- 3.4 mixed partial

@benchmark("3.4", "mixed", GROUP)
def mixed(s: Session) -> list[Row]:
    """∂⁵f/∂x²∂y³ of the seed function: the engine ≥ 10× faster than torch nested grad."""
    torch = load_torch()

    def run_engine() -> dict[str, Any]:
        return engine.derivative(expression=MIXED, point=MIXED_POINT, wrt=MIXED_WRT)

    got = float(run_engine()["derivative"])
    ref = mixed_reference()
    candidates = {"engine": run_engine}
    correct, note = True, ""
    if ref is not None:
        correct, note = check(got, ref, [])
    if torch is not None:
        candidates["torch nested grad"] = torch_mixed(torch)
        other = candidates["torch nested grad"]()
        if ref is None:
            correct = math.isclose(got, other, rel_tol=1e-10)
    t = measure(candidates, s.cfg, warmup=10)
    return [compare("3.4", f"∂⁵f/∂x²∂y³ of `{MIXED}` at (1, 2), warm, per call", t, "engine",
                    "torch nested grad", limit=0.1, target="≤ 0.1× (≥ 10× faster)",
                    correct=correct, note=note, profile=run_engine)]


# ---------------------------------------------------------------- 3.5 accuracy

ACCURACY_ORDERS = (5, 10, 20, 30, 50)
EXTRA_ORDERS = (100, 200, 1000)
TOLERANCE = 1e-13


def _torch_chain(torch: Any, orders: tuple[int, ...], budget: float
                 ) -> tuple[dict[int, tuple[float, float]], str]:
    """One nested-grad chain up to max(orders): value and elapsed time at each order in
    ``orders``; stops before an order whose projected time (the last step's time growing by
    the last step-to-step factor) would take the chain past ``budget`` seconds."""
    t = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    y = torch.sin(t**3)
    steps: list[float] = []
    out: dict[int, tuple[float, float]] = {}
    start = perf_counter()
    for k in range(1, max(orders) + 1):
        elapsed = perf_counter() - start
        if len(steps) >= 2:
            growth = max(1.0, steps[-1] / steps[-2])
            target = min(o for o in orders if o >= k)
            projected = sum(steps[-1] * growth**j for j in range(1, target - k + 2))
            if elapsed + projected > budget:
                return out, (f"torch skipped from order {target}: projected "
                             f"{fmt_time(elapsed + projected)} > {budget:g} s (order {k - 1} "
                             f"reached in {fmt_time(elapsed)}, last step {fmt_time(steps[-1])}, "
                             f"×{growth:.2f} per order)")
        t0 = perf_counter()
        (y,) = torch.autograd.grad(y, t, create_graph=True)
        steps.append(perf_counter() - t0)
        if k in orders:
            out[k] = (y.item(), perf_counter() - start)
    return out, ""


@benchmark("3.5", "accuracy", GROUP)
def accuracy(s: Session) -> list[Row]:
    """Relative error vs exact values (mpmath, 50 digits) at orders 5..50, engine and torch."""
    torch = load_torch()
    chain, skipped = ({}, "torch not installed") if torch is None else _torch_chain(
        torch, ACCURACY_ORDERS, s.cfg.torch_budget)
    table, worst = [], (0.0, 0)
    for n in ACCURACY_ORDERS + EXTRA_ORDERS:
        ref = sine_reference(n)
        t0 = perf_counter()
        got = _engine_nth(n)
        elapsed = perf_counter() - t0
        value = float(got["derivative"])
        overflow = abs(ref) > FLOAT64_MAX
        err = math.inf if overflow and math.isfinite(value) else relative_error(value, ref)
        if overflow:
            ok, _ = check(value, ref, got["warnings"])
            err_text = "exact beyond float64: " + ("±inf, warned (correct)" if ok
                                                  else f"engine says {value!r} (WRONG)")
        else:
            err_text = f"{err:.2g}"
        if n in ACCURACY_ORDERS and err > worst[0]:
            worst = (err, n)
        if n in chain:
            tv, tt = chain[n]
            torch_cells = [f"{tv:.16g}", f"{relative_error(tv, ref):.2g}", fmt_time(tt)]
        elif n in ACCURACY_ORDERS and torch is not None:
            torch_cells = ["skipped", "—", "> budget"]
        else:
            torch_cells = ["—", "—", "—"]
        table.append([str(n) + ("" if n in ACCURACY_ORDERS else " (extra)"),
                      mpmath.nstr(ref, 17), f"{value:.16g}", err_text, fmt_time(elapsed),
                      *torch_cells])
    headers = ["order", "exact (50 digits, shown to 17)", "engine", "engine rel. error",
               "engine time (one call)", "torch nested grad", "torch rel. error",
               "torch time (chain to this order)"]
    text = markdown_table(headers, table)
    if skipped:
        text += f"\n\n{skipped}."
    s.section(f"Accuracy of d^n/dt^n `{SINE}` at t = 1 (3.5)", text)
    err, n = worst
    return [Row("3.5", f"accuracy of `{SINE}` at 1, orders 5–50 (max rel. error)", None,
                "tolerance", None, limit=1.0, target=f"≤ {TOLERANCE:g}",
                ratio=err / TOLERANCE, median_ratio=None, ok=err <= TOLERANCE,
                note=f"worst at order {n}" + (f"; {skipped}" if skipped else ""),
                engine_text=f"{err:.2g}", baseline_text=f"{TOLERANCE:g}")]
