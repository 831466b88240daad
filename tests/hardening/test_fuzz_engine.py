"""Property fuzzing of the parser and the engine with hypothesis (seeded: derandomized).

* Random expressions from a grammar of the whole language of API.md §1 (numbers, names, every
  operator, calls of the right and the wrong arity, module prefixes, lists, indexing and
  slices, method sugar) and byte/character mutations of them (control characters, unicode,
  lone surrogates), on random points of random shapes (scalars, vectors, matrices, empty
  and rank-3 tensors, batches in both forms), for every operation with random extra fields:
  only :class:`engine.errors.EngineError` ever escapes, and every answer satisfies the
  invariants of API.md §2 (shapes, labels, warnings naming exactly the non-finite fields,
  strict JSON valid against the app's response models).
* Hostile field values (any JSON-like value where a point, a batch, constants, variables, an
  order, ``wrt`` or a direction goes): only EngineError escapes.
* Agreement: random smooth polynomial/trig expressions in x, y against sympy's exact
  derivatives evaluated with mpmath at 30 digits (gradient, Hessian, a third derivative and a
  mixed partial), and the operations against each other (JVP = J·t, VJP = cᵀ·J, HVP = H·v,
  Taylor and derivative against gradient and Hessian, a batch against its points one by one).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import engine
from app import models
from app.encoding import encode
from engine.errors import EngineError
from engine.language.functions import FUNCTIONS
from engine.language.parser import parse

SETTINGS = settings(deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
OPERATIONS = ("evaluate", "gradient", "jacobian", "hessian", "derivative", "taylor", "jvp",
              "vjp", "hvp")

RESPONSE_MODELS: dict[str, type[models.EvaluateResponse]] = {
    "evaluate": models.EvaluateResponse, "gradient": models.GradientResponse,
    "jacobian": models.JacobianResponse, "hessian": models.HessianResponse,
    "derivative": models.DerivativeResponse, "taylor": models.TaylorResponse,
    "jvp": models.JvpResponse, "vjp": models.VjpResponse, "hvp": models.HvpResponse,
}
EXTRA_FIELDS = {
    "evaluate": set(), "gradient": {"gradient"}, "jacobian": {"jacobian", "rows", "columns"},
    "hessian": {"gradient", "hessian", "columns"}, "derivative": {"derivative", "error_estimate"},
    "taylor": {"coefficients"}, "jvp": {"jvp"}, "vjp": {"vjp"}, "hvp": {"hvp"},
}
RESULT_FIELDS = ("value", "gradient", "jacobian", "hessian", "jvp", "vjp", "hvp", "derivative",
                 "derivatives", "coefficients")


# ---------------------------------------------------------------- the grammar

NUMBERS = st.one_of(
    st.sampled_from(["0", "1", "2", "2.5", ".5", "1e-3", "6.02E23", "1e308", "1e-320", "0.0",
                     "3.", "1E+2", "5e-324", "1e400", "123456789012345678901234567890"]),
    st.integers(0, 10**6).map(str),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(repr),
)
NAMES = st.sampled_from(["x", "y", "v", "M", "A", "c", "pi", "e", "np.pi", "math.e", "foo",
                         "X", "sin", "v_1", "T", "numpy.e", "if"])
FUNCTION_ARITY = sorted((name, f.arity) for name, f in FUNCTIONS.items())
MODULES = st.sampled_from(["", "", "", "np.", "numpy.", "torch.", "math.", "jnp.",
                           "np.linalg.", "torch.linalg.", "scipy."])
BINARY = st.sampled_from(["+", "-", "*", "/", "**", "^", "@", "<", "<=", ">", ">=", "==",
                          "!=", "+-", "*-", "**-"])
INDICES = st.sampled_from(["0", "-1", "1", "2", "5", "-9", "1:3", ":", "::-1", ":, 0", "0, 1",
                           "1, -1", "0][0", "::2", "-2:", ":-1", "0:0", "1.5", "x", "::0",
                           "0, 0, 0"])
METHODS = st.sampled_from(["sum()", "mean()", "T", "T.T", "norm()", "exp()", "prod()",
                           "dot(v)", "max(x)", "sum", "trace()", "det()", "inv()",
                           "transpose()", "sin(1)", "foo()"])


def _call(name_arity: tuple[str, int], module: str, args: list[str], exact: bool) -> str:
    name, arity = name_arity
    chosen = args[:arity] if exact else args
    if exact:
        chosen += ["x"] * (arity - len(chosen))
    return f"{module}{name}({', '.join(chosen)})"


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(children, BINARY, children)
    return st.one_of(
        pair.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        pair.map(lambda t: f"{t[0]}{t[1]}{t[2]}"),
        st.tuples(st.sampled_from(["-", "+", "--", "-+"]), children).map("".join),
        st.builds(_call, st.sampled_from(FUNCTION_ARITY), MODULES,
                  st.lists(children, max_size=4), st.booleans()),
        st.lists(children, min_size=1, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
        st.tuples(children, INDICES).map(lambda t: f"({t[0]})[{t[1]}]"),
        st.tuples(children, METHODS).map(lambda t: f"({t[0]}).{t[1]}"),
        children.map(lambda s: f"({s})"),
    )


EXPRESSIONS = st.recursive(NUMBERS | NAMES, _extend, max_leaves=12)

SPECIAL_CHARACTERS = st.sampled_from(
    ["\x00", "\x01", "\x7f", "\t", "\n", "\r", "\u2028", "\u200b", "\u202e", "\ufeff", "\ud800",
     "\udfff", "π", "²", "×", "÷", "−", "·", "∑", "😀", "Ⅻ", "ｘ", "é", "\\", "'", '"', "`",
     "$", "#", "{", "}", ";", "=", "!", "&", "|", "~", "%", "?", "__", "lambda", "import",
     "__import__('os')", "eval", "exec", ".__class__", "1e", "1.2.3", "0x1F", "1_000", "..."])
CHARACTERS = SPECIAL_CHARACTERS | st.characters() | st.sampled_from(
    list("0123456789+-*/^@<>=!()[],:. xyvMAce"))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A grammar expression with a few random edits."""
    text = draw(EXPRESSIONS)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 4)))
        edit = draw(st.sampled_from(["insert", "delete", "replace", "duplicate", "truncate",
                                     "swap"]))
        if edit == "insert":
            text = text[:i] + draw(CHARACTERS) + text[i:]
        elif edit == "delete":
            text = text[:i] + text[j:]
        elif edit == "replace":
            text = text[:i] + draw(CHARACTERS) + text[j:]
        elif edit == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif edit == "truncate":
            text = text[:i]
        elif j - i >= 2:
            text = text[:i] + text[j - 1] + text[i + 1:j - 1] + text[i] + text[j:]
    return text


