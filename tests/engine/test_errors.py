"""Every error class of the engine: its problem document, its 1-based column, what it says.

Also: non-finite results are answers with warnings, never exceptions; and no input makes
anything but an EngineError escape the public functions.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.errors import (
    PROBLEM_BASE,
    ArityError,
    EngineError,
    ExpressionError,
    InputError,
    LimitError,
    NonScalarError,
    ShapeError,
    UnknownNameError,
)
from engine.limits import Limits

OPERATIONS = ["evaluate", "gradient", "jacobian", "hessian"]


def call(operation: str, **request: Any) -> dict[str, Any]:
    return getattr(engine, operation)(**request)


def raises(cls: type[EngineError], operation: str = "gradient", **request: Any) -> EngineError:
    """The error ``operation`` raises, checked to be exactly ``cls``."""
    with pytest.raises(EngineError) as info:
        call(operation, **request)
    err = info.value
    assert type(err) is cls, f"{type(err).__name__}: {err}"
    return err


def check_problem(err: EngineError, kind: str, *, status: int = 422, column: int | None = None,
                  loc: list[Any] | None = None) -> dict[str, Any]:
    """``err.problem()`` is a complete RFC 9457 body with one located error entry."""
    body = err.problem()
    assert body["type"] == PROBLEM_BASE + kind
    assert isinstance(body["title"], str) and body["title"]
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["errors"], list) and len(body["errors"]) >= 1
    entry = body["errors"][0]
    assert set(entry) >= {"loc", "msg"}
    assert entry["loc"][0] == "body"
    assert entry["msg"]
    if loc is not None:
        assert entry["loc"] == loc
    if column is not None:
        assert err.column == column
        assert entry["column"] == column
    return body


def caret_column(detail: str, expression: str) -> int:
    """The 1-based column the caret in ``detail`` points at, under the quoted expression."""
    lines = detail.splitlines()
    i = lines.index(expression)
    caret = lines[i + 1]
    assert caret.strip() == "^", detail
    return len(caret) - len(caret.lstrip(" ")) + 1


# ---------------------------------------------------------------- parse errors

@pytest.mark.parametrize(("expression", "column"), [
    ("x + )", 5),
    ("x +", 4),
    ("(x + 1", 7),
    ("x + 1)", 6),
    ("sin(x,)", 7),
    ("x $ 2", 3),
    ("x ** * 2", 6),
    ("[x, y", 6),
    ("x.foo", 3),
    ("x < y < x", 7),
])
def test_parse_error_column_and_caret(expression: str, column: int) -> None:
    err = raises(ExpressionError, expression=expression, point={"x": 1.0, "y": 2.0})
    check_problem(err, "parse-error", column=column, loc=["body", "expression"])
    assert caret_column(err.detail, expression) == column
    assert f"column {column}" in err.detail
    assert "expected" in err.detail


@pytest.mark.parametrize(("expression", "column", "hint"), [
    ("2x", 2, "2*x"),
    ("3 x", 3, "3*x"),
    ("x y", 3, "x*y"),
])
def test_implicit_multiplication_suggests_the_product(expression: str, column: int,
                                                      hint: str) -> None:
    err = raises(ExpressionError, expression=expression, point={"x": 1.0, "y": 2.0})
    check_problem(err, "parse-error", column=column)
    assert hint in err.detail


def test_empty_expression() -> None:
    err = raises(ExpressionError, expression="   ", point={"x": 1.0})
    check_problem(err, "parse-error", column=1)


def test_expression_must_be_a_string() -> None:
    err = raises(InputError, expression=3, point={"x": 1.0})
    check_problem(err, "invalid-input", loc=["body", "expression"])


# ---------------------------------------------------------------- names and arity

@pytest.mark.parametrize(("expression", "name", "column", "suggestion"), [
    ("sinn(x)", "sinn", 1, "sin"),
    ("y + sinn(x)", "sinn", 5, "sin"),
    ("xx + 1", "xx", 1, "x"),
    ("x * exq(y)", "exq", 5, "exp"),
    ("np.sinn(x)", "sinn", 1, "sin"),
    ("sum(vv)", "vv", 5, "v"),
])
def test_unknown_name_suggests_the_nearest(expression: str, name: str, column: int,
                                           suggestion: str) -> None:
    err = raises(UnknownNameError, expression=expression,
                 point={"x": 1.0, "y": 2.0, "v": [1.0, 2.0]})
    assert isinstance(err, UnknownNameError)
    body = check_problem(err, "unknown-name", column=column, loc=["body", "expression"])
    assert err.name == name and body["name"] == name
    assert suggestion in err.suggestions
    assert f"'{suggestion}'" in err.detail and f"'{name}'" in err.detail


def test_a_missing_variable_is_an_unknown_name() -> None:
    err = raises(UnknownNameError, expression="x + y", point={"x": 1.0})
    check_problem(err, "unknown-name", column=5)
    assert "'y'" in err.detail


def test_a_function_used_as_a_value() -> None:
    err = raises(UnknownNameError, expression="sin + 1", point={"x": 1.0})
    check_problem(err, "unknown-name", column=1)
    assert "sin(" in err.detail


@pytest.mark.parametrize(("expression", "column", "takes"), [
    ("atan2(x)", 1, "2"),
    ("x + sin(x, x)", 5, "1"),
    ("where(x > 0, x)", 1, "3"),
    ("max(x, x, x)", 11, "2"),  # the column of the first argument too many
    ("v.sum(0, 1)", 10, "2"),
])
def test_wrong_arity(expression: str, column: int, takes: str) -> None:
    err = raises(ArityError, expression=expression, point={"x": 1.0, "v": [1.0, 2.0]})
    check_problem(err, "wrong-arity", column=column)
    assert f"takes {takes}" in err.detail
    assert caret_column(err.detail, expression) == column


# ---------------------------------------------------------------- shapes

@pytest.mark.parametrize(("expression", "point", "constants", "column", "shapes"), [
    ("A @ x", {"x": [1.0, 2.0]}, {"A": [[1, 2, 3], [4, 5, 6]]}, 3, ["(2, 3)", "(2,)"]),
    ("sum(x @ A)", {"x": [1.0, 2.0, 3.0]}, {"A": [[1, 2, 3], [4, 5, 6]]}, 7, ["(3,)", "(2, 3)"]),
    ("v + w", {"v": [1.0, 2.0, 3.0], "w": [1.0, 2.0]}, None, 3, ["(3,)", "(2,)"]),
    ("sum(M * v)", {"M": [[1.0, 2.0], [3.0, 4.0]], "v": [1.0, 2.0, 3.0]}, None, 7,
     ["(2, 2)", "(3,)"]),
    ("x + [x, v]", {"x": 1.0, "v": [1.0, 2.0]}, None, 5, ["()", "(2,)"]),
    ("sum(v[5])", {"v": [1.0, 2.0, 3.0]}, None, 6, ["(3,)"]),
    ("M[0, 0, 0]", {"M": [[1.0, 2.0], [3.0, 4.0]]}, None, 2, ["(2, 2)"]),
    ("det(v)", {"v": [1.0, 2.0]}, None, 1, ["(2,)"]),
    ("trace(v)", {"v": [1.0, 2.0]}, None, 1, ["(2,)"]),
    ("sum(v[x])", {"v": [1.0, 2.0], "x": 0.0}, None, 6, []),
])
def test_shape_mismatch_names_the_shapes(expression: str, point: dict[str, Any],
                                         constants: dict[str, Any] | None, column: int,
                                         shapes: list[str]) -> None:
    err = raises(ShapeError, expression=expression, point=point, constants=constants)
    check_problem(err, "shape-mismatch", column=column)
    for s in shapes:
        assert s in err.detail, (s, err.detail)
    assert caret_column(err.detail, expression) == column


@pytest.mark.parametrize("operation", ["gradient", "hessian", "hvp"])
@pytest.mark.parametrize(("expression", "shape"), [("[x, y]", [2]), ("[[x], [y]]", [2, 1])])
def test_non_scalar_expression(operation: str, expression: str, shape: list[int]) -> None:
    extra = {"vector": {"x": 1.0, "y": 1.0}} if operation == "hvp" else {}
    err = raises(NonScalarError, operation, expression=expression,
                 point={"x": 1.0, "y": 2.0}, **extra)
    body = check_problem(err, "non-scalar", loc=["body", "expression"])
    assert "jacobian" in err.detail
    assert str(tuple(shape)) in err.detail
    assert body["shape"] == shape
    # The same expression is fine for the operations that fit it.
    assert engine.jacobian(expression=expression, point={"x": 1.0, "y": 2.0})["shape"] == shape


# ---------------------------------------------------------------- limits

def limit_error(limit: str, *, status: int = 422, operation: str = "gradient",
                **request: Any) -> LimitError:
    err = raises(LimitError, operation, **request)
    assert isinstance(err, LimitError)
    body = check_problem(err, "limit-exceeded", status=status)
    value = getattr(request["limits"], limit)
    assert err.limit == limit and body["limit"] == limit
    assert body["limit_value"] == value
    assert limit in err.detail and f"{value:g}" in err.detail
    return err


def test_limit_expression_length() -> None:
    err = limit_error("max_expression_length", expression="x + 1 + 2", point={"x": 1.0},
                      limits=Limits(max_expression_length=8))
    assert err.actual == 9
    engine.gradient(expression="x + 1 + 2", point={"x": 1.0},
                    limits=Limits(max_expression_length=9))


def test_limit_depth() -> None:
    err = limit_error("max_depth", expression="((((x))))", point={"x": 1.0},
                      limits=Limits(max_depth=3))
    assert err.column is not None and 1 <= err.column <= 9
    err = limit_error("max_depth", expression="sin(sin(sin(sin(x))))", point={"x": 1.0},
                      limits=Limits(max_depth=3))


def test_limit_depth_default_is_an_error_not_a_crash() -> None:
    depth = engine.DEFAULT_LIMITS.max_depth + 5
    expression = "(" * depth + "x" + ")" * depth
    limit_error("max_depth", expression=expression, point={"x": 1.0}, limits=engine.DEFAULT_LIMITS)
    expression = "-" * 5000 + "x"
    limit_error("max_depth", expression=expression, point={"x": 1.0}, limits=engine.DEFAULT_LIMITS)


def test_limit_nodes() -> None:
    limit_error("max_nodes", expression="sin(x) * cos(x) * exp(x) * tanh(x)", point={"x": 1.0},
                limits=Limits(max_nodes=6))


def test_limit_nodes_of_derivatives() -> None:
    # The function itself fits; its Hessian graph does not.
    expression = "sin(x) * cos(y) * exp(x * y)"
    limits = Limits(max_nodes=20)
    engine.evaluate(expression=expression, point={"x": 1.0, "y": 2.0}, limits=limits)
    limit_error("max_nodes", operation="hessian", expression=expression, point={"x": 1.0, "y": 2.0},
                limits=limits)


def test_limit_tensor_elements_of_an_input() -> None:
    err = limit_error("max_tensor_elements", expression="sum(v)",
                      point={"v": [1.0, 2.0, 3.0, 4.0, 5.0]}, limits=Limits(max_tensor_elements=4))
    assert err.actual == 5
    limit_error("max_tensor_elements", expression="sum(v) * c", point={"v": [1.0]},
                constants={"c": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]},
                limits=Limits(max_tensor_elements=4))


def test_limit_tensor_elements_of_an_intermediate() -> None:
    # Inputs have 3 elements; the list literal builds a (2, 3) tensor.
    limit_error("max_tensor_elements", expression="sum([v, v * 2])", point={"v": [1.0, 2.0, 3.0]},
                limits=Limits(max_tensor_elements=4))


@pytest.mark.parametrize("form", ["rows", "columns"])
def test_limit_batch(form: str) -> None:
    points: Any = ([{"x": float(i)} for i in range(5)] if form == "rows"
                   else {"x": [float(i) for i in range(5)]})
    err = limit_error("max_batch", status=413, expression="x ** 2", points=points,
                      limits=Limits(max_batch=4))
    assert err.actual == 5
    body = err.problem()
    assert body["errors"][0]["loc"] == ["body", "points"]


def test_limit_work() -> None:
    err = limit_error("max_work", expression="sin(x) * exp(x)", points={"x": [1.0] * 100},
                      limits=Limits(max_work=50))
    assert err.actual is not None and err.actual > 50
    engine.gradient(expression="sin(x) * exp(x)", points={"x": [1.0] * 100},
                    limits=Limits(max_work=1e6))


# ---------------------------------------------------------------- bad inputs

@pytest.mark.parametrize(("request_", "loc", "says"), [
    ({"point": {"x": float("nan")}}, ["body", "point", "x"], "finite"),
    ({"point": {"x": float("inf")}}, ["body", "point", "x"], "finite"),
    ({"point": {"x": 1.0, "v": [[1.0, 2.0], [3.0]]}}, ["body", "point", "v"], "rectangular"),
    ({"point": {"x": "1"}}, ["body", "point", "x"], "str"),
    ({"point": {"x": True}}, ["body", "point", "x"], "bool"),
    ({"point": {"x": None}}, ["body", "point", "x"], "number"),
    ({"point": {"x": [1.0, "a"]}}, ["body", "point", "x"], "number"),
    ({"point": [1.0]}, ["body", "point"], "object"),
    ({"point": {"x": 1.0}, "points": [{"x": 1.0}]}, ["body"], "exactly one"),
    ({}, ["body"], "exactly one"),
    ({"point": {"x": 1.0}, "variables": ["y"]}, ["body", "variables", 0], "'y'"),
    ({"point": {"x": 1.0}, "variables": ["x", "xx"]}, ["body", "variables", 1], "'x'"),
    ({"point": {"x": 1.0}, "variables": ["x", "x"]}, ["body", "variables", 1], "twice"),
    ({"point": {"x": 1.0}, "variables": "x"}, ["body", "variables"], "list"),
    ({"point": {"x": 1.0}, "constants": {"x": 2.0}}, ["body", "constants", "x"], "constant"),
    ({"point": {"x": 1.0}, "constants": {"c": float("nan")}}, ["body", "constants", "c"],
     "finite"),
    ({"point": {"x": 1.0}, "constants": [1.0]}, ["body", "constants"], "object"),
    ({"points": []}, ["body", "points"], "at least one"),
    ({"points": {}}, ["body", "points"], "at least one"),
    ({"points": {"x": [1.0, 2.0], "y": [1.0]}}, ["body", "points"], "same number"),
    ({"points": {"x": 1.0}}, ["body", "points", "x"], "list"),
    ({"points": [{"x": 1.0}, {"y": 1.0}]}, ["body", "points", 1], "keys"),
    ({"points": [{"x": 1.0}, {"x": [1.0, 2.0]}]}, ["body", "points"], "shapes"),
    ({"points": [{"x": 1.0}, {"x": float("nan")}]}, ["body", "points", 1, "x"], "finite"),
    ({"points": [1.0, 2.0]}, ["body", "points"], "objects"),
    ({"points": "x"}, ["body", "points"], "objects"),
])
def test_bad_inputs(request_: dict[str, Any], loc: list[Any], says: str) -> None:
    err = raises(InputError, expression="x", **request_)
    check_problem(err, "invalid-input", loc=loc)
    assert says in err.detail, err.detail


def test_unknown_variable_in_variables_suggests_the_nearest() -> None:
    err = raises(InputError, expression="alpha * beta", point={"alpha": 1.0, "beta": 2.0},
                 variables=["alpah"])
    assert "'alpha'" in err.detail


@pytest.mark.parametrize(("operation", "extra", "loc", "says"), [
    ("jvp", {}, ["body", "tangent"], "tangent"),
    ("jvp", {"tangent": [1.0]}, ["body", "tangent"], "object"),
    ("jvp", {"tangent": {"y": 1.0}}, ["body", "tangent", "y"], "'y'"),
    ("jvp", {"tangent": {"v": [1.0, 2.0, 3.0]}}, ["body", "tangent", "v"], "shape"),
    ("jvp", {"tangent": {"x": float("nan")}}, ["body", "tangent", "x"], "finite"),
    ("vjp", {}, ["body", "cotangent"], "cotangent"),
    ("vjp", {"cotangent": [1.0, 2.0, 3.0]}, ["body", "cotangent"], "shape"),
    ("vjp", {"cotangent": 1.0}, ["body", "cotangent"], "shape"),
    ("vjp", {"cotangent": [1.0, "a"]}, ["body", "cotangent"], "number"),
    ("hvp", {}, ["body", "vector"], "vector"),
    ("hvp", {"vector": {"v": [[1.0, 2.0]]}}, ["body", "vector", "v"], "shape"),
    ("hvp", {"vector": {"q": 1.0}}, ["body", "vector", "q"], "'q'"),
])
def test_bad_directions(operation: str, extra: dict[str, Any], loc: list[Any], says: str) -> None:
    expression = "sum(v) * x" if operation == "hvp" else "v * x"
    err = raises(InputError, operation, expression=expression,
                 point={"x": 1.0, "v": [1.0, 2.0]}, **extra)
    check_problem(err, "invalid-input", loc=loc)
    assert says in err.detail, err.detail


def test_tangent_of_a_variable_not_in_variables_is_rejected() -> None:
    err = raises(InputError, "jvp", expression="x * y", point={"x": 1.0, "y": 2.0},
                 variables=["x"], tangent={"y": 1.0})
    check_problem(err, "invalid-input", loc=["body", "tangent", "y"])


# ---------------------------------------------------------------- non-finite results

def _warned(out: dict[str, Any]) -> set[str]:
    fields = set()
    for w in out["warnings"]:
        m = re.match(r"(\w+):", w)
        assert m, w
        fields.add(m.group(1))
    return fields


@pytest.mark.parametrize(("operation", "expression", "point", "extra", "field", "expected"), [
    ("evaluate", "log(x)", {"x": -1.0}, {}, "value", np.nan),
    ("evaluate", "1 / x", {"x": 0.0}, {}, "value", np.inf),
    ("evaluate", "log(x)", {"x": 0.0}, {}, "value", -np.inf),
    ("evaluate", "exp(x)", {"x": 1000.0}, {}, "value", np.inf),
    ("gradient", "sqrt(x)", {"x": 0.0}, {}, "gradient", np.inf),
    ("gradient", "1 / x", {"x": 0.0}, {}, "gradient", -np.inf),
    ("jacobian", "[sqrt(x), x]", {"x": 0.0}, {}, "jacobian", np.inf),
    ("hessian", "sqrt(x)", {"x": 0.0}, {}, "hessian", -np.inf),
    ("jvp", "sqrt(x)", {"x": 0.0}, {"tangent": {"x": 1.0}}, "jvp", np.inf),
    ("vjp", "sqrt(x)", {"x": 0.0}, {"cotangent": 1.0}, "vjp", np.inf),
    ("hvp", "sqrt(x)", {"x": 0.0}, {"vector": {"x": 1.0}}, "hvp", -np.inf),
    ("gradient", "asin(x)", {"x": 1.0}, {}, "gradient", np.inf),
    ("gradient", "acosh(x)", {"x": 1.0}, {}, "gradient", np.inf),
])
def test_non_finite_results_are_answers_with_warnings(
        operation: str, expression: str, point: dict[str, Any], extra: dict[str, Any],
        field: str, expected: float) -> None:
    out = call(operation, expression=expression, point=point, **extra)
    got = out[field]
    arr = np.asarray(next(iter(got.values())) if isinstance(got, dict) else got).ravel()
    np.testing.assert_array_equal(arr[:1], [expected])
    assert field in _warned(out), out["warnings"]


def test_only_the_non_finite_fields_are_named() -> None:
    out = engine.gradient(expression="sqrt(x)", point={"x": 0.0})
    assert out["value"] == 0.0
    assert _warned(out) == {"gradient"}
    out = engine.gradient(expression="log(x)", point={"x": -1.0})
    assert np.isnan(out["value"]) and out["gradient"]["x"] == -1.0
    assert _warned(out) == {"value"}
    out = engine.gradient(expression="log(x)", point={"x": 2.0})
    assert out["warnings"] == []


def test_non_finite_entries_of_a_batch() -> None:
    out = engine.gradient(expression="sqrt(x)", points={"x": [4.0, 0.0, -1.0]})
    np.testing.assert_array_equal(out["value"][:2], [2.0, 0.0])
    assert np.isnan(out["value"][2])
    np.testing.assert_array_equal(out["gradient"]["x"][:2], [0.25, np.inf])
    assert np.isnan(out["gradient"]["x"][2])
    assert _warned(out) == {"value", "gradient"}
    assert any("2 non-finite" in w for w in out["warnings"] if w.startswith("gradient"))


def test_overflow_in_a_sum_is_reported() -> None:
    out = engine.gradient(expression="sum(x * v)", point={"x": 1.0, "v": [1e308, 1e308]})
    assert out["value"] == np.inf
    assert out["gradient"]["x"] == np.inf
    np.testing.assert_array_equal(out["gradient"]["v"], [1.0, 1.0])
    assert _warned(out) == {"value", "gradient"}


def test_singular_matrices_give_nan_not_errors() -> None:
    out = engine.gradient(expression="det(M)", point={"M": [[1.0, 2.0], [2.0, 4.0]]})
    assert out["value"] == 0.0 or abs(out["value"]) < 1e-15
    out = engine.evaluate(expression="inv(M)", point={"M": [[1.0, 2.0], [2.0, 4.0]]})
    assert not np.isfinite(out["value"]).all()
    assert _warned(out) == {"value"}


# ---------------------------------------------------------------- nothing else escapes

_TOKENS = ["x", "v", "M", "1", "2.5", "0", "-1", "+", "-", "*", "/", "**", "^", "@", "(", ")",
           "[", "]", ",", ":", ".", "T", "sum", "sin", "log", "max", "where", ">", "==", "inv",
           "det", "np", "prod", "norm", "sqrt", " "]


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=14),
       st.sampled_from(["evaluate", "gradient", "jacobian", "hessian"]))
def test_random_token_soup_raises_only_engine_errors(tokens: list[str], operation: str) -> None:
    expression = "".join(tokens)
    point = {"x": 0.5, "v": [1.0, -2.0, 0.0], "M": [[2.0, 1.0], [1.0, 3.0]]}
    try:
        out = call(operation, expression=expression, point=point)
    except EngineError as err:
        body = err.problem()
        assert body["status"] in (413, 422)
        column = body["errors"][0].get("column")
        assert column is None or 1 <= column <= len(expression) + 1
        return
    assert isinstance(out["warnings"], list)


@pytest.mark.parametrize(("call", "field", "suggestion"), [
    (lambda: engine.evaluate(expression="x", point={"x": 1.0}, pont={"x": 1.0}), "pont", None),
    (lambda: engine.jvp(expression="x", point={"x": 1.0}, tangent={"x": 1.0}, vectr={}),
     "vectr", None),
    (lambda: engine.derivative(expression="x", point={"x": 1.0}, variable="x", order=1,
                               ordr=2), "ordr", "order"),
    (lambda: engine.differentiate(expression="x", operation="gradient", shape={}), "shape",
     "shapes"),
    (lambda: engine.dump("x", operaton="gradient"), "operaton", "operation"),
    (lambda: engine.sparsity(expression="x", shapes={"x": []}, off="jacobian"), "off", "of"),
])
def test_an_unknown_keyword_is_an_input_error(call: Any, field: str, suggestion: str | None
                                              ) -> None:
    with pytest.raises(InputError) as info:
        call()
    assert info.value.loc == ("body", field)
    assert repr(field) in info.value.detail
    if suggestion is not None:
        assert f"did you mean {suggestion!r}" in info.value.detail
