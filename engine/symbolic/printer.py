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
``exp(x)*(sin(x) + cos(x))``, while ``3*x**2 + 2*x`` stays a polynomial.
"""

from __future__ import annotations

import math
import re

from engine.ir.ops import PRIMITIVES, Group, in_group
from engine.language.parser import precedence
from engine.symbolic.algebra import Algebra
from engine.symbolic.terms import ADD, CMP, COMPARISONS, FN, MUL, NUM, POW, SYM

CMP_P, ADD_P, MUL_P = precedence("<"), precedence("+", "left"), precedence("*")
NEG_P, POW_P, ATOM_P = precedence("-", "prefix"), precedence("**"), precedence("(")
"""Precedence levels, the parser's: a child printed at a lower level than its slot needs
parentheses (calls and atoms bind like the postfix forms)."""

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

    def __init__(self, algebra: Algebra, reserved: frozenset[str] = frozenset()) -> None:
        self.a = algebra
        self.reserved = reserved
        """Names of symbols in use: ``pi``/``e`` print as numbers if a variable has the name."""
        self.memo: dict[int, tuple[str, int]] = {}

    def render(self, roots: list[int]) -> list[str]:
        """The text of every root term."""
        for t in self.a.closure(roots):
            if t not in self.memo:
                self.memo[t] = self._term(t)
        return [self.memo[r][0] for r in roots]

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
        common = self.common_factors(items) if not const else []
        if common:
            # exp(x)*sin(x) + exp(x)*cos(x) prints as exp(x)*(sin(x) + cos(x)).
            a = self.a
            drop = dict(common)
            # An integer content goes out with them: tan(x)*(2*tan(x)**2 + 2) -> 2*tan(x)*(…).
            content = 1.0
            if all(k.is_integer() and abs(k) < 2**53 for _, k in items):
                content = float(math.gcd(*(int(k) for _, k in items)))
            rest = a.add([(a.mul([(b, n - drop.get(b, 0)) for b, n in self.factors_of(s)]),
                           k / content) for s, k in items])
            self.render([rest])
            whole = sorted([*common, (rest, 1)], key=lambda bn: a[bn[0]].key)
            return self.product(content, tuple(whole))
        return self.plain_sum(const, items), ADD_P

    def factors_of(self, t: int) -> tuple[tuple[int, int], ...]:
        term = self.a[t]
        return term.data[1] if term.kind == MUL else ((t, 1),)

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

    def plain_sum(self, const: float, items: tuple[tuple[int, float], ...]) -> str:
        """Terms joined by `` + `` and `` - `` (each printed as a positive product)."""
        parts: list[tuple[bool, str]] = []
        for s, k in items:
            term = self.a[s]
            factors = term.data[1] if term.kind == MUL else ((s, 1),)
            parts.append((k < 0, self.product(abs(k), factors)[0]))
        if const:
            parts.append((const < 0, self.number(abs(const))[0]))
        if len(parts) == 2 and parts[0][0] and not parts[1][0]:
            # `1 - x**2`, not `-x**2 + 1`; longer sums keep their degree order.
            parts.reverse()
        out = ["-" + parts[0][1] if parts[0][0] else parts[0][1]]
        for negative, text in parts[1:]:
            out.append((self.MINUS if negative else self.PLUS) + text)
        return "".join(out)

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
