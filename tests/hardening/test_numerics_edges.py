"""Numerics at the edges, through the HTTP API: overflow, ``0*inf``, ``log(0)`` and its
derivatives, ``sqrt(0)``'s derivative, singular ``inv``/``det``, huge exponents, ``x**x**x``
towers, ties at kinks, underflow — each a defined answer, asserted exactly.

A defined answer is either a 200 whose non-finite numbers are ``null`` with exactly one
warning per field naming how many there are (API.md §4), or a 422 naming the problem. The
conventions at kinks are PyTorch's, as ``GET /v1/functions`` states them (``abs'(0) = 0``,
``relu'(0) = 0``, ties of max/min split 0.5/0.5, ``where`` follows its branch, ``norm``'s
derivatives are 0 at the zero vector, in Taylor mode too).
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from hardening_support import assert_answer, assert_problem

pytestmark = pytest.mark.anyio

INF = None  # how every non-finite number travels: strict JSON has no NaN or Infinity

# (operation, expression, point, extra fields, expected fields, non-finite count per field)
Edge = tuple[str, str, dict[str, Any], dict[str, Any], dict[str, Any], dict[str, int]]
EDGES: dict[str, Edge] = {
    # overflow
    "exp(1000)": ("gradient", "exp(x)", {"x": 1000}, {},
                  {"value": INF, "gradient": {"x": INF}}, {"value": 1, "gradient": 1}),
    "1e308*1e308": ("evaluate", "1e308*1e308", {"x": 0}, {}, {"value": INF}, {"value": 1}),
    "-1e308*1e308": ("evaluate", "-1e308*1e308", {"x": 0}, {}, {"value": INF}, {"value": 1}),
    "1e308+1e308": ("evaluate", "1e308 + 1e308", {"x": 0}, {}, {"value": INF}, {"value": 1}),
    "2*x at 1e308": ("gradient", "2*x", {"x": 1e308}, {},
                     {"value": INF, "gradient": {"x": 2.0}}, {"value": 1}),
    "sum of squares overflows": ("gradient", "sum(v*v)", {"v": [1e200, 1]}, {},
                                 {"value": INF, "gradient": {"v": [2e200, 2.0]}},
                                 {"value": 1}),
    "cosh(1000)": ("gradient", "cosh(x)", {"x": 1000}, {},
                   {"value": INF, "gradient": {"x": INF}}, {"value": 1, "gradient": 1}),
    "expm1(1000)": ("gradient", "expm1(x)", {"x": 1000}, {},
                    {"value": INF, "gradient": {"x": INF}}, {"value": 1, "gradient": 1}),
    "log(exp(1000))": ("gradient", "log(exp(x))", {"x": 1000}, {},
                       {"value": INF, "gradient": {"x": INF}}, {"value": 1, "gradient": 1}),
    "literal 1e400": ("gradient", "x*1e400", {"x": 1}, {},
                      {"value": INF, "gradient": {"x": INF}}, {"value": 1, "gradient": 1}),
    "5th derivative of exp(1000)": ("derivative", "exp(x)", {"x": 1000},
                                    {"variable": "x", "order": 5},
                                    {"value": INF, "derivative": INF},
                                    {"value": 1, "derivative": 1}),
    "1000th derivative of 1/x": ("derivative", "1/x", {"x": 1},
                                 {"variable": "x", "order": 1000},
                                 {"value": 1.0, "derivative": INF}, {"derivative": 1}),
    "vjp of exp(1000)": ("vjp", "exp(x)", {"x": 1000}, {"cotangent": 0},
                         {"value": INF, "vjp": {"x": INF}}, {"value": 1, "vjp": 1}),
    # computed stably: no overflow
    "sigmoid(1000)": ("gradient", "sigmoid(x)", {"x": 1000}, {},
                      {"value": 1.0, "gradient": {"x": 0.0}}, {}),
    "sigmoid(-1000)": ("gradient", "sigmoid(x)", {"x": -1000}, {},
                       {"value": 0.0, "gradient": {"x": 0.0}}, {}),
    "softplus(1000)": ("gradient", "softplus(x)", {"x": 1000}, {},
                       {"value": 1000.0, "gradient": {"x": 1.0}}, {}),
    "softplus(-1000)": ("gradient", "softplus(x)", {"x": -1000}, {},
                        {"value": 0.0, "gradient": {"x": 0.0}}, {}),
    "tanh(1000)": ("gradient", "tanh(x)", {"x": 1000}, {},
                   {"value": 1.0, "gradient": {"x": 0.0}}, {}),
    "erf(30)": ("gradient", "erf(x)", {"x": 30}, {}, {"value": 1.0, "gradient": {"x": 0.0}},
                {}),
    # underflow is zero, not a warning
    "exp(-1000)": ("gradient", "exp(x)", {"x": -1000}, {},
                   {"value": 0.0, "gradient": {"x": 0.0}}, {}),
    "2**-5000": ("gradient", "2**-5000 + x", {"x": 1}, {},
                 {"value": 1.0, "gradient": {"x": 1.0}}, {}),
    "literal 1e-400": ("gradient", "x*1e-400", {"x": 1}, {},
                       {"value": 0.0, "gradient": {"x": 0.0}}, {}),
    "subnormal squared": ("gradient", "x*x", {"x": 5e-324}, {},
                          {"value": 0.0, "gradient": {"x": 1e-323}}, {}),
    # 0*inf and friends
    "0*exp(1000)": ("evaluate", "0*exp(1000)", {"x": 0}, {}, {"value": INF}, {"value": 1}),
    "x*exp(1000) at 0": ("gradient", "x*exp(1000)", {"x": 0}, {},
                         {"value": INF, "gradient": {"x": INF}}, {"value": 1, "gradient": 1}),
    "inf/inf": ("evaluate", "exp(1000)/exp(1000)", {"x": 0}, {}, {"value": INF},
                {"value": 1}),
    "0/0": ("gradient", "x/x", {"x": 0}, {}, {"value": INF, "gradient": {"x": INF}},
            {"value": 1, "gradient": 1}),
    "1/0": ("gradient", "1/x", {"x": 0}, {}, {"value": INF, "gradient": {"x": INF}},
            {"value": 1, "gradient": 1}),
    "-1/0": ("gradient", "-1/x", {"x": 0}, {}, {"value": INF, "gradient": {"x": INF}},
             {"value": 1, "gradient": 1}),
    # log(0) and its derivatives
    "log(0)": ("gradient", "log(x)", {"x": 0}, {}, {"value": INF, "gradient": {"x": INF}},
               {"value": 1, "gradient": 1}),
    "log(0) hessian": ("hessian", "log(x)", {"x": 0}, {},
                       {"value": INF, "gradient": [INF], "hessian": [[INF]]},
                       {"value": 1, "gradient": 1, "hessian": 1}),
    "log(0) third derivative": ("derivative", "log(x)", {"x": 0},
                                {"variable": "x", "order": 3},
                                {"value": INF, "derivative": INF},
                                {"value": 1, "derivative": 1}),
    "log(0) taylor": ("taylor", "log(x)", {"x": 0}, {"order": 2},
                      {"value": INF, "coefficients": [
                          {"powers": {"x": 0}, "coefficient": INF, "error_estimate": INF},
                          {"powers": {"x": 1}, "coefficient": INF, "error_estimate": INF},
                          {"powers": {"x": 2}, "coefficient": INF, "error_estimate": INF}]},
                      {"value": 1, "coefficients": 3}),
    "log(0) jvp": ("jvp", "log(x)", {"x": 0}, {"tangent": {"x": 1}},
                   {"value": INF, "jvp": INF}, {"value": 1, "jvp": 1}),
    "log1p(-1)": ("gradient", "log1p(x)", {"x": -1}, {},
                  {"value": INF, "gradient": {"x": INF}}, {"value": 1, "gradient": 1}),
    "log of a batch": ("gradient", "log(x)", None, {"points": {"x": [1, 0, -1]}},
                       {"value": [0.0, INF, INF], "gradient": {"x": [1.0, INF, -1.0]}},
                       {"value": 2, "gradient": 1}),
    "jacobian with one log(0) row": ("jacobian", "[exp(x), log(x), x]", {"x": 0}, {},
                                     {"value": [1.0, INF, 0.0],
                                      "jacobian": [[1.0], [INF], [1.0]]},
                                     {"value": 1, "jacobian": 1}),
    # sqrt(0) and other infinite slopes on a finite value
    "sqrt(0)": ("gradient", "sqrt(x)", {"x": 0}, {}, {"value": 0.0, "gradient": {"x": INF}},
                {"gradient": 1}),
    "sqrt(0) hessian": ("hessian", "sqrt(x)", {"x": 0}, {},
                        {"value": 0.0, "gradient": [INF], "hessian": [[INF]]},
                        {"gradient": 1, "hessian": 1}),
    "sqrt(0) second derivative": ("derivative", "sqrt(x)", {"x": 0},
                                  {"variable": "x", "order": 2},
                                  {"value": 0.0, "derivative": INF}, {"derivative": 1}),
    "sqrt(0) hvp": ("hvp", "sqrt(x)", {"x": 0}, {"vector": {"x": 1}},
                    {"value": 0.0, "hvp": {"x": INF}}, {"hvp": 1}),
    "cbrt(0)": ("gradient", "cbrt(x)", {"x": 0}, {}, {"value": 0.0, "gradient": {"x": INF}},
                {"gradient": 1}),
    "asin(1)": ("gradient", "asin(x)", {"x": 1}, {},
                {"value": math.pi / 2, "gradient": {"x": INF}}, {"gradient": 1}),
    "acosh(1)": ("gradient", "acosh(x)", {"x": 1}, {}, {"value": 0.0, "gradient": {"x": INF}},
                 {"gradient": 1}),
    "atanh(1)": ("gradient", "atanh(x)", {"x": 1}, {},
                 {"value": INF, "gradient": {"x": INF}}, {"value": 1, "gradient": 1}),
    "hypot(0, 0)": ("gradient", "hypot(x, y)", {"x": 0, "y": 0}, {},
                    {"value": 0.0, "gradient": {"x": INF, "y": INF}}, {"gradient": 2}),
    "atan2(0, 0)": ("gradient", "atan2(y, x)", {"x": 0, "y": 0}, {},
                    {"value": 0.0, "gradient": {"x": INF, "y": INF}}, {"gradient": 2}),
    # singular matrices
    "inv of a singular matrix": ("evaluate", "inv(M)", {"M": [[1, 2], [2, 4]]}, {},
                                 {"value": [[INF, INF], [INF, INF]]}, {"value": 4}),
    "sum(inv) of a singular matrix": ("gradient", "sum(inv(M))", {"M": [[1, 2], [2, 4]]}, {},
                                      {"value": INF, "gradient": {"M": [[INF, INF],
                                                                        [INF, INF]]}},
                                      {"value": 1, "gradient": 4}),
    # det is a polynomial: its gradient is the cofactor matrix, singular or not
    "det of a singular matrix": ("gradient", "det(M)", {"M": [[1, 2], [2, 4]]}, {},
                                 {"value": 0.0, "gradient": {"M": [[4.0, -2.0], [-2.0, 1.0]]}},
                                 {}),
    "det of zero": ("gradient", "det(M)", {"M": [[0, 0], [0, 0]]}, {},
                    {"value": 0.0, "gradient": {"M": [[0.0, -0.0], [-0.0, 0.0]]}}, {}),
    # huge exponents
    "2**5000": ("gradient", "2**5000 + x", {"x": 1}, {},
                {"value": INF, "gradient": {"x": 1.0}}, {"value": 1}),
    "x**5000 at 2": ("gradient", "x**5000", {"x": 2}, {},
                     {"value": INF, "gradient": {"x": INF}}, {"value": 1, "gradient": 1}),
    "x**2 at 1e200": ("evaluate", "x**2", {"x": 1e200}, {}, {"value": INF}, {"value": 1}),
    "(-8)**(1/3)": ("gradient", "x**(1/3)", {"x": -8}, {},
                    {"value": INF, "gradient": {"x": INF}}, {"value": 1, "gradient": 1}),
    "(-1)**0.5": ("gradient", "x**0.5", {"x": -1}, {},
                  {"value": INF, "gradient": {"x": INF}}, {"value": 1, "gradient": 1}),
    "(-2)**3 is exact": ("gradient", "x**3", {"x": -2}, {},
                         {"value": -8.0, "gradient": {"x": 12.0}}, {}),
    "x**0 at 0": ("gradient", "x**0", {"x": 0}, {}, {"value": 1.0, "gradient": {"x": 0.0}},
                  {}),
    "0**0": ("evaluate", "0**0", {"x": 0}, {}, {"value": 1.0}, {}),
    "0**-1": ("evaluate", "0**-1", {"x": 0}, {}, {"value": INF}, {"value": 1}),
    # towers
    "x**x at 0": ("gradient", "x**x", {"x": 0}, {}, {"value": 1.0, "gradient": {"x": INF}},
                  {"gradient": 1}),
    "x**x**x at 0": ("gradient", "x**x**x", {"x": 0}, {},
                     {"value": 0.0, "gradient": {"x": INF}}, {"gradient": 1}),
    "x**x**x at 1": ("gradient", "x**x**x", {"x": 1}, {},
                     {"value": 1.0, "gradient": {"x": 1.0}}, {}),
    "x^x^x^x^x^x at 2": ("gradient", "x^x^x^x^x^x", {"x": 2}, {},
                         {"value": INF, "gradient": {"x": INF}}, {"value": 1, "gradient": 1}),
    "1000th derivative of x**x**x": ("derivative", "x**x**x", {"x": 1.5},
                                     {"variable": "x", "order": 1000},
                                     {"value": 2.1062033521488797, "derivative": INF},
                                     {"derivative": 1}),
    # ties and kinks (PyTorch's conventions)
    "max(x, x)": ("gradient", "max(x, x)", {"x": 1}, {}, {"value": 1.0, "gradient": {"x": 1.0}},
                  {}),
    "min(x, x)": ("gradient", "min(x, x)", {"x": 1}, {}, {"value": 1.0, "gradient": {"x": 1.0}},
                  {}),
    "max tie splits": ("gradient", "max(x, y)", {"x": 2, "y": 2}, {},
                       {"value": 2.0, "gradient": {"x": 0.5, "y": 0.5}}, {}),
    "min tie splits": ("gradient", "min(x, y)", {"x": 2, "y": 2}, {},
                       {"value": 2.0, "gradient": {"x": 0.5, "y": 0.5}}, {}),
    "max tie, Taylor mode": ("derivative", "max(x, y)", {"x": 2, "y": 2}, {"wrt": ["x"]},
                             {"value": 2.0, "derivative": 0.5}, {}),
    "max(x, x) second derivative": ("derivative", "max(x, x)", {"x": 2},
                                    {"variable": "x", "order": 2},
                                    {"value": 2.0, "derivative": 0.0}, {}),
    "max tie hessian": ("hessian", "max(x, y)**2", {"x": 2, "y": 2}, {},
                        {"value": 4.0, "gradient": [2.0, 2.0],
                         "hessian": [[0.5, 0.5], [0.5, 0.5]]}, {}),
    "abs at 0": ("gradient", "abs(x)", {"x": 0}, {}, {"value": 0.0, "gradient": {"x": 0.0}},
                 {}),
    "abs at 0 hessian": ("hessian", "abs(x)", {"x": 0}, {},
                         {"value": 0.0, "gradient": [0.0], "hessian": [[0.0]]}, {}),
    "abs at 0 third derivative": ("derivative", "abs(x)", {"x": 0},
                                  {"variable": "x", "order": 3},
                                  {"value": 0.0, "derivative": 0.0}, {}),
    "abs at 0 taylor": ("taylor", "abs(x)", {"x": 0}, {"order": 2},
                        {"value": 0.0, "coefficients": [
                            {"powers": {"x": 0}, "coefficient": 0.0,
                             "error_estimate": 0.0},
                            {"powers": {"x": 1}, "coefficient": 0.0,
                             "error_estimate": 0.0},
                            {"powers": {"x": 2}, "coefficient": 0.0,
                             "error_estimate": 0.0}]}, {}),
    "relu at 0": ("gradient", "relu(x)", {"x": 0}, {}, {"value": 0.0, "gradient": {"x": 0.0}},
                  {}),
    "relu at 0 hessian": ("hessian", "relu(x)", {"x": 0}, {},
                          {"value": 0.0, "gradient": [0.0], "hessian": [[0.0]]}, {}),
    "relu at 0 second derivative": ("derivative", "relu(x)", {"x": 0},
                                    {"variable": "x", "order": 2},
                                    {"value": 0.0, "derivative": 0.0}, {}),
    "sign at 0": ("gradient", "sign(x)", {"x": 0}, {}, {"value": 0.0, "gradient": {"x": 0.0}},
                  {}),
    "where follows its branch at 0": ("gradient", "where(x > 0, x, -x)", {"x": 0}, {},
                                      {"value": -0.0, "gradient": {"x": -1.0}}, {}),
    "prod with two zeros": ("gradient", "prod(v)", {"v": [0, 0, 2]}, {},
                            {"value": 0.0, "gradient": {"v": [0.0, 0.0, 0.0]}}, {}),
    "norm at 0": ("gradient", "norm(v)", {"v": [0, 0]}, {},
                  {"value": 0.0, "gradient": {"v": [0.0, 0.0]}}, {}),
    "norm at 0 hessian": ("hessian", "norm(v)", {"v": [0, 0]}, {},
                          {"value": 0.0, "gradient": [0.0, 0.0],
                           "hessian": [[0.0, 0.0], [0.0, 0.0]]}, {}),
    "norm at 0, Taylor mode": ("derivative", "norm(v)", {"v": [0, 0]},
                               {"variable": "v[0]", "order": 1},
                               {"value": 0.0, "derivative": 0.0}, {}),
}

REFUSED: dict[str, tuple[str, dict[str, Any], str, str | None]] = {
    "tower of 1000": ("gradient", {"expression": "x**" * 1000 + "x", "point": {"x": 2}},
                      "limit-exceeded", "max_depth"),
    "order 10**9": ("derivative", {"expression": "x**x**x", "point": {"x": 1.5},
                                   "variable": "x", "order": 10**9},
                    "limit-exceeded", "max_order"),
    "inv of a non-square matrix": ("evaluate", {"expression": "inv(M)",
                                                "point": {"M": [[1, 2, 3], [4, 5, 6]]}},
                                   "shape-mismatch", None),
    "det of a vector": ("gradient", {"expression": "det(v)", "point": {"v": [1, 2]}},
                        "shape-mismatch", None),
    "mean of nothing": ("gradient", {"expression": "mean(v)", "point": {"v": []}},
                        "shape-mismatch", None),
    "inf is not a name": ("evaluate", {"expression": "inf", "point": {"x": 0}},
                          "unknown-name", None),
    "nan is not a name": ("evaluate", {"expression": "nan * x", "point": {"x": 0}},
                          "unknown-name", None),
}


def _same(actual: Any, expected: Any, where: str) -> None:
    """Exactly equal: the same structure, the same floats (sign of zero included), None for
    None."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), (where, actual)
        for key in expected:
            _same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (where, actual)
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _same(a, e, f"{where}[{i}]")
    elif expected is None:
        assert actual is None, (where, actual)
    else:
        assert isinstance(actual, float | int) and not isinstance(actual, bool), (where, actual)
        assert actual == expected and math.copysign(1, actual) == math.copysign(1, expected), (
            where, actual, expected)