ANY_EXPRESSION = st.one_of(EXPRESSIONS, mutated(),
                           st.lists(CHARACTERS, max_size=30).map("".join))

# ---------------------------------------------------------------- points, shapes and extras

FLOATS = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.0, math.pi, 1e-308, 5e-324, 1e308,
                     -1e308, 1e154, 710.0, -745.0, 1e16]),
    st.floats(-4, 4, allow_nan=False),
    st.floats(allow_nan=False, allow_infinity=False),
)
SHAPES = st.one_of(
    st.just(()),
    st.tuples(st.integers(0, 4)),
    st.tuples(st.integers(0, 3), st.integers(0, 3)),
    st.sampled_from([(1, 2, 2), (2, 1, 3), (2, 2, 2)]),
)
SHAPES_BY_NAME = {"x": st.just(()) | SHAPES, "y": st.just(()) | SHAPES,
                  "v": st.tuples(st.integers(0, 4)) | SHAPES,
                  "M": st.sampled_from([(2, 2), (3, 3), (2, 3)]) | SHAPES}


def tensors(shape: tuple[int, ...]) -> st.SearchStrategy[Any]:
    """Nested lists of ``shape`` (a number for ``()``)."""
    if not shape:
        return FLOATS
    return st.lists(tensors(shape[1:]), min_size=shape[0], max_size=shape[0])


