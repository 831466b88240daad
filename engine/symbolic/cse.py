"""Shared subexpressions named in the printed formulas (the definitions of API.md §8).

A derivative repeats pieces of itself (``x**x``, ``log(x)``, ``sigmoid(tanh(x))``). Where naming
such a piece makes a formula smaller, the formula becomes definitions followed by its value::

    u1 = x**x; u2 = log(x); u1*u2**2 + …

Size is counted in parse-tree nodes (numbers, names, operators, calls, as our parser builds
them): a definition costs its right-hand side once plus one node for the name it binds, and
every use of a name one node. A piece is named only when that lowers the count, and a formula
keeps its plain form unless the named one is smaller overall.

How: the text printer runs once with every term standing in for itself by a placeholder name
(its precedence kept, so the parentheses are the real ones). Each term's own text then shows its
own nodes and which terms it embeds, in reading order — the printed formula as a graph of
texts, including the sums the printer regroups. On that graph the occurrences and sizes of
every term follow in two linear passes; names start on every piece used twice and are dropped
while any of them does not pay for itself. Definitions are listed in reading order (each after
the ones it uses) and numbered in that order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from engine.language.functions import CONSTANTS, FUNCTIONS
from engine.language.parser import parse
from engine.language.syntax import sub_expressions
from engine.limits import Limits
from engine.symbolic.algebra import Algebra
from engine.symbolic.printer import LatexPrinter, TextPrinter, latex_name
from engine.symbolic.terms import NUM, SYM

PREFIXES = ("u", "w", "q", "s", "r")
"""Name stems of definitions, the first one no symbol of the formula resembles (``u1, u2``)."""

SEPARATOR = "; "
"""Between the statements of a formula with definitions."""

_PLACEHOLDER = "_t"
_PLACEHOLDERS = re.compile(r"\b_t(\d+)\b")
_UNBOUNDED = Limits(max_depth=100_000, max_expression_length=10**9)
"""The printer's own texts are parsed only to count their nodes: the request's limits were
checked on the formulas' size before printing."""


def nodes(text: str) -> int:
    """Parse-tree nodes of an expression in our language."""
    stack = [parse(text, _UNBOUNDED)]
    count = 0
    while stack:
        count += 1
        stack.extend(sub_expressions(stack.pop()))
    return count


class _TemplatePrinter(TextPrinter):
    """The text printer with every term embedded as a placeholder: each term's own text."""

    def __init__(self, algebra: Algebra, reserved: frozenset[str]) -> None:
        super().__init__(algebra, reserved)
        self.templates: dict[int, str] = {}

    def _named(self, t: int, printed: tuple[str, int]) -> tuple[str, int]:
        self.templates[t] = printed[0]
        return f"{_PLACEHOLDER}{t}", printed[1]


@dataclass(frozen=True, slots=True)
class TextGraph:
    """The printed formulas as a graph: each term's own nodes and the terms it embeds."""

    own: dict[int, int]
    """Nodes of a term's text not inside an embedded term."""
    uses: dict[int, tuple[int, ...]]
    """The terms a term's text embeds, in reading order, repeats kept."""


def text_graph(algebra: Algebra, roots: list[int], reserved: frozenset[str]) -> TextGraph:
    """The graph of the texts the printer builds for ``roots``."""
    printer = _TemplatePrinter(algebra, reserved)
    printer.render(roots)
    own, uses = {}, {}
    for t, text in printer.templates.items():
        leaf = algebra[t].kind in (NUM, SYM)
        # A leaf's text is a number or a symbol (which may look like a placeholder).
        embedded = () if leaf else tuple(int(m) for m in _PLACEHOLDERS.findall(text))
        uses[t] = embedded
        own[t] = nodes(text) - len(embedded)
    return TextGraph(own, uses)


def _post_order(graph: TextGraph, root: int) -> list[int]:
    """The terms ``root`` embeds, each after every term it embeds (first reading order)."""
    out: list[int] = []
    seen = {root}
    stack = [(root, iter(graph.uses[root]))]
    while stack:
        t, children = stack[-1]
        for c in children:
            if c not in seen:
                seen.add(c)
                stack.append((c, iter(graph.uses[c])))
                break
        else:
            stack.pop()
            out.append(t)
    return out