@pytest.mark.parametrize("name", list(EDGES))
async def test_edge_has_a_defined_answer(client: httpx.AsyncClient, name: str) -> None:
    operation, expression, point, extra, expected, nonfinite = EDGES[name]
    request = {"expression": expression} | ({"point": point} if point is not None else {})
    body = assert_answer(await client.post(f"/v1/{operation}", json=request | extra))
    for field, value in expected.items():
        _same(body[field], value, f"{name}: {field}")
    warnings = {w.split(": ", 1)[0]: w for w in body["warnings"]}
    assert len(warnings) == len(body["warnings"]), body["warnings"]
    assert set(warnings) == set(nonfinite), (name, body["warnings"])
    for field, count in nonfinite.items():
        assert warnings[field].startswith(f"{field}: {count} non-finite number(s)"), warnings
        assert warnings[field].endswith("sent as null"), warnings


@pytest.mark.parametrize("name", list(REFUSED))
async def test_edge_is_refused_with_a_reason(client: httpx.AsyncClient, name: str) -> None:
    operation, request, kind, limit = REFUSED[name]
    response = await client.post(f"/v1/{operation}", json=request)
    body = assert_problem(response, 413, 422, kind=kind, limit=limit)
    if kind == "unknown-name":
        assert body["name"] == request["expression"].split()[0]


async def test_the_functions_table_states_the_conventions_asserted_here(
        client: httpx.AsyncClient) -> None:
    table = {f["name"]: f for f in (await client.get("/v1/functions")).json()["functions"]}
    assert "abs'(0) = 0" in table["abs"]["derivative_at_kinks"]
    assert "relu'(0) = 0" in table["relu"]["derivative_at_kinks"]
    assert "0.5/0.5" in table["max"]["derivative_at_kinks"]
    assert "0.5/0.5" in table["min"]["derivative_at_kinks"]
    assert "branch" in table["where"]["derivative_at_kinks"]
    assert "derivative 0 at the zero vector" in table["norm"]["derivative_at_kinks"]
    assert "NaN" in table["det"]["derivative_at_kinks"]
