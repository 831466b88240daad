"""Tape VM benchmarks: single points and small work against CasADi's SX virtual machine.

CasADi (bench-only dependency) builds the same functions from Python and evaluates them with
its own VM; its time includes the Python call of a ``casadi.Function``, as ours includes
``engine.gradient(...)``. Ratios are engine / baseline in one run; the big-batch row checks
that the chooser leaves 10^6 points on numpy (engine with the tape allowed vs numpy only).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

import engine
from benchmarks.engine_first_order import (
    BIG,
    ROSENBROCK,
    SEED,
    SEED1,
    _close,
    _torch_scalar_gradient,
)
from benchmarks.harness import Row, Session, benchmark, compare, info, load_torch, measure
from engine.vm import fastpath

GROUP = "vm"


def load_casadi() -> Any:
    """The casadi module, or None when it is not installed (its rows become info)."""
    try:
        import casadi
    except ImportError:
        return None
    return casadi


def terms_coefficients(count: int = 100) -> list[tuple[float, float, float]]:
    """Seeded a_i, b_i, c_i of the 100-term sum, six decimals each."""
    rng = np.random.default_rng(18)
    return [tuple(float(round(v, 6)) for v in rng.uniform(0.1, 2.0, 3)) for _ in range(count)]


COEFFICIENTS = terms_coefficients()
TERMS = " + ".join(f"{a}*sin({b}*x*y + {i})*exp(-{c}*x**2)"
                   for i, (a, b, c) in enumerate(COEFFICIENTS))
"""``sum_i a_i*sin(b_i*x*y + i)*exp(-c_i*x**2)``, about 4,400 characters, ~800 nodes."""
POINT = {"x": 0.7, "y": -1.3}


def _casadi_terms(ca: Any, offset: float = 0.0) -> tuple[Any, Any]:
    """The 100-term sum as CasADi builds it fastest: SX ops on 100-vectors of coefficients
    (a term-by-term Python loop builds the same expression tens of times slower)."""
    x, y = ca.SX.sym("x"), ca.SX.sym("y")
    a, b, c = (ca.DM(col) for col in np.array(COEFFICIENTS).T)
    i = ca.DM(np.arange(float(len(COEFFICIENTS))))
    f = ca.sum1(a * ca.sin(b * x * y + i) * ca.exp(-c * x**2)) + offset
    return ca.vertcat(x, y), f


def _casadi_functions(ca: Any, xs: Any, f: Any) -> tuple[Any, Any]:
    grad = ca.Function("g", [xs], [f, ca.gradient(f, xs)])
    hess, g = ca.hessian(f, xs)
    return grad, ca.Function("h", [xs], [f, g, hess])


def _missing(key: str, title: str, engine_time: float, what: str) -> Row:
    return info(key, title, engine_time, f"{what} not installed: no baseline")


def _rows_vs(key: str, title: str, t: dict[str, Any], baseline: str, limit: float,
             correct: bool, profile: Any) -> Row:
    if baseline not in t:
        return _missing(key, title, t["engine"].best, baseline.split()[0])
    return compare(key, title, t, "engine", baseline, limit=limit, target=f"≤ {limit:g}×",
                   correct=correct, profile=profile)


@benchmark("v1", "terms_warm", GROUP)
def terms_warm(s: Session) -> list[Row]:
    """The 100-term sum at one point, cached: value + gradient, and value + gradient + Hessian."""
    ca = load_casadi()
    torch = load_torch()
    rows = []
    for key, op in (("v1", "gradient"), ("v2", "hessian")):
        def run_engine(op: str = op) -> dict[str, Any]:
            return engine.execute(op, expression=TERMS, point=POINT)
        got = run_engine()
        candidates: dict[str, Any] = {"engine": run_engine}
        correct = True
        if ca is not None:
            xs, f = _casadi_terms(ca)
            grad, hess = _casadi_functions(ca, xs, f)
            fn = grad if op == "gradient" else hess
            at = np.array([POINT["x"], POINT["y"]])
            candidates["casadi SX"] = lambda fn=fn, at=at: fn(at)
            want = [np.array(v).ravel() for v in fn(at)]
            mine = ([got["value"], [got["gradient"]["x"], got["gradient"]["y"]]]
                    if op == "gradient" else [got["value"], got["gradient"], got["hessian"]])
            correct = all(_close(np.ravel(a), b, 1e-12) for a, b in zip(mine, want, strict=True))
        if torch is not None and op == "gradient":
            def run_torch() -> Any:
                x = torch.tensor(POINT["x"], dtype=torch.float64, requires_grad=True)
                y = torch.tensor(POINT["y"], dtype=torch.float64, requires_grad=True)
                f = 0.0
                for i, (a, b, c) in enumerate(COEFFICIENTS):
                    f = f + a * torch.sin(b * x * y + i) * torch.exp(-c * x**2)
                gx, gy = torch.autograd.grad(f, (x, y))
                return f.item(), gx.item(), gy.item()
            candidates["torch eager"] = run_torch
        t = measure(candidates, s.cfg, warmup=20)
        what = "value + gradient" if op == "gradient" else "value + gradient + Hessian"
        title = f"100-term sum at one point, warm: {what}"
        rows.append(_rows_vs(key, title, t, "casadi SX", 3.0, correct, run_engine))
        if "torch eager" in t:
            rows.append(compare(f"{key}t", "… same, vs torch eager (report)", t, "engine",
                                "torch eager", limit=None, target="report"))
    return rows


@benchmark("v3", "terms_cold", GROUP)
def terms_cold(s: Session) -> list[Row]:
    """A new 100-term text every call (parse, lower, differentiate, tape, evaluate) vs CasADi
    building the same function from Python and evaluating it."""
    ca = load_casadi()
    counter = itertools.count(1)

    def run_engine() -> dict[str, Any]:
        return engine.gradient(expression=f"{TERMS} + {next(counter)}", point=POINT)
    candidates: dict[str, Any] = {"engine": run_engine}
    correct = True
    if ca is not None:
        at = np.array([POINT["x"], POINT["y"]])

        def run_casadi() -> Any:
            xs, f = _casadi_terms(ca, float(next(counter)))
            return ca.Function("g", [xs], [f, ca.gradient(f, xs)])(at)
        candidates["casadi build + eval"] = run_casadi
        got = run_engine()["gradient"]
        want = np.array(run_casadi()[1]).ravel()
        correct = _close([got["x"], got["y"]], want, 1e-12)
    t = measure(candidates, s.cfg, warmup=2, repeats=max(s.cfg.repeats // 3, 5))
    return [_rows_vs("v3", "100-term sum, new text every call: gradient", t,
                     "casadi build + eval", 5.0, correct, run_engine)]


@benchmark("v4", "rosenbrock_point", GROUP)
def rosenbrock_point(s: Session) -> list[Row]:
    """Rosenbrock gradient and Hessian at one point (a JSON-like list), n = 10 and 100."""
    ca = load_casadi()
    rows = []
    keys = iter(["v4", "v5", "v6", "v7"])
    for n in (10, 100):
        x0 = np.random.default_rng(n).uniform(-1.5, 1.5, n)
        point = {"x": x0.tolist()}
        for op in ("gradient", "hessian"):
            key = next(keys)

            def run_engine(op: str = op, point: dict[str, Any] = point) -> dict[str, Any]:
                return engine.execute(op, expression=ROSENBROCK, point=point)
            got = run_engine()
            candidates: dict[str, Any] = {"engine": run_engine}
            correct = True
            if ca is not None:
                xs = ca.SX.sym("x", n)
                f = ca.sum1(100 * (xs[1:] - xs[:-1] ** 2) ** 2 + (1 - xs[:-1]) ** 2)
                grad, hess = _casadi_functions(ca, xs, f)
                fn = grad if op == "gradient" else hess
                candidates["casadi SX"] = lambda fn=fn, x0=x0: fn(x0)
                want = [np.array(v) for v in fn(x0)]
                mine = np.ravel(got["gradient"]["x"] if op == "gradient" else got["hessian"])
                correct = _close(mine, np.ravel(want[1 if op == "gradient" else 2]), 1e-12)
            t = measure(candidates, s.cfg, warmup=20)
            title = f"Rosenbrock n = {n} at one point, warm: {op}"
            rows.append(_rows_vs(key, title, t, "casadi SX", 3.0, correct, run_engine))
    return rows


@benchmark("v8", "seed1_vs_torch", GROUP)
def seed1_vs_torch(s: Session) -> list[Row]:
    """Seed case 1 per call against torch eager: the tape's warm path must stay ≤ 0.5×."""
    torch = load_torch()
    point = {"x": 2.0}

    def run_engine() -> dict[str, Any]:
        return engine.gradient(expression=SEED1, point=point)
    got = run_engine()
    correct = got["value"] == 11.0 and got["gradient"]["x"] == 7.0
    candidates: dict[str, Any] = {"engine": run_engine}
    if torch is not None:
        candidates["torch eager"] = _torch_scalar_gradient(torch, SEED1, point)
    t = measure(candidates, s.cfg, warmup=20)
    return [_rows_vs("v8", f"seed 1 `{SEED1}` gradient at x=2, warm, per call", t,
                     "torch eager", 0.5, correct, run_engine)]


