"""Hostile input, in process (httpx over ASGITransport, engine pool running) and over the wire
(a uvicorn subprocess on 127.0.0.1): every request is answered with a clear 4xx — or 200 with
``warnings`` — within a second, and ``GET /healthz`` still answers at once afterwards.

Covered: 10^5 nested parentheses, a 10 MB body, a 10^6-character expression, order 10^9,
10^7 points, a 10^4 × 10^4 constant (declared and streamed), ``1e308*1e308``, deeply nested
calls, ``x**x**…`` towers, unicode and control characters in the expression and in field
names, NaN/Infinity literals and other malformed JSON, tensors of absurd rank, and a pooled
request that outruns ``request_timeout_seconds`` (503 naming it; its worker is replaced; the
other clients are not starved meanwhile).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from hardening_support import (
    LIVE_TIMEOUT_SECONDS,
    assert_answer,
    assert_healthy,
    assert_problem,
    nonfinite_warning,
)

from app.main import create_app
from app.settings import Settings
from engine.limits import Limits

pytestmark = pytest.mark.anyio

FAST = 1.0
"""Seconds within which every hostile request is answered."""
TIMEOUT_SLACK = 2.0
"""Extra seconds allowed past ``request_timeout_seconds`` for a timed-out request."""
JSON = {"content-type": "application/json"}
N = 10**4

# A request that is admissible (work ≈ 6e8 < max_work = 2e9) but takes seconds: pooled.
HEAVY = {"expression": "sin(x)*exp(x)", "points": {"x": [0.01 * i for i in range(200)]},
         "variable": "x", "order": 1000}
# A pooled request (work ≈ 5e5 > inline_work_threshold) that takes milliseconds and answers
# d^500/dx^500 x·e^x = (x + 500)·e^x.
POOLED_SMALL = {"expression": "x*exp(x)", "point": {"x": 0.5}, "variable": "x", "order": 500}
POOLED_SMALL_ANSWER = 500.5 * math.exp(0.5)


def assert_pooled_small(response: httpx.Response) -> None:
    answer = assert_answer(response)
    assert math.isclose(answer["derivative"], POOLED_SMALL_ANSWER, rel_tol=1e-12), answer


def dumps(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def nest(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


def ten_megabytes() -> bytes:
    return (b'{"expression": "x", "point": {"x": 1}, "constants": {"C": ['
            + b"0," * (5 * 2**20) + b"0]}}")


def ten_million_points() -> bytes:
    return b'{"expression": "x", "points": {"x": [' + b"0," * (10**7 - 1) + b"0]}}"


def huge_constant_chunks() -> Iterator[bytes]:
    """A 10^4 × 10^4 constant (200 MB of JSON), row by row, never held in memory."""
    yield b'{"expression": "sum(A)", "point": {"x": 1}, "constants": {"A": ['
    row = b"[" + b"0," * (N - 1) + b"0]"
    for i in range(N):
        yield row + (b"," if i < N - 1 else b"")
    yield b"]}}"


async def astream(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def post(client: httpx.AsyncClient, path: str, content: Any,
               headers: dict[str, str] | None = None) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    response = await client.post(path, content=content, headers=headers or JSON)
    return response, time.perf_counter() - start


# ---------------------------------------------------------------- expectations

Check = Callable[[httpx.Response], Any]


def limit(name: str, *statuses: int) -> Check:
    return lambda r: assert_problem(r, *(statuses or (413, 422)), kind="limit-exceeded",
                                    limit=name)


def problem(*kinds: str) -> Check:
    def check(r: httpx.Response) -> None:
        body = assert_problem(r, 422)
        assert any(body["type"].endswith("/" + k) for k in kinds), body
    return check


def parse_error(r: httpx.Response) -> None:
    body = assert_problem(r, 422, kind="parse-error")
    assert isinstance(body["column"], int) and body["column"] >= 1, body
    assert body["errors"][0]["column"] == body["column"]
    assert "^" in body["detail"]


def client_error(r: httpx.Response) -> None:
    """A 4xx problem document (which one is the app's choice)."""
    assert_problem(r, 413, 422)


def answer_or_client_error(r: httpx.Response) -> None:
    if r.status_code == 200:
        assert_answer(r)
    else:
        assert_problem(r, 413, 422)


def overflow_answer(r: httpx.Response) -> None:
    body = assert_answer(r)
    assert body["value"] is None
    nonfinite_warning(body, "value", 1)


# ---------------------------------------------------------------- the cases (in process)

def deep(opening: str, closing: str, depth: int, inner: str = "x") -> str:
    return opening * depth + inner + closing * depth


CASES: list[Any] = [
    # nesting and length
    pytest.param("gradient", lambda: dumps(expression=deep("(", ")", 10**5), point={"x": 1}),
                 limit("max_expression_length"), id="1e5-nested-parentheses"),
    pytest.param("gradient", lambda: dumps(expression=deep("(", ")", 4999), point={"x": 1}),
                 limit("max_depth"), id="4999-nested-parentheses-within-length"),
    pytest.param("gradient", lambda: dumps(expression="x+" * 499_999 + "x", point={"x": 1}),
                 limit("max_expression_length"), id="1e6-character-expression"),
    pytest.param("gradient", lambda: dumps(expression=deep("sin(", ")", 1500),
                                           point={"x": 1}),
                 limit("max_depth"), id="1500-nested-calls"),
    pytest.param("gradient", lambda: dumps(expression=deep("np.exp(", ")", 10**5),
                                           point={"x": 1}),
                 limit("max_expression_length"), id="1e5-nested-calls"),
    pytest.param("hessian", lambda: dumps(expression=deep("atan2(1, ", ")", 150),
                                          point={"x": 1}),
                 answer_or_client_error, id="150-nested-binary-calls"),
    pytest.param("gradient", lambda: dumps(expression="x**" * 1000 + "x", point={"x": 1.5}),
                 limit("max_depth"), id="tower-of-1000"),
    pytest.param("gradient", lambda: dumps(expression="x^" * 150 + "x", point={"x": 1.5}),
                 answer_or_client_error, id="tower-of-150"),
    pytest.param("hessian", lambda: dumps(expression="-" * 5000 + "x", point={"x": 1}),
                 limit("max_depth"), id="5000-unary-minus"),
    pytest.param("gradient", lambda: dumps(expression="x+" * 4999 + "x", point={"x": 1}),
                 assert_answer, id="long-sum-is-not-nesting"),
    pytest.param("evaluate", lambda: dumps(expression=deep("[", "]", 150), point={"x": 1}),
                 client_error, id="150-nested-list-literals"),
    pytest.param("evaluate", lambda: dumps(expression=deep("[", "]", 40), point={"x": 1}),
                 client_error, id="rank-40-list-literal"),
    pytest.param("gradient", lambda: dumps(expression="sum(sin(v))", point={"v": nest(1, 40)}),
                 client_error, id="rank-40-input"),
    pytest.param("jacobian", lambda: dumps(expression="v", point={"v": nest(1, 63)}),
                 client_error, id="rank-63-input"),
    pytest.param("gradient", lambda: (b'{"expression": "x", "point": {"x": ' + b"[" * 10**5
                                      + b"1" + b"]" * 10**5 + b"}}"),
                 problem("malformed-json"), id="1e5-nested-json-arrays"),
    # orders and sizes
    pytest.param("derivative", lambda: dumps(expression="sin(x)", point={"x": 1},
                                             variable="x", order=10**9),
                 limit("max_order"), id="order-1e9"),
    pytest.param("derivative", lambda: dumps(expression="sin(x)", point={"x": 1},
                                             variable="x", order=10**30),
                 limit("max_order"), id="order-1e30"),
    pytest.param("taylor", lambda: dumps(expression="sin(x)", point={"x": 1}, order=10**9),
                 limit("max_order"), id="taylor-order-1e9"),
    pytest.param("taylor", lambda: dumps(expression="x*y", point={"x": 1, "y": 2},
                                         order=10**9),
                 limit("max_mixed_order"), id="taylor-2-variables-order-1e9"),
    pytest.param("derivative", lambda: dumps(expression="x*y", point={"x": 1, "y": 2},
                                             wrt=["x", "y"] * 50_000),
                 limit("max_mixed_order"), id="wrt-of-1e5-entries"),
    # Under max_body_bytes (32 MiB), but more numbers than JSON lists may carry.
    pytest.param("gradient", ten_megabytes, limit("max_list_numbers", 413), id="10MB-body"),
    pytest.param("gradient", ten_million_points, limit("max_list_numbers", 413),
                 id="1e7-points"),
    pytest.param("gradient", lambda: astream(huge_constant_chunks()),
                 limit("max_body_bytes", 413), id="1e4x1e4-constant-streamed"),
    pytest.param("evaluate", lambda: (b'{"expression": "sum(A)", "point": {"x": 1}, '
                                      b'"constants": {"A": [' + b"0," * (10**6) + b"0]}}"),
                 limit("max_list_numbers"), id="constant-over-max-tensor-elements"),
    pytest.param("evaluate", lambda: (b'{"expression": "sum(A)", "point": {"x": 1}, '
                                      b'"constants": {"A": {"dtype": "float64", "shape": '
                                      b'[1000001], "data": "'
                                      + base64.b64encode(bytes(8 * (10**6 + 1))) + b'"}}}'),
                 limit("max_tensor_elements"), id="base64-constant-over-max-tensor-elements"),
    pytest.param("gradient", lambda: dumps(expression="x", point={"x": 1} | {
                     f"x{i}": 0 for i in range(30_000)}),
                 limit("max_nodes"), id="3e4-variables"),
    pytest.param("hessian", lambda: dumps(expression="sum(v)", point={"v": []}),
                 answer_or_client_error, id="hessian-of-an-empty-vector"),
    # numbers
    pytest.param("evaluate", lambda: dumps(expression="1e308*1e308", point={"x": 1}),
                 overflow_answer, id="1e308*1e308"),
    pytest.param("gradient", lambda: dumps(expression="x * 1e400", point={"x": 1}),
                 answer_or_client_error, id="literal-1e400"),
    pytest.param("gradient", lambda: dumps(expression="x", point={"x": 1e308 * 10}),
                 problem("validation-error", "malformed-json"), id="point-infinity-by-dumps"),
    pytest.param("gradient", lambda: b'{"expression": "x", "point": {"x": 1' + b"0" * 5000
                 + b"}}", problem("malformed-json", "validation-error"),
                 id="5000-digit-integer"),
    pytest.param("gradient", lambda: b'{"expression": "x", "point": {"x": 1e999}}',
                 problem("validation-error", "malformed-json"), id="1e999-in-json"),
]

NAN_BODIES = {
    "point-NaN": b'{"expression": "x", "point": {"x": NaN}}',
    "point-Infinity": b'{"expression": "x", "point": {"x": Infinity}}',
    "point--Infinity-in-list": b'{"expression": "sum(v)", "point": {"v": [1, -Infinity]}}',
    "points-columns-NaN": b'{"expression": "x", "points": {"x": [1, NaN]}}',
    "points-rows-Infinity": b'{"expression": "x", "points": [{"x": 1}, {"x": Infinity}]}',
    "constants-NaN": b'{"expression": "x*c", "point": {"x": 1}, "constants": {"c": NaN}}',
    "constants-matrix-Infinity": (b'{"expression": "sum(A)", "point": {"x": 1}, '
                                  b'"constants": {"A": [[1, 2], [3, Infinity]]}}'),
    "order-NaN": b'{"expression": "x", "point": {"x": 1}, "variable": "x", "order": NaN}',
    "order-Infinity": (b'{"expression": "x", "point": {"x": 1}, "variable": "x", '
                       b'"order": Infinity}'),
    "expression-NaN": b'{"expression": NaN, "point": {"x": 1}}',
    "variables-NaN": b'{"expression": "x", "point": {"x": 1}, "variables": [NaN]}',
    "tangent-NaN": b'{"expression": "x", "point": {"x": 1}, "tangent": {"x": NaN}}',
    "cotangent-Infinity": b'{"expression": "x", "point": {"x": 1}, "cotangent": Infinity}',
    "vector--Infinity": b'{"expression": "x", "point": {"x": 1}, "vector": {"x": -Infinity}}',
}
NAN_OPERATION = {"order-NaN": "derivative", "order-Infinity": "derivative",
                 "tangent-NaN": "jvp", "cotangent-Infinity": "vjp", "vector--Infinity": "hvp"}

MALFORMED = {
    "empty": (b"", JSON),
    "null": (b"null", JSON),
    "list": (b"[]", JSON),
    "string": (b'"x"', JSON),
    "truncated": (b'{"expression": "x", "point": {"x": 1', JSON),
    "trailing-garbage": (b'{"expression": "x", "point": {"x": 1}} {', JSON),
    "invalid-utf8": (b'{"expression": "x\xff\xfe", "point": {"x": 1}}', JSON),
    "nul-bytes": (b"\x00" * 1000, JSON),
    "text-plain": (b'{"expression": "x", "point": {"x": 1}}', {"content-type": "text/plain"}),
    "form-encoded": (b"expression=x&point=1",
                     {"content-type": "application/x-www-form-urlencoded"}),
    "xml": (b"<expression>x</expression>", {"content-type": "application/xml"}),
    "duplicate-and-unknown-keys": (b'{"expression": "x", "expression": "y", "point": {"x": 1},'
                                   b' "__proto__": {}}', JSON),
}

# Characters that must be answered 422 with a column (never a 500) where they stand here; tabs
# and newlines are whitespace of the language, and '#' starts a comment.
BAD_CHARACTERS = ["\x00", "\x07", "\x1b[31m", "\x7f", "\u200b", "\u202e", "\ufeff", "\u2028",
                  "π", "²", "×", "😀", "ｘ", "é", "\\", "$", ";", "=", "\ud800", "\udfff",
                  "\U0010ffff", "\ufffd"]
FIELD_NAMES = ["é", "😀", "x\x00", "\x00", "\u202e", " ", "", "x" * 10_000, "x[0]", "sin",
               "pi", "__class__", "\ud800", "x\udfff", "\U0010ffff"]


@pytest.mark.parametrize(("operation", "content", "check"), CASES)
async def test_hostile_request_is_answered_fast(client: httpx.AsyncClient, operation: str,
                                                content: Callable[[], Any],
                                                check: Check) -> None:
    response, elapsed = await post(client, f"/v1/{operation}", content())
    check(response)
    assert elapsed < FAST, f"answered in {elapsed:.2f} s"
    await assert_healthy(client)


@pytest.mark.parametrize("name", list(NAN_BODIES))
async def test_nan_and_infinity_literals_are_422(client: httpx.AsyncClient, name: str) -> None:
    operation = NAN_OPERATION.get(name, "gradient")
    response, elapsed = await post(client, f"/v1/{operation}", NAN_BODIES[name])
    body = assert_problem(response, 422)
    assert body["type"].endswith(("/validation-error", "/malformed-json")), body
    assert elapsed < FAST
    await assert_healthy(client)


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_bodies_are_422(client: httpx.AsyncClient, name: str) -> None:
    content, headers = MALFORMED[name]
    response, elapsed = await post(client, "/v1/gradient", content, headers)
    assert_problem(response, 422)
    assert elapsed < FAST
    await assert_healthy(client)


@pytest.mark.parametrize("char", BAD_CHARACTERS, ids=[f"U+{ord(c[0]):04X}" for c in
                                                      BAD_CHARACTERS])
@pytest.mark.parametrize("where", ["start", "middle", "end"])
async def test_unicode_and_control_characters_in_the_expression(
        client: httpx.AsyncClient, char: str, where: str) -> None:
    expression = {"start": char + "x + 1", "middle": "x +" + char + " 1",
                  "end": "x + 1" + char}[where]
    content = json.dumps({"expression": expression, "point": {"x": 1}}).encode()
    response, elapsed = await post(client, "/v1/gradient", content)
    parse_error(response)
    assert elapsed < FAST
    await assert_healthy(client)


async def test_whitespace_of_every_kind_the_language_allows(client: httpx.AsyncClient) -> None:
    body = {"expression": "\t x\r\n+\n1 \t", "point": {"x": 1}}
    answer = assert_answer(await client.post("/v1/gradient", json=body))
    assert answer["value"] == 2.0 and answer["gradient"] == {"x": 1.0}


@pytest.mark.parametrize("name", FIELD_NAMES, ids=[f"name{i}" for i in range(len(FIELD_NAMES))])
@pytest.mark.parametrize("field", ["point", "constants", "variables", "top-level", "tangent"])
async def test_unicode_and_control_characters_in_field_names(
        client: httpx.AsyncClient, name: str, field: str) -> None:
    """Odd names are a 4xx or an answer; an answer names them in valid UTF-8 JSON."""
    request: dict[str, Any] = {"expression": "x", "point": {"x": 1}}
    operation = "gradient"
    if field == "point":
        request["point"] = {"x": 1, name: 2}
    elif field == "constants":
        request["constants"] = {name: 2}
    elif field == "variables":
        request["point"] = {"x": 1, name: 2}
        request["variables"] = [name, "x"]
    elif field == "tangent":
        operation = "jvp"
        request["tangent"] = {name: 1}
    else:
        request[name] = 1
    content = json.dumps(request).encode()  # ensure_ascii: lone surrogates as \\ud800
    response, elapsed = await post(client, f"/v1/{operation}", content)
    if response.status_code == 200:
        body = assert_answer(response)
        response.content.decode("utf-8")  # strict: no lone surrogates on the wire
        assert "x" in body["variables"]
    else:
        assert_problem(response, 422)
    assert elapsed < FAST
    await assert_healthy(client)


async def test_a_limit_on_points_names_max_batch(make_client: Callable[..., Any]) -> None:
    async with make_client(limits=Limits(max_batch=10), max_concurrent_jobs=1) as c:
        for points in ({"x": list(range(11))}, [{"x": i} for i in range(11)]):
            response, elapsed = await post(c, "/v1/gradient",
                                           dumps(expression="x", points=points))
            assert_problem(response, 413, kind="limit-exceeded", limit="max_batch")
            assert elapsed < FAST


async def test_relaxed_length_still_bounds_nesting(make_client: Callable[..., Any]) -> None:
    """With max_expression_length at 10^6 the parser, not the length check, refuses 10^5
    nested parentheses, calls and signs: max_depth, never a RecursionError."""
    limits = Limits(max_expression_length=10**6)
    async with make_client(limits=limits, max_concurrent_jobs=1) as c:
        for expression in (deep("(", ")", 10**5), deep("sin(", ")", 10**5), "-" * 10**5 + "x",
                           "x**" * 10**5 + "x", deep("[", "]", 10**5)):
            response, elapsed = await post(c, "/v1/gradient",
                                           dumps(expression=expression, point={"x": 1}))
            assert_problem(response, 413, 422)
            assert elapsed < FAST, (expression[:20], elapsed)
        await assert_healthy(c)


# ---------------------------------------------------------------- time limits

async def test_a_pooled_request_over_the_time_limit_is_503_and_its_worker_replaced(
        make_client: Callable[..., Any]) -> None:
    async with make_client(request_timeout_seconds=0.5, max_concurrent_jobs=2) as c:
        pool = c.app.state.dispatcher.pool
        response, elapsed = await post(c, "/v1/derivative", dumps(**HEAVY))
        body = assert_problem(response, 503, kind="limit-exceeded",
                              limit="request_timeout_seconds")
        assert body["limit_value"] == 0.5
        assert elapsed < 0.5 + TIMEOUT_SLACK, elapsed
        assert pool.restarts == 1
        await assert_healthy(c)

        # The other worker answers the next pooled request at once.
        response, elapsed = await post(c, "/v1/derivative", dumps(**POOLED_SMALL))
        assert_pooled_small(response)
        assert elapsed < FAST

        # The killed worker's replacement comes up: two pooled requests run side by side.
        deadline = time.monotonic() + 20
        while True:
            pair = await asyncio.gather(*(c.post("/v1/derivative", json=POOLED_SMALL)
                                          for _ in range(2)))
            if all(r.status_code == 200 for r in pair):
                for response in pair:
                    assert_pooled_small(response)
                break
            assert all(r.status_code in (200, 503) for r in pair), [r.text for r in pair]
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            await asyncio.sleep(0.2)
        assert pool.restarts == 1


async def test_a_slow_request_does_not_starve_the_others(
        make_client: Callable[..., Any]) -> None:
    async with make_client(request_timeout_seconds=1.0, max_concurrent_jobs=1) as c:
        slow = asyncio.create_task(c.post("/v1/derivative", json=HEAVY))
        await asyncio.sleep(0.1)
        await assert_healthy(c)
        start = time.perf_counter()
        quick = await c.post("/v1/gradient", json={"expression": "x**2", "point": {"x": 3}})
        assert assert_answer(quick)["gradient"] == {"x": 6.0}
        assert time.perf_counter() - start < 0.25
        assert_problem(await slow, 503, limit="request_timeout_seconds")


async def test_waiting_for_a_worker_counts_against_the_time_limit(
        make_client: Callable[..., Any]) -> None:
    async with make_client(request_timeout_seconds=0.5, max_concurrent_jobs=1) as c:
        start = time.perf_counter()
        answers = await asyncio.gather(*(c.post("/v1/derivative", json=HEAVY)
                                         for _ in range(4)))
        elapsed = time.perf_counter() - start
        for response in answers:
            assert_problem(response, 503, limit="request_timeout_seconds")
        assert elapsed < 0.5 + TIMEOUT_SLACK, elapsed
        await assert_healthy(c)


def test_a_pool_stopped_while_a_worker_restarts_does_not_disturb_the_next_pool() -> None:
    """An app whose worker was just killed (503) shuts down while the replacement starts;
    the next app on the same event loop must start its own pool and answer at once.

    The first pool's start-up task for the replacement outlived ``stop()`` and waited on a
    closed descriptor: when the next pool's pipe reused that number, the stale task took the
    new worker's "ready" (AssertionError: self._idle is None) or removed its reader, and the
    new pool waited 60 s for a worker that had long been ready. (Its own event loop, so that
    stale tasks cannot leak into the other tests.)"""
    errors: list[Any] = []

    async def rounds() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: errors.append(ctx))
        for round_ in range(3):
            app = create_app(Settings(request_timeout_seconds=0.5, max_concurrent_jobs=1))
            start = time.perf_counter()
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                    assert_pooled_small(await c.post("/v1/derivative", json=POOLED_SMALL))
                    response = await c.post("/v1/derivative", json=HEAVY)
                    assert_problem(response, 503, limit="request_timeout_seconds")
            assert time.perf_counter() - start < 10, f"round {round_} took too long"

    asyncio.run(asyncio.wait_for(rounds(), 60))
    assert errors == [], [f"{e['message']}: {e.get('future')!r}" for e in errors]


