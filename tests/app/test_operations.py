"""Every operation answers real values: the seed cases of API.md §3 and closed forms."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.anyio

A = [[2, 1, 0], [0, 3, 1]]
F = "x**3 * y**2 + sin(x*y)"

SEEDS: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("polynomial", "gradient", {"expression": "x**2 + 3*x + 1", "point": {"x": 2}},
     {"value": 11, "gradient": {"x": 7}}),
    ("matmul-sum", "gradient",
     {"expression": "(A @ x).sum()", "point": {"x": [0.3, -1.7, 2.5]}, "constants": {"A": A}},
     {"gradient": {"x": [2, 4, 1]}}),
    ("jacobian", "jacobian", {"expression": "[v[0]**2, v[0]*v[1], sin(v[1])]",
                              "point": {"v": [1, 2]}},
     {"jacobian": [[2, 0], [2, 1], [0, -0.4161468365471424]]}),
    ("fifth-derivative", "derivative",
     {"expression": "sin(t**3)", "point": {"t": 1}, "variable": "t", "order": 5},
     {"derivative": 24.493920508725760}),
    ("hessian", "hessian", {"expression": F, "point": {"x": 1, "y": 2}},
     {"hessian": [[20.362810292697273, 9.765258309801494],
                  [9.765258309801494, 1.0907025731743183]]}),
    ("mixed-partial", "derivative",
     {"expression": F, "point": {"x": 1, "y": 2}, "wrt": ["x", "y", "x"]},
     {"derivative": 22.027397638885843}),
]


def _refuse(constant: str) -> None:
    raise AssertionError(f"bare {constant} in a JSON answer")


def assert_close(actual: Any, expected: Any) -> None:
    """Equal structure, numbers equal to 1e-12 relative (zeros exactly, up to 1e-15)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), (actual, expected)
        for key, value in expected.items():
            assert_close(actual[key], value)
    else:
        assert np.shape(actual) == np.shape(expected), (actual, expected)
        np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)


def assert_answer(response: httpx.Response, expected: dict[str, Any]) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    for field, value in expected.items():
        assert_close(body[field], value)
    return body


@pytest.mark.parametrize(("operation", "body", "expected"),
                         [seed[1:] for seed in SEEDS], ids=[seed[0] for seed in SEEDS])
async def test_seed_cases(api: httpx.AsyncClient, operation: str, body: dict[str, Any],
                          expected: dict[str, Any]) -> None:
    assert_answer(await api.post(f"/v1/{operation}", json=body), expected)


@pytest.mark.parametrize("settings", [{"inline_work_threshold": 0}, {"inline_body_bytes": 0}],
                         ids=["over-work-threshold", "over-body-threshold"])
@pytest.mark.parametrize(("operation", "body", "expected"),
                         [seed[1:] for seed in SEEDS], ids=[seed[0] for seed in SEEDS])
async def test_seed_cases_in_a_worker_thread(make_client: Callable[..., httpx.AsyncClient],
                                             settings: dict[str, Any], operation: str,
                                             body: dict[str, Any],
                                             expected: dict[str, Any]) -> None:
    async with make_client(**settings) as client:
        assert_answer(await client.post(f"/v1/{operation}", json=body), expected)


@pytest.mark.parametrize("points", [{"x": [1, 2, 3]}, [{"x": 1}, {"x": 2}, {"x": 3}]],
                         ids=["columns", "rows"])
async def test_batch(api: httpx.AsyncClient, points: Any) -> None:
    assert_answer(await api.post("/v1/gradient", json={"expression": "x**3", "points": points}),
                  {"value": [1, 8, 27], "gradient": {"x": [3, 12, 27]}})


async def test_large_batch_in_a_worker_thread(client: httpx.AsyncClient) -> None:
    x = np.linspace(-2, 2, 20_001)
    response = await client.post("/v1/gradient", json={"expression": "sin(x) * x",
                                                       "points": {"x": x.tolist()}})
    assert_answer(response, {"value": np.sin(x) * x, "gradient": {"x": np.cos(x) * x + np.sin(x)}})


