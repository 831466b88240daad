"""Batches: ``points`` (a list of objects, or columns) give exactly the per-point answers.

For every operation, the batched answer is compared with a loop of single-``point`` calls, and
every result field has the leading N axis of API.md §2 (``value``: [N, …], ``gradient``:
name → [N, …], ``jacobian``: [N, m, n], ``hessian``: [N, n, n], ``jvp``: [N, …], ``vjp`` and
``hvp``: name → [N, …]). The per-point answers themselves are checked against sympy in
test_first_order.py; here one spot check per case ties the batch to an independent reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import sympy as sp

import engine


@dataclass(frozen=True)
class BatchCase:
    name: str
    expression: str
    points: list[dict[str, Any]]
    builder: Any
    shape: tuple[int, ...] = ()
    """Shape of the expression's value."""
    constants: dict[str, Any] | None = None
    variables: tuple[str, ...] | None = None


RNG = np.random.default_rng(7)
A33 = [[2.0, -1.0, 0.5], [0.3, 1.5, -0.7], [1.1, 0.2, 3.0]]
A23 = [[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]]


def _scalars(n: int) -> list[dict[str, Any]]:
    return [{"x": float(x), "y": float(y)}
            for x, y in zip(RNG.uniform(-2, 2, n), RNG.uniform(-2, 2, n), strict=True)]


def _vectors(n: int) -> list[dict[str, Any]]:
    return [{"v": RNG.uniform(-1, 1, 3).tolist(), "x": float(RNG.uniform(0.5, 2))}
            for _ in range(n)]


def _matrices(n: int) -> list[dict[str, Any]]:
    return [{"M": (np.eye(2) * 2 + RNG.uniform(-0.5, 0.5, (2, 2))).tolist(),
             "x": float(RNG.uniform(-1, 1))} for _ in range(n)]


CASES = [
    BatchCase("scalars", "x**3 * y**2 + sin(x*y)", _scalars(5),
              lambda x, y: x**3 * y**2 + sp.sin(x * y)),
    BatchCase("vector+constants", "v @ A @ v + c * sum(sin(v)) + x * v[0] ** 2", _vectors(4),
              lambda v, x, A, c: (v.T * A * v)[0] + c * sum(sp.sin(a) for a in v) + x * v[0] ** 2,
              constants={"A": A33, "c": 0.75}),
    BatchCase("vector output (forward)", "[x * v[0], exp(x) * v[1], v[2] ** 2, sum(v) * x, x]",
              _vectors(3),
              lambda v, x: [x * v[0], sp.exp(x) * v[1], v[2] ** 2, sum(v) * x, x], shape=(5,)),
    BatchCase("vector output (reverse)", "[sum(v ** 2) * x, prod(v) + x]", _vectors(3),
              lambda v, x: [sum(a**2 for a in v) * x, v[0] * v[1] * v[2] + x], shape=(2,)),
    BatchCase("matrix variable", "det(M) * x + trace(M @ M) * x**2", _matrices(4),
              lambda M, x: M.det() * x + (M * M).trace() * x**2),
    BatchCase("matrix output", "M * x + inv(M)", _matrices(3),
              lambda M, x: M * x + M.adjugate() / M.det(), shape=(2, 2)),
    BatchCase("linear (constant gradient)", "(A @ v).sum() + x", _vectors(3),
              lambda v, x, A: sum(A * v) + x, constants={"A": A23}),
    BatchCase("variables subset", "x**2 * y + sin(x) * y**3", _scalars(4),
              lambda x, y: x**2 * y + sp.sin(x) * y**3, variables=("y",)),
    BatchCase("one point", "x**2 * exp(y)", _scalars(1), lambda x, y: x**2 * sp.exp(y)),
]