async def test_a_hessian_of_ten_thousand_variables_is_refused_or_timed_out(
        make_client: Callable[..., Any]) -> None:
    """Admissible by the work estimate (4e8) yet 23 s of CPU and a 500 MB answer: it must end
    as a 413/422 before work or a 503 at the time limit, never hold a worker."""
    async with make_client(request_timeout_seconds=1.0, max_concurrent_jobs=1) as c:
        response, elapsed = await post(c, "/v1/hessian",
                                       dumps(expression="sum(sin(v))", point={"v": [0.5] * N}))
        assert_problem(response, 413, 422, 503)
        assert elapsed < 1.0 + TIMEOUT_SLACK
        await assert_healthy(c)


# ---------------------------------------------------------------- over the wire (uvicorn)

def live_post(url: str, path: str, content: Any) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    response = httpx.post(url + path, content=content, headers=JSON, timeout=30)
    return response, time.perf_counter() - start


def live_healthy(url: str) -> None:
    start = time.perf_counter()
    response = httpx.get(url + "/healthz", timeout=5)
    assert response.json() == {"status": "ok"}
    assert time.perf_counter() - start < 0.25


LIVE_CASES = ["1e5-nested-parentheses", "1e6-character-expression", "1500-nested-calls",
              "order-1e9", "10MB-body", "1e7-points", "constant-over-max-tensor-elements",
              "3e4-variables", "1e308*1e308", "rank-40-input"]


