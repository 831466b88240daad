"""Parser for the expression language: a Pratt parser over :mod:`engine.language.lexer` tokens.

It builds the frozen nodes of :mod:`engine.language.syntax` and never evaluates or compiles
user text. Names are not resolved here: ``f(x)`` is a call whatever ``f`` is, and the
compiler decides.

Depth is the nesting of recursive constructs, the whole expression being level 1: the inside
of a parenthesis pair, of a list, of a call's or method's arguments and of index brackets, the
operand of a unary sign and the right operand of a binary operator are each one level deeper
than where the construct stands (``x`` is 1, ``-(x + 1)`` is 4, ``x ** y ** z`` is 3 since
``**`` is right-associative). Long left-associative chains such as ``x + x + … + x`` and
postfix chains such as ``v[0][0]…``, ``M.T.T…`` or ``x.sum().sum()…`` are not nesting: every
link stands at the depth of the first, so they parse whatever their length. Depth is bounded by
``Limits.max_depth``, so the parser never recurses more than that many levels; the AST handed
on can be deeper than ``max_depth`` only through such chains.

An expression may be several statements (see :mod:`engine.language.lexer` for the separators):
definitions ``name = expr`` and ``name(a, b) = expr``, then the expression whose value it is.
One statement parses to its expression tree; several to a :class:`Block`. Each statement
starts at depth 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from engine.errors import ExpressionError, LimitError
from engine.language.lexer import END, NAME, NUM, OP, SEP, Token, tokenize
from engine.language.syntax import (
    Binary,
    Block,
    Call,
    Define,
    Expr,
    Index,
    Keyword,
    ListLit,
    Name,
    Num,
    Slice,
    TupleLit,
    Unary,
)
from engine.limits import DEFAULT_LIMITS, Limits

# The precedence chart, loosest first; every binding power below is derived from it.
_CHART: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("non-associative", ("<", "<=", ">", ">=", "==", "!=")),
    ("left", ("+", "-")),
    ("left", ("*", "/", "%", "@")),
    ("prefix", ("-", "+")),
    ("right", ("**", "^")),
    ("postfix", ("(", "[", ".")),  # f(…), v[…], .T, .f(…)
)


def precedence(op: str, kind: str | None = None) -> int:
    """The level of ``op`` in the chart, 1 = loosest; ``kind`` tells ``-`` the infix operator
    (``left``) from the sign (``prefix``). The printer parenthesizes by these levels."""
    for level, (k, ops) in enumerate(_CHART, start=1):
        if op in ops and kind in (None, k):
            return level
    raise KeyError(op)


def _binding_powers() -> tuple[dict[str, tuple[int, int]], int]:
    """Left/right binding powers of the infix and postfix operators, and the prefix one."""
    infix: dict[str, tuple[int, int]] = {}
    prefix = 0
    for level, (kind, ops) in enumerate(_CHART, start=1):
        power = 10 * level
        if kind == "prefix":
            prefix = power
            continue
        right = power - 1 if kind == "right" else power + 1
        infix.update(dict.fromkeys(ops, (power, right)))
    return infix, prefix


def _operators(kind: str) -> frozenset[str]:
    return frozenset(op for k, ops in _CHART if k == kind for op in ops)


_INFIX, _PREFIX_POWER = _binding_powers()
_COMPARISONS = _operators("non-associative")
_PREFIX_OPS = _operators("prefix")

MODULE_PREFIXES = frozenset({"np", "numpy", "torch", "math", "jnp", "special"})
"""Module names accepted (and dropped) before a function or constant: ``np.sin``, ``math.pi``,
``special.gamma`` (``from scipy import special``)."""
LINALG_PREFIXES = frozenset({"np", "numpy", "torch", "jnp"})
"""The module prefixes that also accept ``.linalg.``: ``np.linalg.det``."""
SPECIAL_PREFIXES = frozenset({"scipy", "torch"})
"""The modules that accept ``.special.``: ``scipy.special.gammaln``, ``torch.special.psi``
(``scipy`` only with it: ``scipy.sin`` is refused)."""
_SUBMODULES = {"linalg": LINALG_PREFIXES, "special": SPECIAL_PREFIXES}
_OTHER_MEANING = {
    ("math", "remainder"): "IEEE remainder, rounding the quotient to nearest; 'remainder' and "
                           "'mod' here are NumPy's floor-mod, the sign of the divisor",
}
"""Module functions whose bare name here means something else: refused, not silently changed."""
_KEYWORDS = frozenset({"and", "or", "not", "if", "else", "for", "in", "is"})
_NESTING = {"(": 1, "[": 1, ")": -1, "]": -1}
_SNIPPET = 24
"""Longest operand quoted in an implicit-multiplication suggestion."""

_Item = TypeVar("_Item", Expr, Expr | Slice)


def parse(expression: str, limits: Limits = DEFAULT_LIMITS) -> Expr:
    """Parse ``expression`` into an AST.

    Raises :class:`ExpressionError` (with a 1-based column and what was expected there) when it
    does not parse, and :class:`LimitError` when it is too long or nested too deeply.
    """
    if len(expression) > limits.max_expression_length:
        raise LimitError("max_expression_length", limits.max_expression_length,
                         len(expression), loc=("body", "expression"),
                         what="the expression's length")
    tokens = tokenize(expression)
    if tokens[0].kind == END:  # nothing but whitespace and comments
        raise ExpressionError("empty expression", expression, 1, expected="an expression")
    parser = _Parser(expression, tokens, limits.max_depth)
    try:
        return parser.parse()
    except RecursionError:
        # Only reachable when max_depth is configured above what the interpreter's stack allows.
        raise parser.too_deep(parser.tokens[parser.pos].col) from None


def _describe(tok: Token) -> str:
    if tok.kind == END:
        return "end of the expression"
    if tok.kind == SEP:
        return "';'" if tok.text == ";" else "new line"
    if tok.text == "=":
        return "'=' (use '==' to compare; only a name or a function such as f(a, b) can be " \
               "defined, at the start of a statement)"
    if tok.kind == NAME:
        return f"name {tok.text!r}"
    if tok.kind == NUM:
        return f"number {tok.text!r}"
    return repr(tok.text)


class _Parser:
    """State of one parse: the tokens and the index of the next one."""

    __slots__ = ("expression", "max_depth", "pos", "tokens", "tuple_ok")

    def __init__(self, expression: str, tokens: list[Token], max_depth: int) -> None:
        self.expression = expression
        self.tokens = tokens
        self.pos = 0
        self.max_depth = max_depth
        self.tuple_ok = False
        """Set while the next operand starts a call argument: only there may ``(a, b)`` be a
        tuple (a static argument such as ``axis=(0, 1)``)."""

    def parse(self) -> Expr:
        tokens = self.tokens
        statements = [self._statement()]
        while tokens[self.pos].kind == SEP:
            self.pos += 1
            statements.append(self._statement())
        tok = tokens[self.pos]
        if tok.kind == END:
            return self._block(statements)
        if tok.text in (")", "]"):
            message = f"unmatched {tok.text!r}"
        elif tok.text == "=":
            message = "unexpected '=' (use '==' to compare; '=' names a keyword argument " \
                      "such as axis=0)"
        else:
            message = f"unexpected {_describe(tok)}"
        raise self._error(message, tok, "an operator or the end of the expression")

    # -- statements -------------------------------------------------------------------------

    def _statement(self) -> tuple[int, Expr | Define]:
        """One statement and the column it starts at: a definition or an expression."""
        tokens = self.tokens
        tok = tokens[self.pos]
        if tok.kind == SEP or (tok.kind == END and self.pos > 0):
            # after a trailing ';' the caret goes under it, not past the end
            raise self._error("empty statement", tok if tok.kind == SEP else tokens[self.pos - 1],
                              "a statement (remove the extra ';')")
        if tok.kind == NAME:
            after = tokens[self.pos + 1].text
            if after == "=":
                self.pos += 2
                return tok.col, Define(tok.text, None, self._expr(0, 0), tok.col)
            if after == "(" and self._defines_function():
                return tok.col, self._function(tok)
        return tok.col, self._expr(0, 0)

    def _defines_function(self) -> bool:
        """Whether the ``name(`` at the current token closes with ``) =``."""
        tokens = self.tokens
        level = 0
        for i in range(self.pos + 1, len(tokens)):
            tok = tokens[i]
            if tok.kind in (SEP, END):
                return False
            level += _NESTING.get(tok.text, 0) if tok.kind == OP else 0
            if level == 0:
                return tokens[i + 1].text == "="
        return False

    def _function(self, name: Token) -> Define:
        """``name(a, b) = body``, the current token being ``name``."""
        tokens = self.tokens
        self.pos += 2
        if tokens[self.pos].text == ")":
            raise self._error(f"function '{name.text}' has no parameters (a value is defined "
                              f"as '{name.text} = …')", tokens[self.pos], "a parameter name")
        params: list[Name] = []
        while True:
            tok = tokens[self.pos]
            if tok.kind != NAME:
                raise self._error(f"unexpected {_describe(tok)} in the parameters of "
                                  f"'{name.text}'", tok, "a parameter name")
            if any(p.name == tok.text for p in params):
                raise self._error(f"parameter '{tok.text}' is listed twice", tok,
                                  "a different parameter name")
            params.append(Name(tok.text, tok.col))
            self.pos += 1
            tok = tokens[self.pos]
            self.pos += 1
            if tok.text == ")":
                break
            if tok.text != ",":
                raise self._error(f"unexpected {_describe(tok)} in the parameters of "
                                  f"'{name.text}'", tok, "',' or ')'")
        self.pos += 1  # the '=' that _defines_function saw
        return Define(name.text, tuple(params), self._expr(0, 0), name.col)

    def _block(self, statements: list[tuple[int, Expr | Define]]) -> Expr:
        """The statements as one expression: definitions first, an expression last."""
        *definitions, (last_col, last) = statements
        if isinstance(last, Define):
            raise ExpressionError(
                f"the last statement defines '{last.name}' but gives no value; end with the "
                f"expression to compute, e.g. '{last.name}'", self.expression, last_col,
                expected="an expression after the definitions")
        defined: list[Define] = []
        for col, statement in definitions:
            if not isinstance(statement, Define):
                raise ExpressionError(
                    "only the last statement may be an expression; this one's value is not "
                    "used (define a name with 'name = …' or remove it)", self.expression, col,
                    expected="a definition")
            defined.append(statement)
        return Block(tuple(defined), last, 1) if defined else last

    # -- the Pratt loop ---------------------------------------------------------------------

    def _expr(self, rbp: int, depth: int) -> Expr:
        """Parse operators binding tighter than ``rbp`` inside ``depth`` enclosing levels."""
        tokens = self.tokens
        first = self.pos
        if depth >= self.max_depth:
            raise self.too_deep(tokens[first].col)
        left = self._prefix(depth)
        compared = False
        while True:
            tok = tokens[self.pos]
            powers = _INFIX.get(tok.text) if tok.kind == OP else None
            if powers is None:
                if tok.kind == NAME or tok.kind == NUM:
                    raise self._juxtaposed(first)
                return left
            lbp, op_rbp = powers
            if lbp <= rbp:
                return left
            op = tok.text
            if op == "(":  # only a name can be called; names are handled in _name
                raise self._juxtaposed(first)
            self.pos += 1
            if op == ".":  # .T or a method call: a postfix link, at this same depth
                left = self._member(left, depth)
                continue
            if depth + 1 >= self.max_depth:  # the index or right operand would be too deep:
                raise self.too_deep(tok.col)  # report it at the operator that nests it
            if op == "[":
                indices = self._sequence(tok, "]", depth + 1, self._index_item, "an index",
                                         empty="empty index")
                left = Index(left, indices, tok.col)
            else:
                if op in _COMPARISONS:
                    if compared:
                        raise self._error("comparisons cannot be chained (compare two values "
                                          "at a time)", tok,
                                          "an arithmetic operator or the end of the comparison")
                    compared = True
                right = self._expr(op_rbp, depth + 1)
                left = Binary("**" if op == "^" else op, left, right, tok.col)

    def _prefix(self, depth: int) -> Expr:
        """An operand: number, name, call, parenthesis, list or signed operand."""
        tok = self.tokens[self.pos]
        self.pos += 1
        tuple_ok, self.tuple_ok = self.tuple_ok, False
        if tok.kind == NUM:
            return Num(float(tok.text), tok.col)
        if tok.kind == NAME:
            return self._name(tok, depth)
        text = tok.text
        if text == "(":
            self.tuple_ok = tuple_ok  # a tuple may hold tuples: axes=((0, 1), (2, 0))
            inner = self._expr(0, depth + 1)
            close = self.tokens[self.pos]
            if close.text == "," and tuple_ok:
                return self._tuple(tok, inner, depth + 1)
            if close.text != ")":
                raise self._unclosed(tok, close, "')'")
            self.pos += 1
            return inner
        if text == "[":
            items = self._sequence(tok, "]", depth + 1, self._operand, "a list entry",
                                   empty="empty lists are not supported")
            return ListLit(items, tok.col)
        if text in _PREFIX_OPS:
            return Unary(text, self._expr(_PREFIX_POWER, depth + 1), tok.col)
        raise self._error(f"unexpected {_describe(tok)}", tok, "an expression")

    # -- operands and postfix forms ---------------------------------------------------------

    def _name(self, tok: Token, depth: int) -> Expr:
        """A name or call; a module prefix (``np.``, ``np.linalg.``, …) is dropped."""
        col = tok.col
        if ((tok.text in MODULE_PREFIXES or tok.text in SPECIAL_PREFIXES)
                and self.tokens[self.pos].text == "."):
            module = tok.text
            tok = self._module_member(tok)
            hint = _OTHER_MEANING.get((module, tok.text))
            if hint is not None:
                raise self._error(f"'{module}.{tok.text}' is not supported ({hint})", tok,
                                  "a function this language has")
        opening = self.tokens[self.pos]
        if opening.text == "(":
            self.pos += 1
            args, kwargs = self._arguments(opening, depth + 1)
            return Call(tok.text, args, col, kwargs)
        return Name(tok.text, col)

    def _module_member(self, module: Token) -> Token:
        """The name after ``module.`` (and ``linalg.`` or ``special.`` where the module has
        one)."""
        tokens = self.tokens
        self.pos += 1
        prefix = module.text + "."
        member = tokens[self.pos]
        if module.text in _SUBMODULES.get(member.text, ()):
            dot = tokens[self.pos + 1]
            if dot.text != ".":
                raise self._error(f"unexpected {_describe(dot)}", dot,
                                  f"'.' and a function name after '{prefix}{member.text}'")
            self.pos += 2
            prefix += member.text + "."
            member = tokens[self.pos]
        elif module.text not in MODULE_PREFIXES:
            raise self._error(f"unexpected {_describe(member)}", member,
                              f"'special.' after '{prefix}'")
        if member.kind != NAME:
            raise self._error(f"unexpected {_describe(member)}", member,
                              f"a function or constant name after '{prefix}'")
        self.pos += 1
        return member

    def _member(self, receiver: Expr, depth: int) -> Expr:
        """After ``receiver.``: a method call ``.f(…)`` (its other arguments one level deeper)
        or ``.T`` / ``.mT`` (NumPy's matrix transpose of a stack)."""
        tokens = self.tokens
        name = tokens[self.pos]
        if name.kind != NAME:
            raise self._error(f"unexpected {_describe(name)}", name,
                              "a method name or 'T' after '.'")
        self.pos += 1
        if name.text == "T":
            return Call("transpose", (receiver,), name.col)
        if name.text == "mT":
            return Call("matrix_transpose", (receiver,), name.col)
        opening = tokens[self.pos]
        if opening.text == "(":
            self.pos += 1
            args, kwargs = self._arguments(opening, depth + 1)
            return Call(name.text, (receiver, *args), name.col, kwargs)
        raise self._error("attribute access is not supported (only .T and method calls such "
                          "as .sum())", name, f"'T' or a method call such as '.{name.text}()'")

    def _sequence(self, opening: Token, close: str, depth: int,
                  item: Callable[[int], _Item], what: str, *,
                  empty: str | None = None) -> tuple[_Item, ...]:
        """``item``s at ``depth`` separated by commas up to ``close``; ``what`` names one in
        errors."""
        tokens = self.tokens
        if tokens[self.pos].text == close:
            if empty is not None:
                raise self._error(empty, tokens[self.pos], what)
            self.pos += 1
            return ()
        items: list[_Item] = []
        while True:
            items.append(item(depth))
            tok = tokens[self.pos]
            if tok.text == close:
                self.pos += 1
                return tuple(items)
            if tok.text != ",":
                raise self._unclosed(opening, tok, f"',' or {close!r}")
            self.pos += 1
            if tokens[self.pos].text == close:
                raise self._error("trailing comma is not allowed", tokens[self.pos], what)

    def _tuple(self, opening: Token, first: Expr, depth: int) -> TupleLit:
        """The rest of ``(first, …)`` after ``first``: a tuple literal (``axis=(0, 1)``)."""
        items = [first]
        tokens = self.tokens
        while tokens[self.pos].text == ",":
            self.pos += 1
            if tokens[self.pos].text == ")":
                break  # (0,) is a one-tuple, as in Python
            self.tuple_ok = True
            items.append(self._expr(0, depth))
        close = tokens[self.pos]
        if close.text != ")":
            raise self._unclosed(opening, close, "',' or ')'")
        self.pos += 1
        return TupleLit(tuple(items), opening.col)

    def _arguments(self, opening: Token, depth: int
                   ) -> tuple[tuple[Expr, ...], tuple[Keyword, ...]]:
        """A call's arguments up to ``)``: positional ones, then ``name=value`` keywords, as in
        Python (a positional argument after a keyword one is an error)."""
        tokens = self.tokens
        args: list[Expr] = []
        kwargs: list[Keyword] = []
        if tokens[self.pos].text == ")":
            self.pos += 1
            return (), ()
        while True:
            tok = tokens[self.pos]
            if tok.kind == NAME and tokens[self.pos + 1].text == "=":
                if any(k.name == tok.text for k in kwargs):
                    raise self._error(f"keyword argument {tok.text!r} repeated", tok,
                                      "each keyword at most once")
                self.pos += 2
                self.tuple_ok = True
                kwargs.append(Keyword(tok.text, self._expr(0, depth), tok.col))
            elif kwargs:
                raise self._error("positional argument follows keyword argument", tok,
                                  "a keyword argument such as axis=0, or ')'")
            else:
                self.tuple_ok = True
                args.append(self._expr(0, depth))
            tok = tokens[self.pos]
            if tok.text == ")":
                self.pos += 1
                return tuple(args), tuple(kwargs)
            if tok.text != ",":
                raise self._unclosed(opening, tok, "',' or ')'")
            self.pos += 1
            if tokens[self.pos].text == ")":
                raise self._error("trailing comma is not allowed", tokens[self.pos],
                                  "an argument")

    def _operand(self, depth: int) -> Expr:
        """A whole expression: an argument, list entry or slice bound."""
        return self._expr(0, depth)

    def _index_item(self, depth: int) -> Expr | Slice:
        """``i``, a slice ``start:stop:step`` with any part absent, or ``...``."""
        tokens = self.tokens
        col = tokens[self.pos].col
        start: Expr | None = None
        stop: Expr | None = None
        step: Expr | None = None
        if [t.text for t in tokens[self.pos:self.pos + 3]] == [".", ".", "."]:
            self.pos += 3  # NumPy's Ellipsis: as many full slices as the rank needs
            return Name("...", col)
        if tokens[self.pos].text != ":":
            start = self._expr(0, depth)
            if tokens[self.pos].text != ":":
                return start
        self.pos += 1
        if tokens[self.pos].text not in (":", ",", "]"):
            stop = self._expr(0, depth)
        if tokens[self.pos].text == ":":
            self.pos += 1
            if tokens[self.pos].text not in (",", "]"):
                step = self._expr(0, depth)
        return Slice(start, stop, step, col)

    # -- errors -----------------------------------------------------------------------------

    def _error(self, message: str, tok: Token, expected: str) -> ExpressionError:
        return ExpressionError(message, self.expression, tok.col, expected=expected)

    def _unclosed(self, opening: Token, found: Token, expected: str) -> ExpressionError:
        return self._error(f"unexpected {_describe(found)}", found,
                           f"{expected} to close the {opening.text!r} from column {opening.col}")

    def too_deep(self, col: int) -> LimitError:
        """The error for an expression nested deeper than ``max_depth``."""
        err = LimitError("max_depth", self.max_depth, None, loc=("body", "expression"),
                         what="the expression's nesting depth")
        err.place(self.expression, col)
        return err

    def _juxtaposed(self, first: int) -> ExpressionError:
        """Two operands side by side (``2x``, ``x y``, ``(a)(b)``): suggest the ``*``."""
        tokens = self.tokens
        tok = tokens[self.pos]
        if tok.text in _KEYWORDS:
            return self._error(f"'{tok.text}' is not supported (for a condition use "
                               "where(condition, a, b))", tok, "an operator")
        text = self.expression
        prev = tokens[self.pos - 1]
        left = text[tokens[first].col - 1:prev.col - 1 + len(prev.text)]
        right = text[tok.col - 1:self._operand_end(self.pos)]
        if len(left) > _SNIPPET:
            left = "..." + left[-_SNIPPET:].lstrip()
        if len(right) > _SNIPPET:
            right = right[:_SNIPPET].rstrip() + "..."
        return self._error(f"implicit multiplication is not supported (write '{left}*{right}')",
                           tok, "an operator such as '*'")

    def _operand_end(self, i: int) -> int:
        """Offset just past the operand starting at token ``i``, with its call or group."""
        tokens = self.tokens
        if tokens[i].kind == NAME and tokens[i + 1].text == "(":
            i += 1
        if tokens[i].text == "(":
            level = 0
            for tok in tokens[i:]:
                level += (tok.text == "(") - (tok.text == ")")
                if level == 0:
                    return tok.col
        return tokens[i].col - 1 + len(tokens[i].text)
