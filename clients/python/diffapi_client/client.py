"""``Client`` and ``AsyncClient``: one method per operation of the diffapi service.

Both share the request building of :class:`Operations`; they differ only in how a body is
sent. Every operation is a pure function of its body, so a 503 (a deadline or a replaced
worker under load) and a dropped connection are retried with exponential backoff.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import httpx

from diffapi_client.answers import Answer, decode_answer
from diffapi_client.arrays import to_wire, wire_size
from diffapi_client.errors import DiffapiError

R = TypeVar("R")
Inputs = Mapping[str, Any]

DEFAULT_TIMEOUT = 30.0
ENCODE_THRESHOLD = 256
"""Arrays with at least this many elements travel base64-encoded, and so do the answers of a
request that carries one (JSON lists of floats cost far more to write and parse)."""


class Operations(Generic[R]):
    """The operations, each building its body and handing it to :meth:`_call`."""

    encode_threshold: int = ENCODE_THRESHOLD

    def _call(self, operation: str, body: dict[str, Any]) -> R:
        raise NotImplementedError

    def _get(self, path: str) -> R:
        raise NotImplementedError

    def _body(self, expression: str, point: Inputs | None, points: Any, constants: Inputs | None,
              variables: Sequence[str] | None, options: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"expression": expression}
        inputs = {"point": point, "points": points, "constants": constants}
        inputs |= {key: options[key] for key in ("tangent", "vector", "cotangent",
                                                 "multipliers") if key in options}
        size = 0
        for key, value in inputs.items():
            if value is not None:
                body[key] = to_wire(value, self.encode_threshold)
                size = max(size, wire_size(value))
        if variables is not None:
            body["variables"] = list(variables)
        body |= {key: value for key, value in options.items()
                 if key not in inputs and value is not None}
        if "array_encoding" not in body and size >= self.encode_threshold:
            body["array_encoding"] = "base64"
        return body

    def evaluate(self, expression: str, point: Inputs | None = None, *, points: Any = None,
                 constants: Inputs | None = None, **options: Any) -> R:
        """The expression's value at ``point`` (or at every one of ``points``)."""
        return self._call("evaluate", self._body(expression, point, points, constants, None,
                                                 options))

    def gradient(self, expression: str, point: Inputs | None = None, *, points: Any = None,
                 constants: Inputs | None = None, variables: Sequence[str] | None = None,
                 **options: Any) -> R:
        """The value and gradient (``answer.gradient``: name → array) of a scalar function."""
        return self._call("gradient", self._body(expression, point, points, constants,
                                                 variables, options))

    def jacobian(self, expression: str, point: Inputs | None = None, *, points: Any = None,
                 constants: Inputs | None = None, variables: Sequence[str] | None = None,
                 sparse: bool | None = None, **options: Any) -> R:
        """The Jacobian (dense array, or with ``sparse=True`` a :class:`SparseAnswer`)."""
        return self._call("jacobian", self._body(expression, point, points, constants,
                                                 variables, {"sparse": sparse, **options}))

    def hessian(self, expression: str, point: Inputs | None = None, *, points: Any = None,
                constants: Inputs | None = None, variables: Sequence[str] | None = None,
                sparse: bool | None = None, triangle: str | None = None, **options: Any) -> R:
        """The gradient and Hessian of a scalar function (``sparse=True`` for COO)."""
        return self._call("hessian", self._body(expression, point, points, constants, variables,
                                                {"sparse": sparse, "triangle": triangle,
                                                 **options}))

    def derivative(self, expression: str, point: Inputs | None = None, *,
                   variable: str | None = None, order: int | None = None,
                   wrt: Sequence[str] | None = None, points: Any = None,
                   constants: Inputs | None = None, **options: Any) -> R:
        """d^n f/dx^n (``variable``, ``order``) or a mixed partial (``wrt``)."""
        return self._call("derivative", self._body(
            expression, point, points, constants, None,
            {"variable": variable, "order": order,
             "wrt": list(wrt) if wrt is not None else None, **options}))

    def taylor(self, expression: str, point: Inputs | None = None, *, order: int,
               points: Any = None, constants: Inputs | None = None,
               variables: Sequence[str] | None = None, **options: Any) -> R:
        """The normalized Taylor coefficients ∂^α f / α! of total degree ≤ ``order``."""
        return self._call("taylor", self._body(expression, point, points, constants, variables,
                                               {"order": order, **options}))

    def jvp(self, expression: str, point: Inputs | None = None, *, tangent: Inputs,
            points: Any = None, constants: Inputs | None = None, **options: Any) -> R:
        """The directional derivative J·t."""
        return self._call("jvp", self._body(expression, point, points, constants, None,
                                            {"tangent": tangent, **options}))

    def vjp(self, expression: str, point: Inputs | None = None, *, cotangent: Any,
            points: Any = None, constants: Inputs | None = None, **options: Any) -> R:
        """Jᵀ·c for a cotangent c of the output's shape."""
        return self._call("vjp", self._body(expression, point, points, constants, None,
                                            {"cotangent": cotangent, **options}))

    def hvp(self, expression: str, point: Inputs | None = None, *, vector: Inputs,
            points: Any = None, constants: Inputs | None = None, **options: Any) -> R:
        """H·v of a scalar function."""
        return self._call("hvp", self._body(expression, point, points, constants, None,
                                            {"vector": vector, **options}))

    def differentiate(self, expression: str, operation: str, **options: Any) -> R:
        """The derivative as formulas (our language and LaTeX), without a point."""
        body = {"expression": expression, "operation": operation}
        body |= {key: value for key, value in options.items() if value is not None}
        return self._call("differentiate", body)

    def sparsity(self, expression: str, operation: str, point: Inputs | None = None, *,
                 shapes: Mapping[str, Sequence[int]] | None = None, **options: Any) -> R:
        """The structural pattern of the Jacobian or Hessian, with its coloring."""
        body = self._body(expression, point, None, None, None,
                          {"operation": operation, "shapes": _shapes(shapes), **options})
        return self._call("sparsity", body)

    def nlp(self, objective: str, point: Inputs | None = None, *,
            constraints: str | Sequence[str] | None = None, multipliers: Any = None,
            objective_factor: float | None = None, want: Sequence[str] | None = None,
            shapes: Mapping[str, Sequence[int]] | None = None, points: Any = None,
            constants: Inputs | None = None, variables: Sequence[str] | None = None,
            **options: Any) -> R:
        """What an NLP solver asks at a point, in one call: objective, gradient, constraints,
        sparse constraint Jacobian, sparse lower-triangle Lagrangian Hessian (or the
        patterns alone, with ``want=["structure"]``)."""
        body = self._body(objective, point, points, constants, variables,
                          {"multipliers": multipliers, "objective_factor": objective_factor,
                           "want": list(want) if want is not None else None,
                           "shapes": _shapes(shapes), **options})
        body["objective"] = body.pop("expression")
        if constraints is not None:
            body["constraints"] = constraints if isinstance(constraints, str) else list(
                constraints)
        return self._call("nlp", body)

    def functions(self) -> R:
        """The language: every function with its domain and kink convention."""
        return self._get("/v1/functions")

    def limits(self) -> R:
        """Every limit in force, its value and the variable that sets it."""
        return self._get("/v1/limits")

    def health(self) -> R:
        """``{"status": "ok"}`` while the service serves."""
        return self._get("/healthz")


