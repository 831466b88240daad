"""The expression parser: exact trees, columns of every error, limits, and random input."""

from __future__ import annotations

import ast
import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ExpressionError, LimitError
from engine.language.lexer import END, NAME, NUM, OP, tokenize
from engine.language.parser import parse
from engine.language.syntax import Binary, Call, Expr, Index, ListLit, Name, Num, Slice, Unary
from engine.limits import Limits

BIG = Limits(max_expression_length=10**7)

QUICK_SECONDS = 2.0
"""A guard against super-linear blow-ups, not a benchmark: generous for a loaded CI machine."""


def sexp(node: Expr | Slice | None) -> str:
    """A column-free rendering: ``(op a b)`` for operators, ``f(a, b)``, ``v[i]``, ``[a, b]``."""
    match node:
        case None:
            return ""
        case Num(value=value):
            return f"{value:g}"
        case Name(name=name):
            return name
        case Unary(op=op, operand=operand):
            return f"({op} {sexp(operand)})"
        case Binary(op=op, left=left, right=right):
            return f"({op} {sexp(left)} {sexp(right)})"
        case Call(func=func, args=args):
            return f"{func}({', '.join(sexp(a) for a in args)})"
        case ListLit(items=items):
            return f"[{', '.join(sexp(i) for i in items)}]"
        case Index(target=target, items=items):
            return f"{sexp(target)}[{', '.join(sexp(i) for i in items)}]"
        case Slice(start=start, stop=stop, step=step):
            return f"{sexp(start)}:{sexp(stop)}" + ("" if step is None else f":{sexp(step)}")
    raise AssertionError(node)


def nesting(node: Expr | Slice | None) -> int:
    """The least nesting depth of a text parsing to ``node`` (the whole expression is 1).

    Left operands, indexed targets and method receivers stand at the depth of their node; right
    and unary operands, list entries, indices and other call arguments one level deeper. The
    tree keeps no parentheses and no sign of which calls were methods, so this is a lower bound
    on the depth of the text the node came from.
    """
    match node:
        case None | Num() | Name():
            return 0 if node is None else 1
        case Unary(operand=operand):
            return 1 + nesting(operand)
        case Binary(left=left, right=right):
            return max(nesting(left), 1 + nesting(right))
        case Call(args=()):
            return 1
        case Call(args=(receiver, *args)):
            return max(nesting(receiver), 1 + max(map(nesting, args), default=0))
        case ListLit(items=items):
            return 1 + max(map(nesting, items))
        case Index(target=target, items=items):
            return max(nesting(target), 1 + max(map(nesting, items)))
        case Slice(start=start, stop=stop, step=step):
            return max(nesting(start), nesting(stop), nesting(step))
    raise AssertionError(node)


def error(expression: str, limits: Limits = BIG) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        parse(expression, limits)
    return info.value


# -- precedence and associativity -----------------------------------------------------------


