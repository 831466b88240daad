"""Masks that do not change a formula's value, dropped.

The derivative of ``a ** b`` masks the base 0 (``where(a == 0, 0, …)``, the PyTorch
convention), so a derivative of ``x**x`` is ``A + where(x == 0, 0, B)``. The mask only matters
at its one point, ``x = 0``, and there ``A`` is already NaN: the formula ``A + B`` has the same
value everywhere and collects into the compact form (``x**x*(log(x) + 1)``). A mask
``where(x == c, p, q)`` is replaced by ``q`` when the formula depends on no other symbol and its
float64 value at ``x = c`` is the same with and without it (NaN counting as equal to NaN).
"""

from __future__ import annotations

import math

import numpy as np

from engine.ir.ops import PRIMITIVES
from engine.symbolic.algebra import Algebra
from engine.symbolic.terms import CMP, NUM, SYM


def value_at(a: Algebra, t: int, point: dict[int, float]) -> float | None:
    """``t`` evaluated in float64 with the symbol terms of ``point`` set, by the engine's
    forward rules; None when it has another symbol or an op without a scalar value."""
    values: dict[int, float] = {}
    with np.errstate(all="ignore"):
        for s in a.closure([t]):
            term = a[s]
            v: float | np.float64
            match term.kind:
                case "num":
                    v = term.data[0]
                case "sym":
                    if s not in point:
                        return None
                    v = point[s]
                case "pow":
                    v = np.power(np.float64(values[term.data[0]]), values[term.data[1]])
                case "fn" | "cmp":
                    op, args = term.data
                    try:
                        v = float(PRIMITIVES[op].forward((), *(np.float64(values[x])
                                                               for x in args)))
                    except (TypeError, ValueError, KeyError):
                        return None
                case "add":
                    const, items = term.data
                    v = np.float64(const)
                    for c, k in items:
                        v = v + k * np.float64(values[c])
                case _:
                    coeff, factors = term.data
                    v = np.float64(coeff)
                    for b, n in factors:
                        v = v * np.float64(values[b]) ** n
            values[s] = float(v)
    return values[t]


def _same(u: float | None, v: float | None) -> bool:
    if u is None or v is None:
        return False
    return (math.isnan(u) and math.isnan(v)) or u == v


def mask_point(a: Algebra, cond: int) -> tuple[int, float] | None:
    """``(symbol, c)`` of a condition ``symbol == c``, else None."""
    term = a[cond]
    if term.kind != CMP or term.data[0] != "eq":
        return None
    u, v = term.data[1]
    if a[u].kind == NUM:
        u, v = v, u
    if a[u].kind != SYM or a[v].kind != NUM:
        return None
    return u, a[v].data[0]


def without_idle_masks(a: Algebra, t: int) -> int:
    """``t`` with every ``where(x == c, p, q)`` that does not change its value replaced by
    ``q``."""
    for cond in sorted(a[t].wheres):
        found = mask_point(a, cond)
        if found is None:
            continue
        symbol, c = found
        if any(a[s].kind == SYM and s != symbol for s in a.closure([t])):
            continue
        plain = a._resolve(t, cond, False)
        if _same(value_at(a, t, {symbol: c}), value_at(a, plain, {symbol: c})):
            t = plain
    return t


__all__ = ["mask_point", "value_at", "without_idle_masks"]
