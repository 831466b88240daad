"""Benchmarks of first-order derivatives (batched gradients, dense Hessians, per-call and
cold-path latency) against hand-written numpy and PyTorch."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

import engine
from benchmarks.harness import Row, Session, benchmark, compare, info, load_torch, measure
from engine import DEFAULT_LIMITS as DEFAULTS
from engine import Limits
from engine.compiled import Compiled

GROUP = "first_order"
SEED = "x**3*y**2 + sin(x*y)"
SEED1 = "x**2 + 3*x + 1"
ROSENBROCK = "sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)"
BIG = Limits(max_batch=10**7, max_tensor_elements=10**7, max_work=1e13, max_nodes=10**6)
"""Limits large enough for 10^6 points and 1000×1000 Hessians (the service's defaults are not
what is measured here)."""


def _close(a: Any, b: Any, rtol: float = 1e-10) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=rtol))


def _np(t: Any) -> np.ndarray:
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


# ---------------------------------------------------------------- 2.1 batched gradient

def seed_formula(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value and gradient of x³y² + sin(xy), by hand, sharing the common subexpressions."""
    xy = x * y
    x2, y2 = x * x, y * y
    c = np.cos(xy)
    value = x2 * x * y2 + np.sin(xy)
    gx = 3.0 * x2 * y2 + y * c
    gy = 2.0 * x2 * x * y + x * c
    return value, gx, gy