@pytest.mark.parametrize(("expression", "tree"), [
    ("1 + 2 * 3", "(+ 1 (* 2 3))"),
    ("1 * 2 + 3", "(+ (* 1 2) 3)"),
    ("a - b - c", "(- (- a b) c)"),
    ("a / b / c", "(/ (/ a b) c)"),
    ("a @ b @ c", "(@ (@ a b) c)"),
    ("a * b / c @ d", "(@ (/ (* a b) c) d)"),
    ("a - b + c", "(+ (- a b) c)"),
    ("(a + b) * c", "(* (+ a b) c)"),
    ("2 ** 3 ** 4", "(** 2 (** 3 4))"),
    ("2 ^ 3 ^ 4", "(** 2 (** 3 4))"),
    ("2 ^ 3 ** 4", "(** 2 (** 3 4))"),
    ("(2 ** 3) ** 4", "(** (** 2 3) 4)"),
    ("-x**2", "(- (** x 2))"),
    ("-x^2", "(- (** x 2))"),
    ("x**-2", "(** x (- 2))"),
    ("x**-y**2", "(** x (- (** y 2)))"),
    ("x**-2*3", "(* (** x (- 2)) 3)"),
    ("-x*y", "(* (- x) y)"),
    ("a*-b", "(* a (- b))"),
    ("a - -b", "(- a (- b))"),
    ("--x", "(- (- x))"),
    ("+-x", "(+ (- x))"),
    ("2*x**2", "(* 2 (** x 2))"),
    ("a < b + 1", "(< a (+ b 1))"),
    ("a + b == c * d", "(== (+ a b) (* c d))"),
    ("-a < -b", "(< (- a) (- b))"),
    ("(a < b) < c", "(< (< a b) c)"),
    ("-v[0]", "(- v[0])"),
    ("x**v[1]", "(** x v[1])"),
    ("2**M.T", "(** 2 transpose(M))"),
    ("-M.T", "(- transpose(M))"),
    ("-f(x)**2", "(- (** f(x) 2))"),
    ("A @ x + b", "(+ (@ A x) b)"),
    ("x**3 * y**2 + sin(x*y)", "(+ (* (** x 3) (** y 2)) sin((* x y)))"),
])
def test_precedence_and_associativity(expression: str, tree: str) -> None:
    assert sexp(parse(expression)) == tree


def test_exact_trees_with_columns() -> None:
    assert parse("-x**2") == Unary("-", Binary("**", Name("x", 2), Num(2.0, 5), 3), 1)
    assert parse("x**-2") == Binary("**", Name("x", 1), Unary("-", Num(2.0, 5), 4), 2)
    assert parse("a + b*c") == Binary("+", Name("a", 1),
                                      Binary("*", Name("b", 5), Name("c", 7), 6), 3)
    assert parse("x ^ y") == Binary("**", Name("x", 1), Name("y", 5), 3)
    assert parse("(x)") == Name("x", 2)


def test_whitespace_between_tokens() -> None:
    assert parse("x\t+\n y\r\n*2") == Binary("+", Name("x", 1),
                                             Binary("*", Name("y", 6), Num(2.0, 10), 9), 3)


# -- literals and names ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("2", 2.0), ("2.5", 2.5), (".5", 0.5), ("1e-3", 1e-3), ("6.02E23", 6.02e23), ("5.", 5.0),
    ("1E+2", 100.0), ("1.e5", 1e5), ("0", 0.0), ("007", 7.0),
    ("12345678901234567890", 1.2345678901234567e19),
])
def test_numbers(text: str, value: float) -> None:
    assert parse(text) == Num(value, 1)
    assert parse(f" ({text})") == Num(value, 3)


@pytest.mark.parametrize("name", ["x", "alpha", "x_1", "_t", "Theta2", "lambda", "e", "pi"])
def test_multi_letter_names_are_one_name(name: str) -> None:
    assert parse(name) == Name(name, 1)


def test_tokens_carry_kind_text_and_column() -> None:
    tokens = tokenize("f(x_1, .5)**2")
    assert [(t.kind, t.text, t.col) for t in tokens] == [
        (NAME, "f", 1), (OP, "(", 2), (NAME, "x_1", 3), (OP, ",", 6), (NUM, ".5", 8),
        (OP, ")", 10), (OP, "**", 11), (NUM, "2", 13), (END, "", 14)]


# -- module prefixes, method sugar, .T -------------------------------------------------------


@pytest.mark.parametrize(("expression", "node"), [
    ("np.sin(x)", Call("sin", (Name("x", 8),), 1)),
    ("numpy.exp(x)", Call("exp", (Name("x", 11),), 1)),
    ("torch.sin(x)", Call("sin", (Name("x", 11),), 1)),
    ("math.log(x)", Call("log", (Name("x", 10),), 1)),
    ("jnp.tanh(x)", Call("tanh", (Name("x", 10),), 1)),
    ("math.pi", Name("pi", 1)),
    ("y + np.e", Binary("+", Name("y", 1), Name("e", 5), 3)),
    ("np.linalg.det(M)", Call("det", (Name("M", 15),), 1)),
    ("torch.linalg.norm(v)", Call("norm", (Name("v", 19),), 1)),
    ("numpy . sin (x)", Call("sin", (Name("x", 14),), 1)),
    ("np + 1", Binary("+", Name("np", 1), Num(1.0, 6), 4)),
    ("math.linalg", Name("linalg", 1)),
])
def test_module_prefixes_are_dropped(expression: str, node: Expr) -> None:
    assert parse(expression) == node


