"""Every operation gives the same number at the same point, finite and non-finite alike.

``gradient``, ``vjp``, ``jvp``, ``hessian``, ``derivative`` (orders 1 and 2, and the mixed
partial) and ``taylor`` compute first and second derivatives by different routes (reverse mode,
forward mode, forward over reverse, Taylor mode with interpolation). On random expressions in
two variables built from smooth functions, kinks (abs, relu, max/min ties, where) and domain
edges (sqrt, log, powers and cbrt at 0, asin at ±1), at random points that sit on those kinks
and edges, each entry must agree across the routes: equal within rounding when finite, the same
infinity, or NaN in all of them. Seeded and bounded: the same cases on every run.

The references for the values themselves are in test_edge_conventions.py; this test checks
only that the routes agree with each other.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

import engine

RTOL = 1e-9
CASES = 120

_SMOOTH = ("sin({})", "cos({})", "exp({})", "tanh({})", "sigmoid({})", "atan({})",
           "softplus({})", "erf({})", "({})**2", "({})*({})".replace("({})*({})", "({0})*({0})"))
_KINKS = ("abs({})", "relu({})")
_BINARY = ("({}) + ({})", "({}) - ({})", "({}) * ({})", "max({}, {})", "min({}, {})")
_EDGES = {
    # function of one variable at the edge of its domain (or at its kink), and where that is
    "sqrt({})": 0.0, "log({})": 0.0, "({})**0.5": 0.0, "({})**1.5": 0.0, "cbrt({})": 0.0,
    "asin({})": 1.0, "asin(-({}))": 1.0, "acos({})": -1.0, "abs({})": 0.0, "relu({})": 0.0,
    "where({0} > 0, log({0}), 0.0)": 0.0, "where({0} >= 0, sqrt({0}), -({0}))": 0.0,
    "norm([{}, 0])": 0.0,
}


def _smooth(rng: np.random.Generator, depth: int) -> str:
    """A random expression in x and y from smooth ops, kinks and ties."""
    if depth == 0 or rng.random() < 0.25:
        return str(rng.choice(["x", "y", "x", "y", f"{rng.integers(-2, 3)}.5"]))
    r = rng.random()
    if r < 0.35:
        return str(rng.choice(_SMOOTH)).format(_smooth(rng, depth - 1))
    if r < 0.5:
        return str(rng.choice(_KINKS)).format(_smooth(rng, depth - 1))
    if r < 0.6:
        a, b = _smooth(rng, depth - 1), _smooth(rng, depth - 1)
        return f"where({a} > {b}, {_smooth(rng, depth - 1)}, {_smooth(rng, depth - 1)})"
    return str(rng.choice(_BINARY)).format(_smooth(rng, depth - 1), _smooth(rng, depth - 1))


def _case(rng: np.random.Generator) -> tuple[str, dict[str, float]]:
    """An expression plus a point on one of its kinks or domain edges (or a tie x == y)."""
    body = _smooth(rng, 3)
    point = {"x": float(rng.choice([0.5, -1.25, 0.0, 2.0])),
             "y": float(rng.choice([0.5, -0.75, 0.0, 1.0]))}
    kind = rng.random()
    if kind < 0.5:
        edge, at = list(_EDGES.items())[rng.integers(len(_EDGES))]
        var = str(rng.choice(["x", "y"]))
        point[var] = at
        coeff = float(rng.choice([1.0, -2.0, 0.5]))
        return f"({body}) + {coeff}*{edge.format(var)}", point
    if kind < 0.75:
        point["y"] = point["x"]  # ties in max/min and where(x > y, …)
    return body, point


def _same(a: float, b: float, scale: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= RTOL * max(abs(a), abs(b), scale, 1e-300)


def routes(expression: str, point: dict[str, float]) -> dict[str, dict[str, float]]:
    """Each first and second derivative of ``expression`` at ``point``, by every route that
    computes it: {entry: {route: value}}.

    Every route is compared at every point. Those that move every variable at once (``jvp``
    along a unit vector, the Hessian, a mixed ``derivative``, a two-variable ``taylor``) take a
    variable that stands still as contributing nothing, even through an infinite partial; a
    mixed partial of a variable whose first or pure second partial is not finite is NaN
    (engine/undefined.py).
    """
    req: dict[str, Any] = {"expression": expression, "point": point}
    names = list(point)
    out: dict[str, dict[str, float]] = {}

    def put(entry: str, route: str, value: Any) -> None:
        out.setdefault(entry, {})[route] = float(value)

    grad = engine.gradient(**req)["gradient"]
    vjp = engine.vjp(cotangent=1.0, **req)["vjp"]
    hess = engine.hessian(**req)
    second = {v: engine.derivative(variable=v, order=2, **req)["derivative"] for v in names}
    both = engine.taylor(order=2, **req)["coefficients"]
    joint = {tuple(c["powers"][w] for w in names): c["coefficient"] for c in both}
    for i, v in enumerate(names):
        alone = engine.taylor(order=2, variables=[v], **req)["coefficients"]
        coefficient = {c["powers"][v]: c["coefficient"] for c in alone}
        put(f"d{v}", "gradient", grad[v])
        put(f"d{v}", "vjp", vjp[v])
        put(f"d{v}", "derivative", engine.derivative(variable=v, order=1, **req)["derivative"])
        put(f"d{v}", "taylor", coefficient[1])
        put(f"d{v}", "hessian.gradient", hess["gradient"][i])
        one_hot = {w: float(w == v) for w in names}
        put(f"d{v}", "jvp", engine.jvp(tangent=one_hot, **req)["jvp"])
        put(f"d{v}", "taylor in x and y", joint[tuple(int(w == v) for w in names)])
        put(f"d{v}{v}", "hessian", hess["hessian"][i][i])
        put(f"d{v}{v}", "derivative", second[v])
        put(f"d{v}{v}", "taylor", 2.0 * coefficient[2])
        put(f"d{v}{v}", "taylor in x and y", 2.0 * joint[tuple(2 * int(w == v) for w in names)])
    put("dxdy", "hessian", hess["hessian"][0][1])
    put("dxdy", "hessian transposed", hess["hessian"][1][0])
    put("dxdy", "derivative", engine.derivative(wrt=["x", "y"], **req)["derivative"])
    put("dxdy", "taylor", joint[(1, 1)])
    return out


def disagreements(expression: str, point: dict[str, float]) -> list[str]:
    """The entries on which the routes differ, each with every route's value."""
    bad = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = routes(expression, point)
    # rounding is relative to the size of the derivatives at the point (a mixed partial that is
    # exactly 0 comes out of the interpolation as ~1e-17 next to entries of size 1)
    scale = max((abs(v) for values in found.values() for v in values.values()
                 if math.isfinite(v)), default=0.0)
    for entry, values in found.items():
        first = next(iter(values.values()))
        if not all(_same(first, v, scale) for v in values.values()):
            bad.append(f"{entry}: {values}")
    return bad


