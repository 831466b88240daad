"""Schemathesis (v4) against our own OpenAPI spec, in process, every check, seeded and bounded.

Each operation of ``/openapi.json`` gets ``MAX_EXAMPLES`` generated requests, positive
(schema-valid) and negative (schema-violating) ones, derandomized so a CI run is reproducible.
Every built-in check runs on every answer: no 5xx, only documented statuses and content types,
responses valid against their schemas, schema-violating requests rejected, schema-valid ones
accepted, ``Allow`` on 405, and no answer slower than ``MAX_RESPONSE_SECONDS``.

The checks' settings come from ``schemathesis.toml`` at the repository root, the file
``schemathesis run --checks all`` reads there too. One deliberate widening:
``positive_data_acceptance`` also accepts 413 and 422. The spec can say that ``expression`` is a
string but not that it parses, names known variables or has the right shapes — a schema-valid
request is usually a semantically invalid one, and 422 is the documented answer to that
(API.md §4). Statuses stay bound by ``status_code_conformance``. What the schema can say, it
does: exactly one of ``point``/``points``, of ``variable`` + ``order``/``wrt``; no ``null``
for an optional field; names where names are required.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

from app.main import create_app
from app.settings import Settings

SEED = 20251126
MAX_EXAMPLES = 100
"""Generated requests per operation (13 operations: about 30 s in all)."""
FILE = tomllib.loads((Path(__file__).resolve().parents[2] / "schemathesis.toml").read_text())
MAX_RESPONSE_SECONDS = FILE["checks"]["max_response_time"]
"""The slowest acceptable answer: the app's request timeout plus slack."""

APP = create_app(Settings(max_concurrent_jobs=2, request_timeout_seconds=2.0))

CONFIG = SchemathesisConfig.from_dict({
    "seed": SEED,
    "checks": {"enabled": True, **FILE["checks"]},
    "generation": {"mode": "all"},
})

schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_spec(case: schemathesis.Case) -> None:
    case.call_and_validate()


def test_every_builtin_check_is_enabled() -> None:
    """"All checks" stays true when schemathesis adds one: each registered check is on."""
    load_all_checks()
    config = CONFIG.projects.get_default().checks
    names = CHECKS.get_all_names()
    assert len(names) >= 14, names
    for name in names:
        assert config.get_by_name(name=name).enabled, name
    assert config.max_response_time.enabled
    assert config.max_response_time.limit == MAX_RESPONSE_SECONDS


def test_every_operation_is_generated() -> None:
    """The spec offers every endpoint of API.md §2 to the generator."""
    paths = {operation.path for operation in
             (result.ok() for result in schema.get_all_operations())}
    expected = {f"/v1/{op}" for op in ("evaluate", "gradient", "jacobian", "hessian",
                                       "derivative", "taylor", "jvp", "vjp", "hvp")}
    assert expected | {"/v1/functions", "/v1/limits", "/healthz"} <= paths, paths