@pytest.mark.parametrize(("expression", "column", "expected"), [
    ("np.", 4, "a function or constant name after 'np.'"),
    ("np.(x)", 4, "a function or constant name after 'np.'"),
    ("1 + math.(2)", 10, "a function or constant name after 'math.'"),
    ("np.linalg", 10, "'.' and a function name after 'np.linalg'"),
    ("np.linalg(x)", 10, "'.' and a function name after 'np.linalg'"),
    ("np.linalg.(M)", 11, "a function or constant name after 'np.linalg.'"),
])
def test_module_prefix_without_a_name(expression: str, column: int, expected: str) -> None:
    err = error(expression)
    assert (err.column, err.expected) == (column, expected)


def test_method_sugar_and_transpose() -> None:
    A, x = Name("A", 2), Name("x", 6)
    assert parse("(A @ x).sum()") == Call("sum", (Binary("@", A, x, 4),), 9)
    assert parse("v.mean()") == Call("mean", (Name("v", 1),), 3)
    assert parse("a.dot(b)") == Call("dot", (Name("a", 1), Name("b", 7)), 3)
    assert parse("M.T") == Call("transpose", (Name("M", 1),), 3)
    assert sexp(parse("M.T.T")) == "transpose(transpose(M))"
    assert sexp(parse("v[0].sum()")) == "sum(v[0])"
    assert sexp(parse("x.pow(2).T")) == "transpose(pow(x, 2))"
    assert sexp(parse("[1, 2].sum()")) == "sum([1, 2])"
    assert sexp(parse("np.sin(x).sum()")) == "sum(sin(x))"


@pytest.mark.parametrize(("expression", "column"), [
    ("x.foo", 3), ("x.__class__", 3), ("x.sum", 3), ("(a + b).shape + 1", 9), ("M.t", 3),
])
def test_attribute_access_is_rejected(expression: str, column: int) -> None:
    err = error(expression)
    assert err.column == column
    assert err.message == ("attribute access is not supported "
                           "(only .T and method calls such as .sum())")
    assert "'T' or a method call" in err.expected


@pytest.mark.parametrize(("expression", "column"), [("x.", 3), ("x.(1)", 3), ("x..T", 3)])
def test_dot_without_a_name(expression: str, column: int) -> None:
    err = error(expression)
    assert (err.column, err.expected) == (column, "a method name or 'T' after '.'")


# -- calls, lists, indexing -----------------------------------------------------------------


def test_calls() -> None:
    assert parse("f(a, b)") == Call("f", (Name("a", 3), Name("b", 6)), 1)
    assert parse("f()") == Call("f", (), 1)
    assert parse("x(2)") == Call("x", (Num(2.0, 3),), 1)
    assert sexp(parse("where(x < 0, -x, x)")) == "where((< x 0), (- x), x)"
    assert sexp(parse("sin(cos(x) + 1)")) == "sin((+ cos(x) 1))"


def test_lists() -> None:
    assert parse("[a, b]") == ListLit((Name("a", 2), Name("b", 5)), 1)
    assert sexp(parse("[[1, 2], [3, 4]]")) == "[[1, 2], [3, 4]]"
    assert sexp(parse("[v[0]**2, v[0]*v[1], sin(v[1])]")) == \
        "[(** v[0] 2), (* v[0] v[1]), sin(v[1])]"
    assert sexp(parse("[1, 2][0]")) == "[1, 2][0]"


