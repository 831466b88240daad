"""The functions added for the peers' suites over HTTP: listed by /v1/functions, wrong arity a
422 with its column, ``%`` and the NumPy spellings accepted, the refused spelling positioned."""

from __future__ import annotations

import math

import httpx
import pytest

pytestmark = pytest.mark.anyio

NEW = ["floor", "ceil", "round", "mod", "remainder", "floor_divide", "clip", "clamp", "square",
       "rsqrt", "reciprocal", "exp2", "logit", "expit", "sinc", "deg2rad", "rad2deg", "radians",
       "degrees", "logaddexp", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh",
       "arctan2", "absolute", "fabs", "power"]


async def test_functions_lists_them_with_their_conventions(client: httpx.AsyncClient) -> None:
    table = (await client.get("/v1/functions")).json()["functions"]
    rows = {row["name"]: row for row in table}
    assert set(NEW) <= set(rows)
    assert "jumps" in rows["floor"]["derivative_at_kinks"]
    assert rows["clip"]["description"].startswith("clip(a, a_min=<no value>, a_max=<no value>")
    assert rows["logaddexp"]["arity"] == 2


@pytest.mark.parametrize(("expression", "column"), [("x + clip(x, 1)", 5), ("sinc(x, x)", 1),
                                                    ("2 * logaddexp(x)", 5)])
async def test_wrong_arity_is_422_with_column(client: httpx.AsyncClient, expression: str,
                                              column: int) -> None:
    response = await client.post("/v1/gradient", json={"expression": expression,
                                                       "point": {"x": 0.5}})
    assert response.status_code == 422
    body = response.json()
    assert body["type"].endswith("/wrong-arity")
    assert body["errors"][0]["column"] == column


async def test_percent_and_spellings(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/gradient", json={
        "expression": "x % y + np.arcsin(y/4) + torch.clamp(x, 0, 1)",
        "point": {"x": -7.5, "y": 2}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["value"] == -7.5 % 2 + math.asin(0.5) + 0.0
    assert body["gradient"]["x"] == 1.0  # clamp: x below its lower bound


async def test_math_remainder_is_refused_at_its_column(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/evaluate", json={"expression": "1 + math.remainder(x, 2)",
                                                       "point": {"x": 3}})
    assert response.status_code == 422
    assert response.json()["errors"][0]["column"] == 10