def columns(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The column form of a list of points."""
    return {k: [p[k] for p in points] for k in points[0]}


def _shape(value: Any) -> tuple[int, ...]:
    return np.shape(value)


def _directions(case: BatchCase) -> dict[str, Any]:
    names = case.variables or tuple(case.points[0])
    rng = np.random.default_rng(11)
    return {v: rng.uniform(-1, 1, _shape(case.points[0][v])).tolist() for v in names}


def _request(case: BatchCase, operation: str, out_shape: tuple[int, ...]) -> dict[str, Any]:
    extra: dict[str, Any] = {"constants": case.constants,
                             "variables": None if case.variables is None else
                             list(case.variables)}
    if operation == "jvp":
        extra["tangent"] = _directions(case)
    elif operation == "hvp":
        extra["vector"] = _directions(case)
    elif operation == "vjp":
        extra["cotangent"] = np.random.default_rng(13).uniform(-1, 1, out_shape).tolist()
    return extra


def _operations(case: BatchCase) -> list[str]:
    ops = ["evaluate", "jacobian", "jvp", "vjp"]
    if case.shape == ():
        ops += ["gradient", "hessian", "hvp"]
    return ops


def _params() -> list[Any]:
    return [pytest.param(case, op, form, id=f"{case.name}-{op}-{form}")
            for case in CASES for op in _operations(case) for form in ("rows", "columns")]


def assert_same(batched: Any, singles: list[Any], field: str) -> None:
    """``batched[i]`` equals ``singles[i]`` (NaN equal to NaN), field by field."""
    if isinstance(singles[0], dict):
        assert isinstance(batched, dict) and list(batched) == list(singles[0]), field
        for k in singles[0]:
            assert_same(batched[k], [s[k] for s in singles], f"{field}[{k!r}]")
        return
    stacked = np.stack([np.asarray(s, dtype=np.float64) for s in singles])
    np.testing.assert_array_equal(np.asarray(batched), stacked, err_msg=field)


RESULT_FIELDS = ("value", "gradient", "jacobian", "hessian", "jvp", "vjp", "hvp")


@pytest.mark.parametrize(("case", "operation", "form"), _params())
def test_batch_equals_per_point(case: BatchCase, operation: str, form: str) -> None:
    out_shape = case.shape
    extra = _request(case, operation, out_shape)
    fn = getattr(engine, operation)
    points: Any = case.points if form == "rows" else columns(case.points)
    batched = fn(expression=case.expression, points=points, **extra)
    singles = [fn(expression=case.expression, point=p, **extra) for p in case.points]

    n_points = len(case.points)
    names = list(case.variables or case.points[0])
    var_shapes = {v: _shape(case.points[0][v]) for v in names}
    n = sum(int(np.prod(s, dtype=int)) for s in var_shapes.values())
    m = int(np.prod(out_shape, dtype=int))

    # Per-point answers, exactly.
    for field in RESULT_FIELDS:
        if field in singles[0]:
            assert field in batched, field
            assert_same(batched[field], [s[field] for s in singles], field)
    for field in ("variables", "rows", "columns"):
        if field in singles[0]:
            assert batched[field] == singles[0][field], field
    assert singles[0]["shape"] == list(out_shape)
    assert batched["shape"] == [n_points, *out_shape]  # the value's shape, batch axis included
    assert batched["variables"] == names

    # The leading N axis of API.md §2.
    assert _shape(batched["value"]) == (n_points, *out_shape)
    if operation == "gradient":
        assert {v: _shape(a) for v, a in batched["gradient"].items()} == {
            v: (n_points, *s) for v, s in var_shapes.items()}
    if operation == "jacobian":
        assert _shape(batched["jacobian"]) == (n_points, m, n)
    if operation == "hessian":
        assert _shape(batched["gradient"]) == (n_points, n)
        assert _shape(batched["hessian"]) == (n_points, n, n)
    if operation == "jvp":
        assert _shape(batched["jvp"]) == (n_points, *out_shape)
    if operation in ("vjp", "hvp"):
        assert {v: _shape(a) for v, a in batched[operation].items()} == {
            v: (n_points, *s) for v, s in var_shapes.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_batched_jacobian_against_sympy(case: BatchCase, ref: Any, close: Any) -> None:
    """The batched Jacobian at every point equals sympy's (one independent anchor per case)."""
    out = engine.jacobian(expression=case.expression, points=columns(case.points),
                          constants=case.constants,
                          variables=None if case.variables is None else list(case.variables))
    for i, point in enumerate(case.points):
        r = ref.reference(case.builder, point, case.constants, case.variables, second=False,
                          key=("batch", case.expression))
        close(out["value"][i], r.value, what=f"value[{i}]")
        close(out["jacobian"][i], r.jacobian, what=f"jacobian[{i}]")


def test_constants_are_shared_by_every_point() -> None:
    out = engine.gradient(expression="sum(A @ v) * x", points={"v": [[1, 2], [3, 4]],
                                                               "x": [1.0, 10.0]},
                          constants={"A": [[1.0, 2.0], [3.0, 4.0]]})
    np.testing.assert_array_equal(out["value"], [1 * 4 + 2 * 6, 10 * (3 * 4 + 4 * 6)])
    np.testing.assert_array_equal(out["gradient"]["v"], [[4.0, 6.0], [40.0, 60.0]])
    np.testing.assert_array_equal(out["gradient"]["x"], [16.0, 36.0])


def test_a_constant_answer_is_repeated_for_every_point() -> None:
    out = engine.gradient(expression="2 * x + 3", points={"x": [1.0, 2.0, 3.0]})
    np.testing.assert_array_equal(out["value"], [5.0, 7.0, 9.0])
    np.testing.assert_array_equal(out["gradient"]["x"], [2.0, 2.0, 2.0])
    out = engine.jacobian(expression="[1, 2]", points={"x": [1.0, 2.0, 3.0]})
    assert out["jacobian"].shape == (3, 2, 1)
    np.testing.assert_array_equal(out["value"], [[1.0, 2.0]] * 3)
    np.testing.assert_array_equal(out["jacobian"], np.zeros((3, 2, 1)))


def test_rows_and_columns_forms_agree_on_a_larger_batch() -> None:
    xs = np.linspace(-3, 3, 257)
    ys = np.cos(xs)
    rows = [{"x": float(x), "y": float(y)} for x, y in zip(xs, ys, strict=True)]
    a = engine.hessian(expression="x**3 * y**2 + sin(x*y)", points=rows)
    b = engine.hessian(expression="x**3 * y**2 + sin(x*y)", points={"x": xs, "y": ys})
    for field in ("value", "gradient", "hessian"):
        np.testing.assert_array_equal(a[field], b[field])
    # Closed forms of the gradient and Hessian.
    c, s = np.cos(xs * ys), np.sin(xs * ys)
    np.testing.assert_allclose(a["gradient"][:, 0], 3 * xs**2 * ys**2 + ys * c, rtol=1e-13,
                               atol=1e-13)
    np.testing.assert_allclose(a["hessian"][:, 0, 1], 6 * xs**2 * ys + c - xs * ys * s,
                               rtol=1e-13, atol=1e-13)
