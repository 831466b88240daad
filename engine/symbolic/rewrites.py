"""The rewrites that keep products canonical: merging powers, cancelling shared factors,
moving factors into a ``where`` branch next to a 0, distributing over sums, and evaluating
comparisons under the ``x == c`` that a product of them holds.

They are methods of :class:`engine.symbolic.algebra.Algebra` (this mixin), called by its
``mul`` in that order; each returns None when it does not apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from engine.symbolic.terms import ADD, CMP, FN, MAX_EXPANSION, MUL, NUM, POW, SYM, Term


class ProductRewrites:
    """The product rewrites of :class:`engine.symbolic.algebra.Algebra`."""

    if TYPE_CHECKING:  # what they use of the algebra
        terms: list[Term]
        zero: int
        one: int
        _common_cache: dict[int, tuple[dict[int, int], int] | None]

        def add(self, pairs: Iterable[tuple[int, float]], const: float = 0.0) -> int: ...
        def mul(self, pairs: Iterable[tuple[int, int]], coeff: float = 1.0) -> int: ...
        def call(self, op: str, args: tuple[int, ...], params: tuple[Any, ...] = ()
                 ) -> int: ...
        def where(self, c: int, a: int, b: int) -> int: ...
        def children(self, t: int) -> tuple[int, ...]: ...
        def closure(self, roots: Iterable[int]) -> list[int]: ...

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
        factors are pulled out again when printing (:mod:`engine.symbolic.printer`).
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
