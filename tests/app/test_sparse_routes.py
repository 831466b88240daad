"""Sparse answers over HTTP (API.md §6): ``"sparse": true`` on ``/v1/jacobian`` and
``/v1/hessian``, ``POST /v1/sparsity``, and their errors; values against scipy and closed
forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import rosen_hess

from engine.limits import Limits

pytestmark = pytest.mark.anyio

ROSENBROCK = "sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)"
BRATU = "x[:-2] - 2*x[1:-1] + x[2:] + h**2*lam*exp(x[1:-1])"
RNG = np.random.default_rng(3)


def matrix(answer: dict[str, Any], values: Any = None) -> sp.csr_matrix:
    data = answer["values"] if values is None else values
    return sp.csr_matrix((data, (answer["rows"], answer["cols"])), shape=tuple(answer["shape"]))


def assert_problem(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


async def test_sparse_rosenbrock_hessian_equals_scipy(api: httpx.AsyncClient) -> None:
    n = 1000
    x = RNG.uniform(-2, 2, n)
    response = await api.post("/v1/hessian", json={"expression": ROSENBROCK,
                                                   "point": {"x": x.tolist()}, "sparse": True})
    assert response.status_code == 200, response.text
    body = response.json()
    h = body["hessian"]
    assert h["format"] == "coo" and h["shape"] == [n, n]
    assert h["nnz"] == 2998 == len(h["values"]) and h["colors"] == 3
    reference = rosen_hess(x)
    assert abs(matrix(h).toarray() - reference).max() <= 1e-12 * abs(reference).max()
    assert len(body["gradient"]) == n and "columns" not in body


async def test_lower_triangle(client: httpx.AsyncClient) -> None:
    x = [0.5, -1.0, 2.0, 0.25]
    response = await client.post("/v1/hessian", json={"expression": ROSENBROCK, "point": {"x": x},
                                                      "sparse": True, "triangle": "lower"})
    h = response.json()["hessian"]
    assert all(r >= c for r, c in zip(h["rows"], h["cols"], strict=True)) and h["nnz"] == 7
    reference = np.tril(rosen_hess(np.array(x)))
    np.testing.assert_allclose(matrix(h).toarray(), reference, rtol=1e-12, atol=1e-12)


async def test_sparse_jacobian_batch_has_one_pattern(client: httpx.AsyncClient) -> None:
    n, count, h, lam = 40, 3, 1 / 41, 2.5
    xs = RNG.uniform(0, 1, (count, n))
    response = await client.post("/v1/jacobian", json={
        "expression": BRATU, "points": {"x": xs.tolist()}, "constants": {"h": h, "lam": lam},
        "sparse": True})
    assert response.status_code == 200, response.text
    jac = response.json()["jacobian"]
    assert jac["colors"] == 3 and jac["shape"] == [n - 2, n]
    assert np.shape(jac["values"]) == (count, jac["nnz"]) == (count, 3 * (n - 2))
    for k in range(count):
        dense = matrix(jac, jac["values"][k]).toarray()
        i = np.arange(n - 2)
        np.testing.assert_array_equal(dense[i, i], 1.0)
        np.testing.assert_array_equal(dense[i, i + 2], 1.0)
        np.testing.assert_allclose(dense[i, i + 1], -2 + h**2 * lam * np.exp(xs[k, 1:-1]),
                                   rtol=1e-15)


async def test_sparsity_from_shapes_and_from_a_point(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/sparsity", json={
        "expression": ROSENBROCK, "operation": "hessian", "shapes": {"x": [1000]}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["operation"] == "hessian" and body["shape"] == [1000, 1000]
    assert body["nnz"] == 2998 and body["colors"] == 3 and len(body["coloring"]) == 1000
    assert {abs(r - c) for r, c in zip(body["rows"], body["cols"], strict=True)} == {0, 1}
    assert "values" not in body
    response = await api.post("/v1/sparsity", json={
        "expression": "[x*y, sin(y)]", "operation": "jacobian", "point": {"x": 1, "y": 2}})
    body = response.json()
    assert (body["rows"], body["cols"], body["colors"]) == ([0, 0, 1], [0, 1, 1], 2)


@pytest.mark.parametrize("body", [
    {"expression": "x[0]*x[1]", "operation": "gradient", "shapes": {"x": [2]}},
    {"expression": "x[0]*x[1]", "operation": "hessian", "points": {"x": [[1, 2]]}},
    {"expression": "x[0]*x[1]", "operation": "hessian"},
    {"expression": "x[0]*x[1]", "operation": "hessian", "shapes": {"x": [0]}},
    {"expression": "x[0]*x[1]", "operation": "hessian", "shapes": {"x": [2]},
     "point": {"x": [1, 2]}},
])
async def test_sparsity_refuses_bad_requests(client: httpx.AsyncClient,
                                             body: dict[str, Any]) -> None:
    assert_problem(await client.post("/v1/sparsity", json=body))


async def test_triangle_only_on_a_sparse_hessian(client: httpx.AsyncClient) -> None:
    point = {"x": [1.0, 2.0]}
    problem = assert_problem(await client.post("/v1/hessian", json={
        "expression": "x[0]*x[1]", "point": point, "triangle": "lower"}))
    assert "sparse" in problem["detail"]
    assert_problem(await client.post("/v1/hessian", json={
        "expression": "x[0]*x[1]", "point": point, "sparse": True, "triangle": "upper"}))
    assert_problem(await client.post("/v1/jacobian", json={
        "expression": "x*2", "point": point, "sparse": True, "triangle": "lower"}))
    assert_problem(await client.post("/v1/gradient", json={
        "expression": "x[0]*x[1]", "point": point, "sparse": True}))


async def test_dense_over_the_limit_suggests_sparse(client: httpx.AsyncClient) -> None:
    body = {"expression": ROSENBROCK, "point": {"x": np.ones(1001).tolist()}}
    problem = assert_problem(await client.post("/v1/hessian", json=body))
    assert problem["limit"] == "max_tensor_elements"
    assert '"sparse": true' in problem["detail"]
    response = await client.post("/v1/hessian", json=body | {"sparse": True})
    assert response.status_code == 200 and response.json()["hessian"]["nnz"] == 3001


async def test_stored_entries_limit(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(limits=Limits(max_sparse_entries=5000)) as c:
        response = await c.post("/v1/hessian", json={
            "expression": ROSENBROCK, "points": {"x": np.ones((2, 1000)).tolist()},
            "sparse": True})
        problem = assert_problem(response)
        assert problem["limit"] == "max_sparse_entries" and problem["limit_value"] == 5000
        limits = (await c.get("/v1/limits")).json()["limits"]
        entry = next(e for e in limits if e["name"] == "max_sparse_entries")
        assert entry["value"] == 5000 and entry["env"] == "DIFFAPI_MAX_SPARSE_ENTRIES"
