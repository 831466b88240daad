"""Every error class of API.md §4 is an application/problem+json document that names the fix."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from engine.limits import Limits

pytestmark = pytest.mark.anyio

PROBLEM = "application/problem+json"


def problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    """The problem document of ``response``, checked for status, media type and kind."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"].endswith("/" + kind), body
    assert body["title"] and body["detail"]
    return body


async def test_malformed_json_names_line_and_column(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/gradient", content=b'{"expression": "x",\n "point": {"x": 1,}}',
                              headers={"content-type": "application/json"})
    body = problem(response, 422, "malformed-json")
    assert body["errors"][0]["line"] == 2
    assert body["errors"][0]["column"] == 19
    assert "line 2, column 19" in body["detail"]


async def test_unknown_route(api: httpx.AsyncClient) -> None:
    body = problem(await api.get("/v1/integral"), 404, "not-found")
    assert "/v1/integral" in body["detail"]


async def test_wrong_method(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/gradient")
    body = problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "POST"
    assert "POST" in body["detail"]


async def test_parse_error_shows_column_and_caret(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/gradient", json={"expression": "x + 2x", "point": {"x": 1}})
    body = problem(response, 422, "parse-error")
    assert body["errors"][0]["column"] == 6
    assert body["errors"][0]["loc"] == ["body", "expression"]
    assert "column 6" in body["detail"]
    assert "x + 2x\n     ^" in body["detail"]
    assert "2*x" in body["detail"]


@pytest.mark.parametrize(("field", "value", "loc", "says"), [
    ("point", {"x": False}, ["body", "point", "x"], "got false"),
    ("point", {"x": [1, [True]]}, ["body", "point", "x"], "got true"),
    ("point", {"x": "2"}, ["body", "point", "x"], 'got "2"'),
    ("point", {"x": float("nan")}, ["body", "point", "x"], "got NaN"),
    ("point", [1, 2], ["body", "point"], "should be an object"),
    ("points", {"x": 1}, ["body", "points"], "list of N values"),
    ("points", [{"x": 1}, {"x": None}], ["body", "points"], "[1].x"),
    ("constants", {"A": [[1, "a"]]}, ["body", "constants", "A"], 'got "a"'),
    ("expression", 3, ["body", "expression"], "valid string, got 3"),
    ("variables", "x", ["body", "variables"], "valid array"),
    ("extra", 1, ["body", "extra"], "Extra inputs are not permitted"),
])
async def test_wrong_types(client: httpx.AsyncClient, field: str, value: Any,
                           loc: list[Any], says: str) -> None:
    request = {"expression": "x", "point": {"x": 1}} | {field: value}
    response = await client.post("/v1/gradient", content=json.dumps(request),
                                 headers={"content-type": "application/json"})
    body = problem(response, 422, "validation-error")
    assert body["errors"][0]["loc"] == loc
    assert says in body["errors"][0]["msg"]
    assert says in body["detail"]


@pytest.mark.parametrize(("field", "value", "says"), [
    ("order", "2", 'valid integer, got "2"'),
    ("order", False, "valid integer, got false"),
    ("order", 2.5, "valid integer, got 2.5"),
    ("order", -1, "greater than or equal to 0, got -1"),
    ("all_orders", "yes", 'valid boolean, got "yes"'),
    ("wrt", "x", "valid array"),
])
async def test_strict_derivative_fields(client: httpx.AsyncClient, field: str, value: Any,
                                        says: str) -> None:
    request = {"expression": "sin(t)", "point": {"t": 1}, "variable": "t", "order": 2}
    response = await client.post("/v1/derivative", json=request | {field: value})
    body = problem(response, 422, "validation-error")
    assert body["errors"][0]["loc"] == ["body", field]
    assert says in body["errors"][0]["msg"]


async def test_huge_integer_is_not_a_float64(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/gradient", content=b'{"expression": "x", "point": {"x": '
                                 + b"9" * 400 + b"}}",
                                 headers={"content-type": "application/json"})
    assert problem(response, 422, "validation-error")["errors"][0]["loc"] == ["body", "point", "x"]


@pytest.mark.parametrize(("operation", "body", "missing"), [
    ("gradient", {"point": {"x": 1}}, "expression"),
    ("taylor", {"expression": "x", "point": {"x": 1}}, "order"),
    ("jvp", {"expression": "x", "point": {"x": 1}}, "tangent"),
    ("vjp", {"expression": "x", "point": {"x": 1}}, "cotangent"),
    ("hvp", {"expression": "x", "point": {"x": 1}}, "vector"),
])
async def test_missing_fields(client: httpx.AsyncClient, operation: str,
                              body: dict[str, Any], missing: str) -> None:
    response = await client.post(f"/v1/{operation}", json=body)
    error = problem(response, 422, "validation-error")["errors"][0]
    assert error["loc"] == ["body", missing]
    assert error["msg"] == "Field required"


async def test_empty_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/gradient", headers={"content-type": "application/json"})
    assert "JSON object body is required" in problem(response, 422, "validation-error")["detail"]


async def test_body_that_is_not_json_content(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/gradient", content=b'{"expression": "x"}',
                                 headers={"content-type": "text/plain"})
    assert "Content-Type: application/json" in problem(response, 422, "validation-error")["detail"]


@pytest.mark.parametrize("content", [b"[" * 100_000, b'{"expression": "\xff"}'],
                         ids=["deep-nesting", "bad-utf8"])
async def test_undecodable_body(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post("/v1/gradient", content=content,
                                 headers={"content-type": "application/json"})
    problem(response, 422, "malformed-json")


async def test_unknown_name_suggests_nearest(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/gradient", json={"expression": "sinn(x)",
                                                       "point": {"x": 1}})
    body = problem(response, 422, "unknown-name")
    assert body["name"] == "sinn"
    assert "sin" in body["suggestions"]
    assert "sin" in body["detail"]


async def test_unknown_variable_suggests_nearest(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/gradient", json={"expression": "alpah * 2",
                                                       "point": {"alpha": 1}})
    assert "alpha" in problem(response, 422, "unknown-name")["suggestions"]


async def test_wrong_arity(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/gradient", json={"expression": "atan2(x)",
                                                       "point": {"x": 1}})
    assert "atan2" in problem(response, 422, "wrong-arity")["detail"]


