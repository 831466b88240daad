"""The gathered fast paths of Taylor mode: products, powers and compositions as one gather.

Short series (a mixed partial of order d carries d+1 terms) are a different regime from long
ones: there the cost is the fixed overhead of each numpy call (0.3–1 µs), not arithmetic, so
these trade elements for calls. A product gathers all its terms a_i·b_j (i + j = k) at once and
sums them by k with one ``np.add.reduceat`` (``_pair_index``); an integer power x**p gathers its
p-fold terms (``_power_index``); sin, cos, exp, sinh and cosh of a series of ≤ 8 terms are Faà
di Bruno's formula as one gather (``_composition_index``); and ``monomial_series`` evaluates
whole products of powers Π x_l^{e_l} (which the propagation finds in the graph) in one gather
over weighted multisets. Every such gather forms only valid terms (index sum ≤ K), so
non-finite coefficients reach exactly the terms they reach in the loops, and zeros stay zeros.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

Series = npt.NDArray[np.float64]
Bilinear = Callable[[np.ndarray, np.ndarray], np.ndarray]


# --- products -----------------------------------------------------------------------------------

GATHER_LIMIT = 1 << 16
"""Largest gathered stack (terms × elements per coefficient) a product takes in one piece.

Below it a product of series is one gather of all its terms a_i·b_j (i + j = k) and one
segmented sum, a handful of numpy calls whatever K is; above it (high order on big batches) the
row-by-row loop of :func:`bilinear_rows` keeps memory at O(K) coefficients."""

_POWER_MAX_TERMS = 512
"""Most terms x_{i_1}⋯x_{i_p} an integer power gathers at once (x³ at K = 10 has 286)."""

_COMPOSE_MAX_TERMS = 8
"""Series of at most this many terms compose entire functions (sin, exp, …) in one gather."""


@functools.lru_cache(maxsize=64)
def _pair_index(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs (i, j) with i + j = k for k = 0..n−1, grouped by k: (i, j, start of each k)."""
    k = np.arange(n, dtype=np.intp)
    starts = k * (k + 1) // 2
    of_term = np.repeat(k, k + 1)
    i = np.arange(len(of_term), dtype=np.intp) - starts[of_term]
    return i, of_term - i, starts


