"""Service settings: one frozen object read from ``DIFFAPI_*`` environment variables."""

from __future__ import annotations

import ast
import inspect
import os
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cache
from itertools import pairwise
from typing import Any, get_type_hints

from engine.limits import Limits

ENV_PREFIX = "DIFFAPI_"
PLAIN_ENV = ("host", "port", "workers")
"""Settings that also fall back to the unprefixed variable (``HOST``, ``PORT``, ``WORKERS``)."""
SERVICE_LIMITS = ("max_body_bytes", "max_list_numbers", "request_timeout_seconds",
                  "worker_memory_mb")
"""Service settings that are limits on a request, listed by ``GET /v1/limits``."""


@dataclass(frozen=True)
class Settings:
    """Everything configurable; ``Settings.from_env()`` reads it, tests build it directly."""

    limits: Limits = field(default_factory=Limits)
    """The engine's limits; each field is read from ``DIFFAPI_<FIELD>``."""
    max_body_bytes: int = 32 * 1024 * 1024
    """Bytes in one request body; a bigger body is answered 413 before it is parsed. The default
    fits a 10^6-point, 2-variable batch as base64 arrays (about 21 MB)."""
    max_list_numbers: int = 1_000_000
    """Comma-separated values in the JSON lists and objects of one body (counted in its bytes
    before it is parsed); bigger arrays must come as base64 encoded arrays, which cost a tenth
    to read and are not parsed into Python numbers."""
    request_timeout_seconds: float = 10.0
    """Seconds a pooled computation may take, waiting for a worker included; then its worker
    process is killed and replaced and the request gets a 503."""
    inline_work_threshold: float = 2e5
    """Work estimates (element operations) up to this run inline; bigger ones in a worker
    process."""
    inline_body_bytes: int = 64 * 1024
    """Bodies up to this size are planned on the event loop; bigger ones go to a worker process
    unplanned (reading their points is work too)."""
    max_concurrent_jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    """Engine worker processes per server process: pooled computations running at once."""
    worker_memory_mb: int = 2048
    """Address-space limit of one engine worker process (MiB); 0 for none."""
    worker_nice: int = 10
    """Niceness added to the engine worker processes, so that under full load the event loop
    (small requests, framing) gets the CPU before long jobs; 0 for the server's priority."""
    host: str = "127.0.0.1"
    """Interface ``diffapi serve`` binds (also ``HOST``)."""
    port: int = 8000
    """Port ``diffapi serve`` listens on (also ``PORT``)."""
    workers: int = 1
    """Uvicorn worker processes of ``diffapi serve`` (also ``WORKERS``)."""
    drain_seconds: float = 5.0
    """Seconds a server process drains after SIGTERM before its graceful shutdown: ``/healthz``
    answers 503 so load balancers stop sending to it, requests are still answered (with
    ``Connection: close``)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by ``DIFFAPI_<FIELD>`` variables; a bad value raises ValueError."""
        env = os.environ if environ is None else environ
        limits = replace(Limits(), **_read(Limits, env, ()))
        return replace(cls(limits=limits), **_read(cls, env, PLAIN_ENV))

    def limit_entries(self) -> list[dict[str, Any]]:
        """Every request limit with its value, environment variable and meaning."""
        docs = attribute_docs(Limits) | attribute_docs(Settings)
        values = self.limits.as_dict() | {name: getattr(self, name) for name in SERVICE_LIMITS}
        return [{"name": name, "value": value, "env": env_name(name),
                 "description": docs.get(name, "")} for name, value in values.items()]


def env_name(name: str) -> str:
    """The environment variable of a setting."""
    return ENV_PREFIX + name.upper()


def _read(cls: type, env: Mapping[str, str], plain: tuple[str, ...]) -> dict[str, Any]:
    """The fields of dataclass ``cls`` set in ``env``, converted to their annotated types."""
    types = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        kind = types[f.name]
        if kind not in (int, float, str):
            continue
        names = [env_name(f.name)] + ([f.name.upper()] if f.name in plain else [])
        raw = next((env[n] for n in names if n in env), None)
        if raw is not None:
            values[f.name] = _convert(names[0], raw, kind)
    return values


def _convert(name: str, raw: str, kind: type) -> Any:
    if kind is str:
        return raw
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}, "
                         f"got {raw!r}") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {raw!r}")
    return value


@cache
def attribute_docs(cls: type) -> dict[str, str]:
    """The docstring written under each annotated attribute of ``cls``, by attribute name."""
    definition = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
    assert isinstance(definition, ast.ClassDef)
    body = definition.body
    return {
        node.target.id: inspect.cleandoc(doc.value.value)
        for node, doc in pairwise(body)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
        and isinstance(doc.value.value, str)
    }