async def test_shape_mismatch_names_both_shapes(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/evaluate", json={
        "expression": "A @ x", "point": {"x": [1, 2]}, "constants": {"A": [[2, 1, 0], [0, 3, 1]]}})
    detail = problem(response, 422, "shape-mismatch")["detail"]
    assert "(2, 3)" in detail and "(2,)" in detail


async def test_gradient_of_a_vector_suggests_jacobian(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/gradient", json={"expression": "[x, x**2]",
                                                       "point": {"x": 1}})
    detail = problem(response, 422, "non-scalar")["detail"]
    assert "jacobian" in detail and "(2,)" in detail


@pytest.mark.parametrize(("limits", "operation", "request_body", "limit", "value"), [
    ({}, "gradient", {"expression": "x+" * 6000 + "x", "point": {"x": 1}},
     "max_expression_length", 10_000),
    ({}, "derivative", {"expression": "sin(t)", "point": {"t": 1}, "variable": "t",
                        "order": 1001}, "max_order", 1000),
    ({"max_batch": 2}, "gradient", {"expression": "x", "points": {"x": [1, 2, 3]}},
     "max_batch", 2),
    ({"max_depth": 5}, "gradient", {"expression": "((((((x))))))", "point": {"x": 1}},
     "max_depth", 5),
    ({"max_work": 10}, "gradient", {"expression": "sum(x)", "point": {"x": [1] * 100}},
     "max_work", 10),
])
async def test_over_a_limit_names_it(make_client: Callable[..., httpx.AsyncClient],
                                     limits: dict[str, Any], operation: str,
                                     request_body: dict[str, Any], limit: str,
                                     value: int) -> None:
    async with make_client(limits=Limits(**limits)) as client:
        response = await client.post(f"/v1/{operation}", json=request_body)
    assert response.status_code in (413, 422), response.text
    body = problem(response, response.status_code, "limit-exceeded")
    assert body["limit"] == limit and body["limit_value"] == value
    assert limit in body["detail"]


async def test_body_over_max_body_bytes(make_client: Callable[..., httpx.AsyncClient]) -> None:
    request = {"expression": "x", "points": {"x": list(range(100))}}
    async with make_client(max_body_bytes=200) as client:
        response = await client.post("/v1/gradient", json=request)
    body = problem(response, 413, "limit-exceeded")
    assert body["limit"] == "max_body_bytes" and body["limit_value"] == 200
    assert "max_body_bytes = 200" in body["detail"]


async def test_streamed_body_over_max_body_bytes(
        make_client: Callable[..., httpx.AsyncClient]) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"expression": "x", "points": {"x": ['
        for _ in range(100):
            yield b"1, "
        yield b"1]}}"

    async with make_client(max_body_bytes=200) as client:
        response = await client.post("/v1/gradient", content=chunks(),
                                     headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert problem(response, 413, "limit-exceeded")["limit"] == "max_body_bytes"


async def test_timeout_is_a_problem(make_client: Callable[..., httpx.AsyncClient]) -> None:
    request = {"expression": "sin(x) * x", "points": {"x": [0.5] * 100_000}}
    async with make_client(inline_work_threshold=0, request_timeout_seconds=1e-9) as client:
        response = await client.post("/v1/gradient", json=request)
    assert problem(response, 503, "limit-exceeded")["limit"] == "request_timeout_seconds"



async def test_unknown_keyword_is_a_positioned_422_with_the_keywords(
        api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/gradient", json={"expression": "np.sum(v, axs=0)",
                                                    "point": {"v": [1, 2]}})
    body = problem(response, 422, "wrong-arity")
    assert body["errors"][0]["column"] == 11
    assert "np.sum(v, axs=0)\n          ^" in body["detail"]
    assert "did you mean 'axis'?" in body["detail"]
    assert "its keywords: a, axis, keepdims" in body["detail"]


async def test_list_index_out_of_bounds_is_a_positioned_422(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/jacobian", json={"expression": "v[[0, -3]]",
                                                    "point": {"v": [1, 2]}})
    body = problem(response, 422, "shape-mismatch")
    assert body["errors"][0]["column"] == 7
    assert "index -3 is out of bounds for axis 0 with size 2" in body["detail"]
