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

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import InputError, LimitError
from engine.graph import Graph, size_of
from engine.ir.ops import PRIMITIVES, Group, Op, Sign
from engine.transforms import ancestors

NUM, SYM, POW, FN, CMP, ADD, MUL = "num", "sym", "pow", "fn", "cmp", "add", "mul"
"""Term kinds. ``POW`` is ``base ** exponent`` with a non-integer or symbolic exponent."""

MAX_EXPANSION = 64
"""Most terms a product may expand into when it is distributed over its sums."""

_RANK = {NUM: 0, SYM: 1, POW: 2, FN: 3, CMP: 4, ADD: 5, MUL: 6}
_LABEL = 40
"""Characters of the readable label that orders terms (the digest breaks remaining ties)."""

COMPARISONS = {str(p.name): p.symbol for p in PRIMITIVES.values() if Group.COMPARISON in p.groups}
"""Comparison op -> its operator in the language."""

_NO_WHERES: frozenset[int] = frozenset()

# Sign knowledge of a term, used only to justify simplifications.
UNKNOWN, NONNEG, POSITIVE = Sign.UNKNOWN.value, Sign.NONNEG.value, Sign.POSITIVE.value


@dataclass(frozen=True, slots=True)
class Term:
    """One canonical expression; children are term ids of the same :class:`Algebra`.

    ``data`` by kind: NUM ``(value,)``; SYM ``(name, index)``; POW ``(base, exponent)``;
    FN/CMP ``(op, args)``; ADD ``(const, ((term, coeff), …))``; MUL ``(coeff, ((base, n), …))``
    with integer ``n != 0``.
    """

    kind: str
    data: tuple[Any, ...]
    key: tuple[Any, ...]
    """Canonical sort key (kind rank, then readable structure, then the digest)."""
    label: str
    """A short readable signature (truncated): what orders terms of the same kind."""
    degree: float
    """Polynomial degree in the symbols (orders the terms of a sum)."""
    sign: int
    """UNKNOWN, NONNEG or POSITIVE where defined (justifies exp(log(u)) -> u)."""
    boolean: bool
    """Known to be 0 or 1 (comparisons and their products)."""
    digest: bytes
    """Structural hash, independent of creation order (orders terms deterministically)."""
    wheres: frozenset[int]
    """Conditions of the ``where`` terms inside (lets nested ones with the same one resolve)."""


def _digest(*parts: Any) -> bytes:
    return hashlib.blake2b(repr(parts).encode(), digest_size=10).digest()


def _fold(op: str, params: tuple[Any, ...], *values: float) -> float:
    with np.errstate(all="ignore"):
        out = PRIMITIVES[op].forward(params, *(np.float64(v) for v in values))
    return float(out)


def _is_int(p: float) -> bool:
    return float(p).is_integer()


