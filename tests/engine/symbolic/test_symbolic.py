"""Symbolic derivatives: exact prints, sympy at random points, round trip, size.

Formulas are checked as numbers, not strings, except the prints the contract fixes. Oracles:
sympy's ``diff`` evaluated at 30 digits, and the engine's own numeric operations (the round trip:
every formula re-parses with our parser and evaluates, through the engine, to the numeric
derivative). Tolerance of the round trip: 1e-12 relative, with a floor of 1 on the scale where
the exact value is 0 (the engine's Taylor-mode answer there is rounding noise of ~1e-15).

Formulas name shared subexpressions with definitions (``u1 = log(x); x**x*(u1 + 1)``): they
are parsed and evaluated as they are, by our parser and the engine, and compared with sympy at
random points to 1e-12 (``test_named_formulas_match_sympy``).

The size bound (``test_size_bound``): for the first four derivatives of every function of
``SIZE_CORPUS`` the printed formula has at most ``2·S + 12`` parse-tree nodes, S being the node
count of sympy's ``diff`` output (``sp.preorder_traversal``, sympy's output as it is: no
``cse``, no ``simplify``); over the whole table at most 0.8 times sympy's total, and for
``x**x`` (whose formula carries the engine's base-0 mask ``where(x == 0, 0, …)``) at most 1.5
times. Our count is the parse tree of the formula: with definitions, each right-hand side once
plus one node for the name it binds, then the value, where each use of a name is one node.
``python -m tests.engine.symbolic.test_symbolic`` prints the table.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine.errors import (
    ExpressionError,
    InputError,
    LimitError,
    NonScalarError,
)
from engine.language.functions import FUNCTIONS
from engine.language.parser import parse
from engine.language.syntax import Block, Define, Expr, sub_expressions
from engine.limits import DEFAULT_LIMITS, Limits
from engine.symbolic.algebra import Algebra
from engine.symbolic.formulas import differentiate, free_names
from engine.symbolic.printer import latex_name

RNG_SEED = 7
ROUND_TRIP_RTOL = 1e-12
SYMPY_RTOL = 1e-12

X, Y = sp.symbols("x y", real=True)
_BIG = Limits(max_depth=10_000, max_expression_length=10**7)


def sigmoid(u: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-u))


# ---------------------------------------------------------------- helpers

def derivative_formula(expression: str, order: int, variable: str = "x") -> str:
    return differentiate(expression=expression, operation="derivative", variable=variable,
                         order=order)["formulas"]


def simplified(expression: str) -> str:
    """The expression itself, simplified and printed (a derivative of order 0)."""
    return derivative_formula(expression, 0, "x")


def definitions(formula: str) -> tuple[Define, ...]:
    """The definitions our parser reads in a formula (none for a single expression)."""
    tree = parse(formula, _BIG)
    return tree.definitions if isinstance(tree, Block) else ()


def value(formula: str, point: dict[str, Any]) -> np.ndarray:
    """A formula evaluated by the engine (it parses with our parser first, definitions and
    all)."""
    parse(formula)
    return np.asarray(engine.evaluate(expression=formula, point=point)["value"], dtype=float)


def values(formulas: Any, point: dict[str, Any]) -> np.ndarray:
    """Nested lists of formulas evaluated entry by entry."""
    if isinstance(formulas, str):
        return value(formulas, point)
    return np.array([values(f, point) for f in formulas], dtype=float)


def assert_close(got: Any, ref: Any, rtol: float, what: object) -> None:
    got, ref = np.asarray(got, dtype=float), np.asarray(ref, dtype=float)
    assert got.shape == ref.shape, what
    assert np.array_equal(np.isnan(got), np.isnan(ref)), f"{what}: {got} vs {ref}"
    scale = np.maximum(np.abs(np.nan_to_num(ref)), 1.0)
    err = np.where(np.isnan(ref), 0.0, np.abs(got - ref))
    assert np.all(err <= rtol * scale), f"{what}: {got} vs {ref}"


def sympy_value(expr: sp.Expr, point: dict[str, float]) -> float:
    subs = {sp.Symbol(k, real=True): sp.Float(v, 30) for k, v in point.items()}
    return float(sp.N(expr.subs(subs), 30))


def _walk(formula: str) -> list[Expr]:
    """Every parse-tree node of a formula: numbers, names, operators, calls, indexing, and
    for a formula with definitions its block, their right-hand sides and its value."""
    stack = [parse(formula, _BIG)]
    out = []
    while stack:
        e = stack.pop()
        out.append(e)
        stack.extend(sub_expressions(e))
    return out


def tree_nodes(formula: str) -> int:
    """Parse-tree nodes of a formula. With definitions: each right-hand side once plus one node
    for the name it binds, then the value, in which each use of a name is one node (the block
    itself is not counted)."""
    defined = definitions(formula)
    return len(_walk(formula)) + (len(defined) - 1 if defined else 0)


def sympy_nodes(expr: sp.Expr) -> int:
    return sum(1 for _ in sp.preorder_traversal(expr))


# ---------------------------------------------------------------- the exact prints of the contract

def test_polynomial_prints_exactly() -> None:
    out = differentiate(expression="x**2 + 3*x + 1", operation="gradient")
    assert out["formulas"] == {"x": "2*x + 3"}
    assert out["latex"] == {"x": "2 x + 3"}
    assert derivative_formula("x**2 + 3*x + 1", 1) == "2*x + 3"


def test_chain_rule_prints_exactly() -> None:
    out = differentiate(expression="sin(x**3)", operation="gradient")
    assert out["formulas"] == {"x": "3*x**2*cos(x**3)"}
    assert out["latex"] == {"x": r"3 x^{2} \cos\left(x^{3}\right)"}
    assert derivative_formula("sin(x**3)", 1) == "3*x**2*cos(x**3)"


def test_hessian_is_readable_and_matches_sympy() -> None:
    f = X**3 * Y**2 + sp.sin(X * Y)
    out = differentiate(expression="x**3*y**2 + sin(x*y)", operation="hessian",
                        variables=["x", "y"])
    hess = out["formulas"]
    assert len(hess) == 2 and all(len(row) == 2 for row in hess)
    for row in hess:
        for entry in row:
            assert len(entry) < 60, entry
    assert hess[0][1] == hess[1][0]  # one canonical form for equal mixed partials
    rng = np.random.default_rng(RNG_SEED)
    for _ in range(5):
        point = {"x": float(rng.uniform(-2, 2)), "y": float(rng.uniform(-2, 2))}
        ref = [[sympy_value(sp.diff(f, a, b), point) for b in (X, Y)] for a in (X, Y)]
        assert_close(values(hess, point), ref, SYMPY_RTOL, (hess, point))
    # The seed case of API.md §3 through the formulas.
    assert_close(values(hess, {"x": 1.0, "y": 2.0}),
                 [[20.362810292697273, 9.765258309801494],
                  [9.765258309801494, 1.0907025731743183]], 1e-13, hess)


def test_seed_cases_through_formulas() -> None:
    """API.md §3: the formulas evaluate to the seed answers."""
    f5 = derivative_formula("sin(t**3)", 4, "t")
    assert_close(value(f5, {"t": 1.0}),
                 engine.derivative(expression="sin(t**3)", point={"t": 1.0}, variable="t",
                                   order=4)["derivative"], ROUND_TRIP_RTOL, f5)
    mixed = differentiate(expression="x**3 * y**2 + sin(x*y)", operation="derivative",
                          wrt=["x", "y", "x"])["formulas"]
    assert_close(value(mixed, {"x": 1.0, "y": 2.0}), 22.027397638885843, 1e-13, mixed)
    jac = differentiate(expression="[v[0]**2, v[0]*v[1], sin(v[1])]", operation="jacobian",
                        variables=["v"], shapes={"v": [2]})["formulas"]
    assert jac == [["2*v[0]", "0"], ["v[1]", "v[0]"], ["0", "cos(v[1])"]]
    grad = differentiate(expression="(A @ x).sum()", operation="gradient", variables=["x"],
                         shapes={"A": [2, 3], "x": [3]})["formulas"]
    point = {"A": [[2, 1, 0], [0, 3, 1]], "x": [0.5, -1.0, 2.0]}
    assert_close(values(grad["x"], point), [2, 4, 1], 0, grad)


# ---------------------------------------------------------------- simplification

@pytest.mark.parametrize(("expression", "printed"), [
    ("x + x", "2*x"),
    ("3*x + 2*x", "5*x"),
    ("x*x", "x**2"),
    ("x**2*x", "x**3"),
    ("x*x*x/x", "x**2"),
    ("-(-x)", "x"),
    ("x*0 + y", "y"),
    ("x*1 + 0", "x"),
    ("x**0", "1"),
    ("x/x", "1"),
    ("2*(x + 1) - 2", "2*x"),
    ("-(x - y)", "y - x"),
    ("exp(log(x))", "exp(log(x))"),            # x > 0 is not known: kept
    ("exp(log(1 + x**2))", "x**2 + 1"),        # 1 + x**2 > 0 is: simplified
    ("sqrt(x)*sqrt(x)", "sqrt(x)**2"),         # not x: that would be a number at x < 0
    ("abs(x**2)", "x**2"),
    ("x**0.5", "sqrt(x)"),
    ("x*x**(x - 1)", "x**x"),
    ("where(x > 0, y, y)", "y"),
    ("2*pi*x", "2*pi*x"),
    ("x/3", "x/3"),
    ("1/3 + x", "x + 1/3"),
])
def test_simplifies(expression: str, printed: str) -> None:
    assert simplified(expression) == printed


def test_derivatives_collect_terms() -> None:
    assert derivative_formula("x**3*y**2 + sin(x*y)", 1, "y") == "2*x**3*y + x*cos(x*y)"
    assert derivative_formula("tan(x)", 2) == "2*tan(x)*(tan(x)**2 + 1)"
    assert derivative_formula("sigmoid(x)", 2) == "sigmoid(x)*(2*sigmoid(x)**2 - 3*sigmoid(x) + 1)"
    assert derivative_formula("exp(x)*sin(x)", 1) == "exp(x)*(cos(x) + sin(x))"
    assert derivative_formula("log(x)", 1) == "1/x"
    assert derivative_formula("x**y", 1) == "y*x**(y - 1)"
    assert differentiate(expression="det(M)", operation="gradient",
                         shapes={"M": [2, 2]})["formulas"] == {
        "M": [["M[1,1]", "-M[1,0]"], ["-M[0,1]", "M[0,0]"]]}


# Sums where terms sharing a factor print as one group and the remaining ones, with the constant,
# are a binomial's expansion (printed as its power): every term must be printed exactly once.
GROUPED_AND_BINOMIAL: dict[str, tuple[sp.Expr, str]] = {
    "exp(y)*sin(x) + exp(y) + log(x)**2 + 2*log(x) + 1": (
        sp.exp(Y) * sp.sin(X) + sp.exp(Y) + sp.log(X)**2 + 2 * sp.log(X) + 1,
        "exp(y)*(sin(x) + 1) + (log(x) + 1)**2"),
    "log(y)**4 + 6*log(y)**2*log(x) + 6*log(y)**2 + 3*log(x)**2 + 6*log(x) + 3": (
        sp.log(Y)**4 + 6 * sp.log(Y)**2 * sp.log(X) + 6 * sp.log(Y)**2 + 3 * sp.log(X)**2
        + 6 * sp.log(X) + 3,
        "log(y)**4 + 6*log(y)**2*(log(x) + 1) + 3*(log(x) + 1)**2"),
}


@pytest.mark.parametrize("expression", list(GROUPED_AND_BINOMIAL))
def test_grouped_terms_and_binomial_in_one_sum(expression: str) -> None:
    f, printed = GROUPED_AND_BINOMIAL[expression]
    formula = simplified(expression)
    assert formula == printed
    rng = np.random.default_rng(RNG_SEED)
    for _ in range(3):
        point = {"x": float(rng.uniform(0.3, 2)), "y": float(rng.uniform(0.3, 2))}
        assert_close(value(formula, point), sympy_value(f, point), SYMPY_RTOL, (formula, point))


def test_fourth_derivative_of_tower_power_matches_sympy() -> None:
    """d^4/dx^4 (x**x)**x has a sum in which log(x**x)**2 groups two terms and 3*log(x)**2 +
    6*log(x) + 3 is a binomial: the printed formula keeps all of them."""
    point = {"x": 0.9042034209399705}
    ref = sympy_value(sp.diff((X**X)**X, X, 4), point)
    assert_close(value(derivative_formula("(x**x)**x", 4), point), ref, SYMPY_RTOL, point)


def test_kink_conventions_are_kept() -> None:
    """The formulas carry the engine's conventions at kinks (API.md §1)."""
    assert derivative_formula("abs(x)", 1) == "sign(x)"
    assert derivative_formula("relu(x)", 1) == "x > 0"
    assert derivative_formula("where(x > 0, x, -x)", 1) == "where(x > 0, 1, -1)"
    grad = differentiate(expression="max(x, y)", operation="gradient")["formulas"]
    assert grad == {"x": "(x == y)/2 + (x > y)", "y": "(y == x)/2 + (y > x)"}
    for point, ref in [({"x": 1.0, "y": 1.0}, 0.5), ({"x": 2.0, "y": 1.0}, 1.0),
                       ({"x": 0.0, "y": 1.0}, 0.0)]:
        assert value(grad["x"], point) == ref
    # PyTorch's convention for a ** b at a = 0: the exponent's derivative is 0 there.
    dy = differentiate(expression="x**y", operation="gradient")["formulas"]["y"]
    assert dy == "where((x == 0)*(y >= 0), 0, x**y*log(x))"
    assert value(dy, {"x": 0.0, "y": 2.0}) == 0.0