def _shapes(shapes: Mapping[str, Sequence[int]] | None) -> dict[str, list[int]] | None:
    return None if shapes is None else {name: list(shape) for name, shape in shapes.items()}


class _Retry:
    """Exponential backoff for 503s and dropped connections."""

    def __init__(self, retries: int, backoff: float) -> None:
        self.retries = retries
        self.backoff = backoff

    def wait(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to answer now; ``response``
        is None when the connection failed."""
        if response is not None and response.status_code != 503:
            return None
        if attempt >= self.retries:
            if response is None:
                raise DiffapiError(0, {"title": "Service unreachable",
                                       "detail": f"no answer after {attempt + 1} attempts"})
            return None
        after: str | None = response.headers.get("Retry-After") if response else None
        if after is not None and after.isdigit():
            return min(float(after), 30.0)
        return float(self.backoff * 2.0 ** attempt)


def _answer(response: httpx.Response | None) -> Answer:
    assert response is not None  # _Retry.wait raises when no response ever came
    if response.is_success:
        return decode_answer(response.json())
    raise DiffapiError.from_response(response.status_code, response.content,
                                     response.headers.get("content-type", ""))


_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class Client(Operations[Answer]):
    """A synchronous client; reuses its connections (use it as a context manager or call
    :meth:`close`).

    ``Client("http://127.0.0.1:8000").gradient("x**2 + 3*x + 1", {"x": 2}).gradient["x"]``
    """

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = 3,
                 backoff: float = 0.2, transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)
        self._retry = _Retry(retries, backoff)

    def _send(self, method: str, path: str, content: bytes | None) -> Answer:
        attempt = 0
        while True:
            try:
                response: httpx.Response | None = self._http.request(
                    method, path, content=content, headers=_HEADERS)
            except httpx.TransportError:
                response = None
            wait = self._retry.wait(attempt, response)
            if wait is None:
                return _answer(response)
            time.sleep(wait)
            attempt += 1

    def _call(self, operation: str, body: dict[str, Any]) -> Answer:
        return self._send("POST", f"/v1/{operation}", json.dumps(body).encode())

    def _get(self, path: str) -> Answer:
        return self._send("GET", path, None)

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(Operations[Awaitable[Answer]]):
    """The asyncio twin of :class:`Client`: every operation is awaited.

    ``async with AsyncClient(url) as c: answer = await c.gradient("x**2", {"x": 3})``
    """

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = 3,
                 backoff: float = 0.2, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        self._retry = _Retry(retries, backoff)

    async def _send(self, method: str, path: str, content: bytes | None) -> Answer:
        attempt = 0
        while True:
            try:
                response: httpx.Response | None = await self._http.request(
                    method, path, content=content, headers=_HEADERS)
            except httpx.TransportError:
                response = None
            wait = self._retry.wait(attempt, response)
            if wait is None:
                return _answer(response)
            await asyncio.sleep(wait)
            attempt += 1

    def _call(self, operation: str, body: dict[str, Any]) -> Awaitable[Answer]:
        return self._send("POST", f"/v1/{operation}", json.dumps(body).encode())

    def _get(self, path: str) -> Awaitable[Answer]:
        return self._send("GET", path, None)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