@pytest.mark.parametrize(("operation", "content", "check"),
                         [case for case in CASES if case.id in LIVE_CASES])
def test_live_hostile_request_is_answered_fast(hostile_server: str, operation: str,
                                               content: Callable[[], Any],
                                               check: Check) -> None:
    """The same cases over the wire, where a body over 64 KiB is planned in a worker."""
    response, elapsed = live_post(hostile_server, f"/v1/{operation}", content())
    check(response)
    assert elapsed < FAST, elapsed
    live_healthy(hostile_server)


def test_live_streamed_huge_constant_is_413(hostile_server: str) -> None:
    response, elapsed = live_post(hostile_server, "/v1/gradient", huge_constant_chunks())
    assert_problem(response, 413, kind="limit-exceeded", limit="max_body_bytes")
    assert elapsed < FAST, elapsed
    live_healthy(hostile_server)


@pytest.mark.parametrize("size", [100, 500, 1000])
def test_live_pooled_answers_of_any_size(hostile_server: str, size: int) -> None:
    """A pooled Hessian whose answer is 0.04, 1 and 5 MB (of JSON) crosses the worker pipe.

    Under uvicorn's uvloop, ``loop.add_reader`` leaves the pipe non-blocking: a message
    bigger than the socket buffer then raised BlockingIOError, which the pool took for a dead
    worker — a 503 "over request_timeout_seconds" after 40 ms, and a worker killed."""
    body = {"expression": "sum(v*v)", "point": {"v": [0.5] * size}}
    response, elapsed = live_post(hostile_server, "/v1/hessian", json.dumps(body))
    answer = assert_answer(response)
    assert answer["value"] == size / 4
    assert len(answer["hessian"]) == size
    assert elapsed < FAST, elapsed