def test_algebra_is_canonical() -> None:
    a = Algebra()
    x, y = a.sym("x"), a.sym("y")
    assert a.add([(x, 1.0), (y, 1.0)]) == a.add([(y, 1.0), (x, 1.0)])
    assert a.mul([(x, 1), (y, 2)]) == a.mul([(y, 1), (x, 1), (y, 1)])
    assert a.neg(a.neg(x)) == x
    assert a.sub(x, x) == a.zero
    assert a.mul([(x, 1)], 0.0) == a.zero


# ---------------------------------------------------------------- printing

@pytest.mark.parametrize(("expression", "printed"), [
    ("(x + 1)**y", "(x + 1)**y"),
    ("(-x)**y", "(-x)**y"),
    ("-x**2", "-x**2"),
    ("(-x)**3", "-x**3"),
    ("x**(y**z)", "x**y**z"),
    ("(x**y)**z", "(x**y)**z"),
    ("x**(-y)", "x**(-y)"),
    ("(-2)**x", "(-2)**x"),
    ("x - (y - z)", "x - y + z"),
    ("x/(y*z)", "x/(y*z)"),
    ("(x + y)/(x - y)", "(x + y)/(x - y)"),
    ("(x > 0)*y + (x == y)", "y*(x > 0) + (x == y)"),
    ("where(x > 0, x, y) * 2", "2*where(x > 0, x, y)"),
    ("where(x > 0, x, 0) * y", "where(x > 0, x*y, 0)"),
    ("v[0]*M[1, 0]", "M[1,0]*v[0]"),
])
def test_minimal_parentheses(expression: str, printed: str) -> None:
    out = differentiate(expression=expression, operation="derivative", variable="x", order=0,
                        shapes={"v": [2], "M": [2, 2]})["formulas"]
    assert out == printed
    for x in (0.7, -0.7):
        point = {"x": x, "y": 1.3, "z": -0.4, "v": [0.5, 2.0], "M": [[1.0, 2.0], [3.0, 4.0]]}
        assert_close(value(out, point),
                     engine.evaluate(expression=expression, point=point)["value"],
                     ROUND_TRIP_RTOL, out)