def test_indexing_nodes() -> None:
    v, M = Name("v", 1), Name("M", 1)
    assert parse("v[0]") == Index(v, (Num(0.0, 3),), 2)
    assert parse("v[-1]") == Index(v, (Unary("-", Num(1.0, 4), 3),), 2)
    assert parse("M[1, 2]") == Index(M, (Num(1.0, 3), Num(2.0, 6)), 2)
    assert parse("M[1][2]") == Index(Index(M, (Num(1.0, 3),), 2), (Num(2.0, 6),), 5)
    assert parse("v[1:3]") == Index(v, (Slice(Num(1.0, 3), Num(3.0, 5), None, 3),), 2)
    assert parse("M[:, 0]") == Index(M, (Slice(None, None, None, 3), Num(0.0, 6)), 2)
    assert parse("v[::2]") == Index(v, (Slice(None, None, Num(2.0, 5), 3),), 2)


@pytest.mark.parametrize(("expression", "tree"), [
    ("v[:-1]", "v[:(- 1)]"),
    ("v[1:]", "v[1:]"),
    ("v[:]", "v[:]"),
    ("v[::]", "v[:]"),
    ("v[1:2:3]", "v[1:2:3]"),
    ("v[:, ::-1]", "v[:, ::(- 1)]"),
    ("M[0, 1:]", "M[0, 1:]"),
    ("v[n - 1]", "v[(- n 1)]"),
    ("(a + b)[0]", "(+ a b)[0]"),
    ("f(x)[0]", "f(x)[0]"),
])
def test_indexing_and_slices(expression: str, tree: str) -> None:
    assert sexp(parse(expression)) == tree


# -- comparisons ----------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_comparisons(op: str) -> None:
    assert parse(f"a {op} b") == Binary(op, Name("a", 1), Name("b", 4 + len(op)), 3)


@pytest.mark.parametrize(("expression", "column"), [
    ("a < b < c", 7), ("a == b != c", 8), ("a < b + 1 < c", 11), ("f(a <= b >= c)", 10),
])
def test_chained_comparisons_are_rejected(expression: str, column: int) -> None:
    err = error(expression)
    assert err.column == column
    assert err.message.startswith("comparisons cannot be chained")


# -- errors and their columns ---------------------------------------------------------------


@pytest.mark.parametrize(("expression", "column", "suggestion"), [
    ("2x", 2, "2*x"),
    ("3sin(x)", 2, "3*sin(x)"),
    ("x y", 3, "x*y"),
    ("x 2", 3, "x*2"),
    ("(a)(b)", 4, "(a)*(b)"),
    ("2 (x + 1)", 3, "2*(x + 1)"),
    ("a + 2x", 6, "2*x"),
    ("-2x", 3, "2*x"),
    ("sin(x) cos(x)", 8, "sin(x)*cos(x)"),
    ("x**2 y", 6, "2*y"),
    ("f(x)(y)", 5, "f(x)*(y)"),
    ("M.T(x)", 4, "M.T*(x)"),
    ("1e3x", 4, "1e3*x"),
    ("2exp(x)", 2, "2*exp(x)"),
    ("f(1, 2pi)", 7, "2*pi"),
    ("x.sum() y", 9, "x.sum()*y"),
])
def test_implicit_multiplication_suggests_the_fix(expression: str, column: int,
                                                  suggestion: str) -> None:
    err = error(expression)
    assert err.column == column
    assert err.message == f"implicit multiplication is not supported (write '{suggestion}')"
    assert err.expected == "an operator such as '*'"


def test_implicit_multiplication_quotes_long_operands_shortened() -> None:
    left = "(" + " + ".join(["x"] * 20) + ")"
    err = error(f"{left}({left})")
    assert err.column == len(left) + 1
    assert "(write '...+ x + x + x + x + x + x)*((x + x + x + x + x + x...')" in err.message


