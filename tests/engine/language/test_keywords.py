"""Keyword and static arguments: parsing, binding as Python does, and the positioned 422s.

Every error is checked for its kind, its column (the caret under the culprit) and its hint.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import engine
from engine.errors import ArityError, EngineError, ExpressionError, InputError, ShapeError
from engine.language.parser import parse
from engine.language.syntax import Call, Keyword, Num, TupleLit

POINT = {"x": 1.0, "v": [1.0, -2.0, 3.0], "M": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}


def value(expression: str) -> np.ndarray:
    return np.asarray(engine.evaluate(expression=expression, point=POINT)["value"])


def refused(expression: str, cls: type[EngineError]) -> EngineError:
    with pytest.raises(EngineError) as info:
        engine.evaluate(expression=expression, point=POINT)
    err = info.value
    assert type(err) is cls, (type(err), err)
    assert err.status == 422
    return err


def caret(err: EngineError, expression: str) -> int:
    lines = err.detail.splitlines()
    line = lines[lines.index(expression) + 1]
    assert line.strip() == "^", err.detail
    return len(line) - len(line.lstrip(" ")) + 1


def test_keywords_parse_into_the_call() -> None:
    tree = parse("sum(M, axis=(0, 1), keepdims=True)")
    assert isinstance(tree, Call)
    assert tree.kwargs[0] == Keyword("axis", TupleLit((Num(0.0, 14), Num(1.0, 17)), 13), 8)
    assert tree.kwargs[1].name == "keepdims"
    assert parse("v.sum(axis=0)") == Call("sum", (parse("v"),), 3, (Keyword("axis", Num(0.0, 12),
                                                                           7),))
    assert isinstance(parse("sum(M, axis=(0,))").kwargs[0].value, TupleLit)  # type: ignore


@pytest.mark.parametrize(("expression", "expected"), [
    ("sum(M, 0)", [5.0, 7.0, 9.0]),
    ("sum(M, axis=0)", [5.0, 7.0, 9.0]),
    ("np.sum(M, axis=-1, keepdims=True)", [[6.0], [15.0]]),
    ("M.sum(keepdims=true, axis=1)", [[6.0], [15.0]]),
    ("sum(M, keepdims=False)", 21.0),
    ("sum(M, axis=None)", 21.0),
    ("mean(M, axis=(0, 1))", 3.5),
    ("M.max()", 6.0), ("max(M, axis=0)", [4.0, 5.0, 6.0]), ("max(v, 0)", [1.0, 0.0, 3.0]),
    ("v.min()", -2.0), ("np.amax(M, 1)", [3.0, 6.0]),
    ("var(v, ddof=1)", np.var([1.0, -2.0, 3.0], ddof=1)),
    ("std(v, ddof=0)", np.std([1.0, -2.0, 3.0])),
    ("M.reshape(3, 2)[2, 1]", 6.0), ("M.reshape((3, 2))[2, 1]", 6.0),
    ("reshape(M, (-1,))[4]", 5.0), ("reshape(M, 2 * 3)[5]", 6.0),
    ("M.diagonal(offset=1)", [2.0, 6.0]), ("np.diag(v, k=-1)[3, 2]", 3.0),
    ("concatenate([v, v], axis=0)[4]", -2.0), ("np.stack([v, v], 1)[2, 0]", 3.0),
])
def test_keyword_and_positional_forms(expression: str, expected: Any) -> None:
    np.testing.assert_allclose(value(expression), expected, rtol=1e-15)


@pytest.mark.parametrize(("expression", "column", "hint"), [
    ("sum(M, axs=0)", 8, "did you mean 'axis'?"),
    ("np.sum(M, keepdim=True)", 11, "did you mean 'keepdims'?"),
    ("M.mean(ddof=1)", 8, "its keywords: a, axis, keepdims"),
    ("softmax(v, dim=0)", 12, "softmax(x, axis=None)"),
    ("cholesky(M, lower=True)", 13, "its keywords: a"),
])
def test_unknown_keyword_is_positioned_with_the_keywords_taken(expression: str, column: int,
                                                               hint: str) -> None:
    err = refused(expression, ArityError)
    assert "unexpected keyword argument" in err.detail
    assert hint in err.detail
    assert err.column == column
    assert caret(err, expression) == column
    assert err.problem()["errors"][0]["column"] == column


def test_a_function_without_keywords_refuses_one() -> None:
    err = refused("sin(x, axis=0)", ArityError)
    assert "sin() takes no keyword arguments" in err.detail
    assert caret(err, "sin(x, axis=0)") == 8


@pytest.mark.parametrize(("expression", "cls", "column", "says"), [
    ("sum(M, axis=0, 1)", ExpressionError, 16, "positional argument follows keyword argument"),
    ("sum(M, axis=0, axis=1)", ExpressionError, 16, "keyword argument 'axis' repeated"),
    ("sum(M, 0, axis=1)", ArityError, 11, "multiple values for argument 'axis'"),
    ("sum(M, 0, 1)", ArityError, 11, "takes 2 positional arguments at most"),
    ("solve(M)", ArityError, 1, "missing the argument 'b'"),
    ("sum(M, axis=x)", InputError, 13, "must be a literal"),
    ("sum(M, axis=2)", ShapeError, 1, "axis 2 is out of bounds"),
    ("sum(M, axis=(0, 0))", ShapeError, 1, "repeated axis"),
    ("concatenate(v)", InputError, 13, "takes a list [a, b] or a tuple (a, b)"),
    ("max(v, v, axis=0)", InputError, 1, "elementwise and takes no axis"),
    ("(1, 2)", ExpressionError, 3, "unexpected ','"),
    ("sin((1, 2))", InputError, 5, "a tuple such as (0, 1) is only"),
    ("v[[0, 3]]", ShapeError, 7, "index 3 is out of bounds for axis 0 with size 3"),
    ("M[:, [-4]]", ShapeError, 7, "index -4 is out of bounds for axis 1"),
    ("M[[0, 1], [0, 1, 1]]", ShapeError, 2, "lengths 2, 3 do not broadcast together"),
    ("M[..., 0, ...]", ShapeError, 2, "a single ellipsis"),
    ("M[0, 1, 2, ...]", ShapeError, 2, "too many indices (3)"),
    ("M[None, [0]]", ShapeError, 2, "a new axis (None) and an index list"),
    ("v[[x]]", ShapeError, 4, "must be an integer literal"),
    ("M.reshape(4, 2)", ShapeError, 3, "cannot reshape a value of shape (2, 3)"),
])
def test_binding_and_literal_errors_are_positioned(expression: str, cls: type[EngineError],
                                                   column: int, says: str) -> None:
    err = refused(expression, cls)
    assert says in err.detail, err.detail
    assert err.column == column, err.detail
    assert caret(err, expression) == column


def test_keyword_values_are_not_variables() -> None:
    """``True`` and literals inside keywords are static: they are not names to look up."""
    out = engine.gradient(expression="sum(M * M, axis=1, keepdims=True).sum()",
                          point={"M": POINT["M"]})
    assert out["variables"] == ["M"]
    np.testing.assert_array_equal(out["gradient"]["M"], 2 * np.asarray(POINT["M"]))


def test_the_function_table_shows_signatures() -> None:
    table = {row["name"]: row for row in engine.functions_table()}
    assert table["sum"]["description"].startswith("sum(a, axis=None, *, keepdims=False)")
    assert "ddof=0" in table["var"]["description"]
    assert "softmax(x, axis=None)" in table["softmax"]["description"]
    assert "evenly" in table["max"]["derivative_at_kinks"]
    assert "[sign(det a), log|det a|]" in table["slogdet"]["description"]