@pytest.mark.parametrize(("expression", "latex"), [
    ("log(x)", r"\frac{1}{x}"),
    ("x**1.5", r"\frac{3 \sqrt{x}}{2}"),
    ("atan(x)", r"\frac{1}{x^{2} + 1}"),
    ("exp(-x**2)", r"-2 x e^{-x^{2}}"),
    ("abs(x)**3", r"3 \left|x\right|^{2} \operatorname{sign}\left(x\right)"),
    ("relu(x)", "x > 0"),
    ("where(x > 0, x**2, 0)", r"\begin{cases} 2 x & \text{if } x > 0 \\ 0 & "
                              r"\text{otherwise} \end{cases}"),
    ("max(x, 1)", r"\frac{\left[x = 1\right]}{2} + \left[x > 1\right]"),
    ("sin(pi*x)", r"\pi \cos\left(\pi x\right)"),
    ("cbrt(x)", r"\frac{1}{3 \sqrt[3]{x}^{2}}"),
    ("alpha*x**2", r"2 \alpha x"),
])
def test_latex(expression: str, latex: str) -> None:
    out = differentiate(expression=expression, operation="gradient", variables=["x"])
    assert out["latex"]["x"] == latex


def test_latex_names() -> None:
    assert latex_name("x") == "x"
    assert latex_name("theta") == r"\theta"
    assert latex_name("x1") == "x_{1}"
    assert latex_name("x_2") == "x_{2}"
    assert latex_name("rate") == r"\mathrm{rate}"
    assert latex_name("my_rate") == r"\mathrm{my\_rate}"
    out = differentiate(expression="sum(v*v)", operation="gradient", shapes={"v": [2]})
    assert out["latex"] == {"v": ["2 v_{0}", "2 v_{1}"]}