@pytest.mark.parametrize(("expression", "column", "message", "expected"), [
    ("", 1, "empty expression", "an expression"),
    (" \t\n", 1, "empty expression", "an expression"),
    ("1e", 3, "malformed number '1e': the exponent has no digits (for a product with the "
     "constant e, write '1*e')", "the exponent's digits"),
    ("x + 1e+", 8, "malformed number '1e+': the exponent has no digits", "the exponent's digits"),
    ("1E-)", 4, "malformed number '1E-': the exponent has no digits", "the exponent's digits"),
    ("1.2.3", 4, "malformed number: a second '.' after '1.2'", "an operator"),
    ("x +", 4, "unexpected end of the expression", "an expression"),
    ("-", 2, "unexpected end of the expression", "an expression"),
    ("x ** ", 6, "unexpected end of the expression", "an expression"),
    ("* x", 1, "unexpected '*'", "an expression"),
    ("x + * y", 5, "unexpected '*'", "an expression"),
    ("()", 2, "unexpected ')'", "an expression"),
    ("f(,)", 3, "unexpected ','", "an expression"),
    ("f(a,)", 5, "trailing comma is not allowed", "an argument"),
    ("[1,]", 4, "trailing comma is not allowed", "a list entry"),
    ("v[0,]", 5, "trailing comma is not allowed", "an index"),
    ("[]", 2, "empty lists are not supported", "a list entry"),
    ("v[]", 3, "empty index", "an index"),
    ("[1:2]", 3, "unexpected ':'", "',' or ']' to close the '[' from column 1"),
    ("v[1:2:3:4]", 8, "unexpected ':'", "',' or ']' to close the '[' from column 2"),
    ("v[1:", 5, "unexpected end of the expression", "an expression"),
    ("x if y else z", 3, "'if' is not supported (for a condition use where(condition, a, b))",
     "an operator"),
    ("a and b", 3, "'and' is not supported (for a condition use where(condition, a, b))",
     "an operator"),
])
def test_error_columns(expression: str, column: int, message: str, expected: str) -> None:
    err = error(expression)
    assert (err.column, err.message, err.expected) == (column, message, expected)
    assert f"; expected {expected} at column {column}:" in err.detail
    assert err.problem()["errors"][0]["column"] == column


@pytest.mark.parametrize(("expression", "column", "expected"), [
    ("(a", 3, "')' to close the '(' from column 1"),
    ("((a)", 5, "')' to close the '(' from column 1"),
    ("(a]", 3, "')' to close the '(' from column 1"),
    ("(a, b)", 3, "')' to close the '(' from column 1"),
    ("f(x", 4, "',' or ')' to close the '(' from column 2"),
    ("f(x]", 4, "',' or ')' to close the '(' from column 2"),
    ("[1, 2)", 6, "',' or ']' to close the '[' from column 1"),
    ("[[1, 2], [3, 4]", 16, "',' or ']' to close the '[' from column 1"),
    ("v[0", 4, "',' or ']' to close the '[' from column 2"),
    ("x.sum(", 7, "an expression"),
    ("a)", 2, "an operator or the end of the expression"),
    ("sin(x))", 7, "an operator or the end of the expression"),
    ("x]", 2, "an operator or the end of the expression"),
    ("x, y", 2, "an operator or the end of the expression"),
    ("x : y", 3, "an operator or the end of the expression"),
])
def test_unbalanced_brackets(expression: str, column: int, expected: str) -> None:
    err = error(expression)
    assert (err.column, err.expected) == (column, expected)


def test_unmatched_closer_is_named() -> None:
    assert error("sin(x))").message == "unmatched ')'"
    assert error("(a, b)").message == "unexpected ','"
    assert error("(a").message == "unexpected end of the expression"


@pytest.mark.parametrize("char", [
    "$", ";", "!", "%", "&", "|", "~", "#", "?", "`", "'", '"', "{", "}", "\\",
    "\x00", "\x07", "\x0b", "\x7f", "é", "×", "−", "π", "²", "\u2028", "😀",
])
def test_unknown_characters(char: str) -> None:
    err = error(f"x + 1 {char} 2")
    assert err.column == 7
    assert err.message.startswith(f"unexpected character {char!r}")
    assert err.expected == "an operator"
    err = error(f"{char}x")
    assert (err.column, err.expected) == (1, "an expression")