def seed_gradient_formula(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gradient alone (no value), by hand."""
    xy = x * y
    x2 = x * x
    c = np.cos(xy)
    return 3.0 * x2 * (y * y) + y * c, 2.0 * x2 * x * y + x * c


@benchmark("2.1", "gradient_points", GROUP)
def gradient_points(s: Session) -> list[Row]:
    """Gradient of the seed function at 10^6 points (column form) vs the numpy formula."""
    n = 10**6
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)
    torch = load_torch()

    def run_engine() -> dict[str, Any]:
        return engine.gradient(expression=SEED, points={"x": x, "y": y}, limits=BIG)

    def run_formula() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return seed_formula(x, y)

    def run_gradient_formula() -> tuple[np.ndarray, np.ndarray]:
        return seed_gradient_formula(x, y)

    candidates = {"engine": run_engine, "numpy formula": run_formula,
                  "numpy gradient-only formula": run_gradient_formula}
    got, want = run_engine(), run_formula()
    correct = all(_close(a, b) for a, b in zip(
        (got["value"], got["gradient"]["x"], got["gradient"]["y"]), want, strict=True))
    if torch is not None:
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def run_torch() -> tuple[Any, Any, Any]:
            xr, yr = xt.requires_grad_(), yt.requires_grad_()
            f = xr**3 * yr**2 + torch.sin(xr * yr)
            gx, gy = torch.autograd.grad(f.sum(), (xr, yr))
            return f, gx, gy

        correct = correct and all(_close(_np(a), b) for a, b in zip(run_torch(), want,
                                                                     strict=True))
        candidates["torch autograd"] = run_torch
    t = measure(candidates, s.cfg, warmup=1)
    title = f"gradient of `{SEED}` at 10^6 points (value + gradient)"
    return [
        compare("2.1", title, t, "engine", "numpy formula", limit=1.5, target="≤ 1.5×",
                correct=correct, profile=run_engine),
        compare("2.1g", "… same, vs a numpy formula of the gradient alone, no value (report)",
                t, "engine", "numpy gradient-only formula", limit=None, target="report"),
        compare("2.1t", "… same, vs torch autograd (report)", t, "engine", "torch autograd",
                limit=None, target="report"),
    ]


# ---------------------------------------------------------------- 2.2 dense Hessian

def rosenbrock_gradient_numpy(x: np.ndarray) -> tuple[float, np.ndarray]:
    """Value and gradient of Rosenbrock by hand."""
    a = x[:-1]
    u = x[1:] - a * a
    value = float(np.sum(100.0 * u * u + (1.0 - a) ** 2))
    grad = np.zeros(x.size)
    grad[:-1] = -400.0 * a * u - 2.0 * (1.0 - a)
    grad[1:] += 200.0 * u
    return value, grad


def rosenbrock_hessian_numpy(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Value, gradient and dense Hessian of Rosenbrock by hand: the reverse-mode gradient, then
    its forward-mode derivative along all n unit tangents at once (rows of the identity)."""
    n = x.size
    a = x[:-1]
    u = x[1:] - a * a
    value, grad = rosenbrock_gradient_numpy(x)
    tangents = np.eye(n)
    da, db = tangents[:, :-1], tangents[:, 1:]
    du = db - 2.0 * a * da
    hess = np.zeros((n, n))
    hess[:, :-1] = -400.0 * (da * u + a * du) + 2.0 * da
    hess[:, 1:] += 200.0 * du
    return value, grad, hess


def _torch_rosenbrock(torch: Any) -> Any:
    def f(x: Any) -> Any:
        return torch.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    return f


@benchmark("2.2", "hessian_rosenbrock", GROUP)
def hessian_rosenbrock(s: Session) -> list[Row]:
    """Dense Hessian of Rosenbrock in 1000 dimensions vs torch.func.hessian."""
    n = 1000
    x0 = np.random.default_rng(2).uniform(-2, 2, n)
    torch = load_torch()

    def run_engine() -> dict[str, Any]:
        return engine.hessian(expression=ROSENBROCK, point={"x": x0}, limits=BIG)

    def run_numpy() -> tuple[float, np.ndarray, np.ndarray]:
        return rosenbrock_hessian_numpy(x0)

    candidates = {"engine": run_engine, "numpy forward-over-reverse": run_numpy}
    got, want = run_engine(), run_numpy()
    correct = _close(got["hessian"], want[2]) and _close(got["gradient"], want[1])
    if torch is not None:
        hess = torch.func.hessian(_torch_rosenbrock(torch))
        xt = torch.from_numpy(x0)

        def run_torch() -> Any:
            return hess(xt)

        correct = correct and _close(_np(run_torch()), want[2])
        candidates["torch.func.hessian"] = run_torch
    t = measure(candidates, s.cfg, warmup=2)
    title = "dense Hessian of Rosenbrock, n = 1000"
    return [
        compare("2.2", title, t, "engine", "torch.func.hessian", limit=3.0, target="≤ 3×",
                correct=correct, profile=run_engine),
        compare("2.2n", "… same, vs hand-written numpy (report)", t, "engine",
                "numpy forward-over-reverse", limit=None, target="report"),
    ]


# ---------------------------------------------------------------- 2.3 large gradient

@benchmark("2.3", "gradient_rosenbrock", GROUP)
def gradient_rosenbrock(s: Session) -> list[Row]:
    """Gradient of Rosenbrock in 10^5 dimensions vs torch autograd."""
    n = 10**5
    x0 = np.random.default_rng(3).uniform(-2, 2, n)
    torch = load_torch()

    def run_engine() -> dict[str, Any]:
        return engine.gradient(expression=ROSENBROCK, point={"x": x0}, limits=BIG)

    def run_numpy() -> tuple[float, np.ndarray]:
        return rosenbrock_gradient_numpy(x0)

    candidates = {"engine": run_engine, "numpy formula": run_numpy}
    got = run_engine()
    value, grad = rosenbrock_gradient_numpy(x0)
    correct = _close(got["value"], value) and _close(got["gradient"]["x"], grad)
    if torch is not None:
        f = _torch_rosenbrock(torch)

        def run_torch() -> tuple[float, Any]:
            xt = torch.from_numpy(x0).requires_grad_()
            value = f(xt)
            (g,) = torch.autograd.grad(value, xt)
            return value.item(), g

        value, g = run_torch()
        correct = correct and _close(value, got["value"]) and _close(_np(g), grad)
        candidates["torch autograd"] = run_torch
    t = measure(candidates, s.cfg)
    return [compare("2.3", "gradient of Rosenbrock, n = 10^5", t, "engine", "torch autograd",
                    limit=1.5, target="≤ 1.5×", correct=correct, profile=run_engine),
            compare("2.3n", "… same, vs hand-written numpy gradient (report)", t, "engine",
                    "numpy formula", limit=None, target="report")]


# ---------------------------------------------------------------- 2.4 / 2.5 latency

def _torch_scalar_gradient(torch: Any, expression: str, point: dict[str, float]) -> Any:
    """A warm eager torch call: tensors from Python floats, forward, autograd.grad, .item()."""
    fns = {SEED1: lambda x: x**2 + 3 * x + 1,
           SEED: lambda x, y: x**3 * y**2 + torch.sin(x * y)}
    fn = fns[expression]

    def run() -> tuple[float, list[float]]:
        args = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in point.values()]
        value = fn(*args)
        grads = torch.autograd.grad(value, args)
        return value.item(), [g.item() for g in grads]
    return run


