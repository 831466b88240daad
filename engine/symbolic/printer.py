"""Printing canonical terms (:mod:`engine.symbolic.algebra`) in our language and in LaTeX.

Both printers render every term once, in increasing id order (children first), and keep the
text with its precedence; a parent adds parentheses only where the language needs them. Our
language's precedence, loosest first: comparisons, ``+ -``, ``* / @``, prefix ``-``, ``**``
(right-associative), then atoms and calls. So ``-x**2`` needs none, ``(-x)**2``, ``a - (b - c)``
and ``a/(b*c)`` do. One deliberate extra: a negative exponent is parenthesized (``x**(-y)``),
which the parser does not need but readers do.

A product prints as coefficient, numerator factors, then ``/`` and the denominator (factors with
negative exponents); a coefficient that is a small fraction prints as one (``x/2``,
``3*x**2/2``), a multiple of pi as ``pi/2``. Sums print by descending degree with the constant
last, except that a two-term sum leads with its positive term (``1 - x**2``). Factors that all
terms of a sum share (other than plain symbols) are printed once in front:
``exp(x)*(sin(x) + cos(x))``, while ``3*x**2 + 2*x`` stays a polynomial. Then, each exact
and each only a way of writing the same sum:

- a sum divisible by ``u - r`` (r = ±1, ±2) in one of its factors prints as that product when
  the quotient has two terms fewer (``s*(s - 1)*(…)`` for the derivatives of ``sigmoid``);
- terms sharing a factor print as one product with it, the factor that takes the most nodes
  out first (``(24*t**5 - 40*t**3)/x + 8*(3*t**4 - 1)/x**2``); positive powers of plain
  symbols stay in their terms;
- powers of one base that with the constant expand a binomial print as its power
  (``(log(x) + 1)**3``); ``k*expm1(u) + k`` prints as ``k*exp(u)``;
- within a sum that shares ``x**x``, ``x**(x - 1)`` shows as ``x**x/x``;
- a base-0 mask ``where(x == c, 0, u*b)`` takes out the factors finite at ``x = c``
  (``u*0`` is the mask's 0 there): ``x**x*(where(x == 0, 0, log(x)) + 1)``.

Every choice is structural (never a count of printed characters), so every printer and the
naming of shared pieces (:mod:`engine.symbolic.cse`) see the same structure. A printer given
``names`` prints those terms as their names and keeps their texts as definitions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import TypeVar

from engine.ir.ops import PRIMITIVES, Group, in_group
from engine.language.parser import precedence
from engine.symbolic.algebra import Algebra
from engine.symbolic.masks import mask_point, value_at
from engine.symbolic.terms import ADD, CMP, COMPARISONS, FN, MUL, NUM, POW, SYM

CMP_P, ADD_P, MUL_P = precedence("<"), precedence("+", "left"), precedence("*")
NEG_P, POW_P, ATOM_P = precedence("-", "prefix"), precedence("**"), precedence("(")
"""Precedence levels, the parser's: a child printed at a lower level than its slot needs
parentheses (calls and atoms bind like the postfix forms)."""

_T = TypeVar("_T")

MAX_FACTORED_TERMS = 64
"""Most terms of a sum searched for a linear factor."""

LINEAR_ROOTS = (1.0, -1.0, 2.0, -2.0)
"""The r of the linear factors ``u - r`` a sum is tried against."""

MAX_DENOMINATOR = 100
"""Largest denominator of a coefficient printed as a fraction."""


def _fraction(c: float) -> tuple[float, int]:
    """``c`` (> 0) as p/q with a small q when that is exact in float64, else (c, 1)."""
    if not math.isfinite(c) or c.is_integer():
        return c, 1
    for q in range(2, MAX_DENOMINATOR + 1):
        p = c * q
        if p.is_integer() and p < 1e6 and p / q == c:
            return p, q
    return c, 1


def _pi_fraction(c: float) -> tuple[int, int] | None:
    """``c`` (> 0) as p·pi/q with small integers when that is exact in float64."""
    if not math.isfinite(c) or c == 0:
        return None
    p, q = _fraction(c / math.pi)
    if p.is_integer() and p <= 1000 and q <= 12 and p * math.pi / q == c:
        return int(p), q
    return None


def _int_text(v: float) -> str | None:
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else None


class _Base:
    """What both dialects share: memoized rendering in topological order, sums, products."""

    PLUS, MINUS = " + ", " - "

    def __init__(self, algebra: Algebra, reserved: frozenset[str] = frozenset(),
                 names: Mapping[int, str] | None = None) -> None:
        self.a = algebra
        self.reserved = reserved
        """Names of symbols in use: ``pi``/``e`` print as numbers if a variable has the name."""
        self.names: Mapping[int, str] = names or {}
        """Terms printed as a name wherever they are used (shared subexpressions)."""
        self.definitions: dict[int, str] = {}
        """The text of each named term that was rendered."""
        self.memo: dict[int, tuple[str, int]] = {}
        self.products: dict[tuple[float, tuple[tuple[int, float], ...]],
                            tuple[float, tuple[tuple[int, int], ...]] | None] = {}
        """Sums already seen as products (or not)."""
        self.apart: frozenset[int] = frozenset()
        """Powers the sum being printed shows with their exponent's offset apart."""

    def render(self, roots: list[int]) -> list[str]:
        """The text of every root term (a named root prints as its name)."""
        for t in self.a.closure(roots):
            if t not in self.memo:
                self.memo[t] = self._named(t, self._term(t))
        return [self.memo[r][0] for r in roots]

    def _named(self, t: int, printed: tuple[str, int]) -> tuple[str, int]:
        """What a parent embeds for ``t``: its text, or its name (an atom)."""
        name = self.names.get(t)
        if name is None:
            return printed
        self.definitions[t] = printed[0]
        return name, ATOM_P

    def _term(self, t: int) -> tuple[str, int]:
        term = self.a[t]
        match term.kind:
            case "num":
                return self.number(term.data[0])
            case "sym":
                return self.symbol(*term.data), ATOM_P
            case "pow":
                return self.power(*term.data)
            case "fn":
                return self.function(term.data[0], term.data[1])
            case "cmp":
                op, (x, y) = term.data
                return (f"{self.wrap(x, ADD_P)} {self.COMPARE[op]} {self.wrap(y, ADD_P)}",
                        CMP_P)
            case "add":
                return self.sum(*term.data)
            case "mul":
                return self.product(*term.data)
        raise AssertionError(term.kind)

    # -- shared structure

    def wrap(self, t: int, need: int) -> str:
        text, prec = self.memo[t]
        return self.parens(text, t) if prec < need else text

    def parens(self, text: str, t: int) -> str:
        raise NotImplementedError

    def sum(self, const: float, items: tuple[tuple[int, float], ...]) -> tuple[str, int]:
        exp = self.without_expm1(const, items)
        if exp is not None:
            self.render([exp])
            return self.memo[exp]
        found = self.as_product(const, items)
        if found is not None:
            return self.product(*found)
        return self.in_context(items, lambda: self.plain_sum(const, items))

    def without_expm1(self, const: float, items: tuple[tuple[int, float], ...]) -> int | None:
        """The sum with ``k*expm1(u) + k`` as ``k*exp(u)``, or None if it has no such pair
        (the derivatives of ``expm1`` are ``expm1(x) + 1``)."""
        a = self.a
        for s, k in items:
            term = a[s]
            if k == const and term.kind == FN and term.data[0] == "expm1":
                rest = [(t, c) for t, c in items if t != s]
                return a.add([*rest, (a.function("exp", term.data[1]), k)])
        return None

    def in_context(self, items: tuple[tuple[int, float], ...], work: Callable[[], _T]) -> _T:
        """``work()`` with the powers the sum of ``items`` shows apart."""
        outer = self.apart
        self.apart = self.shared_powers(items)
        try:
            return work()
        finally:
            self.apart = outer

    def as_product(self, const: float, items: tuple[tuple[int, float], ...]
                   ) -> tuple[float, tuple[tuple[int, int], ...]] | None:
        """The sum as one product (coefficient, factors, every factor rendered) when its terms
        share factors or it has a linear factor; else None."""
        key = (const, items)
        if key not in self.products:
            self.products[key] = self.in_context(items, lambda: self._as_product(const, items))
        return self.products[key]

    def _as_product(self, const: float, items: tuple[tuple[int, float], ...]
                    ) -> tuple[float, tuple[tuple[int, int], ...]] | None:
        a = self.a
        common = self.common_factors(items) if not const else []
        if common:
            # exp(x)*sin(x) + exp(x)*cos(x) prints as exp(x)*(sin(x) + cos(x)).
            drop = dict(common)
            # An integer content goes out with them: tan(x)*(2*tan(x)**2 + 2) -> 2*tan(x)*(…).
            content = 1.0
            if all(k.is_integer() and abs(k) < 2**53 for _, k in items):
                content = float(math.gcd(*(int(k) for _, k in items)))
            rest = a.add([(a.mul([(b, n - drop.get(b, 0)) for b, n in self.factors_of(s)]),
                           k / content) for s, k in items])
            return self.joined(content, common, rest)
        root = self.linear_factor(const, items)
        if root is not None:
            return self.joined(1.0, [(root[0], 1)], root[1])
        return None

    def joined(self, coeff: float, factors: list[tuple[int, int]], rest: int
               ) -> tuple[float, tuple[tuple[int, int], ...]]:
        """``coeff * factors * rest`` as one product: a ``rest`` that is (or prints as) a
        product joins its factors in, so no product is parenthesized inside another."""
        a = self.a
        term = a[rest]
        found = None
        if term.kind == MUL:
            found = term.data[0], term.data[1]
        elif term.kind == ADD:
            found = self.as_product(*term.data)
        powers: dict[int, int] = {}
        if found is None:
            found = 1.0, ((rest, 1),)
        for b, n in [*factors, *found[1]]:
            powers[b] = powers.get(b, 0) + n
        self.render(list(powers))
        return coeff * found[0], tuple(sorted(((b, n) for b, n in powers.items() if n),
                                              key=lambda bn: a[bn[0]].key))

    def linear_factor(self, const: float, items: tuple[tuple[int, float], ...]
                      ) -> tuple[int, int] | None:
        """``(u - r, quotient)`` when the sum, as a polynomial in one of its factors ``u``, is
        exactly divisible by ``u - r`` for a small integer ``r`` and the quotient has at least
        two terms fewer (``s*(24*s**3 - 36*s**2 + 14*s - 1) - s + …`` has the factor
        ``s - 1`` of every derivative of ``sigmoid``); None otherwise."""
        a = self.a
        if len(items) + (const != 0) < 3 or len(items) > MAX_FACTORED_TERMS:
            return None
        monomials = [(self.factors_of(s), k) for s, k in items]
        if const:
            monomials.append(((), const))
        bases = sorted({b for fs, _ in monomials for b, n in fs if n > 0 and a[b].kind != NUM},
                       key=lambda b: a[b].key)
        for u in bases:
            if any(b == u and n < 0 for fs, _ in monomials for b, n in fs):
                continue
            # The polynomial in u: degree -> {cofactor (its factors): coefficient}.
            poly: dict[int, dict[tuple[tuple[int, int], ...], float]] = {}
            for fs, k in monomials:
                e = next((n for b, n in fs if b == u), 0)
                cofactor = tuple((b, n) for b, n in fs if b != u)
                row = poly.setdefault(e, {})
                row[cofactor] = row.get(cofactor, 0.0) + k
            degree = max(poly)
            for r in LINEAR_ROOTS:
                quotient = {degree - 1: dict(poly[degree])}
                for e in range(degree - 1, 0, -1):
                    row = dict(poly.get(e, {}))
                    for c, k in quotient[e].items():
                        row[c] = row.get(c, 0.0) + r * k
                    quotient[e - 1] = row
                remainder = dict(poly.get(0, {}))
                for c, k in quotient[0].items():
                    remainder[c] = remainder.get(c, 0.0) + r * k
                if any(remainder.values()):
                    continue
                terms = [(e, c, k) for e, row in quotient.items() for c, k in row.items() if k]
                if len(terms) + 2 > len(monomials):
                    continue
                return a.add([(u, 1.0)], -r), a.add([(a.mul([*c, (u, e)]), k)
                                                     for e, c, k in terms])
        return None

    @staticmethod
    def _offset(a: Algebra, b: int) -> float:
        """``c`` of a power ``u**(v + c)`` with an integer ``c != 0`` (``u`` not a number)."""
        bt = a[b]
        if bt.kind != POW or a[bt.data[0]].kind == NUM or a[bt.data[1]].kind != ADD:
            return 0.0
        c = a[bt.data[1]].data[0]
        return c if c.is_integer() and abs(c) < 2**31 else 0.0

    def _apart(self, b: int) -> int:
        """``u**v`` of a power ``u**(v + c)``."""
        a = self.a
        base, exponent = a[b].data
        return a.pow_atom(base, a.add([(exponent, 1.0)], -self._offset(a, b)))

    def shared_powers(self, items: tuple[tuple[int, float], ...]) -> frozenset[int]:
        """The powers ``u**(v + c)`` among the terms of a sum that print as ``u**v * u**c``
        there, because another term has ``u**v`` too (``x**x*log(x) + x**(x - 1)``)."""
        a = self.a
        count: dict[int, int] = {}
        offsets: list[int] = []
        for s, _ in items:
            seen = set()
            for b, _ in a[s].data[1] if a[s].kind == MUL else ((s, 1),):
                if self._offset(a, b):
                    offsets.append(b)
                    seen.add(self._apart(b))
                else:
                    seen.add(b)
            for b in seen:
                count[b] = count.get(b, 0) + 1
        return frozenset(b for b in offsets if count[self._apart(b)] > 1)

    def factors_of(self, t: int) -> tuple[tuple[int, int], ...]:
        """The factors a term of the sum being printed shows: a power whose exponent is
        offset by an integer apart when the sum shares it (``x**(x - 1)`` as ``x**x/x``)."""
        a = self.a
        term = a[t]
        factors = term.data[1] if term.kind == MUL else ((t, 1),)
        if term.kind == FN and term.data[0] == "where":
            factors = self.unmasked(t) or factors
        if not any(b in self.apart for b, _ in factors):
            return factors
        powers: dict[int, int] = {}
        for b, n in factors:
            parts = [(b, n)]
            if b in self.apart:
                apart = self._apart(b)
                self.render([apart])
                parts = [(apart, n), (a[b].data[0], int(self._offset(a, b)) * n)]
            for c, m in parts:
                # One entry per base: x**(x + 1)*x**(y - 1) is x**x*x**y, the x's cancel.
                powers[c] = powers.get(c, 0) + m
        return tuple(sorted(((b, n) for b, n in powers.items() if n),
                            key=lambda bn: a[bn[0]].key))

    def unmasked(self, t: int) -> tuple[tuple[int, int], ...] | None:
        """``where(x == c, 0, u*b)`` as ``u * where(x == c, 0, b)`` for the factors ``u`` that
        are finite at ``x = c`` (so ``u*0`` is the 0 of the mask), None if there are none."""
        a = self.a
        cond, yes, no = a[t].data[1]
        point = mask_point(a, cond)
        if yes != a.zero or point is None:
            return None
        term = a[no]
        if term.kind == MUL:
            coeff, factors = term.data
        elif term.kind == ADD and not term.data[0]:
            coeff, factors = 1.0, tuple(self.in_context(term.data[1], lambda: self.common_factors(
                term.data[1])))
        else:
            return None
        at = {point[0]: point[1]}
        out = [(b, n) for b, n in factors
               if n > 0 and math.isfinite(value_at(a, b, at) or math.nan)]
        if not out:
            return None
        drop = dict(out)
        if term.kind == MUL:
            rest = a.mul([(b, n - drop.get(b, 0)) for b, n in factors], coeff)
        else:
            items = term.data[1]
            rest = self.in_context(items, lambda: a.add(
                [(a.mul([(b, n - drop.get(b, 0)) for b, n in self.factors_of(s)]), k)
                 for s, k in items]))
        masked = a.where(cond, yes, rest)
        self.render([masked, *drop])
        return tuple(sorted([*out, (masked, 1)], key=lambda bn: a[bn[0]].key))

    def common_factors(self, items: tuple[tuple[int, float], ...]) -> list[tuple[int, int]]:
        """Factors every term has that are not plain symbols (a sum stays a polynomial:
        ``3*x**2 + 2*x``, not ``x*(3*x + 2)``): a positive power at its smallest, a denominator
        only where every term has the same one (``(x + y)/(x - y)``, but not
        ``(2 - 4*x**2/(x**2 + 1))/(x**2 + 1)``)."""
        a = self.a
        shared: dict[int, int] | None = None
        for s, _ in items:
            here = {b: n for b, n in self.factors_of(s) if a[b].kind != SYM}
            shared = here if shared is None else {
                b: min(n, here[b]) for b, n in shared.items()
                if b in here and (n == here[b] or (n > 0 and here[b] > 0))}
            if not shared:
                return []
        return sorted((shared or {}).items(), key=lambda bn: a[bn[0]].key)

    def plain_sum(self, const: float, items: tuple[tuple[int, float], ...]) -> tuple[str, int]:
        """Terms joined by `` + `` and `` - `` (each printed as a positive product); terms that
        share a factor are printed as one product with it (``(3*t**2 - 1)/(x**2 + 1)**2``), and
        powers of one base that expand a binomial with the constant as its power."""
        groups = self.groups(items)
        power = self.binomial(const, items, [g[0] for f, g in groups if f is None])
        taken = power[0] if power else set()
        parts: list[tuple[bool, str, int]] = []
        for factor, group in groups:
            if factor is not None:
                parts.append(self.group(factor, [items[i] for i in group]))
            elif group[0] not in taken:
                s, k = items[group[0]]
                parts.append((k < 0, *self.product(abs(k), self.factors_of(s))))
            elif power is not None and group[0] == min(taken):
                parts.append(power[1])
        if const and not power:
            parts.append((const < 0, *self.number(abs(const))))
        if len(parts) == 1:
            negative, text, prec = parts[0]
            return ("-" + text, min(prec, NEG_P)) if negative else (text, prec)
        if len(parts) == 2 and parts[0][0] and not parts[1][0]:
            # `1 - x**2`, not `-x**2 + 1`; longer sums keep their degree order.
            parts.reverse()
        out = ["-" + parts[0][1] if parts[0][0] else parts[0][1]]
        for negative, text, _ in parts[1:]:
            out.append((self.MINUS if negative else self.PLUS) + text)
        return "".join(out), ADD_P

    def binomial(self, const: float, items: tuple[tuple[int, float], ...], among: list[int]
                 ) -> tuple[set[int], tuple[bool, str, int]] | None:
        """The terms among ``items[i]``, ``i`` in ``among``, that with the constant are exactly
        the expansion of ``k*(u + c)**n``, n >= 2 (``u**2 + 2*u + 1``): their indices in
        ``items`` and that power printed; None if there are none."""
        if not const:
            return None
        by_base: dict[int, dict[int, tuple[int, float]]] = {}
        for i in among:
            s, k = items[i]
            factors = self.factors_of(s)
            if len(factors) == 1 and factors[0][1] >= 1:
                by_base.setdefault(factors[0][0], {})[factors[0][1]] = (i, k)
        for base, powers in sorted(by_base.items(), key=lambda bp: self.a[bp[0]].key):
            n = len(powers)
            if n < 2 or set(powers) != set(range(1, n + 1)):
                continue
            k = powers[n][1]
            c = powers[n - 1][1] / (n * k)
            coefficients = {j: kj for j, (_, kj) in powers.items()} | {0: const}
            if any(k * math.comb(n, j) * c ** (n - j) != coefficients[j] for j in range(n + 1)):
                continue
            shifted = self.a.add([(base, 1.0)], c)
            self.render([shifted])
            return ({i for i, _ in powers.values()},
                    (k < 0, *self.product(abs(k), ((shifted, n),))))
        return None

    def groups(self, items: tuple[tuple[int, float], ...]
               ) -> list[tuple[tuple[int, int] | None, list[int]]]:
        """The terms of a sum partitioned, in their order: ``(factor, indices)`` for terms that
        share a factor ``base**n`` (two or more), ``(None, [i])`` for the others.

        The base that takes the most nodes out goes first, then the next among the rest.
        Positive powers of plain symbols stay in their terms (a polynomial stays one), while
        a denominator may be any base: ``(24*t**5 - 40*t**3)/x``.
        """
        a = self.a
        free = list(range(len(items)))
        out: list[tuple[tuple[int, int] | None, list[int]]] = []
        while len(free) > 1:
            sharing: dict[tuple[int, int], list[int]] = {}
            for i in free:
                for b, n in self.factors_of(items[i][0]):
                    if n < 0 or a[b].kind != SYM:
                        sharing.setdefault((b, n), []).append(i)
            saved: dict[int, int] = {}
            for (b, n), members in sharing.items():
                if len(members) > 1:
                    # b**n leaves each term but one: its operator, and `**` with the exponent.
                    saved[b] = saved.get(b, 0) + (len(members) - 1) * (2 if abs(n) == 1 else 4)
            if not saved:
                break
            best = max(sorted(saved, key=lambda b: a[b].key), key=saved.__getitem__)
            taken: set[int] = set()
            for (b, n), members in sharing.items():
                if b == best and len(members) > 1:
                    out.append(((b, n), members))
                    taken.update(members)
            free = [i for i in free if i not in taken]
        out += [(None, [i]) for i in free]
        return sorted(out, key=lambda fg: fg[1][0])

    def group(self, factor: tuple[int, int], items: list[tuple[int, float]]
              ) -> tuple[bool, str, int]:
        """Terms sharing ``factor`` printed as one product: ``factor*(rest)``, with an integer
        content and the sign of the first term taken out; (negative, text)."""
        a = self.a
        base, n = factor
        sign = -1.0 if items[0][1] < 0 else 1.0
        content = 1.0
        if all(k.is_integer() and abs(k) < 2**53 for _, k in items):
            content = float(math.gcd(*(int(k) for _, k in items)))
        rest = a.add([(a.mul([(b, m - n if b == base else m) for b, m in self.factors_of(s)]),
                       sign * k / content) for s, k in items])
        text, prec = self.product(*self.joined(content, [factor], rest))
        negative = text.startswith("-")
        return (sign < 0) != negative, text[1:] if negative else text, prec

    def coefficient(self, c: float) -> tuple[list[str], list[str]]:
        """Numerator and denominator items of a positive coefficient (``[3, pi]``, ``[2]``)."""
        if c == 1:
            return [], []
        pi = None if "pi" in self.reserved else _pi_fraction(c)
        if pi is not None:
            p, q = pi
            return [*([str(p)] if p != 1 else []), self.PI], ([str(q)] if q != 1 else [])
        top, bottom = _fraction(c)
        return ([self.number(top)[0]] if top != 1 else []), ([str(bottom)] if bottom != 1 else [])

    def split(self, coeff: float, factors: tuple[tuple[int, int], ...]
              ) -> tuple[list[str], list[str], bool]:
        """Numerator items, denominator items, and whether the product is negative.

        A lone factor of a fraction's numerator or denominator is printed ``bare`` (LaTeX's
        ``\\frac`` groups it already).
        """
        num, den = self.coefficient(abs(coeff))
        ups = [(b, n) for b, n in factors if n > 0]
        downs = [(b, -n) for b, n in factors if n < 0]
        fraction = bool(den or downs)
        num += [self.factor(b, n, fraction and len(num) + len(ups) == 1) for b, n in ups]
        den += [self.factor(b, n, len(den) + len(downs) == 1) for b, n in downs]
        return num, den, coeff < 0

    def single_prec(self, factors: tuple[tuple[int, int], ...]) -> int:
        """Precedence of a product that prints as its only factor (a wrapped one is atomic)."""
        if not factors:
            return ATOM_P
        base, n = factors[0]
        if n > 1:
            return POW_P
        prec = self.memo[base][1]
        return ATOM_P if prec < POW_P else prec

    # -- dialect hooks

    PI = "pi"
    COMPARE = COMPARISONS

    def number(self, v: float) -> tuple[str, int]:
        raise NotImplementedError

    def symbol(self, name: str, index: tuple[int, ...]) -> str:
        raise NotImplementedError

    def power(self, base: int, exponent: int) -> tuple[str, int]:
        raise NotImplementedError

    def function(self, op: str, args: tuple[int, ...]) -> tuple[str, int]:
        raise NotImplementedError

    def product(self, coeff: float, factors: tuple[tuple[int, int], ...]) -> tuple[str, int]:
        raise NotImplementedError

    def factor(self, base: int, n: int, bare: bool = False) -> str:
        raise NotImplementedError


