"""Canonical terms: their kinds, the frozen :class:`Term` record and its ordering keys."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from engine.ir.ops import PRIMITIVES, Group, Sign

NUM, SYM, POW, FN, CMP, ADD, MUL = "num", "sym", "pow", "fn", "cmp", "add", "mul"
"""Term kinds. ``POW`` is ``base ** exponent`` with a non-integer or symbolic exponent."""

MAX_EXPANSION = 64
"""Most terms a product may expand into when it is distributed over its sums."""

RANK = {NUM: 0, SYM: 1, POW: 2, FN: 3, CMP: 4, ADD: 5, MUL: 6}
LABEL_LENGTH = 40
"""Characters of the readable label that orders terms (the digest breaks remaining ties)."""

COMPARISONS = {str(p.name): p.symbol for p in PRIMITIVES.values() if Group.COMPARISON in p.groups}
"""Comparison op -> its operator in the language."""

NO_WHERES: frozenset[int] = frozenset()

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


def digest_of(*parts: Any) -> bytes:
    return hashlib.blake2b(repr(parts).encode(), digest_size=10).digest()


def shallow(kind: str, data: tuple[Any, ...]) -> tuple[Any, ...]:
    """The part of ``data`` that is not a child term."""
    if kind in (NUM, SYM):
        return data
    if kind in (FN, CMP):
        return (data[0],)
    if kind in (ADD, MUL):
        return (data[0], tuple(w for _, w in data[1]))
    return ()


def scaled_label(k: float, label: str) -> str:
    return label if k == 1 else f"{k!r}*{label}"
