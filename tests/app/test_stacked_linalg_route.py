"""Stacks of matrices over HTTP: listed by /v1/functions, values and derivatives of stacked
det/solve/@ against NumPy per matrix and closed forms, a Taylor request, and the shape
mismatch as a positioned 422 naming both shapes."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.anyio

RNG = np.random.default_rng(7)
A = RNG.standard_normal((3, 2, 2)) + 2.0 * np.eye(2)
B = RNG.standard_normal((3, 2, 4))


async def test_functions_list_matmul_and_matrix_transpose(client: httpx.AsyncClient) -> None:
    rows = {row["name"]: row for row in (await client.get("/v1/functions")).json()["functions"]}
    assert rows["matmul"]["arity"] == 2
    assert rows["matmul"]["description"].startswith("matmul(a, b)")
    assert rows["matrix_transpose"]["arity"] == 1
    for name in ("det", "inv", "solve", "slogdet", "cholesky"):
        assert "stack" in rows[name]["domain"], name


async def test_gradient_of_a_stacked_expression(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/gradient", json={
        "expression": "sum(det(A)) + sum(np.linalg.solve(A, B)) + sum(matmul(A, B) * B)",
        "point": {"A": A.tolist()}, "constants": {"B": B.tolist()}})
    assert response.status_code == 200, response.text
    body = response.json()
    inv = np.stack([np.linalg.inv(m) for m in A])
    det = np.array([np.linalg.det(m) for m in A])
    x = np.stack([np.linalg.solve(m, b) for m, b in zip(A, B, strict=True)])
    np.testing.assert_allclose(body["value"], det.sum() + x.sum() + np.sum((A @ B) * B),
                               rtol=1e-12)
    it = np.swapaxes(inv, -1, -2)
    ones = np.ones_like(B)
    # d det = det A⁻ᵀ; d Σ solve = −A⁻ᵀ 1 Xᵀ; d Σ (A B) ∘ B = B Bᵀ
    grad = det[:, None, None] * it - (it @ ones) @ np.swapaxes(x, -1, -2) + B @ np.swapaxes(
        B, -1, -2)
    np.testing.assert_allclose(body["gradient"]["A"], grad, rtol=1e-11, atol=1e-12)


async def test_hessian_of_stacked_dets_is_block_diagonal(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/hessian", json={"expression": "sum(det(A))",
                                                      "point": {"A": A.tolist()}})
    assert response.status_code == 200, response.text
    h = np.asarray(response.json()["hessian"]).reshape(3, 4, 3, 4)
    for k in range(3):
        # det of a 2×2 is a00 a11 − a01 a10: its Hessian pairs (00, 11) and (01, 10)
        block = np.zeros((4, 4))
        block[0, 3] = block[3, 0] = 1.0
        block[1, 2] = block[2, 1] = -1.0
        np.testing.assert_array_equal(h[k, :, k, :], block)
        for m in range(3):
            if m != k:
                assert not h[k, :, m, :].any()


async def test_taylor_of_a_stacked_determinant(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/derivative", json={
        "expression": "det(A + t * A.mT)[1]", "point": {"t": 0.0}, "variable": "t",
        "order": 2, "all_orders": True, "constants": {"A": A.tolist()}})
    assert response.status_code == 200, response.text
    m, mt = A[1], A[1].T
    # det(M + t Mᵀ) for 2×2 M: a quadratic in t with det(Mᵀ) = det(M)
    c0 = np.linalg.det(m)
    c1 = m[0, 0] * mt[1, 1] + mt[0, 0] * m[1, 1] - m[0, 1] * mt[1, 0] - mt[0, 1] * m[1, 0]
    np.testing.assert_allclose(response.json()["derivatives"], [c0, c1, 2 * c0], rtol=1e-12)


@pytest.mark.parametrize(("expression", "column", "shapes"), [
    ("1 + solve(A, b)", 5, ["(3, 2, 2)", "(3, 5)"]),
    ("x + A @ C", 7, ["(3, 2, 2)", "(4, 2, 2)"]),
    ("det(C[:, :, :1])", 1, ["(4, 2, 1)"]),
])
async def test_shape_mismatch_is_422_naming_the_shapes(
        client: httpx.AsyncClient, expression: str, column: int, shapes: list[str]) -> None:
    response = await client.post("/v1/evaluate", json={
        "expression": expression, "point": {"x": 1.0},
        "constants": {"A": A.tolist(), "b": np.zeros((3, 5)).tolist(),
                      "C": np.zeros((4, 2, 2)).tolist()}})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["type"].endswith("/shape-mismatch")
    assert body["errors"][0]["column"] == column
    for shape in shapes:
        assert shape in body["detail"]
