"""Arrays on the wire (API.md §5): every operation answers the same bits whether its arrays
travel as nested lists or base64; a malformed encoded array is a 422 naming its field."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.anyio

RNG = np.random.default_rng(20251203)
X = RNG.uniform(-2, 2, 5)
Y = RNG.uniform(-2, 2, 5)
V = RNG.uniform(-2, 2, 3)
A = RNG.uniform(-2, 2, (2, 3))
F = "x**3*y**2 + sin(x*y)"

REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "evaluate": ("evaluate", {"expression": "A @ v", "point": {"v": V}, "constants": {"A": A}}),
    "gradient-batch": ("gradient", {"expression": F, "points": {"x": X, "y": Y}}),
    "gradient-vector": ("gradient", {"expression": "sum(sin(v) * v)", "point": {"v": V}}),
    "jacobian": ("jacobian", {"expression": "A @ sin(v)", "point": {"v": V},
                              "constants": {"A": A}}),
    "jacobian-batch": ("jacobian", {"expression": "[x*y, x + y]", "points": {"x": X, "y": Y}}),
    "hessian": ("hessian", {"expression": "sum(v**3) * prod(v)", "point": {"v": V}}),
    "derivative": ("derivative", {"expression": "sin(t**3)", "points": {"t": X},
                                  "variable": "t", "order": 4, "all_orders": True}),
    "taylor": ("taylor", {"expression": "exp(x) * sin(y)", "points": {"x": X, "y": Y},
                          "order": 2}),
    "jvp": ("jvp", {"expression": "A @ (v * v)", "point": {"v": V}, "constants": {"A": A},
                    "tangent": {"v": V[::-1].copy()}}),
    "vjp": ("vjp", {"expression": "A @ (v * v)", "point": {"v": V}, "constants": {"A": A},
                    "cotangent": A[:, 0].copy()}),
    "hvp": ("hvp", {"expression": "sum(v**4)", "point": {"v": V}, "vector": {"v": V}}),
}
"""One request per operation, arrays as numpy (encoded per case below)."""


def encoded(array: Any, dtype: str = "float64") -> dict[str, Any]:
    data = np.ascontiguousarray(array, dtype="<f8" if dtype == "float64" else "<f4")
    return {"dtype": dtype, "shape": list(data.shape),
            "data": base64.b64encode(data.tobytes()).decode()}


def wire(value: Any, form: str) -> Any:
    """``value`` with every numpy array as a list (``list``) or an encoded array (``base64``)."""
    if isinstance(value, np.ndarray):
        return encoded(value) if form == "base64" else value.tolist()
    if isinstance(value, dict):
        return {k: wire(v, form) for k, v in value.items()}
    return value


def arrays(answer: Any) -> Any:
    """Every encoded array of an answer decoded, every list made an array (null → NaN)."""
    if isinstance(answer, dict) and set(answer) == {"dtype", "shape", "data"}:
        assert answer["dtype"] == "float64"
        raw = base64.b64decode(answer["data"], validate=True)
        return np.frombuffer(raw, dtype="<f8").reshape(answer["shape"])
    if isinstance(answer, dict):
        return {k: arrays(v) for k, v in answer.items()}
    if isinstance(answer, list) and answer and isinstance(answer[0], dict):
        return [arrays(v) for v in answer]
    if isinstance(answer, list) and all(isinstance(v, str) for v in answer):
        return answer
    if isinstance(answer, list):
        return np.array(answer, dtype=float)
    return answer


def same_bits(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            same_bits(a[key], b[key])
    elif isinstance(a, list) and a and not isinstance(a[0], str):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same_bits(x, y)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.shape == b.shape
        assert a.astype("<f8").tobytes() == b.astype("<f8").tobytes()
    else:
        assert a == b


async def _post(client: httpx.AsyncClient, operation: str, body: dict[str, Any]
                ) -> dict[str, Any]:
    response = await client.post(f"/v1/{operation}", content=json.dumps(body),
                                 headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("case", list(REQUESTS))
async def test_every_operation_round_trips_both_encodings(client: httpx.AsyncClient,
                                                          case: str) -> None:
    operation, request = REQUESTS[case]
    lists = await _post(client, operation, wire(request, "list"))
    for sent in ("list", "base64"):
        for answer_form in ("list", "base64"):
            body = wire(request, sent) | {"array_encoding": answer_form}
            got = await _post(client, operation, body)
            if answer_form == "base64":
                # Array results are encoded objects; scalars and labels stay JSON.
                assert all(not isinstance(v, list) or not v or not isinstance(v[0], float)
                           for v in got.values())
            same_bits(arrays(got), arrays(lists))


async def test_values_against_closed_forms(client: httpx.AsyncClient) -> None:
    got = arrays(await _post(client, "gradient", wire(REQUESTS["gradient-batch"][1], "base64")
                             | {"array_encoding": "base64"}))
    c = np.cos(X * Y)
    np.testing.assert_allclose(got["value"], X**3 * Y**2 + np.sin(X * Y), rtol=1e-14)
    np.testing.assert_allclose(got["gradient"]["x"], 3 * X**2 * Y**2 + Y * c, rtol=1e-13)
    np.testing.assert_allclose(got["gradient"]["y"], 2 * X**3 * Y + X * c, rtol=1e-13)
    hess = arrays(await _post(client, "hessian", {"expression": "sum(v**3)",
                                                  "point": {"v": encoded(V)},
                                                  "array_encoding": "base64"}))
    np.testing.assert_array_equal(hess["hessian"], np.diag(6 * V))


async def test_float32_input_is_computed_in_float64(client: httpx.AsyncClient) -> None:
    x32 = X.astype(np.float32)
    got = await _post(client, "gradient", {"expression": "x**2", "points": {
        "x": encoded(x32, "float32")}, "array_encoding": "base64"})
    exact = x32.astype(np.float64)
    same_bits(arrays(got)["gradient"]["x"], 2 * exact)


async def test_scalars_stay_numbers_and_non_finite_values_keep_their_bits(
        client: httpx.AsyncClient) -> None:
    single = await _post(client, "gradient", {"expression": "x**2", "point": {"x": 3},
                                              "array_encoding": "base64"})
    assert single["value"] == 9.0 and single["gradient"] == {"x": 6.0}
    x = np.array([-1.0, 0.0, 4.0])
    got = await _post(client, "gradient", {"expression": "log(x)", "points": {"x": encoded(x)},
                                           "array_encoding": "base64"})
    value = arrays(got)["value"]
    assert math.isnan(value[0]) and value[1] == -math.inf and value[2] == math.log(4.0)
    assert got["warnings"] and got["warnings"][0].startswith("value: 2 non-finite")
    assert "kept as NaN/±Infinity in base64 arrays" in got["warnings"][0]
    listed = await _post(client, "gradient", {"expression": "log(x)", "points": {"x": x.tolist()}})
    assert listed["value"][:2] == [None, None] and "sent as null" in listed["warnings"][0]


GOOD = encoded(X)
HOSTILE: dict[str, tuple[Any, str]] = {
    "bad-base64": (GOOD | {"data": "!" + GOOD["data"][1:]}, "not valid base64"),
    "bad-padding": (GOOD | {"data": GOOD["data"].rstrip("=") + "="}, "not valid base64"),
    "too-much-padding": (GOOD | {"data": GOOD["data"][:-4] + "===="}, "not valid base64"),
    "wrong-byte-count": (GOOD | {"shape": [4]}, "holds 40 bytes, but shape [4] of float64 "
                                                "needs 32"),
    "unknown-dtype": (GOOD | {"dtype": "float16"}, 'unknown dtype "float16"'),
    "int-dtype": (GOOD | {"dtype": "int64"}, 'unknown dtype "int64"'),
    "negative-shape": (GOOD | {"shape": [-5]}, "integers >= 0"),
    "boolean-shape": (GOOD | {"shape": [True]}, "integers >= 0"),
    "shape-not-a-list": (GOOD | {"shape": 5}, "shape must be a list"),
    "huge-shape": (GOOD | {"shape": [2**62, 2**62]},
                   "needs 170141183460469231731687303715884105728"),
    "shape-times-itemsize-overflows": (GOOD | {"shape": [2**61]}, "needs 18446744073709551616"),
    "too-many-dimensions": (GOOD | {"shape": [1] * 65}, "at most 64"),
    "data-not-a-string": (GOOD | {"data": [1, 2]}, "data must be a base64 string"),
    "missing-key": ({"dtype": "float64", "shape": [0]}, "missing data"),
    "extra-key": (GOOD | {"order": "C"}, "unexpected 'order'"),
    "nan": (encoded(np.array([1.0, np.nan])), "finite numbers"),
    "infinity": (encoded(np.array([np.inf]), "float32"), "finite numbers"),
}


@pytest.mark.parametrize("inline_body_bytes", [65536, 0], ids=["event-loop", "engine-process"])
@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_malformed_encoded_array_is_422_naming_its_field(
        make_client: Callable[..., httpx.AsyncClient], case: str,
        inline_body_bytes: int) -> None:
    value, says = HOSTILE[case]
    async with make_client(inline_body_bytes=inline_body_bytes, max_concurrent_jobs=1) as c:
        for field, body, loc in (
                ("point", {"expression": "sum(x)", "point": {"x": value}},
                 ["body", "point", "x"]),
                ("points", {"expression": "x", "points": {"x": value}}, ["body", "points"]),
                ("vector", {"expression": "x**2", "point": {"x": 1}, "vector": {"x": value}},
                 ["body", "vector", "x"])):
            response = await c.post("/v1/hvp" if field == "vector" else "/v1/gradient",
                                    json=body)
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["type"].endswith("/validation-error")
            assert problem["errors"][0]["loc"] == loc
            assert says in problem["errors"][0]["msg"], problem
            assert says in problem["detail"]


async def test_an_encoded_array_over_max_tensor_elements_names_the_limit(
        make_client: Callable[..., httpx.AsyncClient]) -> None:
    from engine.limits import Limits

    async with make_client(limits=Limits(max_tensor_elements=4)) as c:
        response = await c.post("/v1/gradient", json={"expression": "sum(x)",
                                                      "point": {"x": encoded(X)}})
    assert response.status_code in (413, 422)
    assert response.json()["limit"] == "max_tensor_elements"


async def test_a_big_body_is_answered_the_same_by_the_engine_process(
        make_client: Callable[..., httpx.AsyncClient]) -> None:
    """A body over ``inline_body_bytes`` is parsed in an engine process: same bits."""
    operation, request = REQUESTS["gradient-batch"]
    answers = []
    for inline in (65536, 0):
        async with make_client(inline_body_bytes=inline, max_concurrent_jobs=1) as c:
            for form in ("list", "base64"):
                answers.append(arrays(await _post(c, operation, wire(request, form)
                                                  | {"array_encoding": form})))
    for answer in answers[1:]:
        same_bits(answer, answers[0])


@pytest.mark.parametrize("inline_body_bytes", [65536, 0], ids=["event-loop", "engine-process"])
async def test_json_lists_have_their_own_cap(make_client: Callable[..., httpx.AsyncClient],
                                             inline_body_bytes: int) -> None:
    x = np.arange(30.0)
    async with make_client(max_list_numbers=50, inline_body_bytes=inline_body_bytes,
                           max_concurrent_jobs=1) as c:
        for points in ({"x": x.tolist(), "y": x.tolist()}, [{"x": v, "y": v} for v in x]):
            response = await c.post("/v1/gradient", json={"expression": "x*y",
                                                          "points": points})
            assert response.status_code == 413, response.text
            problem = response.json()
            assert problem["limit"] == "max_list_numbers" and problem["limit_value"] == 50
            assert "max_list_numbers = 50" in problem["detail"]
        same = await _post(c, "gradient", {"expression": "x*y", "array_encoding": "base64",
                                           "points": {"x": encoded(x), "y": encoded(x)}})
        same_bits(arrays(same)["gradient"]["x"], x)


@pytest.mark.parametrize("size", [100, 3 * 2**20 + 7], ids=["small", "over-1-MiB-blocks"])
def test_list_values_are_counted_exactly(size: int) -> None:
    from app.bodies import check_list_values
    from engine.errors import LimitError

    rng = np.random.default_rng(size)
    body = bytearray(rng.choice(np.frombuffer(b"0123456789.,[] ", np.uint8), size).tobytes())
    commas = body.count(b",")  # the reference: CPython's own count
    check_list_values(bytes(body), commas + 1)
    with pytest.raises(LimitError) as err:
        check_list_values(bytes(body), commas)
    assert err.value.problem()["limit"] == "max_list_numbers"


def test_default_limits_fit_a_million_two_variable_points_as_base64() -> None:
    from app.settings import Settings

    settings = Settings()
    column = len(base64.b64encode(bytes(8 * 10**6)))
    body = len(json.dumps({"expression": F, "array_encoding": "base64", "points": {
        name: {"dtype": "float64", "shape": [10**6], "data": ""} for name in "xy"}})) + 2 * column
    assert body <= settings.max_body_bytes
    assert settings.limits.max_batch >= 10**6 and settings.limits.max_tensor_elements >= 10**6
    assert settings.max_list_numbers < 2 * 10**6  # the same batch as JSON lists is refused