async def test_evaluate(client: httpx.AsyncClient) -> None:
    body = assert_answer(await client.post("/v1/evaluate", json={
        "expression": "A @ x", "point": {"x": [1, -1, 2]}, "constants": {"A": A}}),
        {"value": [1, -1]})
    assert body["shape"] == [2]
    assert body["variables"] == ["x"]
    assert body["warnings"] == []


async def test_jacobian_labels(client: httpx.AsyncClient) -> None:
    body = assert_answer(await client.post("/v1/jacobian", json={
        "expression": "[v[0]**2, v[0]*v[1], sin(v[1])]", "point": {"v": [1, 2]}}), {})
    assert body["columns"] == ["v[0]", "v[1]"]
    assert len(body["rows"]) == 3


async def test_hessian_gradient_and_columns(client: httpx.AsyncClient) -> None:
    body = assert_answer(await client.post("/v1/hessian", json={
        "expression": F, "point": {"x": 1, "y": 2}}),
        {"value": 4 + math.sin(2),
         "gradient": [12 + 2 * math.cos(2), 4 + math.cos(2)]})
    assert body["columns"] == ["x", "y"]


async def test_derivative_all_orders(client: httpx.AsyncClient) -> None:
    assert_answer(await client.post("/v1/derivative", json={
        "expression": "sin(t)", "point": {"t": 0.5}, "variable": "t", "order": 3,
        "all_orders": True}),
        {"derivative": -math.cos(0.5),
         "derivatives": [math.sin(0.5), math.cos(0.5), -math.sin(0.5), -math.cos(0.5)]})


async def test_taylor(client: httpx.AsyncClient) -> None:
    body = assert_answer(await client.post("/v1/taylor", json={
        "expression": "exp(x) * sin(y)", "point": {"x": 0, "y": 0}, "order": 3}), {"value": 0})
    terms = {(t["powers"].get("x", 0), t["powers"].get("y", 0)): t["coefficient"]
             for t in body["coefficients"]}
    expected = {(0, 1): 1, (1, 1): 1, (2, 1): 0.5, (0, 3): -1 / 6}
    assert all(i + j <= 3 for i, j in terms)
    assert expected.keys() <= terms.keys()
    for powers, coefficient in terms.items():
        assert_close(coefficient, expected.get(powers, 0))


async def test_jvp(client: httpx.AsyncClient) -> None:
    assert_answer(await client.post("/v1/jvp", json={
        "expression": "[x*y, x + y]", "point": {"x": 1, "y": 2}, "tangent": {"x": 1, "y": 0}}),
        {"value": [2, 3], "jvp": [2, 1]})


async def test_vjp(client: httpx.AsyncClient) -> None:
    assert_answer(await client.post("/v1/vjp", json={
        "expression": "A @ x", "point": {"x": [1, -1, 2]}, "constants": {"A": A},
        "cotangent": [1, 1]}), {"vjp": {"x": [2, 4, 1]}})


async def test_hvp(client: httpx.AsyncClient) -> None:
    assert_answer(await client.post("/v1/hvp", json={
        "expression": F, "point": {"x": 1, "y": 2}, "vector": {"x": 1, "y": 0}}),
        {"hvp": {"x": 20.362810292697273, "y": 9.765258309801494}})


async def test_variables_choose_and_order(client: httpx.AsyncClient) -> None:
    body = assert_answer(await client.post("/v1/gradient", json={
        "expression": "x * y**2", "point": {"x": 3, "y": 2}, "variables": ["y"]}),
        {"gradient": {"y": 12}})
    assert body["variables"] == ["y"]


@pytest.mark.parametrize(("expression", "point", "value"), [
    ("log(x)", {"x": -1}, None),
    ("1/x", {"x": 0}, None),
    ("log(x)", {"x": [1, -1, 0]}, [0, None, None]),
])
async def test_non_finite_results_are_null_with_warnings(
        client: httpx.AsyncClient, expression: str, point: dict[str, Any], value: Any) -> None:
    response = await client.post("/v1/gradient" if np.ndim(point["x"]) == 0 else "/v1/evaluate",
                                 json={"expression": expression, "point": point})
    assert response.status_code == 200, response.text
    body = json.loads(response.text, parse_constant=_refuse)
    assert body["value"] == value
    assert any("value" in warning for warning in body["warnings"])