class Algebra:
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
        label = label[:_LABEL]
        # Children enter the digest through their own digests; numbers, names, ops,
        # coefficients and exponents through ``shallow``.
        shallow = _shallow(kind, data)
        digest = _digest(kind, shallow, tuple(self.terms[c].digest for c in children))
        if kind == SYM:
            key = (_RANK[SYM], data[0], data[1])
        elif key is not None:
            key = (*key, digest)
        else:
            key = (_RANK[kind], label, digest)
        inner = [self.terms[c].wheres for c in children if self.terms[c].wheres]
        wheres = frozenset().union(*inner) if inner else _NO_WHERES
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
        label = "+".join(_scaled_label(k, terms[s].label) for s, k in items)
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
        key = (_RANK[MUL], tuple((terms[b].key, n) for b, n in factors))
        return self._intern(MUL, (coeff, tuple(factors)), _scaled_label(coeff, label), key=key,
                            degree=degree, sign=sign, boolean=boolean,
                            children=tuple(b for b, _ in factors))

    def _merge_powers(self, coeff: float, factors: list[tuple[int, int]]) -> int | None:
        """``u**a * u**b -> u**(a + b)`` for non-integer or symbolic exponents (``x*x**(x - 1)``
        is ``x**x``); like ``x/x -> 1`` it only differs where the product is undefined."""
        terms = self.terms
        groups: dict[int, list[tuple[int, int]]] = {}
        for b, n in factors:
            if terms[b].kind == POW:
                groups.setdefault(terms[b].data[0], []).append((b, n))
        plain = dict(factors)
        for base, atoms in groups.items():
            if len(atoms) + (base in plain) < 2:
                continue
            exponent = self.add([(terms[b].data[1], float(n)) for b, n in atoms],
                                float(plain.get(base, 0)))
            drop = {b for b, _ in atoms} | {base}
            rest = [(b, n) for b, n in factors if b not in drop]
            return self.mul([*rest, (self.call("pow", (base, exponent)), 1)], coeff)
        return None

    def common(self, t: int) -> tuple[dict[int, int], int] | None:
        """A sum as (factors every term shares, the sum of what is left), or None.

        ``a/d + b/d`` is ``({d: -1}, a + b)``; a shared power keeps the smaller magnitude and
        factors of opposite signs are not shared.
        """
        if t in self._common_cache:
            return self._common_cache[t]
        terms = self.terms
        const, items = terms[t].data
        shared: dict[int, int] | None = None
        if not const:
            for s, _ in items:
                term = terms[s]
                here = dict(term.data[1]) if term.kind == MUL else {s: 1}
                shared = here if shared is None else {
                    b: (min(n, here[b]) if n > 0 else max(n, here[b]))
                    for b, n in shared.items() if b in here and (n > 0) == (here[b] > 0)}
                if not shared:
                    break
        found = None
        if shared:
            rest = self.add([(self.mul([(b, n - shared.get(b, 0))
                                        for b, n in self._factors(s)]), k) for s, k in items])
            found = (shared, rest)
        self._common_cache[t] = found
        return found

    def _factors(self, t: int) -> tuple[tuple[int, int], ...]:
        term = self.terms[t]
        return term.data[1] if term.kind == MUL else ((t, 1),)

    def _cancel(self, coeff: float, factors: list[tuple[int, int]]) -> int | None:
        """Take out of a sum the factors its terms share when the product has their
        inverses, before any expansion can hide them: ``d * (a/d + b/d) -> a + b``."""
        terms = self.terms
        powers = dict(factors)
        for s, n in factors:
            if terms[s].kind != ADD or n <= 0:
                continue
            found = self.common(s)
            if found is None:
                continue
            shared, rest = found
            if any(b != s and (powers.get(b, 0) > 0) != (m > 0) and b in powers
                   for b, m in shared.items()):
                pairs = [(b, k) for b, k in factors if b != s]
                pairs += [(b, m * n) for b, m in shared.items()] + [(rest, n)]
                return self.mul(pairs, coeff)
        return None

    def _into_where(self, coeff: float, factors: list[tuple[int, int]]) -> int | None:
        """``u * where(c, 0, a) -> where(c, 0, u*a)``: then wheres with one condition merge
        and nested ones resolve. (Where ``c`` holds, ``u`` may be infinite: the product was
        NaN there and is now 0 — the ``x*0 -> 0`` convention.)"""
        terms = self.terms
        for i, (b, n) in enumerate(factors):
            term = terms[b]
            if n != 1 or term.kind != FN or term.data[0] != "where":
                continue
            c, x, y = term.data[1]
            if self.zero not in (x, y):
                continue
            rest = self.mul([f for j, f in enumerate(factors) if j != i], coeff)
            return self.where(c, self.mul([(x, 1), (rest, 1)]),
                               self.mul([(y, 1), (rest, 1)]))
        return None

    def _expand(self, coeff: float, factors: list[tuple[int, int]]) -> int | None:
        """Distribute a product over its sums (positive powers) when the result stays small.

        Like terms can then meet: y*(-x*y*cos(x*y) - sin(x*y)) - y*sin(x*y) becomes
        -x*y**2*cos(x*y) - 2*y*sin(x*y), and tan's derivatives polynomials in tan(x). Common
        factors are pulled out again when printing (:mod:`engine.printer`).
        """
        terms = self.terms
        sums = [(b, n) for b, n in factors if terms[b].kind == ADD and n > 0]
        if not sums:
            return None
        count = 1
        for b, n in sums:
            const, items = terms[b].data
            count *= (len(items) + (const != 0)) ** n
        if count > MAX_EXPANSION:
            return None
        partial = [(self.mul([bn for bn in factors if bn not in sums]), coeff)]
        for b, n in sums:
            const, items = terms[b].data
            parts = [*items, *([(self.one, const)] if const else [])]
            for _ in range(n):
                partial = [(self.mul([(t, 1), (u, 1)]), c * k)
                           for t, c in partial for u, k in parts]
        return self.add(partial)

    def _mask(self, coeff: float, factors: list[tuple[int, int]]) -> int | None:
        """In a product of comparisons holding ``x == c``, the others see ``x = c``.

        The derivative of ``a ** b`` masks base 0 with ``(a == 0)*(b >= 0)``; for ``x**x`` the
        mask of the second derivative holds ``(x == 0)*(x - 1 >= 0)``, which is 0.
        """
        terms = self.terms
        cmps = [b for b, n in factors if terms[b].kind == CMP and n > 0]
        if len(cmps) < 2:
            return None
        for eq in cmps:
            op, (u, v) = terms[eq].data
            if op != "eq":
                continue
            if terms[u].kind == NUM:
                u, v = v, u
            if terms[u].kind != SYM or terms[v].kind != NUM:
                continue
            changed = False
            pairs = []
            for b, n in factors:
                if b in cmps and b != eq:
                    new = self.substitute(b, u, v)
                    changed = changed or new != b
                    b = new
                pairs.append((b, n))
            if changed:
                return self.mul(pairs, coeff)
        return None

    def substitute(self, t: int, old: int, new: int) -> int:
        """``t`` with the term ``old`` replaced by ``new`` (rebuilt, so it simplifies)."""
        return self._rebuild(t, {old: new}, lambda s: True)

    def _resolve(self, t: int, cond: int, holds: bool) -> int:
        """``t`` with every ``where(cond, p, q)`` inside replaced by ``p`` (or ``q``)."""
        terms = self.terms
        mapped: dict[int, int] = {}

        def visit(s: int) -> bool:
            term = terms[s]
            if term.kind == FN and term.data[0] == "where" and term.data[1][0] == cond:
                return False
            return cond in term.wheres

        # Branches of the resolved wheres are rebuilt first (their ids are smaller).
        for s in self.closure([t]):
            term = terms[s]
            if term.kind == FN and term.data[0] == "where" and term.data[1][0] == cond:
                branch = term.data[1][1 if holds else 2]
                mapped[s] = self._rebuild(branch, mapped, visit)
        return self._rebuild(t, mapped, visit)

    def _rebuild(self, t: int, mapped: dict[int, int], visit: Any) -> int:
        """Rebuild the terms of ``t``'s closure that ``visit`` accepts over ``mapped``."""
        terms = self.terms
        order: list[int] = []
        seen: set[int] = set()
        stack = [t]
        while stack:
            s = stack.pop()
            if s in seen or s in mapped:
                continue
            seen.add(s)
            if visit(s):
                order.append(s)
                stack.extend(self.children(s))
        for s in sorted(order):
            term = terms[s]

            def m(x: int) -> int:
                return mapped.get(x, x)
            match term.kind:
                case "num" | "sym":
                    mapped[s] = s
                case "pow":
                    mapped[s] = self.call("pow", (m(term.data[0]), m(term.data[1])))
                case "fn" | "cmp":
                    mapped[s] = self.call(term.data[0], tuple(m(a) for a in term.data[1]))
                case "add":
                    mapped[s] = self.add([(m(c), k) for c, k in term.data[1]], term.data[0])
                case _:
                    mapped[s] = self.mul([(m(b), n) for b, n in term.data[1]], term.data[0])
        return mapped.get(t, t)

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
        if bt.kind == POW and self.value(bt.data[1]) is not None:
            # (u**q)**p == u**(q*p) for non-integer q: both are NaN for u < 0.
            return self.power(bt.data[0], p * self.value(bt.data[1]))
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
        values = [self.value(a) for a in args]
        if all(v is not None for v in values) and op != Op.WHERE:
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