def test_operations_agree_on_random_expressions_at_kinks_and_edges() -> None:
    rng = np.random.default_rng(20261204)
    failures = []
    for _ in range(CASES):
        expression, point = _case(rng)
        for problem in disagreements(expression, point):
            failures.append(f"{expression} at {point}: {problem}")
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} in all)"


@pytest.mark.parametrize(("expression", "point"), [
    ("where(x > 0, log(x), 0.0) + y", {"x": 0.0, "y": 1.0}),
    ("sqrt(x) + x*y", {"x": 0.0, "y": 2.0}),
    ("cbrt(x)*y", {"x": 0.0, "y": 1.0}),
    ("norm([x, y])", {"x": 0.0, "y": 0.0}),
    ("max(x, y) + abs(x - y)", {"x": 1.0, "y": 1.0}),
    ("tanh(x) + sigmoid(y)", {"x": 48.81, "y": 44.88}),
    ("det([[x, y], [2*y, 2*x*x]])", {"x": 1.0, "y": 1.0}),
    ("x**y", {"x": -2.0, "y": 3.0}),
    ("x**y", {"x": 0.0, "y": 0.5}),
])
def test_operations_agree_on_the_edge_cases(expression: str, point: dict[str, float]) -> None:
    assert not disagreements(expression, point)