@st.composite
def inputs(draw: st.DrawFn) -> dict[str, Any]:
    """``point`` or ``points`` (column or row form), ``constants`` and ``variables``."""
    names = draw(st.lists(st.sampled_from(["x", "y", "v", "M"]), unique=True, max_size=4))
    shapes = {name: draw(SHAPES_BY_NAME[name]) for name in names}
    form = draw(st.sampled_from(["point", "point", "columns", "rows"]))
    request: dict[str, Any] = {}
    if form == "point":
        request["point"] = {n: draw(tensors(s)) for n, s in shapes.items()}
    else:
        size = draw(st.integers(1, 3))
        rows = [{n: draw(tensors(s)) for n, s in shapes.items()} for _ in range(size)]
        request["points"] = rows if form == "rows" else {n: [r[n] for r in rows]
                                                         for n in names}
    if draw(st.booleans()):
        request["constants"] = {"A": draw(tensors(draw(SHAPES))),
                                "c": draw(FLOATS)}
    if draw(st.integers(0, 3)) == 0:
        request["variables"] = draw(st.lists(st.sampled_from([*names, "x", "q", "v[0]"]),
                                             max_size=3))
    return request


LABELS = st.sampled_from(["x", "y", "v", "M", "v[0]", "v[1]", "v[-1]", "v[9]", "M[0,0]",
                          "M[1][1]", "M[0, 1]", "x[0]", "q", "", "v[0", "M[0]"])


@st.composite
def extras(draw: st.DrawFn, operation: str, request: dict[str, Any]) -> dict[str, Any]:
    """The operation's own fields: mostly well formed, sometimes not."""
    shapes = _shapes(request) or {"x": ()}
    if operation == "derivative":
        if draw(st.booleans()):
            out = {"variable": draw(LABELS), "order": draw(st.integers(0, 8))}
            if draw(st.booleans()):
                out["all_orders"] = True
            return out
        return {"wrt": draw(st.lists(LABELS, min_size=1, max_size=4))}
    if operation == "taylor":
        return {"order": draw(st.integers(0, 4))}
    if operation in ("jvp", "hvp"):
        field = "tangent" if operation == "jvp" else "vector"
        return {field: {n: draw(tensors(s if draw(st.integers(0, 5)) else draw(SHAPES)))
                        for n, s in shapes.items() if draw(st.integers(0, 4))}}
    if operation == "vjp":
        return {"cotangent": draw(tensors(draw(SHAPES)))}
    return {}