_LEAVES = st.sampled_from(["x", "y", "2", "0.5", "3", "pi"])
_UNARY = st.sampled_from(["-{}", "sin({})", "exp({})", "sqrt({})", "log({})", "tanh({})",
                          "({})**2", "({})**3", "abs({})"])
_BINARY = st.sampled_from(["{} + {}", "{} - {}", "{} * {}", "{} / {}", "({})**({})",
                           "max({}, {})", "atan2({}, {})", "where({} > {}, x, y)"])


def _expressions() -> st.SearchStrategy[str]:
    return st.recursive(
        _LEAVES,
        lambda inner: st.one_of(
            st.tuples(_UNARY, inner).map(lambda t: t[0].format(t[1])),
            st.tuples(_BINARY, inner, inner).map(lambda t: t[0].format(f"({t[1]})",
                                                                       f"({t[2]})"))),
        max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(_expressions(), st.integers(0, 2))
def test_random_expressions_round_trip(expression: str, order: int) -> None:
    """Whatever the simplifier and printer make of a random expression, it evaluates to the
    engine's numeric derivative wherever that and the function are finite (where the function
    is undefined, e.g. max(x, log(x)) at x < 0, its derivative carries no meaning)."""
    formula = derivative_formula(expression, order)
    for point in ({"x": 0.7, "y": 1.9}, {"x": -1.3, "y": 0.4}):
        answer = engine.derivative(expression=expression, point=point, variable="x",
                                   order=order)
        ref = answer["derivative"]
        if not np.isfinite(answer["value"]) or not np.isfinite(ref) or abs(ref) > 1e12:
            continue
        got = value(formula, point)
        assert abs(got - ref) <= 1e-9 * max(abs(ref), 1.0), (expression, formula, point)


# ---------------------------------------------------------------- against sympy

# expression -> (sympy form, domain of x [, domain of y])
SYMPY_CORPUS: dict[str, tuple[sp.Expr, tuple[float, float]]] = {
    "sin(x)": (sp.sin(X), (-2, 2)),
    "tan(x)": (sp.tan(X), (-1.2, 1.2)),
    "asin(x)": (sp.asin(X), (-0.9, 0.9)),
    "acos(x)": (sp.acos(X), (-0.9, 0.9)),
    "atan(x)": (sp.atan(X), (-2, 2)),
    "sinh(x)": (sp.sinh(X), (-2, 2)),
    "cosh(x)": (sp.cosh(X), (-2, 2)),
    "tanh(x)": (sp.tanh(X), (-2, 2)),
    "asinh(x)": (sp.asinh(X), (-2, 2)),
    "acosh(x)": (sp.acosh(X), (1.2, 4)),
    "atanh(x)": (sp.atanh(X), (-0.9, 0.9)),
    "exp(x)": (sp.exp(X), (-2, 2)),
    "expm1(x)": (sp.exp(X) - 1, (-2, 2)),
    "log(x)": (sp.log(X), (0.2, 4)),
    "log1p(x)": (sp.log(1 + X), (-0.8, 3)),
    "log2(x)": (sp.log(X) / sp.log(2), (0.2, 4)),
    "log10(x)": (sp.log(X) / sp.log(10), (0.2, 4)),
    "sqrt(x)": (sp.sqrt(X), (0.2, 4)),
    "cbrt(x)": (sp.cbrt(X), (0.2, 4)),
    "erf(x)": (sp.erf(X), (-2, 2)),
    "erfc(x)": (sp.erfc(X), (-2, 2)),
    "sigmoid(x)": (sigmoid(X), (-3, 3)),
    "softplus(x)": (sp.log(1 + sp.exp(X)), (-3, 3)),
    "abs(x)": (sp.Abs(X), (0.2, 2)),
    "relu(x)": (sp.Max(X, 0), (-2, 2)),
    "sin(x**3)": (sp.sin(X**3), (-1.5, 1.5)),
    "log(1 + x**2)": (sp.log(1 + X**2), (-2, 2)),
    "tanh(x)/x": (sp.tanh(X) / X, (0.3, 2)),
    "exp(-x**2)*cos(x)": (sp.exp(-X**2) * sp.cos(X), (-2, 2)),
    "x**x": (X**X, (0.3, 2)),
    "atan2(1, x)": (sp.atan2(1, X), (0.3, 2)),
    "hypot(x, 2)": (sp.sqrt(X**2 + 4), (-2, 2)),
    "sqrt(1 + sin(x)**2)": (sp.sqrt(1 + sp.sin(X)**2), (-2, 2)),
    "exp(sin(x))": (sp.exp(sp.sin(X)), (-2, 2)),
    "sigmoid(tanh(x))": (sigmoid(sp.tanh(X)), (-2, 2)),
    "x**3*exp(x)/(1 + x**2)": (X**3 * sp.exp(X) / (1 + X**2), (-2, 2)),
}

BIVARIATE: dict[str, tuple[sp.Expr, tuple[float, float]]] = {
    "exp(sin(x))*y": (sp.exp(sp.sin(X)) * Y, (-2, 2)),
    "atan2(y, x)": (sp.atan2(Y, X), (0.3, 2)),
    "x**y": (X**Y, (0.3, 2)),
    "sqrt(x*y)": (sp.sqrt(X * Y), (0.3, 2)),
    "max(x, y)": (sp.Max(X, Y), (-2, 2)),
    "hypot(x, y)": (sp.sqrt(X**2 + Y**2), (0.3, 2)),
    "x**3*y**2 + sin(x*y)": (X**3 * Y**2 + sp.sin(X * Y), (-2, 2)),
    "(x - y)**2/(1 + x**2)": ((X - Y)**2 / (1 + X**2), (-2, 2)),
    "where(x > y, x*y, x + y)": (sp.Piecewise((X * Y, X > Y), (X + Y, True)), (-2, 2)),
}


@pytest.mark.parametrize("expression", list(SYMPY_CORPUS))
def test_univariate_matches_sympy(expression: str) -> None:
    f, (lo, hi) = SYMPY_CORPUS[expression]
    rng = np.random.default_rng(RNG_SEED)
    points = [{"x": float(rng.uniform(lo, hi))} for _ in range(3)]
    for order in range(1, DEFAULT_LIMITS.max_symbolic_order + 1):
        formula = derivative_formula(expression, order)
        ref_expr = sp.diff(f, X, order)
        for point in points:
            assert_close(value(formula, point), sympy_value(ref_expr, point), SYMPY_RTOL,
                         (expression, order, formula, point))


@pytest.mark.parametrize("expression", list(BIVARIATE))
def test_bivariate_matches_sympy(expression: str) -> None:
    f, (lo, hi) = BIVARIATE[expression]
    rng = np.random.default_rng(RNG_SEED)
    grad = differentiate(expression=expression, operation="gradient",
                         variables=["x", "y"])["formulas"]
    hess = differentiate(expression=expression, operation="hessian",
                         variables=["x", "y"])["formulas"]
    mixed = differentiate(expression=expression, operation="derivative",
                          wrt=["x", "y", "x"])["formulas"]
    for _ in range(3):
        point = {"x": float(rng.uniform(lo, hi)), "y": float(rng.uniform(lo, hi))}
        assert_close(values([grad["x"], grad["y"]], point),
                     [sympy_value(sp.diff(f, v), point) for v in (X, Y)], SYMPY_RTOL,
                     (expression, grad))
        assert_close(values(hess, point),
                     [[sympy_value(sp.diff(f, a, b), point) for b in (X, Y)] for a in (X, Y)],
                     SYMPY_RTOL, (expression, hess))
        assert_close(value(mixed, point), sympy_value(sp.diff(f, X, Y, X), point),
                     SYMPY_RTOL, (expression, mixed))


# ---------------------------------------------------------------- round trip with the engine

_DOMAINS = {"asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "atanh": (-0.9, 0.9), "acosh": (1.2, 4),
            "log": (0.2, 4), "log2": (0.2, 4), "log10": (0.2, 4), "sqrt": (0.2, 4),
            "log1p": (-0.8, 3), "tan": (-1.2, 1.2)}
_TENSOR_FUNCTIONS = {"sum", "prod", "mean", "dot", "norm", "trace", "transpose", "det", "inv"}

ROUND_TRIP: list[tuple[str, tuple[float, float]]] = [
    *[(f"{name}(x)", _DOMAINS.get(name, (-2.0, 2.0)))
      for name, fn in FUNCTIONS.items()
      if fn.arity == 1 and fn.signature is None and name not in _TENSOR_FUNCTIONS],
    ("pow(x, y)", (0.3, 2)), ("atan2(y, x)", (0.3, 2)), ("hypot(x, y)", (-2, 2)),
    ("max(x, y)", (-2, 2)), ("min(x, y)", (-2, 2)), ("where(x > 0, x, -x)", (-2, 2)),
    ("exp(sin(x))*y", (-2, 2)), ("log(1 + x**2)", (-2, 2)), ("x**y", (0.3, 2)),
    ("sqrt(x*y)", (0.3, 2)), ("tanh(x)/x", (0.3, 2)), ("x**x", (0.3, 2)),
    ("sin(x**3)", (-1.5, 1.5)), ("x**3*y**2 + sin(x*y)", (-2, 2)),
    ("sigmoid(tanh(x))*y", (-2, 2)), ("x/y - y/x", (0.3, 2)), ("relu(x*y)**2", (-2, 2)),
    ("abs(x - y)**3", (-2, 2)), ("log2(x) + log10(y)", (0.3, 2)), ("cbrt(x*y)", (0.3, 2)),
    ("2**x*pi", (-2, 2)), ("x**y**2", (0.3, 2)), ("erf(x*y)", (-2, 2)),
    ("where(x > y, x*y, x + y)", (-2, 2)), ("softplus(x - y)*sign(y)", (-2, 2)),
]


@pytest.mark.parametrize(("expression", "domain"), ROUND_TRIP)
def test_round_trip_scalar(expression: str, domain: tuple[float, float]) -> None:
    names = [n for n in ("x", "y") if n in free_names(parse(expression))]
    rng = np.random.default_rng(RNG_SEED)
    top = DEFAULT_LIMITS.max_symbolic_order
    orders = [derivative_formula(expression, k) for k in range(top + 1)]
    grad = differentiate(expression=expression, operation="gradient", variables=names)
    hess = differentiate(expression=expression, operation="hessian", variables=names)
    for _ in range(3):
        point = {n: float(rng.uniform(*domain)) for n in names}
        for k, formula in enumerate(orders):
            ref = engine.derivative(expression=expression, point=point, variable="x",
                                    order=k)["derivative"]
            assert_close(value(formula, point), ref, ROUND_TRIP_RTOL, (expression, k, formula))
        num = engine.hessian(expression=expression, point=point, variables=names)
        assert_close(values([grad["formulas"][n] for n in names], point), num["gradient"],
                     ROUND_TRIP_RTOL, (expression, grad))
        assert_close(values(hess["formulas"], point), num["hessian"], ROUND_TRIP_RTOL,
                     (expression, hess))
        if len(names) == 2:
            mixed = differentiate(expression=expression, operation="derivative",
                                  wrt=["x", "y", "x", "y"])["formulas"]
            ref = engine.derivative(expression=expression, point=point,
                                    wrt=["x", "y", "x", "y"])["derivative"]
            assert_close(value(mixed, point), ref, ROUND_TRIP_RTOL, (expression, mixed))


@dataclass(frozen=True)
class TensorCase:
    expression: str
    variables: dict[str, tuple[int, ...]]
    constants: dict[str, tuple[int, ...]]


TENSOR_CASES = [
    TensorCase("sum(v*v) + prod(v)", {"v": (3,)}, {}),
    TensorCase("mean(exp(v))", {"v": (4,)}, {}),
    TensorCase("dot(v, w)**2", {"v": (3,), "w": (3,)}, {}),
    TensorCase("norm(v)", {"v": (3,)}, {}),
    TensorCase("trace(M @ M)", {"M": (2, 2)}, {}),
    TensorCase("det(M)", {"M": (3, 3)}, {}),
    TensorCase("log(det(M @ M.T))", {"M": (2, 2)}, {}),
    TensorCase("(A @ x).sum()", {"x": (3,)}, {"A": (2, 3)}),
    TensorCase("sum(sin(A @ x))", {"x": (3,)}, {"A": (2, 3)}),
    TensorCase("v[1:3].sum()*v[0] + v[-1]", {"v": (4,)}, {}),
    TensorCase("sum(transpose(M) @ v)", {"M": (2, 2), "v": (2,)}, {}),
]

JACOBIAN_CASES = [
    TensorCase("[v[0]**2, v[0]*v[1], sin(v[1])]", {"v": (2,)}, {}),
    TensorCase("exp(v)/sum(exp(v))", {"v": (3,)}, {}),
    TensorCase("inv(M)", {"M": (2, 2)}, {}),
    TensorCase("A @ sin(x)", {"x": (3,)}, {"A": (2, 3)}),
    TensorCase("[x*y, x/y]", {"x": (), "y": ()}, {}),
]


def _tensor_point(case: TensorCase, rng: np.random.Generator) -> tuple[dict, dict]:
    variables = {k: rng.uniform(0.5, 1.5, s).tolist() for k, s in case.variables.items()}
    constants = {k: rng.uniform(-1, 1, s).tolist() for k, s in case.constants.items()}
    return variables, constants


@pytest.mark.parametrize("case", TENSOR_CASES, ids=lambda c: c.expression)
def test_round_trip_tensors(case: TensorCase) -> None:
    shapes = {k: list(v) for k, v in {**case.variables, **case.constants}.items()}
    names = list(case.variables)
    grad = differentiate(expression=case.expression, operation="gradient", variables=names,
                         shapes=shapes)["formulas"]
    hess = differentiate(expression=case.expression, operation="hessian", variables=names,
                         shapes=shapes)["formulas"]
    rng = np.random.default_rng(RNG_SEED)
    for _ in range(2):
        variables, constants = _tensor_point(case, rng)
        num = engine.hessian(expression=case.expression, point=variables, constants=constants,
                             variables=names)
        at = {**variables, **constants}
        flat = np.concatenate([values(grad[n], at).reshape(-1) for n in names])
        assert_close(flat, num["gradient"], ROUND_TRIP_RTOL, (case, grad))
        assert_close(values(hess, at), num["hessian"], ROUND_TRIP_RTOL, (case, hess))
        for n in names:
            assert np.shape(values(grad[n], at)) == case.variables[n]


@pytest.mark.parametrize("case", JACOBIAN_CASES, ids=lambda c: c.expression)
def test_round_trip_jacobians(case: TensorCase) -> None:
    shapes = {k: list(v) for k, v in {**case.variables, **case.constants}.items()}
    names = list(case.variables)
    jac = differentiate(expression=case.expression, operation="jacobian", variables=names,
                        shapes=shapes)["formulas"]
    rng = np.random.default_rng(RNG_SEED)
    variables, constants = _tensor_point(case, rng)
    num = engine.jacobian(expression=case.expression, point=variables, constants=constants,
                          variables=names)
    assert_close(values(jac, {**variables, **constants}), num["jacobian"], ROUND_TRIP_RTOL,
                 (case, jac))
    shape = case.variables[names[0]]
    entry = names[0] if not shape else f"{names[0]}[{','.join('0' * len(shape))}]"
    deriv = differentiate(expression=case.expression, operation="derivative", wrt=[entry],
                          shapes=shapes)["formulas"]
    ref = engine.derivative(expression=case.expression, point=variables, constants=constants,
                            wrt=[entry])["derivative"]
    assert_close(values(deriv, {**variables, **constants}), ref, ROUND_TRIP_RTOL, deriv)


def test_latex_is_balanced_over_the_corpus() -> None:
    for expression, _ in ROUND_TRIP:
        for k in range(1, 3):
            latex = differentiate(expression=expression, operation="derivative", variable="x",
                                  order=k)["latex"]
            assert latex.count("{") == latex.count("}"), latex
            assert latex.count(r"\left") == latex.count(r"\right"), latex
            assert "**" not in latex and "*" not in latex.replace(r"\cdot", ""), latex


# ---------------------------------------------------------------- the request's shape and errors

def test_variables_default_to_the_expression_names_and_others_stay_symbols() -> None:
    out = differentiate(expression="a*x**2 + b", operation="gradient", variables=["x"])
    assert out["formulas"] == {"x": "2*a*x"}
    out = differentiate(expression="y*x + pi", operation="gradient")
    assert list(out["formulas"]) == ["y", "x"]
    assert out["formulas"] == {"y": "x", "x": "y"}
    out = differentiate(expression="x**2", operation="gradient", variables=["x", "unused"])
    assert out["formulas"] == {"x": "2*x", "unused": "0"}


def test_answer_shapes() -> None:
    grad = differentiate(expression="sum(M*M)", operation="gradient", shapes={"M": [2, 2]})
    assert grad["formulas"] == {"M": [["2*M[0,0]", "2*M[0,1]"], ["2*M[1,0]", "2*M[1,1]"]]}
    hess = differentiate(expression="v[0]*v[1]*x", operation="hessian", variables=["v", "x"],
                         shapes={"v": [2]})["formulas"]
    assert hess == [["0", "x", "v[1]"], ["x", "0", "v[0]"], ["v[1]", "v[0]", "0"]]
    deriv = differentiate(expression="[x**2, x**3]", operation="derivative", variable="x",
                          order=2)
    assert deriv["formulas"] == ["2", "6*x"]
    assert deriv["latex"] == ["2", "6 x"]


def test_order_limit() -> None:
    with pytest.raises(LimitError) as err:
        differentiate(expression="sin(x)", operation="derivative", variable="x",
                      order=DEFAULT_LIMITS.max_symbolic_order + 1)
    assert err.value.limit == "max_symbolic_order" and err.value.value == 4
    with pytest.raises(LimitError):
        differentiate(expression="sin(x*y)", operation="derivative",
                      wrt=["x", "y", "x", "y", "x"])

    with pytest.raises(LimitError) as err:
        differentiate(expression="sin(x)", operation="derivative", variable="x", order=3,
                      limits=Limits(max_symbolic_order=2))
    assert err.value.value == 2


@pytest.mark.parametrize(("request_", "error"), [
    ({"expression": "[x, x]", "operation": "gradient"}, NonScalarError),
    ({"expression": "[x, x]", "operation": "hessian"}, NonScalarError),
    ({"expression": "x", "operation": "taylor"}, InputError),
    ({"expression": 3, "operation": "gradient"}, InputError),
    ({"expression": "2*x +", "operation": "gradient"}, ExpressionError),
    ({"expression": "x", "operation": "gradient", "shapes": {"x": "3"}}, InputError),
    ({"expression": "x", "operation": "gradient", "variables": "x"}, InputError),
    ({"expression": "x", "operation": "gradient", "variables": ["x", "x"]}, InputError),
    ({"expression": "x", "operation": "gradient", "variables": ["x y"]}, InputError),
    ({"expression": "x", "operation": "derivative"}, InputError),
    ({"expression": "x", "operation": "derivative", "variable": "x"}, InputError),
    ({"expression": "x", "operation": "derivative", "variable": "x", "order": -1}, InputError),
    ({"expression": "x", "operation": "derivative", "variable": "x", "order": True},
     InputError),
    ({"expression": "x", "operation": "derivative", "wrt": "x"}, InputError),
    ({"expression": "x", "operation": "derivative", "wrt": []}, InputError),
    ({"expression": "x", "operation": "derivative", "variable": 3, "order": 1}, InputError),
    ({"expression": "sum(v)", "operation": "derivative", "wrt": ["v[5]"],
      "shapes": {"v": [2]}}, InputError),
    ({"expression": "det(M)", "operation": "gradient", "shapes": {"M": [5, 5]}}, InputError),
    ({"expression": "sin", "operation": "gradient"}, engine.errors.UnknownNameError),
    ({"expression": "2", "operation": "gradient"}, InputError),
])
def test_errors(request_: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        differentiate(**request_)


def test_huge_formulas_hit_a_limit_quickly() -> None:
    start = time.perf_counter()
    with pytest.raises(LimitError) as err:
        differentiate(expression="sin(" * 60 + "x" + ")" * 60, operation="derivative",
                      variable="x", order=3)
    assert err.value.limit == "max_formula_nodes"
    assert time.perf_counter() - start < 20


def test_deep_and_long_expressions_do_not_recurse() -> None:
    deep = "sin(" * 150 + "x" + ")" * 150
    out = differentiate(expression=deep, operation="gradient")["formulas"]["x"]
    assert out.count("cos(") == 150
    long_sum = " + ".join(f"x{i}*x{i + 1}" for i in range(700))
    start = time.perf_counter()
    out = differentiate(expression=long_sum, operation="gradient", variables=["x500"])
    assert out["formulas"] == {"x500": "x499 + x501"}
    assert differentiate(expression="+".join(["x"] * 3000),
                         operation="gradient")["formulas"] == {"x": "3000"}
    assert time.perf_counter() - start < 10


# ---------------------------------------------------------------- size

SIZE_CORPUS = SYMPY_CORPUS
_MASKED = {"x**x"}


def size_table() -> list[tuple[str, int, int, int, int, int]]:
    """(function, order, our nodes, our ops, sympy nodes, sympy count_ops) for orders 1–4."""
    rows = []
    for expression, (f, _) in SIZE_CORPUS.items():
        for order in range(1, DEFAULT_LIMITS.max_symbolic_order + 1):
            formula = derivative_formula(expression, order)
            ref = sp.diff(f, X, order)
            ours = tree_nodes(formula)
            leaves = len(definitions(formula)) + sum(1 for e in _walk(formula)
                                                     if not sub_expressions(e))
            rows.append((expression, order, ours, ours - leaves, sympy_nodes(ref),
                         int(sp.count_ops(ref))))
    return rows


def test_size_bound() -> None:
    rows = size_table()
    for expression, order, ours, _, theirs, _ in rows:
        assert ours <= 2 * theirs + 12, (expression, order, ours, theirs)
    assert sum(r[2] for r in rows) <= 0.8 * sum(r[4] for r in rows)
    masked = [r for r in rows if r[0] in _MASKED]
    assert sum(r[2] for r in masked) <= 1.5 * sum(r[4] for r in masked)


# Expressions whose derivatives name shared pieces, besides the size table's.
NAMED: dict[str, tuple[sp.Expr, tuple[float, float]]] = {
    "(x**x)**x": ((X**X)**X, (0.3, 2)),
    "x**(x + 1)*log(x)**2": (X**(X + 1) * sp.log(X)**2, (0.3, 2)),
    "sin(x)**3*cos(x)**2/(2 + sin(x))": (sp.sin(X)**3 * sp.cos(X)**2 / (2 + sp.sin(X)), (-2, 2)),
    "sigmoid(sigmoid(x))": (sigmoid(sigmoid(X)), (-3, 3)),
    "exp(-x**2/2)/sqrt(1 + x**2)": (sp.exp(-X**2 / 2) / sp.sqrt(1 + X**2), (-2, 2)),
}


def test_named_formulas_match_sympy() -> None:
    """Every formula with definitions parses as a block and evaluates, through our parser and
    the engine, to sympy's derivative at random points."""
    rng = np.random.default_rng(RNG_SEED)
    named = 0
    for expression, (f, (lo, hi)) in {**SIZE_CORPUS, **NAMED}.items():
        for order in range(1, DEFAULT_LIMITS.max_symbolic_order + 1):
            formula = derivative_formula(expression, order)
            defined = definitions(formula)
            if not defined:
                continue
            named += 1
            assert [d.name for d in defined] == [f"u{i}" for i in range(1, len(defined) + 1)]
            ref = sp.diff(f, X, order)
            for _ in range(3):
                point = {"x": float(rng.uniform(lo, hi))}
                assert_close(value(formula, point), sympy_value(ref, point), SYMPY_RTOL,
                             (expression, order, formula, point))
    assert named >= 40


def test_shared_names_do_not_clash() -> None:
    """Definitions take a stem no symbol of the request resembles; each formula of a Hessian
    carries its own definitions; the LaTeX lists them under "where"."""
    u1, u = sp.symbols("u1 u", real=True)
    f = sigmoid(sp.tanh(u1 * X + u))
    out = differentiate(expression="sigmoid(tanh(u1*x + u))", operation="derivative",
                        variable="x", order=3)
    formula = out["formulas"]
    names = [d.name for d in definitions(formula)]
    assert names and all(n.startswith("w") and n[1:].isdigit() for n in names), formula
    assert out["latex"].count("&=") == len(names)
    assert r"\quad \text{where} \quad \begin{aligned} w_{1} &= " in out["latex"]
    rng = np.random.default_rng(RNG_SEED)
    for _ in range(3):
        point = {"x": float(rng.uniform(-1, 1)), "u1": float(rng.uniform(-1, 1)),
                 "u": float(rng.uniform(-1, 1))}
        ref = sp.diff(f, X, 3).subs({u1: sp.Float(point["u1"], 30), u: sp.Float(point["u"], 30)})
        assert_close(value(formula, point), sympy_value(ref, {"x": point["x"]}), SYMPY_RTOL,
                     (formula, point))
    hess = differentiate(expression="sigmoid(tanh(x*y))", operation="hessian")["formulas"]
    g = sigmoid(sp.tanh(X * Y))
    point = {"x": 0.4, "y": -0.7}
    for i, a in enumerate((X, Y)):
        for j, b in enumerate((X, Y)):
            assert_close(value(hess[i][j], point), sympy_value(sp.diff(g, a, b), point),
                         SYMPY_RTOL, hess[i][j])
    assert any(definitions(entry) for row in hess for entry in row)


if __name__ == "__main__":
    print("| function | order | our nodes | our ops | sympy nodes | sympy count_ops |")
    print("|---|---|---|---|---|---|")
    for row in size_table():
        print("| `{}` | {} | {} | {} | {} | {} |".format(*row))
    total = [sum(r[i] for r in size_table()) for i in (2, 3, 4, 5)]
    print(f"| total | | {total[0]} | {total[1]} | {total[2]} | {total[3]} |")
    print(math.nan if not total[2] else f"ratio {total[0] / total[2]:.2f}")
