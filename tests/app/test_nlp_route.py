"""``POST /v1/nlp`` over HTTP: HS071 against hand-derived closed forms, the structure asked
once, the worker-process path, and 422s that name the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.anyio

HS071 = {"objective": "x[0]*x[3]*(x[0] + x[1] + x[2]) + x[2]",
         "constraints": ["x[0]*x[1]*x[2]*x[3]", "x[0]**2 + x[1]**2 + x[2]**2 + x[3]**2"]}
ROSENBROCK = "sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)"


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()  # type: ignore[no-any-return]


async def test_hs071_at_the_start_point(api: httpx.AsyncClient) -> None:
    # x₀ = (1, 5, 5, 1), σ = 3, λ = (0.5, 2), by hand: ∇²f = [[2,1,1,12],[1,0,0,1],[1,0,0,1],
    # [12,1,1,0]], ∇²(x₀x₁x₂x₃) off-diagonal (5, 5, 25, 1, 5, 5), ∇²Σxᵢ² = 2I.
    body = _ok(await api.post("/v1/nlp", json={**HS071, "point": {"x": [1, 5, 5, 1]},
                                               "multipliers": [0.5, 2],
                                               "objective_factor": 3}))
    assert body["objective"] == 16.0
    assert body["gradient"] == [12.0, 1.0, 2.0, 11.0]
    assert body["constraints"] == [25.0, 52.0]
    assert body["jacobian"]["values"] == [25.0, 5.0, 5.0, 25.0, 2.0, 10.0, 10.0, 2.0]
    assert body["hessian"]["rows"] == [0, 1, 1, 2, 2, 2, 3, 3, 3, 3]
    assert body["hessian"]["cols"] == [0, 0, 1, 0, 1, 2, 0, 1, 2, 3]
    assert body["hessian"]["values"] == [10.0, 5.5, 4.0, 5.5, 0.5, 4.0, 48.5, 5.5, 5.5, 4.0]
    assert body["columns"] == ["x[0]", "x[1]", "x[2]", "x[3]"] and body["warnings"] == []


async def test_structure_needs_no_point_and_later_values_follow_it(
        api: httpx.AsyncClient) -> None:
    structure = _ok(await api.post("/v1/nlp", json={**HS071, "shapes": {"x": [4]},
                                                    "want": ["structure"]}))
    assert structure["jacobian"]["shape"] == [2, 4] and "values" not in structure["jacobian"]
    values = _ok(await api.post("/v1/nlp", json={**HS071, "point": {"x": [2, 1, 3, 1.5]},
                                                 "want": ["jacobian", "hessian"]}))
    assert set(values) == {"jacobian", "hessian", "columns", "variables", "warnings"}
    for field in ("jacobian", "hessian"):
        assert values[field]["rows"] == structure[field]["rows"]
        assert values[field]["cols"] == structure[field]["cols"]


@pytest.mark.parametrize("settings", [{"inline_work_threshold": 0}, {"inline_body_bytes": 0}],
                         ids=["over-work-threshold", "over-body-threshold"])
async def test_rosenbrock_in_a_worker_process(make_client: Callable[..., httpx.AsyncClient],
                                              settings: dict[str, Any]) -> None:
    from scipy.optimize import rosen_der, rosen_hess

    x = np.cos(np.arange(300.0))
    async with make_client(**settings) as client:
        body = _ok(await client.post("/v1/nlp", json={"objective": ROSENBROCK,
                                                      "point": {"x": x.tolist()},
                                                      "objective_factor": 0.5}))
    np.testing.assert_allclose(body["gradient"], rosen_der(x), rtol=1e-13, atol=1e-12)
    hessian = np.zeros((300, 300))
    hessian[body["hessian"]["rows"], body["hessian"]["cols"]] = body["hessian"]["values"]
    np.testing.assert_allclose(hessian, np.tril(0.5 * rosen_hess(x)), rtol=1e-13, atol=1e-12)
    assert body["hessian"]["nnz"] == 2 * 300 - 1


@pytest.mark.parametrize("body, loc", [
    ({**HS071, "point": {"x": [1, 5, 5, 1]}, "multipliers": [1, 2, 3]}, ["body", "multipliers"]),
    ({"objective": "x", "constraints": ["[x, 2*x]"], "point": {"x": 1}},
     ["body", "constraints", 0]),
    ({"objective": "x", "point": {"x": 1}, "want": ["hessian", "everything"]},
     ["body", "want", 1]),
    ({"objective": "x", "point": {"x": 1}, "objective_factor": True}, ["body", "objective_factor"]),
    ({"constraints": ["x"], "point": {"x": 1}}, ["body", "objective"]),
    ({"objective": "x", "point": {"x": 1}, "expression": "x"}, ["body", "expression"]),
])
async def test_errors_are_problems_naming_the_field(client: httpx.AsyncClient,
                                                    body: dict[str, Any],
                                                    loc: list[Any]) -> None:
    response = await client.post("/v1/nlp", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"][:len(loc)] == loc