def _shapes(request: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Each variable's shape (per point) as the request gives it."""
    if request.get("point") is not None:
        return {n: np.shape(v) for n, v in request["point"].items()}
    points = request["points"]
    if isinstance(points, dict):
        return {n: np.shape(v)[1:] for n, v in points.items()}
    return {n: np.shape(v) for n, v in points[0].items()}


# ---------------------------------------------------------------- invariants of an answer

def _nonfinite(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_nonfinite(v) for v in value.values())
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return sum(_nonfinite(term["coefficient"]) for term in value)
    if isinstance(value, list) and value and isinstance(value[0], str):
        return 0
    arr = np.asarray(value, dtype=np.float64)
    return int(arr.size - np.count_nonzero(np.isfinite(arr)))


def check_answer(operation: str, request: dict[str, Any], out: dict[str, Any]) -> None:
    """The invariants every successful answer satisfies (API.md §2, README conventions)."""
    assert set(out) - {"derivatives"} == {"value", "shape", "variables", "warnings"} \
        | EXTRA_FIELDS[operation], sorted(out)
    wire = json.loads(encode(out))  # strict JSON: allow_nan=False inside
    RESPONSE_MODELS[operation].model_validate(wire)

    shapes = _shapes(request)
    batched = request.get("points") is not None
    shape = tuple(out["shape"])
    assert np.shape(out["value"]) == shape, (np.shape(out["value"]), shape)
    n_points = shape[0] if batched else None
    lead = (n_points,) if batched else ()
    per_point = shape[1:] if batched else shape
    variables = out["variables"]
    assert len(set(variables)) == len(variables) and set(variables) <= set(shapes), variables
    if request.get("variables") is not None:
        assert variables == list(request["variables"])
    else:
        assert variables == list(shapes)
    m = math.prod(per_point)
    n = sum(math.prod(shapes[v]) for v in variables)

    if operation == "gradient":
        assert per_point == ()
        assert list(out["gradient"]) == variables
        for v in variables:
            assert np.shape(out["gradient"][v]) == lead + shapes[v]
    elif operation == "jacobian":
        assert len(out["rows"]) == m and len(out["columns"]) == n
        assert np.shape(out["jacobian"]) == (*lead, m, n)
    elif operation == "hessian":
        assert per_point == ()
        assert len(out["columns"]) == n
        assert np.shape(out["gradient"]) == (*lead, n)
        assert np.shape(out["hessian"]) == (*lead, n, n)
    elif operation == "jvp":
        assert np.shape(out["jvp"]) == shape
    elif operation in ("vjp", "hvp"):
        assert list(out[operation]) == variables
        for v in variables:
            assert np.shape(out[operation][v]) == lead + shapes[v]
    elif operation == "derivative":
        assert np.shape(out["derivative"]) == shape
        if "derivatives" in out:
            order = request["order"]
            expected = (*lead, order + 1, *per_point)
            assert np.shape(out["derivatives"]) == expected
    elif operation == "taylor":
        entries = [lab for lab in out["coefficients"][0]["powers"]]
        assert len(entries) == n
        k = request["order"]
        count = k + 1 if n == 1 else math.comb(n + k, k)
        assert len(out["coefficients"]) == count
        seen = set()
        for term in out["coefficients"]:
            powers = term["powers"]
            assert list(powers) == entries
            assert all(isinstance(p, int) and p >= 0 for p in powers.values())
            assert sum(powers.values()) <= k
            seen.add(tuple(powers.values()))
            assert np.shape(term["coefficient"]) == shape
        assert len(seen) == count

    for field in RESULT_FIELDS:
        named = [w for w in out["warnings"] if w.startswith(f"{field}: ")]
        count = _nonfinite(out[field]) if field in out else 0
        if count:
            assert len(named) == 1 and named[0].startswith(f"{field}: {count} non-finite"), (
                field, count, out["warnings"])
        else:
            assert named == [], (field, out["warnings"])
    assert all(any(w.startswith(f"{f}: ") for f in RESULT_FIELDS) for w in out["warnings"])


def run_engine(operation: str, request: dict[str, Any]) -> dict[str, Any] | None:
    """The engine's answer, or None for an EngineError; anything else fails the test."""
    try:
        out = getattr(engine, operation)(**request)
    except EngineError as err:
        problem = err.problem()
        assert 400 <= problem["status"] < 600 and problem["detail"], problem
        return None
    except Exception as err:
        raise AssertionError(f"{type(err).__name__} escaped engine.{operation}({request!r}): "
                             f"{err}") from err
    try:
        check_answer(operation, request, out)
    except AssertionError as err:
        raise AssertionError(f"engine.{operation}({request!r}) answered {out!r}: {err}"
                             ) from err
    return out


# ---------------------------------------------------------------- the properties

@settings(SETTINGS, max_examples=2000)
@given(ANY_EXPRESSION)
def test_parser_raises_only_engine_errors(expression: str) -> None:
    try:
        parse(expression)
    except EngineError as err:
        body = err.problem()
        if body["type"].endswith("parse-error"):
            assert 1 <= body["column"] <= len(expression) + 1, body
            assert "^" in body["detail"]


@settings(SETTINGS, max_examples=1000)
@given(st.sampled_from(OPERATIONS), ANY_EXPRESSION, inputs(), st.data())
def test_engine_raises_only_engine_errors_and_answers_consistently(
        operation: str, expression: str, request: dict[str, Any], data: st.DataObject) -> None:
    request = {"expression": expression, **request}
    request |= data.draw(extras(operation, request))
    run_engine(operation, request)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | FLOATS | st.text(max_size=5)
    | st.sampled_from([math.nan, math.inf, -math.inf, 10**400, -(10**400), 2**63, 2**64]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["x", "y", "v", "M", "", "\x00", "x[0]"]), inner, max_size=3),
    max_leaves=8)
NUMBER_OBJECTS = st.dictionaries(st.sampled_from(["x", "y", "v"]), JSONISH, min_size=1,
                                 max_size=2)
FIELDS = ["point", "points", "constants", "variables", "order", "variable", "wrt", "tangent",
          "cotangent", "vector", "all_orders"]


@settings(SETTINGS, max_examples=500)
@given(st.sampled_from(OPERATIONS), st.sampled_from(["x", "sum(v)", "x*y", "M @ v", "v"]),
       st.dictionaries(st.sampled_from(FIELDS), JSONISH | NUMBER_OBJECTS, max_size=4))
