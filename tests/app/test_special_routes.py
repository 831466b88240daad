"""The special functions through the service: the table, a Taylor request, strict JSON at a
pole and the refusal of a non-constant order (references: mpmath at 40 digits)."""

from __future__ import annotations

import httpx
import mpmath as mp
import pytest

pytestmark = pytest.mark.anyio


async def test_functions_lists_the_special_functions(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/functions")).json()
    table = {entry["name"]: entry for entry in body["functions"]}
    for name in ("gamma", "lgamma", "digamma", "polygamma", "beta", "erfinv", "erfcinv",
                 "j0", "j1", "y0", "y1", "i0", "i1", "jv", "yv", "iv"):
        assert table[name]["domain"] and table[name]["description"], name
    assert table["polygamma"]["arity"] == 2
    assert "special" in body["modules"]


async def test_taylor_of_a_prefixed_special_function(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/taylor", json={
        "expression": "scipy.special.polygamma(1, x) * torch.special.i0(x)",
        "point": {"x": 0.75}, "order": 6})
    assert response.status_code == 200, response.text
    got = [c["coefficient"] for c in response.json()["coefficients"]]
    with mp.workdps(40):
        ref = mp.taylor(lambda t: mp.psi(1, t) * mp.besseli(0, t), mp.mpf(0.75), 6)
    for k, (g, r) in enumerate(zip(got, ref, strict=True)):
        assert abs(mp.mpf(g) - r) <= 1e-13 * (k + 1) * abs(r), (k, g, r)


async def test_a_pole_is_null_with_a_warning(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/gradient", json={"expression": "gamma(x) + y0(x)",
                                                       "point": {"x": 0}})
    assert response.status_code == 200
    body = response.json()
    assert body["value"] is None and body["warnings"]


async def test_a_variable_order_is_a_positioned_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/gradient", json={"expression": "x + polygamma(x, 2)",
                                                       "point": {"x": 1}})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["column"] == 5
    assert "constant" in body["detail"]
