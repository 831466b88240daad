"""The Python client without a server: wire forms, errors and retries (httpx mock transports)."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from typing import Any

import httpx
import numpy as np
import pytest
from diffapi_client import AsyncClient, Client, DiffapiError, decode_array, encode_array
from diffapi_client.answers import SparseAnswer, decode_answer


def test_encode_array_is_little_endian_float64_in_c_order() -> None:
    encoded = encode_array(np.array([[1.0, -2.0], [0.5, 3.0]]))
    assert encoded["dtype"] == "float64" and encoded["shape"] == [2, 2]
    assert base64.b64decode(encoded["data"]) == struct.pack("<4d", 1.0, -2.0, 0.5, 3.0)


def test_decode_array_reads_float32_and_keeps_non_finite() -> None:
    data = base64.b64encode(struct.pack("<3f", 1.5, float("inf"), float("nan"))).decode()
    array = decode_array({"dtype": "float32", "shape": [3], "data": data})
    assert array.dtype == np.float64
    assert array[0] == 1.5 and np.isposinf(array[1]) and np.isnan(array[2])


@pytest.mark.parametrize("obj, message", [
    ({"dtype": "int8", "shape": [1], "data": "AA=="}, "unknown dtype"),
    ({"dtype": "float64", "shape": [2], "data": base64.b64encode(b"\0" * 8).decode()},
     "do not hold"),
])
def test_decode_array_refuses_malformed_objects(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_array(obj)


def _recording(answers: list[httpx.Response]) -> tuple[httpx.MockTransport, list[Any]]:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content) if request.content else None)
        return answers[min(len(seen), len(answers)) - 1]

    return httpx.MockTransport(handler), seen


def _ok(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=body)


def test_small_inputs_travel_as_lists_and_big_ones_encoded() -> None:
    transport, seen = _recording([_ok({"value": 0.0, "gradient": {"x": [0.0]}})])
    with Client("http://test", transport=transport) as client:
        client.gradient("sum(x**2)", {"x": [1.0, 2.0]})
        client.gradient("sum(x**2)", {"x": np.arange(300.0)})
    small, big = seen
    assert small["point"]["x"] == [1.0, 2.0] and "array_encoding" not in small
    assert big["array_encoding"] == "base64"
    assert np.array_equal(decode_array(big["point"]["x"]), np.arange(300.0))


def test_row_form_batches_are_walked_point_by_point() -> None:
    transport, seen = _recording([_ok({"value": [1.0, 4.0]})])
    with Client("http://test", transport=transport) as client:
        answer = client.evaluate("x**2", points=[{"x": 1}, {"x": np.float64(2)}])
    assert seen[0]["points"] == [{"x": 1}, {"x": 2.0}]
    assert np.array_equal(answer.value, [1.0, 4.0])


def test_answers_become_numpy_with_nulls_as_nan() -> None:
    encoded = encode_array(np.array([[2.0, 0.0], [2.0, 1.0]]))
    answer = decode_answer({"value": [0.0, None], "gradient": {"x": [1.0, None]},
                            "jacobian": encoded, "warnings": ["value: 1 non-finite"]})
    assert np.isnan(answer.value[1]) and np.isnan(answer.gradient["x"][1])
    assert np.array_equal(answer.jacobian, [[2.0, 0.0], [2.0, 1.0]])
    assert answer.warnings == ["value: 1 non-finite"]


def test_a_flat_gradient_may_arrive_encoded() -> None:
    # hessian and nlp answer one flat gradient; with base64 it is an encoded object, which is a
    # dict like the name -> array gradient of the gradient operation.
    answer = decode_answer({"gradient": encode_array(np.array([3.0, 8.0])),
                            "objective": 15.0, "constraints": encode_array(np.array([5.0]))})
    assert np.array_equal(answer.gradient, [3.0, 8.0])
    assert answer.objective == 15.0 and np.array_equal(answer.constraints, [5.0])
    named = decode_answer({"gradient": {"x": encode_array(np.array([1.0, 2.0])), "y": 3.0}})
    assert np.array_equal(named.gradient["x"], [1.0, 2.0]) and named.gradient["y"] == 3.0


def test_sparse_answers_become_scipy_matrices() -> None:
    answer = decode_answer({"hessian": {"format": "coo", "shape": [3, 3], "rows": [0, 1, 2],
                                        "cols": [0, 1, 1], "values": [2.0, 3.0, -1.0],
                                        "nnz": 3, "colors": 2}})
    sparse = answer.hessian
    assert isinstance(sparse, SparseAnswer) and sparse.colors == 2
    assert np.array_equal(sparse.matrix().toarray(), [[2, 0, 0], [0, 3, 0], [0, -1, 0]])


def test_a_problem_is_one_exception_with_type_detail_and_column() -> None:
    problem = {"type": "https://diffapi.dev/problems/parse-error", "title": "Expression does "
               "not parse", "status": 422, "detail": "expected an operator", "column": 11}
    transport, _ = _recording([httpx.Response(422, json=problem,
                                              headers={"content-type":
                                                       "application/problem+json"})])
    with Client("http://test", transport=transport) as client, \
            pytest.raises(DiffapiError) as caught:
        client.gradient("log(x) + 2x", {"x": 1})
    error = caught.value
    assert (error.status, error.type, error.column, error.line) == (422, problem["type"], 11,
                                                                      None)
    assert error.detail == "expected an operator"


def test_a_problem_in_a_multi_line_expression_has_its_line() -> None:
    problem = {"type": "https://diffapi.dev/problems/definition-error", "title": "Invalid "
               "definition", "status": 422, "detail": "'f' is used in its own definition",
               "hint": "definitions are not recursive",
               "errors": [{"loc": ["body", "expression"], "msg": "...", "column": 8, "line": 2}]}
    transport, _ = _recording([httpx.Response(422, json=problem,
                                              headers={"content-type":
                                                       "application/problem+json"})])
    with Client("http://test", transport=transport) as client, \
            pytest.raises(DiffapiError) as caught:
        client.gradient("a = x\nf(u) = f(u)\nf(a)", {"x": 1})
    assert (caught.value.line, caught.value.column) == (2, 8)


def test_503_is_retried_with_backoff_then_answered() -> None:
    busy = httpx.Response(503, json={"type": "t", "title": "busy", "status": 503,
                                     "detail": "request_timeout_seconds"})
    transport, seen = _recording([busy, busy, _ok({"value": 11.0})])
    with Client("http://test", transport=transport, backoff=0.001) as client:
        assert client.evaluate("x**2 + 3*x + 1", {"x": 2}).value == 11.0
    assert len(seen) == 3


def test_503_after_every_retry_raises() -> None:
    busy = httpx.Response(503, json={"type": "t", "title": "busy", "status": 503,
                                     "detail": "no worker"})
    transport, seen = _recording([busy])
    with Client("http://test", transport=transport, retries=2, backoff=0.001) as client, \
            pytest.raises(DiffapiError) as caught:
        client.evaluate("x", {"x": 1})
    assert caught.value.status == 503 and len(seen) == 3


def test_dropped_connections_are_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 2:
            raise httpx.ConnectError("refused", request=request)
        return _ok({"value": 1.0})

    with Client("http://test", transport=httpx.MockTransport(handler),
                backoff=0.001) as client:
        assert client.evaluate("x", {"x": 1}).value == 1.0
    assert len(calls) == 2


def test_async_client_retries_and_decodes() -> None:
    busy = httpx.Response(503, json={"type": "t", "title": "busy", "status": 503,
                                     "detail": "busy"})
    transport, seen = _recording([busy, _ok({"value": 7.0, "gradient": {"x": 7.0}})])

    async def main() -> Any:
        async with AsyncClient("http://test", transport=transport, backoff=0.001) as client:
            return await client.gradient("x**2 + 3*x + 1", {"x": 2})

    answer = asyncio.run(main())
    assert answer.gradient["x"] == 7.0 and len(seen) == 2