@benchmark("v9", "big_batch_not_slower", GROUP)
def big_batch(s: Session) -> list[Row]:
    """10^6-point gradient of the seed function: tape allowed (auto) vs numpy only."""
    n = 10**6
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)
    chosen = fastpath.MODE

    def run(mode: str) -> dict[str, Any]:
        fastpath.MODE = mode
        try:
            return engine.gradient(expression=SEED, points={"x": x, "y": y}, limits=BIG)
        finally:
            fastpath.MODE = chosen
    a, b = run(chosen), run("off")
    # The lanes' sin and cos are within 1 ulp of libm's: agreement to rounding, not bits.
    correct = all(np.allclose(a["gradient"][v], b["gradient"][v], rtol=1e-13,
                              atol=1e-13 * np.abs(b["gradient"][v]).max()) for v in ("x", "y"))
    t = measure({"engine": lambda: run(chosen), "numpy only": lambda: run("off")}, s.cfg,
                warmup=1, repeats=max(s.cfg.repeats // 3, 5))
    return [compare("v9", f"10^6-point gradient of `{SEED}`: DIFFAPI_VM={chosen} vs off", t,
                    "engine", "numpy only", limit=1.1, target="≤ 1.1× (not slower)",
                    correct=correct)]


@benchmark("v10", "service_vm", GROUP, explicit=True)
def service_vm(s: Session) -> list[Row]:
    """Requests/s over HTTP of the seed gradient and of the 100-term gradient, one uvicorn
    worker, DIFFAPI_VM=off (before) against auto (after), servers side by side, wrk runs
    interleaved round by round."""
    from benchmarks.service_common import SEED_GRADIENT, Server, run_wrk

    bodies = {"seed gradient": SEED_GRADIENT,
              "100-term gradient": {"expression": TERMS, "point": POINT}}
    servers = {mode: Server(1, env={"DIFFAPI_VM": mode}) for mode in ("off", "auto")}
    best: dict[tuple[str, str], float] = {}
    try:
        for server in servers.values():
            server.start()
        for r in range(s.cfg.load_rounds):
            cells = [(m, b) for m in servers for b in bodies]
            for mode, name in cells[r % len(cells):] + cells[:r % len(cells)]:
                got = run_wrk(servers[mode], "/v1/gradient", 8, s.cfg.load_duration,
                              body=bodies[name])
                if got.errors or got.non_2xx:
                    raise RuntimeError(f"{name} on DIFFAPI_VM={mode}: {got.errors} errors, "
                                       f"{got.non_2xx} non-2xx answers")
                best[mode, name] = max(best.get((mode, name), 0.0), got.rps)
    finally:
        for server in servers.values():
            server.stop()
    rows = []
    for key, name in (("v10", "seed gradient"), ("v10b", "100-term gradient")):
        after, before = best["auto", name], best["off", name]
        rows.append(info(key, f"HTTP {name}, 1 worker, wrk -c8: requests/s with the tape "
                              f"(engine column: seconds per request)", 1 / after,
                         f"{after:.0f} req/s with the tape, {before:.0f} without: "
                         f"{after / before:.2f}× the throughput",
                         baseline="DIFFAPI_VM=off", baseline_time=1 / before))
    return rows


# ---------------------------------------------------------------- batches in one fused loop

def seed_hessian_formula(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Value, gradient and Hessian of x³y² + sin(xy) by hand, sharing subexpressions."""
    xy = x * y
    x2, y2 = x * x, y * y
    s, c = np.sin(xy), np.cos(xy)
    value = x2 * x * y2 + s
    gx = 3.0 * x2 * y2 + y * c
    gy = 2.0 * x2 * x * y + x * c
    hxx = 6.0 * x * y2 - y2 * s
    hxy = 6.0 * x2 * y + c - xy * s
    hyy = 2.0 * x2 * x - x2 * s
    return value, np.stack([gx, gy], axis=1), np.stack(
        [np.stack([hxx, hxy], axis=1), np.stack([hxy, hyy], axis=1)], axis=1)


THIRTY = "x*y*z + exp(-x**2)*sin(y) + (x - z)**2/(1 + y**2) + sqrt(1 + z**2)*cos(x*z)"
"""A 3-variable expression of about 30 graph nodes."""


def thirty_gradient_formula(x: np.ndarray, y: np.ndarray, z: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gradient of :data:`THIRTY` by hand (no value), sharing subexpressions."""
    e = np.exp(-x * x)
    d = 1.0 + y * y
    u = x - z
    r = np.sqrt(1.0 + z * z)
    xz = x * z
    s, c = np.sin(xz), np.cos(xz)
    two_u_d = 2.0 * u / d
    gx = y * z - 2.0 * x * e * np.sin(y) + two_u_d - z * r * s
    gy = x * z + e * np.cos(y) - 2.0 * y * u * u / (d * d)
    gz = x * y - two_u_d + z / r * c - x * r * s
    return gx, gy, gz


@benchmark("v11", "fused_batches", GROUP)
def fused_batches(s: Session) -> list[Row]:
    """Batches on the tape (DIFFAPI_VM=always: one loop over points, tape inside) against
    hand-written numpy formulas, one thread."""
    rng = np.random.default_rng(19)
    chosen = fastpath.MODE
    rows = []

    def on_tape(fn: Any) -> Any:
        def run() -> Any:
            fastpath.MODE = "always"
            try:
                return fn()
            finally:
                fastpath.MODE = chosen
        return run

    n = 10**6
    x, y, z = (rng.uniform(-2, 2, n) for _ in range(3))
    run_engine = on_tape(lambda: engine.gradient(expression=SEED, points={"x": x, "y": y},
                                                 limits=BIG))
    from benchmarks.engine_first_order import seed_gradient_formula
    got = run_engine()
    want = seed_gradient_formula(x, y)
    correct = all(_close(got["gradient"][v], w) for v, w in zip("xy", want, strict=True))
    t = measure({"engine": run_engine, "numpy gradient-only formula":
                 lambda: seed_gradient_formula(x, y)}, s.cfg, warmup=1,
                repeats=max(s.cfg.repeats // 3, 5))
    rows.append(compare("v11", f"10^6-point gradient of `{SEED}` on the tape (value too)", t,
                        "engine", "numpy gradient-only formula", limit=0.8, target="≤ 0.8×",
                        correct=correct))

    m = 10**5
    hx, hy = x[:m].copy(), y[:m].copy()
    run_hess = on_tape(lambda: engine.hessian(expression=SEED, points={"x": hx, "y": hy},
                                              limits=BIG))
    got = run_hess()
    want = seed_hessian_formula(hx, hy)
    correct = all(_close(got[k], w) for k, w in zip(("value", "gradient", "hessian"), want,
                                                     strict=True))
    t = measure({"engine": run_hess, "numpy Hessian formula": lambda: seed_hessian_formula(
        hx, hy)}, s.cfg, warmup=1, repeats=max(s.cfg.repeats // 3, 5))
    rows.append(compare("v12", f"10^5-point Hessian of `{SEED}` on the tape", t, "engine",
                        "numpy Hessian formula", limit=1.0, target="≤ 1×", correct=correct))

    run_thirty = on_tape(lambda: engine.gradient(expression=THIRTY,
                                                 points={"x": x, "y": y, "z": z}, limits=BIG))
    got = run_thirty()
    want = thirty_gradient_formula(x, y, z)
    correct = all(_close(got["gradient"][v], w) for v, w in zip("xyz", want, strict=True))
    t = measure({"engine": run_thirty, "numpy gradient formula": lambda: thirty_gradient_formula(
        x, y, z)}, s.cfg, warmup=1, repeats=max(s.cfg.repeats // 3, 5))
    rows.append(compare("v13", "10^6-point gradient of a 30-node, 3-variable expression on "
                               "the tape", t, "engine", "numpy gradient formula", limit=1.0,
                        target="≤ 1×", correct=correct))
    rows.append(_peak_memory(run_engine, x.nbytes + y.nbytes, 3 * n * 8, "tape"))
    off = lambda: engine.gradient(expression=SEED, points={"x": x, "y": y}, limits=BIG)  # noqa: E731
    fastpath.MODE = "off"
    try:
        rows.append(_peak_memory(off, x.nbytes + y.nbytes, 3 * n * 8, "numpy path"))
    finally:
        fastpath.MODE = chosen
    return rows


def _peak_memory(fn: Any, inputs: int, outputs: int, what: str) -> Row:
    """Peak traced memory of one call (NumPy reports its arrays to tracemalloc), with the
    inputs it was given, against inputs + outputs."""
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    total = inputs + peak
    ratio = total / (inputs + outputs)
    key = "v14" if what == "tape" else "v14n"
    return Row(key, f"peak memory of the 10^6-point gradient ({what}): inputs + peak during "
                    f"the call", None, "inputs + outputs", None, 1.2 if what == "tape" else None,
               "≤ 1.2×" if what == "tape" else "report", ratio, None,
               ratio <= 1.2 if what == "tape" else None,
               engine_text=f"{total / 2**20:.1f} MiB",
               baseline_text=f"{(inputs + outputs) / 2**20:.1f} MiB")