def test_unknown_characters_give_hints() -> None:
    assert error("x = 2").message == ("unexpected '=' (use '==' to compare; '=' names a "
                                      "keyword argument such as axis=0)")
    assert error("x ! y").message == "unexpected character '!' (use '!=' for 'not equal')"
    assert error("2 × x").message == "unexpected character '×' (use '*')"
    assert error("\x00").message == "unexpected character '\\x00'"


# -- limits ---------------------------------------------------------------------------------


def test_length_limit_is_checked_before_tokenizing() -> None:
    limits = Limits(max_expression_length=5)
    assert sexp(parse("x+y+z", limits)) == "(+ (+ x y) z)"
    with pytest.raises(LimitError) as info:
        parse("$$$$$$", limits)
    err = info.value
    assert (err.limit, err.value, err.actual, err.status) == ("max_expression_length", 5, 6, 422)
    assert err.detail == ("the expression's length is over the limit "
                          "max_expression_length = 5 (this request: 6)")


@pytest.mark.parametrize(("expression", "column"), [
    ("(((x)))", 4), ("---x", 4), ("x**y**z**w", 8), ("f(g(h(x)))", 7), ("[[[1]]]", 4),
    ("-(x + y)", 5), ("v[w[u[0]]]", 6), ("x.f(y.f(z.f(w)))", 13), ("x+(y+z)", 5),
])
def test_depth_limit_at_the_boundary(expression: str, column: int) -> None:
    limits = Limits(max_depth=3)
    for shallower in ("((x))", "--x", "x**y**z", "f(g(x))", "[[1]]", "-(x)", "v[w[0]]",
                      "v[1:w[0]]", "x.f(y.f(z))", "x+(y)"):
        parse(shallower, limits)
    with pytest.raises(LimitError) as info:
        parse(expression, limits)
    err = info.value
    assert (err.limit, err.value, err.column) == ("max_depth", 3, column)
    assert err.detail == "the expression's nesting depth is over the limit max_depth = 3"


@pytest.mark.parametrize(("expression", "tree"), [
    ("x+y+z+w", "(+ (+ (+ x y) z) w)"),
    ("a*b/c@d-e+f", "(+ (- (@ (/ (* a b) c) d) e) f)"),
    ("v[0][0][0]", "v[0][0][0]"),
    ("x.T.T.T", "transpose(transpose(transpose(x)))"),
    ("x.sum().sum().sum()", "sum(sum(sum(x)))"),
    ("v[0].T[1].sum()[2]", "sum(transpose(v[0])[1])[2]"),
    ("-(x)+y+z+w", "(+ (+ (+ (- x) y) z) w)"),
    ("f(v[0][0][0], x.T.T.T)", "f(v[0][0][0], transpose(transpose(transpose(x))))"),
    ("x**2+y**2+z**2+w**2", "(+ (+ (+ (** x 2) (** y 2)) (** z 2)) (** w 2))"),
])
def test_chains_are_not_nesting(expression: str, tree: str) -> None:
    """Left-associative and postfix chains stand at one depth however long they are."""
    assert sexp(parse(expression, Limits(max_depth=3))) == tree


@pytest.mark.parametrize(("expression", "depth"), [
    ("x", 1), ("(x)", 2), ("-(x + 1)", 4), ("x ** y ** z", 3), ("(x ** y) ** z", 3),
    ("x + y + z + w", 2), ("x - (y - z)", 4), ("v[0][0][0]", 2), ("M.T.T.T", 1),
    ("x.sum().sum()", 1), ("f()", 1), ("f(x)", 2), ("x.dot(y)", 2), ("f(g(x))", 3),
    ("[[1]]", 3), ("v[:]", 2), ("v[1:w[0]]", 3), ("-x**2", 3), ("x**-2", 3),
])
def test_depth_is_nesting_of_recursive_constructs(expression: str, depth: int) -> None:
    parse(expression, Limits(max_depth=depth))
    with pytest.raises(LimitError):
        parse(expression, Limits(max_depth=depth - 1))