def _sizes(graph: TextGraph, order: list[int], named: set[int]) -> dict[int, int]:
    """Nodes of each term's text, a named term inside it counting one node."""
    size: dict[int, int] = {}
    for t in order:
        size[t] = graph.own[t] + sum(1 if c in named else size[c] for c in graph.uses[t])
    return size


def _occurrences(graph: TextGraph, order: list[int], named: set[int]) -> dict[int, int]:
    """How often each term is written out: a named one's text once, in its definition."""
    occ = dict.fromkeys(order, 0)
    occ[order[-1]] = 1
    for t in reversed(order):
        weight = 1 if t in named else occ[t]
        for c in graph.uses[t]:
            occ[c] += weight
    return occ


def shared(graph: TextGraph, root: int, algebra: Algebra) -> list[int]:
    """The terms of ``root`` to name, in the order their definitions are written (empty when
    naming does not make the formula smaller)."""
    order = _post_order(graph, root)
    occ = _occurrences(graph, order, set())
    named = {t for t in order[:-1] if occ[t] > 1 and algebra[t].kind not in (NUM, SYM)}
    while named:
        size = _sizes(graph, order, named)
        occ = _occurrences(graph, order, named)
        # Inlining t instead saves its definition and its uses, and writes it out occ times.
        losing = {t for t in named if occ[t] * size[t] <= 1 + size[t] + occ[t]}
        if not losing:
            break
        named -= losing
    if not named:
        return []
    size = _sizes(graph, order, named)
    total = size[root] + sum(1 + size[t] for t in named)
    if total >= _sizes(graph, order, set())[root]:
        return []
    return [t for t in order if t in named]


def _stem(reserved: Iterable[str]) -> str:
    """A stem whose numbered names cannot be mistaken for a symbol or a built-in."""
    taken = {*reserved, *FUNCTIONS, *CONSTANTS}

    def clear(stem: str) -> bool:
        pattern = re.compile(rf"{re.escape(stem)}\d*")
        return not any(pattern.fullmatch(n) for n in taken)

    for stem in PREFIXES:
        if clear(stem):
            return stem
    stem = PREFIXES[0]
    while not clear(stem):
        stem += "_"
    return stem


def _latex_with(definitions: list[tuple[str, str]], value: str) -> str:
    """The value, then its definitions aligned under ``where``."""
    lines = r" \\ ".join(f"{name} &= {text}" for name, text in definitions)
    return rf"{value} \quad \text{{where}} \quad \begin{{aligned}} {lines} \end{{aligned}}"


def print_shared(algebra: Algebra, roots: list[int], reserved: frozenset[str] = frozenset()
                 ) -> tuple[list[str], list[str]]:
    """The formulas (our language) and LaTeX of ``roots``, each with its shared subexpressions
    named where that makes it smaller."""
    graph = text_graph(algebra, roots, reserved)
    stem = _stem(reserved)
    plans = [shared(graph, root, algebra) for root in roots]
    plain = [root for root, order in zip(roots, plans, strict=True) if not order]
    texts = dict(zip(plain, TextPrinter(algebra, reserved).render(plain), strict=True))
    latexes = dict(zip(plain, LatexPrinter(algebra, reserved).render(plain), strict=True))
    text, latex = [], []
    for root, order in zip(roots, plans, strict=True):
        if not order:
            text.append(texts[root])
            latex.append(latexes[root])
            continue
        names = {t: f"{stem}{k}" for k, t in enumerate(order, 1)}
        tp = TextPrinter(algebra, reserved, names)
        (value,) = tp.render([root])
        text.append(SEPARATOR.join([*(f"{names[t]} = {tp.definitions[t]}" for t in order),
                                    value]))
        lp = LatexPrinter(algebra, reserved, {t: latex_name(n) for t, n in names.items()})
        (value,) = lp.render([root])
        latex.append(_latex_with([(latex_name(names[t]), lp.definitions[t]) for t in order],
                                 value))
    return text, latex


__all__ = ["SEPARATOR", "TextGraph", "nodes", "print_shared", "shared", "text_graph"]
