"""Definitions in expressions (API.md §8): values and functions, differentiated through.

References are sympy's: the API.md example from its closed form, and the three-link pendulum
model (benchmarks/models) read statement by statement by sympy's own parser, then
differentiated and evaluated by sympy at 30 digits.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import pytest
import sympy as sp
from fastapi.testclient import TestClient

import engine
from app.main import create_app
from app.settings import Settings
from engine.errors import EngineError, LimitError
from engine.language.parser import parse
from engine.language.syntax import Block, free_names
from engine.limits import Limits

ROOT = Path(__file__).resolve().parents[3]
MODEL = (ROOT / "benchmarks" / "models" / "three_link_pendulum.txt").read_text()
MODEL_VARIABLES = ["th1", "th2", "th3", "w1", "w2", "w3"]
EXAMPLE = "r = sqrt(x**2 + y**2); g(u) = exp(-u)/u; g(r) + r**2"
DPS = 30
X, Y = sp.symbols("x y")


def _close(got: Any, ref: Any, rtol: float = 1e-12) -> None:
    got = np.asarray(got, dtype=float)
    ref = np.asarray(ref, dtype=float)
    scale = max(1.0, float(np.abs(ref).max()))
    assert np.abs(got - ref).max() <= rtol * scale, (got, ref)


def _sympy_derivatives(f: sp.Expr, syms: list[sp.Symbol], point: dict[sp.Symbol, float]
                       ) -> tuple[float, list[float], list[list[float]]]:
    subs = {s: sp.Float(v, DPS) for s, v in point.items()}
    grad = [sp.diff(f, s) for s in syms]
    value = float(f.evalf(DPS, subs=subs))
    gradient = [float(g.evalf(DPS, subs=subs)) for g in grad]
    hessian = [[float(sp.diff(g, s).evalf(DPS, subs=subs)) for s in syms] for g in grad]
    return value, gradient, hessian


# ---------------------------------------------------------------- the API.md example


EXAMPLE_R = sp.sqrt(X**2 + Y**2)
EXAMPLE_REF = sp.exp(-EXAMPLE_R) / EXAMPLE_R + EXAMPLE_R**2


@pytest.mark.parametrize("point", [(1.0, 2.0), (-0.3, 0.7), (2.5, -1.25), (1e-3, 4.0)])
def test_the_contract_example_against_sympy(point: tuple[float, float]) -> None:
    x, y = point
    value, gradient, hessian = _sympy_derivatives(EXAMPLE_REF, [X, Y], {X: x, Y: y})
    out = engine.hessian(expression=EXAMPLE, point={"x": x, "y": y})
    _close(out["value"], value)
    _close(out["gradient"], gradient)
    _close(out["hessian"], hessian)
    grad = engine.gradient(expression=EXAMPLE, point={"x": x, "y": y})
    _close([grad["gradient"]["x"], grad["gradient"]["y"]], gradient)
    _close(engine.evaluate(expression=EXAMPLE, point={"x": x, "y": y})["value"], value)


def test_newlines_separate_like_semicolons() -> None:
    assert parse(EXAMPLE.replace(";", "\n")) == parse(EXAMPLE)
    lines = "r = sqrt(x**2 + y**2)\ng(u) = exp(-u)/u\n\ng(r) + r**2\n"
    point = {"x": 0.4, "y": -1.5}
    assert engine.evaluate(expression=lines, point=point)["value"] == \
        engine.evaluate(expression=EXAMPLE, point=point)["value"]


# ---------------------------------------------------------------- a 100-line model


def _sympy_model(text: str, syms: dict[str, sp.Symbol]) -> sp.Expr:
    """The model read by sympy's parser: comments dropped, a line starting with an operator
    joined to the one before (as the language does), definitions as sympy values and Lambdas."""
    statements: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line[0] in "+-*/" and statements:
            statements[-1] += " " + line
        else:
            statements.append(line)
    env: dict[str, Any] = {"log1p": lambda a: sp.log(1 + a), **syms}
    for statement in statements[:-1]:
        function = re.fullmatch(r"(\w+)\(([\w, ]+)\) *= *(.+)", statement)
        if function:
            params = tuple(sp.Symbol(p.strip()) for p in function[2].split(","))
            local = env | {str(p): p for p in params}
            env[function[1]] = sp.Lambda(params, sp.parse_expr(function[3], local_dict=local))
            continue
        value = re.fullmatch(r"(\w+) *= *(.+)", statement)
        assert value, statement
        env[value[1]] = sp.parse_expr(value[2], local_dict=env)
    result = sp.parse_expr(statements[-1], local_dict=env)
    # every name and function resolved (sympy would make an unknown one a new symbol)
    assert result.free_symbols <= set(syms.values())
    assert not result.atoms(sp.core.function.AppliedUndef)
    return result


def test_the_model_is_a_hundred_lines_of_definitions() -> None:
    tree = parse(MODEL)
    assert isinstance(tree, Block)
    assert len(MODEL.splitlines()) >= 90 and len(tree.definitions) >= 60
    assert sum(d.params is not None for d in tree.definitions) >= 8
    assert free_names(tree) == MODEL_VARIABLES


def test_the_model_gradient_and_hessian_against_sympy() -> None:
    syms = [sp.Symbol(n) for n in MODEL_VARIABLES]
    f = _sympy_model(MODEL, dict(zip(MODEL_VARIABLES, syms, strict=True)))
    # sympy differentiates once; mpmath evaluates its formulas at DPS digits (evalf with
    # substitutions of formulas this size takes minutes).
    grad = [sp.diff(f, s) for s in syms]
    # the model is smooth, so its Hessian is symmetric: sympy forms the upper triangle only
    upper = {(i, j): sp.diff(grad[i], syms[j])
             for i in range(len(syms)) for j in range(i, len(syms))}
    hess = [[upper[min(i, j), max(i, j)] for j in range(len(syms))] for i in range(len(syms))]
    at = sp.lambdify(syms, [f, grad, hess], modules="mpmath")
    rng = np.random.default_rng(20261204)
    for _ in range(3):
        point = dict(zip(MODEL_VARIABLES, rng.uniform(-1.5, 1.5, 6).tolist(), strict=True))
        with mpmath.workdps(DPS):
            exact = at(*(mpmath.mpf(v) for v in point.values()))
        value = float(exact[0])
        gradient = [float(g) for g in exact[1]]
        hessian = [[float(h) for h in row] for row in exact[2]]
        out = engine.hessian(expression=MODEL, point=point)
        _close(out["value"], value)
        _close(out["gradient"], gradient)
        _close(out["hessian"], hessian)


# ---------------------------------------------------------------- every operation


def test_every_operation_works_through_definitions() -> None:
    point = {"x": 0.8, "y": -1.3}
    subs = {X: sp.Float(0.8, DPS), Y: sp.Float(-1.3, DPS)}
    f = EXAMPLE_REF

    def at(e: sp.Expr) -> float:
        return float(e.evalf(DPS, subs=subs))

    d3 = engine.derivative(expression=EXAMPLE, point=point, variable="x", order=3)
    _close(d3["derivative"], at(sp.diff(f, X, 3)))
    taylor = engine.taylor(expression=EXAMPLE, point=point, order=3)
    for entry in taylor["coefficients"]:
        i, j = entry["powers"]["x"], entry["powers"]["y"]
        ref = at(sp.diff(f, X, i, Y, j)) / (math.factorial(i) * math.factorial(j))
        _close(entry["coefficient"], ref, 1e-11)
    jac = engine.jacobian(expression="r = sqrt(x**2 + y**2)\n[r, r**2, x*r]", point=point)
    rows = [EXAMPLE_R, EXAMPLE_R**2, X * EXAMPLE_R]
    _close(jac["jacobian"], [[at(sp.diff(r, s)) for s in (X, Y)] for r in rows])
    sparse = engine.hessian(expression=EXAMPLE, point=point, sparse=True)["hessian"]
    dense = np.zeros(sparse["shape"])
    dense[sparse["rows"], sparse["cols"]] = sparse["values"]
    _close(dense, [[at(sp.diff(f, a, b)) for b in (X, Y)] for a in (X, Y)])
    # the symbolic formulas are the closed forms: equal to sympy's gradient at the point
    formulas = engine.differentiate(expression=EXAMPLE, operation="gradient")["formulas"]
    assert list(formulas) == ["x", "y"]
    for name, s in (("x", X), ("y", Y)):
        value = engine.evaluate(expression=formulas[name], point=point)["value"]
        _close(value, at(sp.diff(f, s)))
    nlp = engine.nlp(objective="s = x[0] + x[1]\nsq(u) = u*u\nsq(s) + x[0]",
                     constraints=["p = x[0]*x[1]; p - 1"], point={"x": [1.5, 2.0]},
                     multipliers=[0.5])
    _close(nlp["gradient"], [2 * 3.5 + 1, 2 * 3.5])
    _close(nlp["jacobian"]["values"], [2.0, 1.5])


def test_a_parameter_is_local_and_a_function_sees_earlier_values() -> None:
    # x is the parameter inside f and the variable outside; a is a value f closes over
    out = engine.gradient(expression="a = 3*y\nf(x) = a*x**2\nf(y) + x", point={"x": 2.0, "y": 5.0})
    assert out["value"] == 3 * 5.0 * 25.0 + 2.0
    assert out["gradient"] == {"x": 1.0, "y": 9 * 25.0}


def test_a_value_used_many_times_is_lowered_once() -> None:
    # each value squares the one before: duplicated, 60 levels would be 2^60 nodes
    lines = ["a0 = sin(x)"] + [f"a{i} = 0.5*(a{i - 1}*a{i - 1}) + 0.25" for i in range(1, 61)]
    text = "\n".join([*lines, "a60"])
    start = time.perf_counter()
    out = engine.gradient(expression=text, point={"x": 0.7})
    assert time.perf_counter() - start < 2.0
    a, da = math.sin(0.7), math.cos(0.7)
    for _ in range(60):
        a, da = 0.5 * a * a + 0.25, a * da
    assert out["value"] == pytest.approx(a, rel=1e-14)
    assert out["gradient"]["x"] == pytest.approx(da, rel=1e-12)
    graph = engine.dump(expression=text)
    assert graph.count("= sin ") == 1


def test_a_function_chain_is_bounded_by_max_inlined_nodes() -> None:
    lines = ["f0(x) = x*x"] + [f"f{i}(x) = f{i - 1}(f{i - 1}(x))" for i in range(1, 40)]
    text = "\n".join([*lines, "f39(y)"])
    start = time.perf_counter()
    with pytest.raises(LimitError) as caught:
        engine.gradient(expression=text, point={"y": 1.0})
    assert time.perf_counter() - start < 2.0
    err = caught.value
    assert err.status == 422 and err.limit == "max_inlined_nodes"
    assert err.line == 41 and err.column == 1
    small = Limits(max_inlined_nodes=50)
    with pytest.raises(LimitError, match="max_inlined_nodes = 50"):
        engine.gradient(expression="\n".join([*lines[:6], "f5(y)"]), point={"y": 1.0},
                        limits=small)
    f2 = engine.gradient(expression="\n".join([*lines[:3], "f2(y)"]), point={"y": 1.1})
    assert f2["gradient"]["y"] == pytest.approx(16 * 1.1**15, rel=1e-14)  # f2(y) = y**16


# ---------------------------------------------------------------- statements and lines


@pytest.mark.parametrize(("text", "value"), [
    ("a = x\n  + 1\na", 3.0),                # a line starting with an operator continues
    ("a = x +\n 1\na", 3.0),                 # so does one ending with an operator
    ("a = (x\n + 1)\na * [1,\n 2][1]", 6.0),  # inside brackets newlines are whitespace
    ("# a comment\na = x  # another\n\n\na*2  # the value", 4.0),
    ("a = 1;b = a + x;b", 3.0),
    ("x\t+\n y\r\n*2", 8.0),                 # one statement, as before
])
def test_statement_separators(text: str, value: float) -> None:
    assert engine.evaluate(expression=text, point={"x": 2.0, "y": 3.0})["value"] == value


def test_symbolic_variables_are_the_free_names_only() -> None:
    out = engine.differentiate(expression="r = x*y\nsq(t) = t*t\nsq(r) + z", operation="gradient")
    assert list(out["formulas"]) == ["x", "y", "z"]


# ---------------------------------------------------------------- errors

# (expression, problem type, line, column, words of the hint)
ERRORS = [
    ("f(x) = f(x); f(1)", "definition-error", None, 8, "not recursive"),
    ("g(u) = u\nf(x) = 2*f(x - 1)\nf(y)", "definition-error", 2, 10, "not recursive"),
    ("r = r + 1\nr", "definition-error", 1, 5, "not recursive"),
    ("sin = 3; sin", "definition-error", None, 1, "choose another name"),
    ("a = 1\npi = 3\na", "definition-error", 2, 1, "choose another name"),
    ("f(e) = e\nf(y)", "definition-error", 1, 3, "choose another name"),
    ("y = 2\ny", "definition-error", 1, 1, "remove 'y' from the request"),  # a variable
    ("k = 2\nk*y", "definition-error", 1, 1, "remove 'k' from the request"),  # a constant
    ("a = b\nb = 2\na + y", "definition-error", 1, 5, "move the definition of 'b'"),
    ("h(u) = g(u)\ng(u) = u\nh(y)", "definition-error", 1, 8, "move the definition of 'g'"),
    ("a = 1\na = 2\na", "definition-error", 2, 1, "defined once"),
    ("g(u) = u\ng(y, y)", "wrong-arity", 2, 1, "g(u) is defined at line 1, column 1"),
    ("g(u, v) = u*v\nh(t) = g(t)\nh(y)", "wrong-arity", 2, 8, "g(u, v) is defined"),
    ("g(u) = u\ng + 1", "definition-error", 2, 1, "call it with parentheses"),
    ("a = y\na(2)", "definition-error", 2, 1, "use it without parentheses"),
    ("a = y", "parse-error", None, 1, "end with the expression to compute"),
    ("a = y\nb(u) = u", "parse-error", 2, 1, "end with the expression to compute"),
    ("y\na = 2\na", "parse-error", 1, 1, "define a name"),
    ("a = 1;; a", "parse-error", None, 7, "remove the extra ';'"),
    ("; a", "parse-error", None, 1, "remove the extra ';'"),
    ("y;", "parse-error", None, 2, "remove the extra ';'"),
    ("f() = 1\nf()", "parse-error", 1, 3, "a value is defined as 'f = …'"),
    ("f(u, u) = u\nf(y, y)", "parse-error", 1, 6, "a different parameter name"),
    ("y + 1 = 2", "parse-error", None, 7, "use '=='"),
    ("a = y\nb = a +\n\n  * 2\nb", "parse-error", 4, 3, "an expression"),
]


@pytest.mark.parametrize(("text", "kind", "line", "column", "hint"), ERRORS)
def test_definition_errors(text: str, kind: str, line: int | None, column: int,
                           hint: str) -> None:
    with pytest.raises(EngineError) as caught:
        engine.gradient(expression=text, point={"y": 1.5}, constants={"k": 2.0})
    problem = caught.value.problem()
    assert problem["status"] == 422 and problem["type"].endswith("/" + kind), problem
    entry = problem["errors"][0]
    assert (entry.get("line"), entry["column"]) == (line, column), problem
    assert hint in problem["detail"]
    where = f"line {line}, column {column}" if line else f"column {column}"
    assert where in problem["detail"]
    caret_line = problem["detail"].rsplit("\n", 1)[-1]
    assert caret_line == " " * (column - 1) + "^"
    if kind == "definition-error":
        assert hint in problem["hint"]


@pytest.fixture(scope="module")
def http() -> TestClient:
    return TestClient(create_app(Settings()))


@pytest.mark.parametrize(("text", "kind", "line", "column", "hint"), ERRORS)
def test_definition_errors_over_http(http: TestClient, text: str, kind: str, line: int | None,
                                     column: int, hint: str) -> None:
    response = http.post("/v1/gradient", json={"expression": text, "point": {"y": 1.5},
                                               "constants": {"k": 2.0}})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/" + kind)
    entry = body["errors"][0]
    assert (entry.get("line"), entry["column"]) == (line, column), body
    assert hint in body["detail"]


def test_an_error_inside_a_called_function_names_the_calls(http: TestClient) -> None:
    text = "g(u) = [u, u] @ [1, 2, 3]\nh(v) = g(v)\nh(y)"
    body = http.post("/v1/evaluate", json={"expression": text, "point": {"y": 1}}).json()
    assert body["type"].endswith("/shape-mismatch")
    assert (body["errors"][0]["line"], body["errors"][0]["column"]) == (1, 15)
    assert body["detail"].endswith("in g(…) called at line 2, column 8\n"
                                   "in h(…) called at line 3, column 1")


def test_one_line_errors_keep_their_form(http: TestClient) -> None:
    body = http.post("/v1/evaluate", json={"expression": "x +* 2", "point": {"x": 1}}).json()
    assert body["errors"][0]["column"] == 4 and "line" not in body["errors"][0]
    assert "at column 4:\nx +* 2\n   ^" in body["detail"]


def test_a_long_chain_of_calls_is_listed_shortly() -> None:
    lines = ["f0(x) = [x, x] @ [1, 2, 3]"] + [f"f{i}(x) = f{i - 1}(x) + 1" for i in range(1, 300)]
    with pytest.raises(EngineError) as caught:
        engine.evaluate(expression="\n".join([*lines, "f299(y)"]), point={"y": 1.0})
    detail = caught.value.detail
    assert detail.count("\nin f") == 6 and "… 294 calls more …" in detail
    assert detail.endswith("in f299(…) called at line 301, column 1")
