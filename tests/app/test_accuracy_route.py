"""precision, error_estimate and the decimal strings over HTTP (API.md §7); references are
closed forms in mpmath."""

from __future__ import annotations

import math
from collections.abc import Callable

import httpx
import mpmath
import pytest

pytestmark = pytest.mark.anyio


def _sinc_derivative(n: int, t0: float) -> mpmath.mpf:
    """d^n sin(t)/t by Leibniz over sin and 1/t, at 400 digits."""
    with mpmath.workdps(400):
        t = mpmath.mpf(t0)
        return +mpmath.fsum(mpmath.binomial(n, j) * mpmath.sin(t + (n - j) * mpmath.pi / 2)
                            * (-1) ** j * mpmath.factorial(j) / t ** (j + 1)
                            for j in range(n + 1))


async def test_auto_recovers_a_lost_derivative(client: httpx.AsyncClient) -> None:
    body = {"expression": "sin(t)/t", "point": {"t": 0.5}, "variable": "t", "order": 60}
    ref = _sinc_derivative(60, 0.5)
    r = (await client.post("/v1/derivative", json=body)).json()
    assert r["warnings"] == []
    assert abs(r["derivative"] - float(ref)) <= math.ulp(float(ref))
    assert 0 < r["error_estimate"] <= 4 * math.ulp(float(ref))
    f = (await client.post("/v1/derivative", json={**body, "precision": "float64"})).json()
    assert abs(f["derivative"] - float(ref)) > 1.0  # float64 lost every digit...
    assert f["error_estimate"] >= abs(f["derivative"] - float(ref))  # ...and says so
    assert "derivative" in f["warnings"][0] and "not tried" in f["warnings"][0]


async def test_precision_digits_answers_decimal_strings(client: httpx.AsyncClient) -> None:
    body = {"expression": "sin(t)/t", "points": {"t": [0.5, 2.0]}, "variable": "t",
            "order": 30, "precision": 60}
    r = (await client.post("/v1/derivative", json=body)).json()
    for t0, decimal, value in zip((0.5, 2.0), r["derivative_decimal"], r["derivative"],
                                  strict=True):
        ref = _sinc_derivative(30, t0)
        with mpmath.workdps(80):
            assert abs(mpmath.mpf(decimal) - ref) <= abs(ref) * mpmath.mpf(10) ** -58
        assert value == float(ref)
    taylor = (await client.post("/v1/taylor", json={
        "expression": "sin(t)/t", "point": {"t": 0.5}, "order": 3, "precision": 20})).json()
    term = taylor["coefficients"][3]
    assert isinstance(term["coefficient_decimal"], str) and term["error_estimate"] >= 0


async def test_non_finite_estimates_are_null(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/derivative", json={
        "expression": "[exp(x - 650), 1/x, x**3]", "point": {"x": 0}, "variable": "x",
        "order": 3})
    body = r.json()
    assert body["derivative"][1] is None and body["error_estimate"][1] is None
    assert body["derivative"][2] == 6.0 and body["error_estimate"][2] >= 0


@pytest.mark.parametrize(("precision", "says"), [(8, "precision"), ("double", "precision"),
                                                 (500, "max_precision")])
async def test_bad_precision_is_a_422(make_client: Callable[..., httpx.AsyncClient],
                                      precision: object, says: str) -> None:
    async with make_client() as c:
        r = await c.post("/v1/derivative", json={"expression": "t", "point": {"t": 1},
                                                 "variable": "t", "order": 1,
                                                 "precision": precision})
    assert r.status_code == 422 and says in r.text