def test_engine_hostile_field_values(operation: str, expression: str,
                                     fields: dict[str, Any]) -> None:
    request = {"expression": expression, "point": {"x": 1.0, "y": 2.0}} | fields
    if operation not in ("derivative",):
        request = {k: v for k, v in request.items()
                   if k not in ("variable", "wrt", "all_orders")
                   and not (k == "order" and operation != "taylor")}
    for name, ops in (("tangent", ("jvp",)), ("cotangent", ("vjp",)), ("vector", ("hvp",))):
        if operation not in ops:
            request.pop(name, None)
    run_engine(operation, request)


# ---------------------------------------------------------------- agreement with sympy

X, Y = sp.symbols("x y", real=True)


def _leaf() -> st.SearchStrategy[tuple[str, Any]]:
    variable = st.sampled_from([("x", X), ("y", Y)])
    return st.one_of(
        variable, variable, variable,
        st.integers(1, 5).map(lambda k: (str(k), sp.Integer(k))),
        st.sampled_from([("0.5", sp.Rational(1, 2)), ("0.25", sp.Rational(1, 4)),
                         ("pi", sp.pi)]),
    )


UNARY: list[tuple[str, Callable[[str], str], Callable[[Any], Any]]] = [
    ("sin", lambda a: f"sin({a})", sp.sin),
    ("cos", lambda a: f"cos({a})", sp.cos),
    ("tanh", lambda a: f"tanh({a})", sp.tanh),
    ("atan", lambda a: f"atan({a})", sp.atan),
    ("exp∘sin", lambda a: f"exp(sin({a}))", lambda a: sp.exp(sp.sin(a))),
    ("sigmoid", lambda a: f"sigmoid({a})", lambda a: 1 / (1 + sp.exp(-a))),
    ("erf", lambda a: f"erf({a})", sp.erf),
    ("asinh", lambda a: f"asinh({a})", sp.asinh),
    ("sqrt(1+a²)", lambda a: f"sqrt(1 + ({a})**2)", lambda a: sp.sqrt(1 + a**2)),
    ("log1p(a²)", lambda a: f"log1p(({a})^2)", lambda a: sp.log(1 + a**2)),
    ("hypot", lambda a: f"hypot({a}, 2)", lambda a: sp.sqrt(a**2 + 4)),
    ("square", lambda a: f"({a})**2", lambda a: a**2),
    ("cube", lambda a: f"pow({a}, 3)", lambda a: a**3),
    ("neg", lambda a: f"-({a})", lambda a: -a),
]
BINARY_SMOOTH: list[tuple[str, Callable[[str, str], str], Callable[[Any, Any], Any]]] = [
    ("+", lambda a, b: f"({a}) + ({b})", lambda a, b: a + b),
    ("-", lambda a, b: f"({a}) - ({b})", lambda a, b: a - b),
    ("*", lambda a, b: f"({a}) * ({b})", lambda a, b: a * b),
    ("/", lambda a, b: f"({a}) / (1 + ({b})**2)", lambda a, b: a / (1 + b**2)),
]


def _smooth_extend(children: st.SearchStrategy[tuple[str, Any]]
                   ) -> st.SearchStrategy[tuple[str, Any]]:
    unary = st.tuples(st.sampled_from(UNARY), children).map(
        lambda t: (t[0][1](t[1][0]), t[0][2](t[1][1])))
    binary = st.tuples(st.sampled_from(BINARY_SMOOTH), children, children).map(
        lambda t: (t[0][1](t[1][0], t[2][0]), t[0][2](t[1][1], t[2][1])))
    return unary | binary


SMOOTH = st.recursive(_leaf(), _smooth_extend, max_leaves=7)
COORDINATES = st.floats(-2, 2, allow_nan=False, allow_subnormal=False)

RTOL = 1e-9
DPS = 30


def _mp(expr: Any, x: float, y: float) -> float:
    f = sp.lambdify((X, Y), expr, modules="mpmath")
    with mpmath.workdps(DPS):
        return float(f(mpmath.mpf(x), mpmath.mpf(y)))


