"""Tokenizer for the expression language: one compiled regular expression, nothing evaluated.

Every token keeps its 1-based column. Characters outside the language and malformed numbers
are reported here, as :class:`ExpressionError`, at their column.
"""

from __future__ import annotations

import re

from engine.errors import ExpressionError

NUM = "num"
NAME = "name"
OP = "op"
END = "end"

_SCANNER = re.compile(
    r"""
      (?P<ws>[ \t\r\n]+)
    | (?P<num>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
      # what cannot follow a number: an exponent without digits, or a second decimal point
      (?P<junk>[eE](?:[+-]|(?![A-Za-z0-9_]))|\.[0-9])?
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>\*\*|<=|>=|==|!=|[-+*/@^<>()\[\],:.=])
    | (?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_HINTS = {
    "!": "use '!=' for 'not equal'",
    "×": "use '*'",
    "·": "use '*'",
    "÷": "use '/'",
    "−": "use '-'",
    "²": "use '**2'",
    "³": "use '**3'",
    "π": "use 'pi'",
}


class Token:
    """One token: ``kind`` is NUM, NAME, OP or END; ``col`` is 1-based."""

    __slots__ = ("col", "kind", "text")

    def __init__(self, kind: str, text: str, col: int) -> None:
        self.kind = kind
        self.text = text
        self.col = col

    def __repr__(self) -> str:
        return f"Token({self.kind!r}, {self.text!r}, {self.col})"


def tokenize(expression: str) -> list[Token]:
    """Split ``expression`` into tokens, ending with an END token at column ``len + 1``."""
    tokens: list[Token] = []
    append = tokens.append
    for match in _SCANNER.finditer(expression):
        group = match.lastgroup or ""  # every alternative is a named group
        if group == "ws":
            continue
        if group == "bad":
            raise _bad_character(expression, match.group(), match.start() + 1, tokens)
        if group == "junk":
            raise _malformed_number(expression, match)
        append(Token(group, match.group(), match.start() + 1))
    append(Token(END, "", len(expression) + 1))
    return tokens


def _bad_character(expression: str, char: str, col: int, before: list[Token]) -> ExpressionError:
    hint = _HINTS.get(char)
    message = f"unexpected character {char!r}" + (f" ({hint})" if hint else "")
    after_operand = bool(before) and (before[-1].kind in (NUM, NAME) or before[-1].text in ")]")
    expected = "an operator" if after_operand else "an expression"
    return ExpressionError(message, expression, col, expected=expected)


def _malformed_number(expression: str, match: re.Match[str]) -> ExpressionError:
    number, junk = match.group("num"), match.group("junk")
    start = match.start() + 1
    if junk[0] == ".":
        return ExpressionError(f"malformed number: a second '.' after '{number}'", expression,
                               start + len(number), expected="an operator")
    message = f"malformed number '{number}{junk}': the exponent has no digits"
    if junk == "e":
        message += f" (for a product with the constant e, write '{number}*{junk}')"
    return ExpressionError(message, expression, start + len(number) + len(junk),
                           expected="the exponent's digits")
