"""openapi/openapi.json is the app's spec, valid, with stable operation ids and seed examples."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from app.export_openapi import render
from app.main import app

SPEC = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
OPERATIONS = ["evaluate", "gradient", "jacobian", "hessian", "derivative", "taylor", "jvp",
              "vjp", "hvp", "sparsity"]


def test_checked_in_spec_is_current() -> None:
    assert SPEC.exists() and SPEC.read_text(encoding="utf-8") == render(app.openapi()), (
        "openapi/openapi.json differs from the app's spec: run `make openapi`")


def test_spec_is_valid() -> None:
    validate(json.loads(SPEC.read_text(encoding="utf-8")))


@pytest.mark.anyio
async def test_served_spec_equals_the_file(client: httpx.AsyncClient) -> None:
    assert (await client.get("/openapi.json")).json() == json.loads(SPEC.read_text("utf-8"))


def test_operations_and_ids() -> None:
    paths = app.openapi()["paths"]
    ids = {path: next(iter(item.values()))["operationId"] for path, item in paths.items()}
    assert ids == {f"/v1/{name}": name for name in OPERATIONS} | {
        "/v1/functions": "functions", "/v1/limits": "limits", "/healthz": "healthz",
        "/metrics": "metrics", "/v1/differentiate": "differentiate", "/v1/nlp": "nlp"}


def test_operations_document_examples_and_problems() -> None:
    paths = app.openapi()["paths"]
    for name in OPERATIONS:
        post = paths[f"/v1/{name}"]["post"]
        assert post["requestBody"]["content"]["application/json"]["examples"], name
        for status in ("413", "422"):
            assert "application/problem+json" in post["responses"][status]["content"]
    seeds = paths["/v1/gradient"]["post"]["requestBody"]["content"]["application/json"]
    assert seeds["examples"]["polynomial"]["value"]["expression"] == "x**2 + 3*x + 1"