def left_spine(node: Expr, kind: type[Binary] | type[Index]) -> tuple[int, Expr]:
    """How many ``kind`` nodes lead down the left (or target) side, and the node below them;
    a loop, since these trees are far deeper than Python's recursion limit."""
    links = 0
    while isinstance(node, kind):
        node = node.left if isinstance(node, Binary) else node.target
        links += 1
    return links, node


def test_long_chains_parse_within_the_default_depth_quickly() -> None:
    # Only the length limit is raised (these are 15,001 and 19,999 characters long);
    # max_depth stays at its default.
    assert BIG.max_depth == Limits().max_depth
    start = time.perf_counter()
    polynomial = parse("+".join(["x"] * 10_000), BIG)
    indexed = parse("v" + "[0]" * 5_000, BIG)
    assert time.perf_counter() - start < QUICK_SECONDS
    assert left_spine(polynomial, Binary) == (9_999, Name("x", 1))
    assert polynomial == Binary("+", polynomial.left, Name("x", 19_999), 19_998)
    assert left_spine(indexed, Index) == (5_000, Name("v", 1))
    assert indexed.items == (Num(0.0, 15_000),)


CHAINS = {
    "long sum": "+".join(["x"] * 10**4),
    "long product": "*".join(["x"] * 10**4),
    "index chain": "v" + "[0]" * 10**4,
    "transpose chain": "M" + ".T" * 10**4,
    "method chain": "x" + ".sum()" * 10**4,
}


@pytest.mark.parametrize("name", CHAINS)
def test_very_long_chains_parse_quickly(name: str) -> None:
    start = time.perf_counter()
    parse(CHAINS[name], BIG)
    assert time.perf_counter() - start < QUICK_SECONDS


DEEP = {
    "parentheses": "(" * 10**5 + "x" + ")" * 10**5,
    "unary minus": "-" * 10**5 + "x",
    "power tower": "**".join(["x"] * 10**4),
    "nested calls": "sin(" * 10**4 + "x" + ")" * 10**4,
    "nested lists": "[" * 10**4 + "1" + "]" * 10**4,
    "nested indices": "v[" * 10**4 + "0" + "]" * 10**4,
    "nested method calls": "x" + ".dot(x" * 10**4 + ")" * 10**4,
    "right-nested sum": "x+(" * 10**4 + "x" + ")" * 10**4,
}


@pytest.mark.parametrize("name", DEEP)
def test_deep_nesting_raises_limit_error_quickly(name: str) -> None:
    start = time.perf_counter()
    with pytest.raises(LimitError) as info:
        parse(DEEP[name], BIG)
    assert time.perf_counter() - start < QUICK_SECONDS
    assert info.value.limit == "max_depth"
    assert info.value.column is not None


def test_depth_beyond_the_interpreter_stack_is_still_a_limit_error() -> None:
    limits = Limits(max_expression_length=10**7, max_depth=10**7)
    with pytest.raises(LimitError) as info:
        parse(DEEP["parentheses"], limits)
    assert info.value.limit == "max_depth"


# -- random input ---------------------------------------------------------------------------

SMALL_DEPTH = Limits(max_depth=6)


def check_parse_or_error(expression: str, limits: Limits) -> None:
    """Parsing either succeeds with a tree nested within the limits or raises one of our
    errors."""
    try:
        tree = parse(expression, limits)
    except ExpressionError as err:
        assert 1 <= err.column <= len(expression) + 1
        assert err.expected
    except LimitError as err:
        assert err.limit == "max_depth"
        assert 1 <= err.column <= len(expression) + 1
    else:
        assert 1 <= nesting(tree) <= limits.max_depth


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40))
def test_random_printable_ascii(expression: str) -> None:
    check_parse_or_error(expression, SMALL_DEPTH)


