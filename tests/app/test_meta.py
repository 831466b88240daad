"""/v1/functions, /v1/limits, /healthz, the offline docs, settings and the console command."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import fields

import httpx
import pytest

from app import cli
from app.settings import SERVICE_LIMITS, Settings
from engine.limits import Limits

pytestmark = pytest.mark.anyio


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_functions(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/functions")
    assert response.status_code == 200
    table = {entry["name"]: entry for entry in response.json()["functions"]}
    assert {"sin", "exp", "log", "abs", "relu", "max", "where", "atan2", "det"} <= table.keys()
    assert table["sin"]["arity"] == 1 and table["atan2"]["arity"] == 2
    assert all(entry.keys() == {"name", "arity", "domain", "derivative_at_kinks", "description"}
               for entry in table.values())
    assert "0" in table["abs"]["derivative_at_kinks"]


async def test_functions_lists_constants_and_module_prefixes(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/functions")).json()
    assert body["constants"] == {"pi": math.pi, "e": math.e}
    assert {"np", "numpy", "torch", "math", "jnp"} <= set(body["modules"])
    assert set(body["linalg_modules"]) < set(body["modules"])
    assert "math" not in body["linalg_modules"]  # Python's math module has no linalg


async def test_every_listed_prefix_parses(client: httpx.AsyncClient) -> None:
    """The lists are what the parser accepts: each prefix works, and `.linalg.` exactly where
    the list says."""
    body = (await client.get("/v1/functions")).json()
    for module in body["modules"]:
        answer = await client.post("/v1/evaluate", json={
            "expression": f"{module}.sin(x) + {module}.pi", "point": {"x": 0.5}})
        assert answer.status_code == 200, module
        assert answer.json()["value"] == pytest.approx(math.sin(0.5) + math.pi, rel=1e-15)
        answer = await client.post("/v1/evaluate", json={
            "expression": f"{module}.linalg.det(M)", "point": {"M": [[2, 1], [1, 3]]}})
        if module in body["linalg_modules"]:
            assert answer.status_code == 200, module
            assert answer.json()["value"] == pytest.approx(5, rel=1e-15)
        else:
            assert answer.status_code == 422, module
    answer = await client.post("/v1/evaluate", json={"expression": "scipy.sin(x)",
                                                      "point": {"x": 1}})
    assert answer.status_code == 422


async def test_limits(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(limits=Limits(max_depth=7), max_body_bytes=1234) as client:
        response = await client.get("/v1/limits")
    assert response.status_code == 200
    limits = {entry["name"]: entry for entry in response.json()["limits"]}
    expected = {f.name for f in fields(Limits)} | set(SERVICE_LIMITS)
    assert limits.keys() == expected
    assert limits["max_depth"]["value"] == 7
    assert limits["max_depth"]["env"] == "DIFFAPI_MAX_DEPTH"
    assert limits["max_body_bytes"]["value"] == 1234
    assert all(entry["description"] for entry in limits.values())


@pytest.mark.parametrize(("page", "marker"), [("/docs", "SwaggerUIBundle"), ("/redoc", "redoc")])
async def test_docs_are_served_without_a_cdn(client: httpx.AsyncClient, page: str,
                                             marker: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert marker in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(asset.endswith(".js") for asset in assets)
    for asset in assets:
        assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
        assert (await client.get(asset)).status_code == 200, asset
    assert "/openapi.json" in html
    assert "cdn." not in html and "fonts.googleapis" not in html


def test_settings_from_env() -> None:
    settings = Settings.from_env({"DIFFAPI_MAX_DEPTH": "7", "DIFFAPI_MAX_WORK": "1e6",
                                  "DIFFAPI_MAX_BODY_BYTES": "1024", "PORT": "9001",
                                  "DIFFAPI_WORKERS": "3", "WORKERS": "5", "HOST": "0.0.0.0"})
    assert settings.limits == Limits(max_depth=7, max_work=1e6)
    assert (settings.max_body_bytes, settings.port, settings.workers, settings.host) == (
        1024, 9001, 3, "0.0.0.0")
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize("env", [{"DIFFAPI_MAX_DEPTH": "deep"}, {"DIFFAPI_MAX_ORDER": "2.5"},
                                 {"DIFFAPI_MAX_WORK": "-1"}, {"DIFFAPI_REQUEST_TIMEOUT_SECONDS":
                                                              "nan"}])
def test_bad_settings_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(env))):
        Settings.from_env(env)


def test_serve_command(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int, int]] = []
    monkeypatch.setattr(cli.serving, "serve", lambda settings, host, port, workers: calls.append(
        (host, port, workers)) or 0)
    for name in ("HOST", "PORT", "WORKERS", "DIFFAPI_HOST", "DIFFAPI_PORT", "DIFFAPI_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    cli.main(["serve"])
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("WORKERS", "2")
    cli.main(["serve"])
    cli.main(["serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "4"])
    assert calls == [("127.0.0.1", 8000, 1), ("127.0.0.1", 9001, 2), ("0.0.0.0", 8080, 4)]