def raw_exchange(url: str, head: bytes, body_start: bytes) -> bytes:
    """Send a request head and the start of its body; the bytes answered within 2 s."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        sock.sendall(head + body_start)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def test_live_declared_huge_constant_is_refused_before_its_body(hostile_server: str) -> None:
    size = 2 * N * N + 100  # what a 10^4 × 10^4 constant of zeros takes as JSON
    head = (f"POST /v1/gradient HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            f"\r\nContent-Length: {size}\r\n\r\n").encode()
    start = time.perf_counter()
    answer = raw_exchange(hostile_server, head, b'{"expression": "sum(A)", "constants": {"A": [[')
    assert time.perf_counter() - start < FAST
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/problem+json" in rest
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["limit"] == "max_body_bytes"
    live_healthy(hostile_server)


def live_wait_for_workers(url: str, within: float = 20.0) -> None:
    """Until two pooled requests at once are answered: both engine workers are up (earlier
    tests may have had workers killed and replaced)."""
    deadline = time.monotonic() + within
    with ThreadPoolExecutor(2) as executor:
        while True:
            pair = list(executor.map(lambda _: live_post(url, "/v1/derivative",
                                                         json.dumps(POOLED_SMALL))[0],
                                     range(2)))
            if all(r.status_code == 200 for r in pair):
                return
            assert time.monotonic() < deadline, [r.text[:200] for r in pair]
            time.sleep(0.2)


def test_live_slow_request_is_503_and_the_server_carries_on(hostile_server: str) -> None:
    live_wait_for_workers(hostile_server)
    response, elapsed = live_post(hostile_server, "/v1/derivative", json.dumps(HEAVY))
    body = assert_problem(response, 503, kind="limit-exceeded",
                          limit="request_timeout_seconds")
    assert body["limit_value"] == LIVE_TIMEOUT_SECONDS
    assert elapsed < LIVE_TIMEOUT_SECONDS + TIMEOUT_SLACK, elapsed
    live_healthy(hostile_server)
    response, elapsed = live_post(hostile_server, "/v1/derivative", json.dumps(POOLED_SMALL))
    assert_pooled_small(response)
    assert elapsed < FAST
    metrics = httpx.get(hostile_server + "/metrics", timeout=5).text
    assert 'diffapi_rejected_total{limit="request_timeout_seconds"}' in metrics


def test_live_slow_clients_do_not_block_the_server(hostile_server: str) -> None:
    """Twenty clients that send half a body and stall hold no worker and no event loop."""
    host, port = hostile_server.removeprefix("http://").split(":")
    stalled = []
    try:
        for _ in range(20):
            sock = socket.create_connection((host, int(port)), timeout=2)
            sock.sendall(b"POST /v1/gradient HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                         b'{"expression": "x", ')
            stalled.append(sock)
        live_healthy(hostile_server)
        response, elapsed = live_post(hostile_server, "/v1/gradient",
                                      json.dumps({"expression": "x**2", "point": {"x": 3}}))
        assert assert_answer(response)["gradient"] == {"x": 6.0}
        assert elapsed < 0.25
    finally:
        for sock in stalled:
            sock.close()
    live_healthy(hostile_server)