@benchmark("2.4", "seed_warm", GROUP)
def seed_warm(s: Session) -> list[Row]:
    """Seed case 1, compiled-expression cache warm, per call vs torch eager autograd."""
    torch = load_torch()
    point = {"x": 2.0}

    def run_engine() -> dict[str, Any]:
        return engine.gradient(expression=SEED1, point=point)

    got = run_engine()
    correct = _close(got["value"], 11.0, 1e-12) and _close(got["gradient"]["x"], 7.0, 1e-12)
    candidates = {"engine": run_engine}
    if torch is not None:
        candidates["torch eager"] = _torch_scalar_gradient(torch, SEED1, point)
    t = measure(candidates, s.cfg, warmup=20)
    return [compare("2.4", f"seed 1 gradient `{SEED1}` at x=2, warm, per call", t, "engine",
                    "torch eager", limit=1.0, target="≤ 1×", correct=correct,
                    profile=run_engine)]


@benchmark("2.5", "cold_path", GROUP)
def cold_path(s: Session) -> list[Row]:
    """A new expression text every call (parse, compile, evaluate, differentiate) vs torch's
    warm eager call of the same gradient."""
    torch = load_torch()
    counter = itertools.count(1)
    rows = []
    cases = [("2.5", SEED, {"x": 1.0, "y": 2.0}), ("2.5b", "x**2 + 3*x", {"x": 2.0})]
    for key, text, point in cases:
        base = SEED if key == "2.5" else SEED1

        def run_engine(text: str = text, point: dict[str, float] = point) -> dict[str, Any]:
            # A constant that changes every call defeats the compiled-expression cache.
            return engine.gradient(expression=f"{text} + {next(counter)}", point=point)

        ref = engine.gradient(expression=base, point=point)["gradient"]
        got = run_engine()["gradient"]
        correct = all(_close(got[v], ref[v], 1e-12) for v in point)
        candidates = {"engine cold": run_engine}
        if torch is not None:
            candidates["torch eager (warm)"] = _torch_scalar_gradient(torch, base, point)
        t = measure(candidates, s.cfg, warmup=5)
        title = (f"cold path: gradient of `{text} + <i>`, new text each call" if key == "2.5"
                 else f"cold path: seed 1 `{text} + <i>`, new text each call")
        rows.append(compare(key, title, t, "engine cold", "torch eager (warm)", limit=4.0,
                            target="≤ 4×", correct=correct, profile=run_engine))
    return rows


# ---------------------------------------------------------------- 2.6 a model with definitions

MODEL_PATH = Path(__file__).resolve().parent / "models" / "three_link_pendulum.txt"
MODEL_POINT = {"th1": 0.3, "th2": -0.4, "th3": 0.9, "w1": 0.5, "w2": -1.1, "w3": 0.7}


@benchmark("2.6", "definitions_model", GROUP)
def definitions_model(s: Session) -> list[Row]:
    """Parse + compile (lower to the graph) of the 93-line three-link pendulum model written
    with definitions, a new text every call, in a warm process: under 5 ms. The cold gradient
    request and the warm Hessian are reported. (Its derivatives are checked against sympy by
    tests/engine/language/test_definitions.py; here the cold compile is checked to add the
    changing constant exactly.)"""
    text = MODEL_PATH.read_text()
    counter = itertools.count(1)
    shapes: dict[str, tuple[int, ...]] = {name: () for name in MODEL_POINT}
    budget = 5e-3

    def compile_cold() -> Compiled:
        return Compiled(f"{text} + {next(counter)}", shapes, {}, DEFAULTS)

    def gradient_cold() -> dict[str, Any]:
        return engine.gradient(expression=f"{text} + {next(counter)}", point=MODEL_POINT)

    def hessian_warm() -> dict[str, Any]:
        return engine.hessian(expression=text, point=MODEL_POINT)

    base = float(engine.evaluate(expression=text, point=MODEL_POINT)["value"])
    shifted = engine.evaluate(expression=f"{text} + 1024", point=MODEL_POINT)["value"]
    correct = float(shifted) == base + 1024
    t = measure({"compile": compile_cold, "gradient": gradient_cold, "hessian": hessian_warm},
                s.cfg, warmup=5)
    e = t["compile"]
    return [
        Row("2.6", "parse + compile of a 93-line model with definitions, new text each call",
            e.best, "5 ms budget", budget, limit=1.0, target="< 5 ms", ratio=e.best / budget,
            median_ratio=e.median / budget, ok=correct and e.best < budget,
            note="" if correct else "WRONG RESULT", profile=compile_cold),
        info("2.6g", "… its gradient, new text each call (report)", t["gradient"].best),
        info("2.6h", "… its Hessian, cache warm (report)", t["hessian"].best),
    ]