def assert_agrees(actual: Any, expected: Any, what: str) -> None:
    """Relative 1e-9, with an absolute floor of 1e-9 times the largest expected entry
    (so that an exact zero tolerates the rounding of its neighbours) and at least 1e-12."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    floor = max(RTOL * float(np.max(np.abs(expected), initial=0.0)), 1e-12)
    ok = np.abs(actual - expected) <= RTOL * np.abs(expected) + floor
    assert ok.all(), f"{what}:\nactual   {actual.tolist()}\nexpected {expected.tolist()}"


@settings(SETTINGS, max_examples=100)
@given(SMOOTH, COORDINATES, COORDINATES)
def test_derivatives_agree_with_sympy_at_30_digits(expr: tuple[str, Any], x: float,
                                                   y: float) -> None:
    expression, f = expr
    point = {"x": x, "y": y}
    values = [_mp(f, x, y)]
    assume(all(math.isfinite(v) and abs(v) < 1e12 for v in values))
    where = f"{expression} at {point}"

    grad = engine.gradient(expression=expression, point=point)
    assert grad["warnings"] == [], where
    assert_agrees(grad["value"], values[0], f"value of {where}")
    assert_agrees([grad["gradient"]["x"], grad["gradient"]["y"]],
                  [_mp(sp.diff(f, X), x, y), _mp(sp.diff(f, Y), x, y)], f"gradient of {where}")

    hess = engine.hessian(expression=expression, point=point)
    expected = [[_mp(sp.diff(f, a, b), x, y) for b in (X, Y)] for a in (X, Y)]
    assert_agrees(hess["hessian"], expected, f"hessian of {where}")

    third = engine.derivative(expression=expression, point=point, variable="x", order=3)
    assert_agrees(third["derivative"], _mp(sp.diff(f, X, 3), x, y), f"d3/dx3 of {where}")
    mixed = engine.derivative(expression=expression, point=point, wrt=["x", "y", "y"])
    assert_agrees(mixed["derivative"], _mp(sp.diff(f, X, Y, Y), x, y),
                  f"d3/dxdydy of {where}")


# ---------------------------------------------------------------- the operations agree

VECTOR_LEAVES = st.sampled_from(["x", "v[0]", "v[1]", "v[2]", "sum(v)", "v.mean()",
                                 "dot(v, v)", "norm(v + 3)", "(A @ v)[1]", "2", "0.5"])


def _vector_extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    unary = st.tuples(st.sampled_from(UNARY), children).map(lambda t: t[0][1](t[1]))
    binary = st.tuples(st.sampled_from(BINARY_SMOOTH), children, children).map(
        lambda t: t[0][1](t[1], t[2]))
    return unary | binary


SCALAR_OF_VECTOR = st.recursive(VECTOR_LEAVES, _vector_extend, max_leaves=6)
CONSTANTS = {"A": [[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]]}


@settings(SETTINGS, max_examples=100)
@given(SCALAR_OF_VECTOR, st.lists(COORDINATES, min_size=4, max_size=4),
       st.lists(COORDINATES, min_size=4, max_size=4))
def test_the_operations_agree_with_each_other(expression: str, xs: list[float],
                                              ts: list[float]) -> None:
    point = {"x": xs[0], "v": xs[1:]}
    tangent = {"x": ts[0], "v": ts[1:]}
    common = {"expression": expression, "point": point, "constants": CONSTANTS}
    where = f"{expression} at {point}"

    hess = engine.hessian(**common)
    assume(hess["warnings"] == [])
    g, h = np.asarray(hess["gradient"]), np.asarray(hess["hessian"])
    t = np.asarray([ts[0], *ts[1:]])
    assert_agrees(h, h.T, f"symmetry of the hessian of {where}")

    grad = engine.gradient(**common)
    assert_agrees(np.concatenate([[grad["gradient"]["x"]], grad["gradient"]["v"]]), g,
                  f"gradient vs hessian's gradient of {where}")
    jac = engine.jacobian(**common)
    assert_agrees(jac["jacobian"], g[None], f"jacobian vs gradient of {where}")
    jvp = engine.jvp(tangent=tangent, **common)
    assert_agrees(jvp["jvp"], g @ t, f"jvp of {where}")
    vjp = engine.vjp(cotangent=1.5, **common)
    assert_agrees(np.concatenate([[vjp["vjp"]["x"]], vjp["vjp"]["v"]]), 1.5 * g,
                  f"vjp of {where}")
    hvp = engine.hvp(vector=tangent, **common)
    assert_agrees(np.concatenate([[hvp["hvp"]["x"]], hvp["hvp"]["v"]]), h @ t,
                  f"hvp of {where}")

    d1 = engine.derivative(variable="v[1]", order=2, all_orders=True, **common)
    assert_agrees(d1["derivatives"], [hess["value"], g[2], h[2, 2]],
                  f"derivatives along v[1] of {where}")
    mixed = engine.derivative(wrt=["x", "v[2]"], **common)
    assert_agrees(mixed["derivative"], h[0, 3], f"mixed partial of {where}")
    taylor = engine.taylor(order=2, variables=["x"], **common)
    assert_agrees([term["coefficient"] for term in taylor["coefficients"]],
                  [hess["value"], g[0], h[0, 0] / 2], f"taylor in x of {where}")

    others = [[xs[0] + 0.5, *xs[1:]], [-xs[0], *reversed(xs[1:])]]
    batch = engine.hessian(expression=expression, constants=CONSTANTS,
                           points={"x": [xs[0]] + [o[0] for o in others],
                                   "v": [xs[1:]] + [o[1:] for o in others]})
    for i, other in enumerate([xs, *others]):
        single = engine.hessian(expression=expression, constants=CONSTANTS,
                                point={"x": other[0], "v": other[1:]})
        assert_agrees(batch["value"][i], single["value"], f"batch value {i} of {where}")
        assert_agrees(batch["hessian"][i], single["hessian"], f"batch hessian {i} of {where}")


# ---------------------------------------------------------------- pinned findings

@pytest.mark.parametrize("request_", [
    pytest.param({"expression": "x**2", "point": {"x": 1.0}, "variables": []},
                 id="hessian-no-variables"),
    pytest.param({"expression": "sum(x)", "point": {"x": []}}, id="hessian-empty-vector"),
    pytest.param({"expression": "sum(M)", "point": {"M": [[]]}}, id="hessian-empty-matrix"),
])
def test_hessian_of_nothing_is_an_answer_or_an_engine_error(request_: dict[str, Any]) -> None:
    """Found by the fuzzer: an empty Hessian raised numpy's ValueError (a 500 over HTTP)."""
    run_engine("hessian", request_)


