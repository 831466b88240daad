"""Symbolic output over HTTP: the `symbolic` flag and POST /v1/differentiate."""

from __future__ import annotations

import math
from collections.abc import Callable

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_gradient_with_symbolic_flag(make_client: Callable[..., httpx.AsyncClient]
                                           ) -> None:
    async with make_client() as client:
        response = await client.post("/v1/gradient", json={
            "expression": "x**2 + 3*x + 1", "point": {"x": 2}, "symbolic": True})
    body = response.json()
    assert response.status_code == 200
    assert body["gradient"] == {"x": 7.0}
    assert body["formulas"] == {"x": "2*x + 3"}
    assert body["latex"] == {"x": "2 x + 3"}


async def test_differentiate_needs_no_point(make_client: Callable[..., httpx.AsyncClient]
                                            ) -> None:
    async with make_client() as client:
        response = await client.post("/v1/differentiate", json={
            "expression": "sin(x**3)", "operation": "derivative", "variable": "x",
            "order": 1})
    assert response.status_code == 200
    assert response.json()["formulas"] == "3*x**2*cos(x**3)"


async def test_hessian_formulas_evaluate_to_the_hessian(
        make_client: Callable[..., httpx.AsyncClient]) -> None:
    expression = "x**3 * y**2 + sin(x*y)"
    async with make_client() as client:
        formulas = (await client.post("/v1/differentiate", json={
            "expression": expression, "operation": "hessian",
            "variables": ["x", "y"]})).json()["formulas"]
        values = [[(await client.post("/v1/evaluate", json={
            "expression": f, "point": {"x": 1, "y": 2}})).json()["value"] for f in row]
            for row in formulas]
    # Hand-derived: f_xx = 6xy² − y² sin(xy), f_xy = 6x²y + cos(xy) − xy sin(xy),
    # f_yy = 2x³ − x² sin(xy), at (1, 2).
    s, c = math.sin(2.0), math.cos(2.0)
    expected = [[24 - 4 * s, 12 + c - 2 * s], [12 + c - 2 * s, 2 - s]]
    for got_row, want_row in zip(values, expected, strict=True):
        for got, want in zip(got_row, want_row, strict=True):
            assert math.isclose(got, want, rel_tol=1e-12)


async def test_symbolic_order_limit_is_named(make_client: Callable[..., httpx.AsyncClient]
                                             ) -> None:
    async with make_client() as client:
        response = await client.post("/v1/differentiate", json={
            "expression": "sin(x)", "operation": "derivative", "variable": "x", "order": 9})
    assert response.status_code == 422
    assert response.json()["limit"] == "max_symbolic_order"


async def test_symbolic_is_not_a_field_of_evaluate(make_client: Callable[..., httpx.AsyncClient]
                                                   ) -> None:
    async with make_client() as client:
        response = await client.post("/v1/evaluate", json={
            "expression": "x", "point": {"x": 1}, "symbolic": True})
    assert response.status_code == 422