@functools.lru_cache(maxsize=64)
def _power_index(n: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """The multi-indices (i_1, …, i_p) with i_1 + … + i_p = k for k = 0..n−1, grouped by k,
    as a (p, terms) index array and the start of each k."""
    empty: tuple[int, ...] = ()
    by_sum: list[list[tuple[int, ...]]] = [[empty]] + [[] for _ in range(n - 1)]
    for _ in range(p):
        grown: list[list[tuple[int, ...]]] = [[] for _ in range(n)]
        for s, tuples in enumerate(by_sum):
            for t in tuples:
                for i in range(n - s):
                    grown[s + i].append((*t, i))
        by_sum = grown
    rows = [t for tuples in by_sum for t in tuples]
    starts = np.cumsum([0] + [len(t) for t in by_sum[:-1]]).astype(np.intp)
    return np.array(rows, dtype=np.intp).T.reshape(p, len(rows)), starts


def power_terms(n: int, p: int) -> int:
    """How many multi-indices :func:`_power_index` has: C(n − 1 + p, p)."""
    return math.comb(n - 1 + p, p)


@functools.cache
def _composition_index(n: int, cycle: int) -> tuple[np.ndarray, np.ndarray]:
    """Faà di Bruno's formula as a gather, for series of n terms.

    Coefficient k of f(x(t)) is Σ_m a_m·Σ_{j_1+…+j_m=k, j_i≥1} x_{j_1}⋯x_{j_m} with
    a_m = f^(m)(x_0)/m! (the sum over the 2^(k−1) compositions of k; a_0 alone for k = 0).
    For the functions composed here a_m = w_m·q_{m mod cycle} with q = (f, f′, …)(x_0) and
    constants w_m, so every term is one column of n + 1 factors taken from the buffer
    [1, x_1, …, x_{n−1}, q_0, …, q_{cycle−1}, w_0, …, w_{n−1}]: its parts (row 0, the 1, pads
    the unused ones), q_{m mod cycle} and w_m. Returns the (n + 1, terms) index and where each
    k starts.
    """
    columns: list[list[int]] = [[0] * (n - 1) + [n, n + cycle]]
    starts = [0]
    for k in range(1, n):
        starts.append(len(columns))
        for cuts in itertools.product((False, True), repeat=k - 1):
            parts, last = [], 0
            for pos, cut in enumerate(cuts, start=1):
                if cut:
                    parts.append(pos - last)
                    last = pos
            parts.append(k - last)
            m = len(parts)
            columns.append(parts + [0] * (n - 1 - m) + [n + m % cycle, n + cycle + m])
    index = np.array(columns, dtype=np.intp).T.reshape(n + 1, len(columns))
    return index, np.array(starts, dtype=np.intp)


def coefficient_size(x: np.ndarray) -> int:
    """Elements per coefficient of a series."""
    return x.size // len(x) if len(x) else 0


@functools.lru_cache(maxsize=256)
def pair_plan(n: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`_pair_index` if a gathered product of n terms × ``size`` elements fits."""
    return _pair_index(n) if n * (n + 1) // 2 * size <= GATHER_LIMIT else None


@functools.lru_cache(maxsize=256)
def power_plan(n: int, p: int, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_power_index` if the gathered terms of x**p (n terms × ``size``) fit and are few
    enough to beat binary exponentiation (their number grows like n^p/p!, a product's like
    n²/2)."""
    terms = power_terms(n, p)
    if p > 8 or terms > _POWER_MAX_TERMS or terms * p * size > GATHER_LIMIT:
        return None
    return _power_index(n, p)


def rows_to_visit(a: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Indices j whose term f(a_j, ·) may be nonzero.

    All-zero rows are skipped only when ``other`` is finite, so that 0·inf still gives nan.
    Seeds such as x0 + t have two nonzero rows, which makes their products nearly free.
    """
    if other.dtype == object or not np.isfinite(other).all():
        return np.arange(len(a))
    return np.flatnonzero(np.any(a != 0, axis=tuple(range(1, a.ndim))))


def bilinear_rows(a: np.ndarray, b: np.ndarray, f: Bilinear) -> Series:
    """``series_bilinear`` one row at a time (rows that are all zero skipped), for big series."""
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    rows_a, rows_b = rows_to_visit(a, b), rows_to_visit(b, a)
    first = f(a[:1], b[:1])
    c = np.zeros((n, *np.shape(first)[1:]), dtype=first.dtype)
    if len(rows_a) <= len(rows_b):
        for j in rows_a:
            c[j:] += f(a[j:j + 1], b[:n - j])
    else:
        for j in rows_b:
            c[j:] += f(a[:n - j], b[j:j + 1])
    return c


def bilinear_series(a: np.ndarray, b: np.ndarray, f: Bilinear) -> Series:
    """:func:`series_bilinear` for a caller already under ``np.errstate(all="ignore")``."""
    n = min(len(a), len(b))
    pairs = pair_plan(n, max(coefficient_size(a), coefficient_size(b)))
    if pairs is None:
        return bilinear_rows(a, b, f)
    i, j, starts = pairs
    return np.add.reduceat(f(a.take(i, axis=0), b.take(j, axis=0)), starts, axis=0)


def series_bilinear(a: np.ndarray, b: np.ndarray, f: Bilinear) -> Series:
    """The series c_k = Σ_{j=0..k} f(a_j, b_{k-j}) of a bilinear ``f`` applied to two series.

    ``f`` receives two stacks of coefficients, each with a leading axis of length 1 or L, and
    must broadcast over that axis (``np.multiply``, a batched matmul, …), returning (L, *out).
    The result has min(len(a), len(b)) terms; non-finite inputs give non-finite terms silently
    (only pairs with j + (k − j) = k < n are ever formed, so a non-finite high term never
    reaches a lower one).
    """
    with np.errstate(all="ignore"):
        return bilinear_series(a, b, f)


def product(a: Series, b: Series) -> Series:
    """Elementwise product of two series with the same number of axes (rest broadcasts)."""
    n = len(a) if len(a) <= len(b) else len(b)
    pairs = pair_plan(n, max(coefficient_size(a), coefficient_size(b)))
    if pairs is None:
        return bilinear_rows(a, b, np.multiply)
    i, j, starts = pairs
    return np.add.reduceat(np.multiply(a.take(i, axis=0), b.take(j, axis=0)), starts, axis=0)


# --- monomials ----------------------------------------------------------------------------------

Monomials = tuple[tuple[int, ...], ...]
"""Integer exponents of a block's leaves in each of its monomials: ((3, 2), (1, 1)) with leaves
x, y is the pair x³y², xy."""


def _multisets(size: int, n: int) -> list[tuple[tuple[int, ...], int]]:
    """Nondecreasing index tuples (i_1 ≤ … ≤ i_size) with i_1 + … + i_size < n, each with the
    number of distinct orderings it stands for (size! / Π multiplicity!)."""
    found: list[tuple[int, ...]] = []

    def grow(prefix: tuple[int, ...], total: int) -> None:
        left = size - len(prefix)
        if not left:
            found.append(prefix)
            return
        i = prefix[-1] if prefix else 0
        while total + i * left < n:
            grow((*prefix, i), total + i)
            i += 1

    grow((), 0)
    out = []
    for t in found:
        orderings = math.factorial(size)
        for i in set(t):
            orderings //= math.factorial(t.count(i))
        out.append((t, orderings))
    return out


@functools.lru_cache(maxsize=64)
def _monomial_index(monomials: Monomials, n: int
                    ) -> tuple[np.ndarray, np.ndarray, tuple[float, ...], int]:
    """The terms of every monomial of a block, for series of n terms, as one gather.

    Coefficient k of Π_l x_l^{e_l} is the sum over all ways to pick e_l indices of each x_l
    (k in all) of the product of the picked coefficients. Picks that differ only in order are
    one term with an integer weight, so x³ at K = 5 has 16 terms, not 56. The buffer holds
    [1, weights…, x_1 (n rows), x_2, …]; a term is a column of (degree + 1) rows: its factors,
    padded with the 1, and its weight. Returns the index, where each (monomial, k) starts, the
    weights and the first leaf row.
    """
    degree = max(sum(e) for e in monomials)
    picks = {e: _multisets(e, n) for m in monomials for e in m}
    columns: list[tuple[int, list[int]]] = []  # (weight, factor rows relative to the leaves)
    starts: list[int] = []
    for m in monomials:
        # every combination of one multiset per leaf with total < n, grouped by total
        by_total: list[list[tuple[int, list[int]]]] = [[] for _ in range(n)]
        partial: list[tuple[int, int, list[int]]] = [(0, 1, [])]  # (total, weight, rows)
        for leaf, e in enumerate(m):
            grown = []
            for total, weight, rows in partial:
                for t, orderings in picks[e]:
                    s = total + sum(t)
                    if s < n:
                        grown.append((s, weight * orderings, rows + [leaf * n + i for i in t]))
            partial = grown
        for total, weight, rows in partial:
            by_total[total].append((weight, rows))
        for group in by_total:
            starts.append(len(columns))
            columns.extend(group)
    weights = tuple(sorted({float(w) for w, _ in columns}))
    first_leaf = 1 + len(weights)
    index = np.empty((degree + 1, len(columns)), dtype=np.intp)
    for c, (w, rows) in enumerate(columns):
        pad = [0] * (degree - len(rows))
        index[:, c] = [first_leaf + r for r in rows] + pad + [1 + weights.index(float(w))]
    return index, np.array(starts, dtype=np.intp), weights, first_leaf


@functools.lru_cache(maxsize=256)
def _monomial_plan(monomials: Monomials, n: int, rest: tuple[int, ...]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
    """For :func:`monomial_series`: the constant part of its buffer (the 1 and the weights),
    the index, the starts and the first leaf row; None if the gather would be too big."""
    ordered = sum(math.prod(math.comb(n - 1 + e, e) for e in m) for m in monomials)
    if n > 12 or ordered > 1 << 14:  # not worth enumerating: products will do
        return None
    index, starts, weights, first_leaf = _monomial_index(monomials, n)
    if index.size * math.prod(rest) > GATHER_LIMIT:
        return None
    template = np.zeros((first_leaf + len(monomials[0]) * n, *rest))
    template[0] = 1.0
    template[1:first_leaf] = np.array(weights).reshape((-1,) + (1,) * len(rest))
    template.flags.writeable = False
    return template, index, starts, first_leaf


def monomial_series(leaves: list[Series], monomials: Monomials) -> Series | None:
    """The series of the monomials Π_l leaves[l]^{e_l}, stacked: (len(monomials)·n, *rest).

    One gather, one product and one segmented sum however many products and powers the
    monomials stand for; exact at zero coefficients like the products themselves. The leaves
    need the same number of terms n and the same number of axes (rest broadcasts). None when
    that does not hold or the terms would not fit in one gather (the caller then multiplies).
    """
    n = len(leaves[0])
    rest = leaves[0].shape[1:]
    for leaf in leaves:
        if len(leaf) != n or leaf.ndim != len(rest) + 1 or leaf.dtype == object:
            return None
        if leaf.shape[1:] != rest:
            rest = np.broadcast_shapes(rest, leaf.shape[1:])
    plan = _monomial_plan(monomials, n, rest)
    if plan is None:
        return None
    template, index, starts, row = plan
    buf = template.copy()
    for leaf in leaves:
        buf[row:row + n] = leaf
        row += n
    return np.add.reduceat(np.multiply.reduce(buf.take(index, axis=0), axis=0), starts, axis=0)


# --- entire functions of short series -----------------------------------------------------------

class Entire(NamedTuple):
    """An entire function for :func:`compose`: a_m = weight(m)·heads[m mod len(heads)](x0)."""

    name: str
    heads: tuple[np.ufunc, ...]
    weight: Callable[[int], float]


SIN = Entire("sin", (np.sin, np.cos), lambda m: (-1.0) ** (m // 2) / math.factorial(m))
COS = Entire("cos", (np.cos, np.sin), lambda m: (-1.0) ** ((m + 1) // 2) / math.factorial(m))
SINH = Entire("sinh", (np.sinh, np.cosh), lambda m: 1.0 / math.factorial(m))
COSH = Entire("cosh", (np.cosh, np.sinh), lambda m: 1.0 / math.factorial(m))
EXP = Entire("exp", (np.exp,), lambda m: 1.0 / math.factorial(m))
_ENTIRE = {f.name: f for f in (SIN, COS, SINH, COSH, EXP)}


@functools.lru_cache(maxsize=256)
def _compose_plan(name: str, n: int, rest: tuple[int, ...]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """For :func:`compose`: the constant part of its buffer (the 1 in row 0 and the weights
    w_m), and the index and starts of :func:`_composition_index`; None if too big."""
    f = _ENTIRE[name]
    if n > _COMPOSE_MAX_TERMS or (n + 1 << (n - 1)) * math.prod(rest) > GATHER_LIMIT:
        return None
    cycle = len(f.heads)
    buf = np.zeros((2 * n + cycle, *rest))
    buf[0] = 1.0
    buf[n + cycle:] = np.array([f.weight(m) for m in range(n)]).reshape((n,) + (1,) * len(rest))
    buf.flags.writeable = False
    return (buf, *_composition_index(n, cycle))


def compose(x: Series, f: Entire) -> Series | None:
    """f(x(t)) for a short series by Faà di Bruno's formula (:func:`_composition_index`): one
    gather, one product over the factors and one segmented sum. The first term is f(x0)·1·1.
    None when the series is too long for it (the caller then runs its recurrence)."""
    n = len(x)
    if x.dtype == object:  # extended precision: the recurrences
        return None
    plan = _compose_plan(f.name, n, x.shape[1:]) if n <= _COMPOSE_MAX_TERMS else None
    if plan is None:
        return None
    template, idx, starts = plan
    buf = template.copy()
    buf[1:n] = x[1:]
    head = x[:1]
    r = n
    for head_fn in f.heads:
        head_fn(head, out=buf[r:r + 1])
        r += 1
    return np.add.reduceat(np.multiply.reduce(buf.take(idx, axis=0), axis=0), starts, axis=0)


@functools.lru_cache(maxsize=256)
def _compose_bounded_plan(name: str, n: int, rest: tuple[int, ...]
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`_compose_plan` for a series stacked with its majorant on the first rest axis:
    the majorant lane's weights are |w_m|."""
    plan = _compose_plan(name, n, rest)
    if plan is None:
        return None
    template, idx, starts = plan
    cycle = len(_ENTIRE[name].heads)
    buf = template.copy()
    buf[n + cycle:, 1] = np.abs(buf[n + cycle:, 1])
    buf.flags.writeable = False
    return buf, idx, starts


def compose_bounded(x: Series, f: Entire) -> Series | None:
    """:func:`compose` on a series stacked with its majorant, ``(n, 2, *rest)``: lane 0 is
    f(x(t)); lane 1 is H·exp(m(t) − m_0), H = max |f^(j)(x_0)| over the heads, which
    majorizes it when lane 1 of ``x`` majorizes x (one gather for both lanes)."""
    n = len(x)
    if n > _COMPOSE_MAX_TERMS or x.dtype == object:
        return None
    plan = _compose_bounded_plan(f.name, n, x.shape[1:])
    if plan is None:
        return None
    template, idx, starts = plan
    buf = template.copy()
    buf[1:n] = x[1:]
    head = x[0, 0]
    heads = [head_fn(head) for head_fn in f.heads]
    bound = np.abs(heads[0])
    for h in heads[1:]:
        bound = np.maximum(bound, np.abs(h))
    for r, h in enumerate(heads, start=n):
        buf[r, 0] = h
        buf[r, 1] = bound
    return np.add.reduceat(np.multiply.reduce(buf.take(idx, axis=0), axis=0), starts, axis=0)