def _shallow(kind: str, data: tuple[Any, ...]) -> tuple[Any, ...]:
    """The part of ``data`` that is not a child term."""
    if kind in (NUM, SYM):
        return data
    if kind in (FN, CMP):
        return (data[0],)
    if kind in (ADD, MUL):
        return (data[0], tuple(w for _, w in data[1]))
    return ()


def _scaled_label(k: float, label: str) -> str:
    return label if k == 1 else f"{k!r}*{label}"


# ---------------------------------------------------------------- graph -> terms

_ADD_OPS = frozenset({"add", "sub", "neg"})
_MUL_OPS = frozenset({"mul", "div"})
MAX_SMALL_LINALG = 3
"""det/inv are expanded by cofactors up to this size; larger ones have no readable formula."""


def _key(params_key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(slice(k[1], k[2], k[3]) if isinstance(k, tuple) else k for k in params_key)


def _obj(x: Any) -> np.ndarray:
    """An object array (0-d for a single term id)."""
    if isinstance(x, np.ndarray):
        return x
    out = np.empty((), dtype=object)
    out[()] = x
    return out


class Scalarizer:
    """Turns graph nodes into object arrays of term ids, entry by entry.

    Chains of sums and of products whose inner links have no other use are gathered into one
    n-ary term: a user's ``x1 + x2 + … + xn`` costs O(n), not O(n²) intermediate sums.
    """

    def __init__(self, g: Graph, algebra: Algebra, max_elements: int) -> None:
        self.g = g
        self.a = algebra
        self.max_elements = max_elements
        self.values: dict[int, np.ndarray] = {}
        self.inline: set[int] = set()
        """Chain links gathered by their consumer instead of getting terms of their own."""

    def run(self, outputs: list[int]) -> list[np.ndarray]:
        """The term arrays of ``outputs`` (shape = each node's static shape)."""
        g = self.g
        order = [n for n in ancestors(g, outputs) if n not in self.values]
        elements = sum(size_of(g.nodes[n].shape) for n in order)
        if elements > self.max_elements:
            raise LimitError("max_symbolic_elements", self.max_elements, elements,
                             what="the scalar entries of the derivative graph")
        uses: Counter[int] = Counter(outputs)
        consumer: dict[int, int] = {}
        for nid in order:
            for arg in g.nodes[nid].args:
                uses[arg] += 1
                consumer[arg] = nid
        for nid in order:
            op = g.nodes[nid].op
            if uses[nid] != 1 or nid not in consumer:
                continue
            user = g.nodes[consumer[nid]].op
            if (op in _ADD_OPS and user in _ADD_OPS) or (op in _MUL_OPS and user in _MUL_OPS):
                self.inline.add(nid)
        for nid in order:
            if nid not in self.inline:
                self.values[nid] = self._node(nid)
        return [self.values[o] for o in outputs]

    # -- chains

    def _gather(self, nid: int) -> list[tuple[int, float]]:
        """(node, weight) leaves of the inlined sum or product chain rooted at ``nid``."""
        nodes = self.g.nodes
        stack = [(nid, 1.0)]
        leaves = []
        while stack:
            n, w = stack.pop()
            node = nodes[n]
            if n != nid and n not in self.inline:
                leaves.append((n, w))
                continue
            match node.op:
                case "add" | "mul":
                    stack.extend([(node.args[1], w), (node.args[0], w)])
                case "sub" | "div":
                    stack.extend([(node.args[1], -w), (node.args[0], w)])
                case "neg":
                    stack.append((node.args[0], -w))
        return leaves

    def _chain(self, nid: int, shape: tuple[int, ...]) -> np.ndarray:
        leaves = self._gather(nid)
        arrays = [(self.values[n], w) for n, w in leaves]
        out = np.empty(shape, dtype=object)
        is_sum = self.g.nodes[nid].op in _ADD_OPS
        for idx in np.ndindex(*shape):
            if is_sum:
                out[idx] = self.a.add([(arr[idx], w) for arr, w in arrays])
            else:
                out[idx] = self.a.mul([(arr[idx], int(w)) for arr, w in arrays])
        return out

    # -- one node

    def _node(self, nid: int) -> np.ndarray:
        g, a = self.g, self.a
        node = g.nodes[nid]
        op, shape = node.op, node.shape
        if op in _ADD_OPS or op in _MUL_OPS:
            return self._chain(nid, shape)
        args = [self.values[x] for x in node.args]
        if op == "const":
            arr = g.consts[nid]
            out = np.empty(shape, dtype=object)
            for idx in np.ndindex(*shape):
                out[idx] = a.num(arr[idx])
            return out
        if op == "input":
            name = node.params[0]
            out = np.empty(shape, dtype=object)
            for idx in np.ndindex(*shape):
                out[idx] = a.sym(name, idx)
            return out
        prim = PRIMITIVES[op]
        if prim.elementwise:
            out = np.empty(shape, dtype=object)
            for idx in np.ndindex(*shape):
                out[idx] = a.call(op, tuple(arr[idx] for arr in args), node.params)
            return out
        return _obj(self._structural(op, node.params, args, shape))

    def _structural(self, op: str, params: tuple[Any, ...], args: list[np.ndarray],
                    shape: tuple[int, ...]) -> np.ndarray:
        a = self.a
        x = args[0]
        match op:
            case "broadcast":
                src, dst = params
                return np.broadcast_to(x.reshape((1,) * (len(dst) - len(src)) + src), dst)
            case "reshape":
                return x.reshape(params[1])
            case "sum":
                axes = tuple(x.ndim + ax for ax in params[0])
                moved = np.moveaxis(x, axes, tuple(range(-len(axes), 0)))
                rows = moved.reshape((*shape, -1))
                out = np.empty(shape, dtype=object)
                for idx in np.ndindex(*shape):
                    out[idx] = a.add([(t, 1.0) for t in rows[idx]])
                return out
            case "index":
                return _obj(x[_key(params[0])])
            case "scatter":
                key, full = params
                out = np.full(full, a.zero, dtype=object)
                # A 0-d object array assigned to one entry would be stored as an object itself.
                out[_key(key)] = x[()] if x.ndim == 0 else x
                return out
            case "stack":
                return np.stack(args)
            case "transpose":
                return x.T
            case "matmul":
                return self._matmul(x, args[1], shape)
            case "det" | "inv":
                return self._small_linalg(op, x)
            case "norm":
                squares = [(a.mul([(t, 2)]), 1.0) for t in x.flat]
                return _obj(a.call("sqrt", (a.add(squares),), ()))
        raise AssertionError(f"no scalar rule for op {op!r}")

    def _matmul(self, x: np.ndarray, y: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        m = x if x.ndim == 2 else x.reshape(1, -1)
        n = y if y.ndim == 2 else y.reshape(-1, 1)
        out = np.empty((m.shape[0], n.shape[1]), dtype=object)
        for i in range(m.shape[0]):
            for j in range(n.shape[1]):
                out[i, j] = self.a.add([(self.a.mul([(m[i, k], 1), (n[k, j], 1)]), 1.0)
                                        for k in range(m.shape[1])])
        return out.reshape(shape)

    def _small_linalg(self, op: str, m: np.ndarray) -> np.ndarray:
        n = m.shape[0]
        if n > MAX_SMALL_LINALG:
            raise InputError(f"symbolic formulas expand det and inv only up to "
                             f"{MAX_SMALL_LINALG}×{MAX_SMALL_LINALG} matrices, got {n}×{n}",
                             loc=("body", "expression"))
        a = self.a
        cof = np.empty((n, n), dtype=object)
        for i in range(n):
            for j in range(n):
                minor = np.delete(np.delete(m, i, axis=0), j, axis=1)
                sign = -1.0 if (i + j) % 2 else 1.0
                cof[i, j] = a.add([(self._det(minor), sign)])
        det = a.add([(a.mul([(m[0, j], 1), (cof[0, j], 1)]), 1.0) for j in range(n)])
        if op == "det":
            return _obj(det)
        out = np.empty((n, n), dtype=object)
        for i in range(n):
            for j in range(n):
                out[i, j] = a.mul([(cof[j, i], 1), (det, -1)])
        return out

    def _det(self, m: np.ndarray) -> int:
        """Determinant of a matrix of at most 2×2 (cofactors of a 3×3)."""
        a = self.a
        if m.size == 0:
            return a.one
        if m.shape[0] == 1:
            return m[0, 0]
        return a.sub(a.mul([(m[0, 0], 1), (m[1, 1], 1)]), a.mul([(m[0, 1], 1), (m[1, 0], 1)]))