class TextPrinter(_Base):
    """Formulas in the expression language of API.md §1; they parse back with our parser."""

    def parens(self, text: str, t: int) -> str:
        return f"({text})"

    def number(self, v: float) -> tuple[str, int]:
        if math.isnan(v):
            return "(0/0)", ATOM_P
        if math.isinf(v):
            return ("(1/0)" if v > 0 else "(-1/0)"), ATOM_P
        name = "pi" if abs(v) == math.pi else "e" if abs(v) == math.e else None
        if name is not None and name not in self.reserved:
            return (name, ATOM_P) if v > 0 else ("-" + name, NEG_P)
        text = _int_text(v)
        if text is not None:
            return text, (NEG_P if v < 0 else ATOM_P)
        sign = "-" if v < 0 else ""
        pi = None if "pi" in self.reserved else _pi_fraction(abs(v))
        if pi is not None:
            p, q = pi
            text = sign + ("pi" if p == 1 else f"{p}*pi") + ("" if q == 1 else f"/{q}")
            return text, (MUL_P if p != 1 or q != 1 else NEG_P if v < 0 else ATOM_P)
        text = repr(v)
        if len(text) > 8:
            # 0.3333333333333333 reads better as 1/3 (exact: the parser divides back).
            top, bottom = _fraction(abs(v))
            if bottom != 1:
                return f"{sign}{_int_text(top)}/{bottom}", MUL_P
        return text, (NEG_P if v < 0 else ATOM_P)

    def symbol(self, name: str, index: tuple[int, ...]) -> str:
        return name if not index else f"{name}[{','.join(map(str, index))}]"

    def power(self, base: int, exponent: int) -> tuple[str, int]:
        if self.a.value(exponent) == 0.5:
            return f"sqrt({self.memo[base][0]})", ATOM_P
        exp_text, exp_prec = self.memo[exponent]
        if exp_prec < POW_P:
            exp_text = f"({exp_text})"
        return f"{self.wrap(base, ATOM_P)}**{exp_text}", POW_P

    def function(self, op: str, args: tuple[int, ...]) -> tuple[str, int]:
        return f"{op}({', '.join(self.memo[x][0] for x in args)})", ATOM_P

    def factor(self, base: int, n: int, bare: bool = False) -> str:
        if n == 1:
            return self.wrap(base, POW_P)
        return f"{self.wrap(base, ATOM_P)}**{n}"

    def product(self, coeff: float, factors: tuple[tuple[int, int], ...]) -> tuple[str, int]:
        num, den, negative = self.split(coeff, factors)
        text = "*".join(num) or "1"
        if den:
            text += "/" + ("*".join(den) if len(den) == 1 else f"({'*'.join(den)})")
        if negative:
            return "-" + text, (NEG_P if len(num) <= 1 and not den else MUL_P)
        if len(num) == 1 and not den:
            return text, self.single_prec(factors)
        return text, MUL_P


