"""Canonical scalar expressions: how derivative graphs become formulas a reader expects.

A derivative graph (tensors, structural ops, shared nodes) is *scalarized* entry by entry into
the terms of an :class:`Algebra`: a hash-consed store of numbers, symbols, function applications,
and n-ary sums and products kept in canonical form. The simplifications live in the smart
constructors, so every term is canonical the moment it exists:

- constants fold with the engine's own forward rules (same float64 semantics);
- sums collect like terms (``x + x -> 2*x``, ``3*x + 2*x -> 5*x``) and drop zeros; ``--x -> x``;
- products merge powers of one base (``x*x -> x**2``, ``x**2/x -> x``, ``x*x**(x - 1) ->
  x**x``), drop ones and collapse to 0 when a factor is 0 (``x*0 -> 0`` and ``x/x -> 1`` are
  accepted: they only differ where the original is undefined);
- a product is distributed over its sums when that stays small (``MAX_EXPANSION`` terms), so
  like terms meet (``y*(a - b) - y*a -> -y*b``); the printer pulls common factors out again.
  Factors a sum's terms share are cancelled first (``d*(a/d + b/d) -> a + b``);
- ``where``: a constant or indifferent condition picks a branch, factors move into a branch
  next to a 0 (``u*where(c, 0, a) -> where(c, 0, u*a)``), wheres with one condition merge, and
  a nested one with the same condition resolves; in a product of comparisons holding
  ``x == c`` the others are evaluated at ``x = c`` (the ``a ** b`` mask of ``x**x`` vanishes);
- non-integer powers stay atoms (``sqrt(x)*sqrt(x)`` is ``sqrt(x)**2``, never ``x``: that
  would give numbers where the original is NaN); ``exp(log(u)) -> u`` only when ``u`` is
  provably positive (``1 + x**2``, ``exp(y)``, ``cosh(y)`` …), ``abs(u) -> u`` when ``u >= 0``.

Children always exist before their parents, so ascending term ids are a topological order:
every pass (flags, sizes, printing) is a loop, never a recursion over the expression; the
constructors call each other only a bounded number of levels deep. Canonical order (for
printing) is structural, not by creation: sums by descending polynomial degree, products
symbols first (``v[2]`` before ``v[10]``), then powers, functions, comparisons, sums.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from engine.ir.ops import PRIMITIVES, Op
from engine.symbolic.rewrites import ProductRewrites
from engine.symbolic.terms import (
    ADD,
    CMP,
    COMPARISONS,
    FN,
    LABEL_LENGTH,
    MUL,
    NO_WHERES,
    NONNEG,
    NUM,
    POSITIVE,
    POW,
    RANK,
    SYM,
    UNKNOWN,
    Term,
    digest_of,
    scaled_label,
    shallow,
)


def _fold(op: str, params: tuple[Any, ...], *values: float) -> float:
    with np.errstate(all="ignore"):
        out = PRIMITIVES[op].forward(params, *(np.float64(v) for v in values))
    return float(out)

def _is_int(p: float) -> bool:
    return float(p).is_integer()




class Algebra(ProductRewrites):
    """A hash-consed store of canonical terms with simplifying constructors."""

    def __init__(self) -> None:
        self.terms: list[Term] = []
        self._index: dict[tuple[Any, ...], int] = {}
        self._common_cache: dict[int, tuple[dict[int, int], int] | None] = {}
        self.zero = self.num(0.0)
        self.one = self.num(1.0)

    def __getitem__(self, t: int) -> Term:
        return self.terms[t]

    # ---------------------------------------------------------------- interning

    def _intern(self, kind: str, data: tuple[Any, ...], label: str, degree: float = 0.0,
                sign: int = UNKNOWN, boolean: bool = False, children: tuple[Any, ...] = (),
                key: tuple[Any, ...] | None = None) -> int:
        found = self._index.get((kind, data))
        if found is not None:
            return found
        label = label[:LABEL_LENGTH]
        # Children enter the digest through their own digests; numbers, names, ops,
        # coefficients and exponents through ``shallow``.
        outer = shallow(kind, data)
        digest = digest_of(kind, outer, tuple(self.terms[c].digest for c in children))
        if kind == SYM:
            key = (RANK[SYM], data[0], data[1])
        elif key is not None:
            key = (*key, digest)
        else:
            key = (RANK[kind], label, digest)
        inner = [self.terms[c].wheres for c in children if self.terms[c].wheres]
        wheres = frozenset().union(*inner) if inner else NO_WHERES
        if kind == FN and data[0] == "where":
            wheres = wheres | {data[1][0]}
        self.terms.append(Term(kind, data, key, label, degree, sign, boolean, digest, wheres))
        tid = len(self.terms) - 1
        self._index[(kind, data)] = tid
        return tid

    # ---------------------------------------------------------------- leaves

    def num(self, value: float) -> int:
        """A number (float64)."""
        v = float(value)
        if v == 0.0:
            v = 0.0  # one zero: -0.0 would print as "-0"
        sign = POSITIVE if v > 0 else NONNEG if v == 0 else UNKNOWN
        return self._intern(NUM, (v,), repr(v), sign=sign, boolean=v in (0.0, 1.0))

    def sym(self, name: str, index: tuple[int, ...] = ()) -> int:
        """A variable or parameter, or one entry ``name[index]`` of a tensor one."""
        label = name if not index else f"{name}[{','.join(map(str, index))}]"
        return self._intern(SYM, (name, index), label, degree=1.0)

    def value(self, t: int) -> float | None:
        """The number a term is, or None."""
        term = self.terms[t]
        return term.data[0] if term.kind == NUM else None

    # ---------------------------------------------------------------- sums

    def add(self, pairs: Iterable[tuple[int, float]], const: float = 0.0) -> int:
        """``const + Σ coeff·term``, flattened and with like terms collected."""
        acc: dict[int, float] = {}
        terms = self.terms
        for t, c in pairs:
            if c == 0:
                continue
            term = terms[t]
            if term.kind == NUM:
                const += c * term.data[0]
            elif term.kind == ADD:
                const += c * term.data[0]
                for s, k in term.data[1]:
                    acc[s] = acc.get(s, 0.0) + c * k
            elif term.kind == MUL and term.data[0] != 1:
                m = self._monic(term)
                acc[m] = acc.get(m, 0.0) + c * term.data[0]
            else:
                acc[t] = acc.get(t, 0.0) + c
        merged = self._merge_wheres(acc, const)
        if merged is not None:
            return merged
        items = sorted(((s, k) for s, k in acc.items() if k != 0),
                       key=lambda sk: self._term_order(sk[0]))
        if not items:
            return self.num(const)
        if len(items) == 1 and const == 0:
            s, k = items[0]
            return s if k == 1 else self.mul([(s, 1)], k)
        sign = POSITIVE if const > 0 else NONNEG if const == 0 else UNKNOWN
        for s, k in items:
            if k < 0 or terms[s].sign == UNKNOWN:
                sign = UNKNOWN
                break
            if terms[s].sign == POSITIVE:
                sign = POSITIVE
        label = "+".join(scaled_label(k, terms[s].label) for s, k in items)
        if const:
            label += f"+{const!r}"
        return self._intern(ADD, (float(const), tuple(items)), label, sign=sign,
                            children=tuple(s for s, _ in items))

    def _term_order(self, t: int) -> tuple[Any, ...]:
        """Sort key of a sum's terms: polynomial degree in the symbols, then in the other
        factors (``24*tan(x)**4 + 40*tan(x)**2 + 16``), both descending, then structure."""
        term = self.terms[t]
        if term.kind == MUL:
            atoms = sum(n for b, n in term.data[1] if n > 0 and self.terms[b].kind != SYM)
        else:
            atoms = 0 if term.kind == SYM else 1
        return (-term.degree, -atoms, term.key)

    def _merge_wheres(self, acc: dict[int, float], const: float) -> int | None:
        """``k1*where(c, a1, b1) + k2*where(c, a2, b2) -> where(c, k1*a1 + k2*a2, …)``."""
        terms = self.terms
        by_cond: dict[int, list[int]] = {}
        for s, k in acc.items():
            term = terms[s]
            if k and term.kind == FN and term.data[0] == "where":
                by_cond.setdefault(term.data[1][0], []).append(s)
        for c, group in by_cond.items():
            if len(group) < 2:
                continue
            yes = self.add([(terms[s].data[1][1], acc[s]) for s in group])
            no = self.add([(terms[s].data[1][2], acc[s]) for s in group])
            rest = [(s, k) for s, k in acc.items() if s not in group]
            return self.add([*rest, (self.where(c, yes, no), 1.0)], const)
        return None

    def _monic(self, term: Term) -> int:
        """A product with its numeric coefficient set to 1."""
        return self.mul(term.data[1])

    def sub(self, a: int, b: int) -> int:
        """a - b."""
        return self.add([(a, 1.0), (b, -1.0)])

    def neg(self, a: int) -> int:
        """-a."""
        return self.add([(a, -1.0)])

    # ---------------------------------------------------------------- products and powers

    def mul(self, pairs: Iterable[tuple[int, int]], coeff: float = 1.0) -> int:
        """``coeff · Π base**n`` for integer ``n``, flattened, powers of one base merged."""
        acc: dict[int, int] = {}
        terms = self.terms
        c = np.float64(coeff)
        with np.errstate(all="ignore"):
            for t, n in pairs:
                term = terms[t]
                if term.kind == NUM:
                    c = c * np.float64(term.data[0]) ** n
                elif term.kind == MUL:
                    c = c * np.float64(term.data[0]) ** n
                    for b, m in term.data[1]:
                        acc[b] = acc.get(b, 0) + m * n
                else:
                    acc[t] = acc.get(t, 0) + n
        coeff = float(c)
        if coeff == 0:
            return self.zero
        factors = []
        for b, n in acc.items():
            if n > 1 and terms[b].boolean:
                n = 1  # c**n == c for c in {0, 1}
            if n:
                factors.append((b, n))
        factors.sort(key=lambda bn: terms[bn[0]].key)
        if not factors:
            return self.num(coeff)
        if len(factors) == 1 and factors[0][1] == 1:
            base = factors[0][0]
            if coeff == 1:
                return base
            if terms[base].kind == ADD:
                return self.add([(base, coeff)])
        # The rewrites, in order; the first that applies builds the product.
        for rewrite in (self._merge_powers, self._cancel, self._into_where, self._expand,
                        self._mask):
            rewritten = rewrite(coeff, factors)
            if rewritten is not None:
                return rewritten
        sign = POSITIVE if coeff > 0 else UNKNOWN
        boolean = coeff == 1
        degree = 0.0
        for b, n in factors:
            bt = terms[b]
            boolean = boolean and bt.boolean and n > 0
            if bt.kind == SYM or (bt.kind == POW and bt.degree):
                degree += bt.degree * n
            if sign != UNKNOWN and bt.sign != POSITIVE:
                sign = NONNEG if (bt.sign == NONNEG and n > 0) or n % 2 == 0 else UNKNOWN
        label = "*".join(terms[b].label if n == 1 else f"{terms[b].label}**{n}"
                         for b, n in factors)
        # Products order by their factors (v[2]*v[3] before v[10]); factor keys are flat.
        key = (RANK[MUL], tuple((terms[b].key, n) for b, n in factors))
        return self._intern(MUL, (coeff, tuple(factors)), scaled_label(coeff, label), key=key,
                            degree=degree, sign=sign, boolean=boolean,
                            children=tuple(b for b, _ in factors))

    def power(self, base: int, p: float) -> int:
        """``base ** p`` for a number ``p``."""
        p = float(p)
        if p == 0:
            return self.one  # numpy: x**0 == 1 for every x, NaN included
        if p == 1:
            return base
        bt = self.terms[base]
        if bt.kind == NUM:
            return self.num(_fold("powc", (p,), bt.data[0]))
        if _is_int(p) and abs(p) < 2**62:
            return self.mul([(base, int(p))])
        if p < 0:
            return self.mul([(self.power(base, -p), -1)])
        q = self.value(bt.data[1]) if bt.kind == POW else None
        if q is not None:
            # (u**q)**p == u**(q*p) for non-integer q: both are NaN for u < 0.
            return self.power(bt.data[0], p * q)
        return self.pow_atom(base, self.num(p))

    def pow_atom(self, base: int, exponent: int) -> int:
        """``base ** exponent`` kept as an atom (non-integer or symbolic exponent)."""
        bt, et = self.terms[base], self.terms[exponent]
        p = self.value(exponent)
        sign = (POSITIVE if bt.sign == POSITIVE else NONNEG) if p is not None else (
            POSITIVE if bt.sign == POSITIVE else UNKNOWN)
        degree = bt.degree * p if p is not None and bt.kind == SYM else 0.0
        return self._intern(POW, (base, exponent), f"{bt.label}**{et.label}", degree=degree,
                            sign=sign, children=(base, exponent))

    # ---------------------------------------------------------------- functions

    def call(self, op: str, args: tuple[int, ...], params: tuple[Any, ...] = ()) -> int:
        """An elementwise primitive ``op`` applied to terms: constants fold with its forward
        rule, otherwise its record's scalar rule applies (an opaque function term if none)."""
        op = str(op)
        values = [v for v in (self.value(a) for a in args) if v is not None]
        if len(values) == len(args) and op != Op.WHERE:
            return self.num(_fold(op, params, *values))
        rule = PRIMITIVES[op].scalar
        return self.function(op, args) if rule is None else rule(self, args, params)

    def where(self, c: int, a: int, b: int) -> int:
        """``where(c, a, b)``: a known or resolved condition picks its branch."""
        v = self.value(c)
        if v is not None:
            return a if v != 0 else b
        if a == b:
            return a
        # Inside a branch the condition is known: where(c, 0, u*where(c, p, q)) -> where(c, 0, u*q).
        if c in self.terms[a].wheres:
            a = self._resolve(a, c, True)
        if c in self.terms[b].wheres:
            b = self._resolve(b, c, False)
        if a == b:
            return a
        ta, tb = self.terms[a], self.terms[b]
        label = f"where({self.terms[c].label},{ta.label},{tb.label})"
        return self._intern(FN, ("where", (c, a, b)), label,
                            sign=min(ta.sign, tb.sign), boolean=ta.boolean and tb.boolean,
                            children=(c, a, b))

    def compare(self, op: str, a: int, b: int) -> int:
        """``a op b`` for a comparison op: a 0/1 term."""
        op = str(op)
        # A 0/1 value compared with 0: `where(x > 0, …)` lowers to (x > 0) != 0.
        if self.terms[a].boolean and b == self.zero and op in ("ne", "gt"):
            return a
        label = f"{self.terms[a].label}{COMPARISONS[op]}{self.terms[b].label}"
        return self._intern(CMP, (op, (a, b)), label, sign=NONNEG, boolean=True,
                            children=(a, b))

    def function(self, op: str, args: tuple[int, ...]) -> int:
        """``op(*args)`` as a function term (``exp(log(u))`` and ``abs(u)`` simplify when the
        sign of ``u`` allows)."""
        a = args[0] if len(args) == 1 else None
        if a is not None:
            at = self.terms[a]
            if op == "exp" and at.kind == FN and at.data[0] == "log":
                inner = at.data[1][0]
                if self.terms[inner].sign == POSITIVE:
                    return inner  # exp(log(u)) == u only because u > 0 is known
            if op == "abs" and at.sign != UNKNOWN:
                return a
        sign = PRIMITIVES[op].sign.value
        label = f"{op}({','.join(self.terms[x].label for x in args)})"
        return self._intern(FN, (op, args), label, sign=sign, children=args)

    # ---------------------------------------------------------------- traversal

    def children(self, t: int) -> tuple[int, ...]:
        """Direct sub-terms of ``t``."""
        term = self.terms[t]
        if term.kind in (NUM, SYM):
            return ()
        if term.kind == POW:
            return term.data
        if term.kind in (FN, CMP):
            return term.data[1]
        return tuple(s for s, _ in term.data[1])

    def closure(self, roots: Iterable[int]) -> list[int]:
        """Every term the roots use, in increasing id order (a topological order)."""
        seen: set[int] = set()
        stack = list(roots)
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            stack.extend(self.children(t))
        return sorted(seen)


def tree_sizes(algebra: Algebra, roots: Iterable[int]) -> dict[int, int]:
    """Node count of each term printed as a tree (shared sub-terms counted at every use).

    It approximates the parsed AST of the printed text (operators, calls, names, numbers) and
    is computed on integers before any text exists, so a size limit is checked cheaply.
    """
    size: dict[int, int] = {}
    for t in algebra.closure(roots):
        term = algebra[t]
        match term.kind:
            case "num" | "sym":
                n = 1 + (1 if term.kind == SYM and term.data[1] else 0)
            case "pow" | "fn" | "cmp":
                n = 1 + sum(size[c] for c in algebra.children(t))
            case "add":
                const, items = term.data
                n = sum(size[s] + (2 if abs(k) != 1 else 0) for s, k in items)
                n += len(items) - 1 + (2 if const else 0)
            case _:
                coeff, factors = term.data
                n = sum(size[b] + (2 if abs(k) != 1 else 0) for b, k in factors)
                n += len(factors) - 1 + (2 if abs(coeff) != 1 else 0) + (coeff < 0)
        size[t] = n
    return size
