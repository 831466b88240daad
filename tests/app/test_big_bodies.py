"""Big JSON bodies read by simdjson (app.big_bodies): long number lists become the same float64
bits the ordinary parse gives, and every body that is not the plain case goes back to the
ordinary parse, so answers and 422s do not change."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from test_arrays import same_bits

from app import models
from app.big_bodies import FAST_LIST_LENGTH, parse_big
from app.bodies import engine_kwargs, parse

N = 3 * FAST_LIST_LENGTH
RNG = np.random.default_rng(20261205)
X = RNG.uniform(-2, 2, N)
Y = RNG.uniform(-2, 2, N)
F = "x**3*y**2 + sin(x*y)"
TRICKY = [0.1, -0.0, 5e-324, 2.2250738585072011e-308, 1.7976931348623157e308, 9007199254740993,
          -9223372036854775808, 1e-400, 123456789.123456789]
"""Numbers whose float64 rounding a careless parser gets wrong (ints past 2^53 included)."""


def _body(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def _same_request(model: type[models.BaseModel], body: bytes) -> dict[str, Any]:
    """parse_big's engine keywords, checked equal (bit for bit) to the ordinary parse's."""
    fast = parse_big(model, body)
    assert fast is not None, "the plain case must take the fast path"
    got, got_encoding = engine_kwargs(fast)
    want, want_encoding = engine_kwargs(parse(model, body))
    assert got.keys() == want.keys() and got_encoding == want_encoding
    same_bits(got, want)
    for name, array in got.get("point", {}).items():
        assert not isinstance(array, np.ndarray) or array.dtype == np.float64, name
    return got


def test_a_column_batch_reads_its_lists_as_arrays() -> None:
    kwargs = _same_request(models.DifferentiableRequest, _body(
        {"expression": F, "points": {"x": X.tolist(), "y": Y.tolist()},
         "variables": ["y", "x"], "array_encoding": "base64"}))
    assert isinstance(kwargs["points"]["x"], np.ndarray)


def test_tricky_numbers_round_as_the_ordinary_parse_rounds_them() -> None:
    values = (TRICKY * (FAST_LIST_LENGTH // len(TRICKY) + 1))[:FAST_LIST_LENGTH]
    kwargs = _same_request(models.DifferentiableRequest, _body(
        {"expression": "sum(v)", "point": {"v": values}}))
    assert kwargs["point"]["v"][0] == 0.1 and np.signbit(kwargs["point"]["v"][1])


@pytest.mark.parametrize(("model", "document"), [
    (models.JvpRequest, {"expression": "sum(v*w)", "point": {"v": X.tolist(), "w": 2.0},
                         "tangent": {"v": Y.tolist(), "w": 1}}),
    (models.HvpRequest, {"expression": "sum(v**3)", "point": {"v": X.tolist()},
                         "vector": {"v": Y.tolist()}}),
    (models.VjpRequest, {"expression": "v**2", "point": {"v": X.tolist()},
                         "cotangent": Y.tolist()}),
    (models.DifferentiableRequest, {"expression": "sum(A*v)", "point": {"v": X.tolist()},
                                    "constants": {"A": Y.tolist()}}),
    (models.DifferentiableRequest, {"expression": "sum(v) + u", "point": {
        "v": X.tolist(), "u": [1.0, 2.0]}, "array_encoding": "base64"}),
], ids=["tangent", "vector", "cotangent", "constants", "short-list-stays-a-list"])
def test_every_array_field_takes_the_fast_path(model: type[models.BaseModel],
                                               document: dict[str, Any]) -> None:
    _same_request(model, _body(document))


LONG = X.tolist()
UNSURE: dict[str, bytes] = {
    "an-escape": _body({"expression": "sum(v) + 0*\u00e9", "point": {"v": LONG}}),
    "a-duplicate-key": b'{"expression": "sum(v)", "expression": "sum(v)", "point": {"v": '
                       + json.dumps(LONG).encode() + b"}}",
    "a-duplicate-name": b'{"expression": "sum(v)", "point": {"v": 1, "v": '
                        + json.dumps(LONG).encode() + b"}}",
    "a-nested-list-inside": _body({"expression": "sum(v)", "point": {
        "v": [1.0, [2.0], *LONG[2:]]}}),
    "a-matrix": _body({"expression": "sum(A)", "point": {"A": [[v, v] for v in LONG]}}),
    "a-boolean": _body({"expression": "sum(v)", "point": {"v": [*LONG, True]}}),
    "a-string": _body({"expression": "sum(v)", "point": {"v": [*LONG, "1"]}}),
    "a-null": _body({"expression": "sum(v)", "point": {"v": [*LONG, None]}}),
    "out-of-range": _body({"expression": "sum(v)", "point": {"v": LONG}})[:-3] + b", 1e400]}}",
    "a-huge-integer": _body({"expression": "sum(v)", "point": {"v": [*LONG, 10**30]}}),
    "row-form": _body({"expression": "x", "points": [{"x": v} for v in LONG]}),
    "not-an-object": json.dumps(LONG).encode(),
    "not-json": _body({"expression": "sum(v)", "point": {"v": LONG}})[:-1],
    "the-model-refuses": _body({"point": {"v": LONG}}),
    "many-names": _body({"expression": "x0", "point": {f"x{i}": 0 for i in range(1000)}}),
}


@pytest.mark.parametrize("case", list(UNSURE))
def test_anything_but_the_plain_case_goes_to_the_ordinary_parse(case: str) -> None:
    assert parse_big(models.DifferentiableRequest, UNSURE[case]) is None


def _gradient(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value and gradient of F by hand."""
    return (x**3 * y**2 + np.sin(x * y), 3 * x**2 * y**2 + y * np.cos(x * y),
            2 * x**3 * y + x * np.cos(x * y))



@pytest.mark.anyio
async def test_a_big_batch_over_http_matches_the_closed_form(
        make_client: Callable[..., httpx.AsyncClient]) -> None:
    value, gx, gy = _gradient(X, Y)
    async with make_client(inline_body_bytes=0, max_concurrent_jobs=1) as c:
        response = await c.post("/v1/gradient", content=_body(
            {"expression": F, "points": {"x": X.tolist(), "y": Y.tolist()}}),
            headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    answer = response.json()
    np.testing.assert_allclose(answer["value"], value, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(answer["gradient"]["x"], gx, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(answer["gradient"]["y"], gy, rtol=1e-14, atol=1e-14)


@pytest.mark.anyio
@pytest.mark.parametrize("case", ["a-boolean", "a-nested-list-inside", "out-of-range",
                                  "the-model-refuses", "not-json"])
async def test_refused_bodies_get_the_same_422_from_the_engine_process(
        make_client: Callable[..., httpx.AsyncClient], case: str) -> None:
    answers = []
    for inline in (2**30, 0):  # parsed on the event loop, then in an engine process
        async with make_client(inline_body_bytes=inline, max_body_bytes=2**30,
                               max_concurrent_jobs=1) as c:
            response = await c.post("/v1/gradient", content=UNSURE[case],
                                    headers={"Content-Type": "application/json"})
        answers.append((response.status_code, response.json()))
    assert answers[0][0] == 422
    assert answers[1] == answers[0]


@pytest.mark.anyio
async def test_list_values_are_still_capped_before_parsing(
        make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(inline_body_bytes=0, max_list_numbers=N,
                           max_concurrent_jobs=1) as c:
        response = await c.post("/v1/gradient", content=_body(
            {"expression": F, "points": {"x": X.tolist(), "y": Y.tolist()}}),
            headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["limit"] == "max_list_numbers"