TOKEN_SOUP = st.lists(st.sampled_from([
    "x", "v", "2", ".5", "1e3", "1e", "(", ")", "[", "]", ",", ":", "+", "-", "*", "**", "^",
    "/", "@", "<", "==", ".", "T", "sum", "np", "linalg", " ", "$",
]), max_size=30).map("".join)


@settings(max_examples=1000, deadline=None)
@given(TOKEN_SOUP)
def test_random_token_soup(expression: str) -> None:
    check_parse_or_error(expression, SMALL_DEPTH)


# Differential test: Python parses arithmetic the same way, so its own
# parser, used here only on generated test text, is an oracle for precedence and columns.

_PY_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.MatMult: "@",
           ast.Pow: "**", ast.USub: "-", ast.UAdd: "+", ast.Lt: "<", ast.GtE: ">=",
           ast.NotEq: "!="}


def py_sexp(node: ast.AST) -> str:
    """Python's tree in :func:`sexp` form, with leaf columns like :func:`located`."""
    match node:
        case ast.Constant(value=value):
            return f"{float(value):g}@{node.col_offset + 1}"
        case ast.Name(id=name):
            return f"{name}@{node.col_offset + 1}"
        case ast.UnaryOp(op=op, operand=operand):
            return f"({_PY_OPS[type(op)]} {py_sexp(operand)})"
        case ast.BinOp(left=left, op=op, right=right):
            return f"({_PY_OPS[type(op)]} {py_sexp(left)} {py_sexp(right)})"
        case ast.Compare(left=left, ops=[op], comparators=[right]):
            return f"({_PY_OPS[type(op)]} {py_sexp(left)} {py_sexp(right)})"
        case ast.Call(func=ast.Name(id=func), args=args):
            return f"{func}({', '.join(map(py_sexp, args))})"
        case ast.List(elts=items):
            return f"[{', '.join(map(py_sexp, items))}]"
        case ast.Subscript(value=target, slice=item):
            return f"{py_sexp(target)}[{py_sexp(item)}]"
    raise AssertionError(ast.dump(node))


def located(node: Expr | Slice | None) -> str:
    """:func:`sexp` with the column of every number and name."""
    match node:
        case Num(value=value, col=col):
            return f"{value:g}@{col}"
        case Name(name=name, col=col):
            return f"{name}@{col}"
        case Unary(op=op, operand=operand):
            return f"({op} {located(operand)})"
        case Binary(op=op, left=left, right=right):
            return f"({op} {located(left)} {located(right)})"
        case Call(func=func, args=args):
            return f"{func}({', '.join(map(located, args))})"
        case ListLit(items=items):
            return f"[{', '.join(map(located, items))}]"
        case Index(target=target, items=items):
            return f"{located(target)}[{', '.join(map(located, items))}]"
    raise AssertionError(node)


def _compose(operand: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    space = st.sampled_from(["", " "])
    binary = st.tuples(operand, space, st.sampled_from(["+", "-", "*", "/", "@", "**"]),
                       space, operand).map("".join)
    unary = st.tuples(st.sampled_from(["-", "+"]), operand).map("".join)
    group = operand.map("({})".format)
    args = st.lists(operand, min_size=1, max_size=3).map(", ".join)
    return binary | unary | group | args.map("f({})".format) | args.map("[{}]".format) \
        | operand.map("v[{}]".format)


ARITHMETIC = st.recursive(
    st.sampled_from(["x", "yy", "2", "2.5", ".5", "1e-3", "6.02E23", "5."]), _compose,
    max_leaves=12)
COMPARISON = st.tuples(ARITHMETIC, st.sampled_from([" < ", ">=", " != "]), ARITHMETIC) \
    .map("".join)


@settings(max_examples=500, deadline=None)
@given(ARITHMETIC | COMPARISON)
def test_agrees_with_python_on_arithmetic(expression: str) -> None:
    oracle = ast.parse(expression, mode="eval").body
    assert located(parse(expression, BIG)) == py_sexp(oracle)


def test_numbers_are_python_floats() -> None:
    assert parse("1e999") == Num(math.inf, 1)