@pytest.mark.parametrize("field", ["point", "constants"])
def test_an_integer_beyond_float64_is_an_engine_error(field: str) -> None:
    """Found by the fuzzer: 10**400 raised OverflowError out of the engine (the HTTP layer
    rejects it first, but the engine promises that only EngineError escapes)."""
    request = {"expression": "x * A", "point": {"x": 1.0}, "constants": {"A": 1.0}}
    request[field] = {"x": 10**400} if field == "point" else {"A": 10**400}
    run_engine("evaluate", request)


@pytest.mark.parametrize("expression", ["M.T", "transpose(M)", "sum(M.T)"])
def test_transpose_of_a_rank_3_tensor_keeps_shape_and_value_in_step(expression: str) -> None:
    """Found by the fuzzer: M.T of a (1, 2, 2) tensor answered shape [2, 1] with a value of
    shape (1, 2, 2) (sum(M.T): shape [] with a value of shape (1,))."""
    run_engine("evaluate", {"expression": expression, "point": {"M": [[[1.0, 2.0],
                                                                        [3.0, 4.0]]]}})


@pytest.mark.parametrize("variables", [[[]], [{}], [["x"]], [None], [1.5]],
                         ids=["list", "object", "nested", "null", "number"])
def test_variables_that_are_not_names_are_an_engine_error(variables: list[Any]) -> None:
    """Found by the fuzzer: an unhashable entry of ``variables`` raised TypeError out of the
    engine (the HTTP layer's list[str] stops it first)."""
    run_engine("evaluate", {"expression": "x", "point": {"x": 1.0}, "variables": variables})


@pytest.mark.parametrize("rank", [31, 33, 40, 64])
@pytest.mark.parametrize("operation", ["evaluate", "gradient", "jacobian", "hessian"])
def test_tensors_of_absurd_rank_are_answered_or_refused(operation: str, rank: int) -> None:
    """Found by the fuzzer: past ~32 axes (an input nested 33 deep, or 33 nested list
    literals) numpy raised RuntimeError/ValueError ("only supports up to 32 dimensions")."""
    value: Any = 1.0
    for _ in range(rank):
        value = [value]
    literal = "[" * rank + "x" + "]" * rank
    for expression, point in ((f"sum(sin({literal}))", {"x": 1.0}),
                              ("sum(sin(v))", {"v": value})):
        run_engine(operation, {"expression": expression, "point": point})