# ---------------------------------------------------------------- LaTeX

_GREEK = frozenset({
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi",
    "Omega"})
_SUBSCRIPTED = re.compile(r"^([A-Za-z]+?)_?([0-9]+)$")

_LATEX_CMP: dict[str, str | None] = {str(op): PRIMITIVES[op].latex
                                      for op in in_group(Group.COMPARISON)}


def latex_name(name: str) -> str:
    """A variable name in LaTeX: ``x``, ``\\alpha``, ``x_{1}``, ``\\mathrm{rate}``."""
    if name in _GREEK:
        return "\\" + name
    if len(name) == 1:
        return name
    m = _SUBSCRIPTED.match(name)
    if m and (len(m.group(1)) == 1 or m.group(1) in _GREEK):
        return f"{latex_name(m.group(1))}_{{{m.group(2)}}}"
    return r"\mathrm{" + name.replace("_", r"\_") + "}"


class LatexPrinter(_Base):
    """The same formulas in LaTeX (``\\frac``, ``\\sqrt``, ``^{…}``, juxtaposed factors)."""

    PI = r"\pi"
    COMPARE = _LATEX_CMP

    def parens(self, text: str, t: int) -> str:
        if self.a[t].kind == CMP:
            return rf"\left[{text}\right]"  # Iverson bracket: 1 if it holds, else 0
        return rf"\left({text}\right)"

    def number(self, v: float) -> tuple[str, int]:
        if math.isnan(v):
            return r"\mathrm{NaN}", ATOM_P
        if math.isinf(v):
            return (r"\infty" if v > 0 else r"-\infty"), (ATOM_P if v > 0 else NEG_P)
        sign = "-" if v < 0 else ""
        pi = None if "pi" in self.reserved or v.is_integer() else _pi_fraction(abs(v))
        if pi is not None:
            p, q = pi
            num = r"\pi" if p == 1 else rf"{p} \pi"
            text = num if q == 1 else rf"\frac{{{num}}}{{{q}}}"
            return sign + text, (NEG_P if v < 0 else ATOM_P if p == 1 and q == 1 else MUL_P)
        text = _int_text(v) or repr(v)
        if len(text) > 8 and _int_text(v) is None and "e" not in text:
            top, bottom = _fraction(abs(v))
            if bottom != 1:
                return rf"{sign}\frac{{{_int_text(top)}}}{{{bottom}}}", (NEG_P if v < 0 else ATOM_P)
        if "e" in text:
            mantissa, exp = text.split("e")
            power = f"10^{{{int(exp)}}}"
            text = power if mantissa in ("1", "-1") else rf"{mantissa} \cdot {power}"
            if mantissa == "-1":
                text = "-" + text
            return text, (NEG_P if v < 0 else MUL_P)
        return text, (NEG_P if v < 0 else ATOM_P)

    def symbol(self, name: str, index: tuple[int, ...]) -> str:
        base = latex_name(name)
        if not index:
            return base
        if "_" in base:
            base = f"{{{base}}}"
        return f"{base}_{{{','.join(map(str, index))}}}"

    def power(self, base: int, exponent: int) -> tuple[str, int]:
        if self.a.value(exponent) == 0.5:
            return rf"\sqrt{{{self.memo[base][0]}}}", ATOM_P
        return f"{self.wrap(base, ATOM_P)}^{{{self.memo[exponent][0]}}}", POW_P

    def function(self, op: str, args: tuple[int, ...]) -> tuple[str, int]:
        texts = [self.memo[x][0] for x in args]
        match op:
            case "exp":
                return f"e^{{{texts[0]}}}", POW_P
            case "cbrt":
                return rf"\sqrt[3]{{{texts[0]}}}", ATOM_P
            case "abs":
                return rf"\left|{texts[0]}\right|", ATOM_P
            case "floor":
                return rf"\left\lfloor {texts[0]}\right\rfloor", ATOM_P
            case "ceil":
                return rf"\left\lceil {texts[0]}\right\rceil", ATOM_P
            case "floor_divide":
                return rf"\left\lfloor \frac{{{texts[0]}}}{{{texts[1]}}}\right\rfloor", ATOM_P
            case "mod":
                return rf"\left({texts[0]} \bmod {texts[1]}\right)", ATOM_P
            case "where":
                c, x, y = texts
                return (rf"\begin{{cases}} {x} & \text{{if }} {c} \\ {y} & "
                        r"\text{otherwise} \end{cases}"), ATOM_P
            case "polygamma":
                return rf"\psi^{{({texts[0]})}}\left({texts[1]}\right)", ATOM_P
            case "jv" | "yv" | "iv":
                return rf"{PRIMITIVES[op].latex}_{{{texts[0]}}}\left({texts[1]}\right)", ATOM_P
        name = PRIMITIVES[op].latex or rf"\operatorname{{{op}}}"
        return rf"{name}\left({', '.join(texts)}\right)", ATOM_P

    def factor(self, base: int, n: int, bare: bool = False) -> str:
        if n == 1:
            if bare and self.a[base].kind != CMP:
                return self.memo[base][0]
            return self.wrap(base, POW_P)
        return f"{self.wrap(base, ATOM_P)}^{{{n}}}"

    @staticmethod
    def _juxtapose(items: list[str]) -> str:
        out = items[0]
        for item in items[1:]:
            # A digit after anything reads as one number: use a visible product sign there.
            out += (r" \cdot " if item[:1].isdigit() or item[:1] == "." else " ") + item
        return out

    def product(self, coeff: float, factors: tuple[tuple[int, int], ...]) -> tuple[str, int]:
        num, den, negative = self.split(coeff, factors)
        text = self._juxtapose(num) if num else "1"
        if den:
            text = rf"\frac{{{text}}}{{{self._juxtapose(den)}}}"
        if negative:
            return "-" + text, NEG_P if len(num) <= 1 and not den else MUL_P
        if len(num) == 1 and not den:
            return text, self.single_prec(factors)
        return text, MUL_P


def print_terms(algebra: Algebra, roots: list[int], reserved: frozenset[str] = frozenset()
                ) -> tuple[list[str], list[str]]:
    """The formulas (our language) and LaTeX of ``roots``."""
    return (TextPrinter(algebra, reserved).render(roots),
            LatexPrinter(algebra, reserved).render(roots))


__all__ = ["ADD", "FN", "MUL", "NUM", "POW", "SYM", "LatexPrinter", "TextPrinter",
           "latex_name", "print_terms"]
