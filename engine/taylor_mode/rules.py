"""Univariate Taylor-mode rules: one function per primitive, acting on truncated Taylor series.

Convention: a series is a float64 array ``c`` of shape ``(K+1, *rest)`` whose ``c[k]`` is the
*normalized* coefficient u_k = u^(k)(0)/k! of u(t) = Σ u_k t^k, never the factorial-scaled
derivative (which overflows at high order). ``rest`` is any batch prefix followed by the
primitive's tensor shape; elementwise rules broadcast over it like numpy.

Every rule costs O(K²) per element: the only Python loop runs over k and numpy does the rest.
The recurrences are the classic ones (Griewank & Walther, *Evaluating Derivatives*, ch. 13) and
most rules are assembled from a few families rather than written out one by one:

* ``_integrate(y0, d)`` rebuilds y from y0 and the series d of y'; with d = f'(x)·x' it gives
  asin, acos, atan, asinh, acosh, atanh, log, log1p, erf, erfc and softplus (``_chain_rule``), and
  with d = (x·y' − y·x')/(x² + y²) atan2;
* ``_exp_ode(dz, y0)`` solves y' = y·z' (exp, expm1, pow with a varying exponent, det);
* ``_quadratic_ode`` solves y' = (a + b·y + c·y²)·x' (tan, tanh, sigmoid);
* ``_pair_ode`` solves s' = c·x', c' = ±s·x' (sin/cos, sinh/cosh);
* ``div_series``, ``sqrt_series``, ``_pow_ode`` and ``series_bilinear`` (products, and matmul
  for the caller).

Short series (a mixed partial of order d carries d+1 terms) are a different regime: there the
cost is the fixed overhead of each numpy call (0.3–1 µs), not arithmetic, so the rules trade
elements for calls. A product gathers all its terms a_i·b_j (i + j = k) at once and sums them
by k with one ``np.add.reduceat`` (``_pair_index``); an integer power x**p gathers its p-fold
terms (``_power_index``); sin, cos, exp, sinh and cosh of a series of ≤ 8 terms are Faà di
Bruno's formula as one gather (``_composition_index``); and ``monomial_series`` evaluates
whole products of powers Π x_l^{e_l} (which the propagation finds in the graph) in one
gather over weighted multisets. Every such gather forms only valid terms (index sum ≤ K), so
non-finite coefficients reach exactly the terms they reach in the loops, and zeros stay zeros.

Singular points (sqrt or log at 0, division by 0, a singular matrix) give inf/nan coefficients,
never an exception or a warning. Kinks follow PyTorch's nested autograd at every order:
``abs`` is sign(x0)·x (all zeros at x0 = 0), ``sign`` is constant, ``relu`` is x where x0 > 0
and zero otherwise, ``max``/``min`` average the two series on a tie a0 == b0, ``where`` and the
comparisons look at the constant terms only.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import special

Series = npt.NDArray[np.float64]
Bilinear = Callable[[np.ndarray, np.ndarray], np.ndarray]

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


# --- shapes and small helpers -------------------------------------------------------------------

def _pad(*series: Series) -> list[Series]:
    """Give every series the same number of rest axes (inserted after the k axis)."""
    ndim = max(s.ndim for s in series)
    return [s.reshape(s.shape[:1] + (1,) * (ndim - s.ndim) + s.shape[1:]) for s in series]


def _broadcast(*series: Series) -> list[Series]:
    """Broadcast series against each other over ``rest`` (read-only views)."""
    return list(np.broadcast_arrays(*_pad(*series)))


def _k_axis(n: int, ndim: int, start: int = 0) -> np.ndarray:
    """``[start, …, start+n-1]`` shaped to broadcast along the k axis of an ``ndim``-array."""
    return np.arange(start, start + n, dtype=np.float64).reshape((n,) + (1,) * (ndim - 1))


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ_i a[i]·b[i] over the leading axis, elementwise over the rest."""
    return np.einsum("i...,i...->...", a, b)


def _one_like(x: Series) -> Series:
    """The constant series 1 with the shape of ``x``."""
    one = np.zeros(x.shape)
    one[0] = 1.0
    return one


def _constant(value: np.ndarray, like: Series) -> Series:
    """The series ``[value, 0, 0, …]`` with as many terms as ``like``."""
    value = np.asarray(value, dtype=np.float64)
    out = np.zeros((len(like), *value.shape))
    out[0] = value
    return out


def _deriv(x: Series) -> Series:
    """The series of x'(t), one term shorter: x'_m = (m+1)·x_{m+1}."""
    return x[1:] * _k_axis(len(x) - 1, x.ndim, start=1)


def _integrate(y0: np.ndarray, d: Series) -> Series:
    """The series y with y(0) = y0 and y' = d: y_k = d_{k-1}/k."""
    y = np.empty((len(d) + 1, *np.broadcast_shapes(np.shape(y0), d.shape[1:])))
    y[0] = y0
    y[1:] = d / _k_axis(len(d), d.ndim, start=1)
    return y


# --- products and the basic recurrences ---------------------------------------------------------

GATHER_LIMIT = 1 << 16
"""Largest gathered stack (terms × elements per coefficient) a product takes in one piece.

Below it a product of series is one gather of all its terms a_i·b_j (i + j = k) and one
segmented sum, a handful of numpy calls whatever K is; above it (high order on big batches) the
row-by-row loop of :func:`_bilinear_rows` keeps memory at O(K) coefficients."""

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
    by_sum: list[list[tuple[int, ...]]] = [[()]] + [[] for _ in range(n - 1)]
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


def _power_terms(n: int, p: int) -> int:
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


def _size(x: np.ndarray) -> int:
    """Elements per coefficient of a series."""
    return x.size // len(x) if len(x) else 0


@functools.lru_cache(maxsize=256)
def _pair_plan(n: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`_pair_index` if a gathered product of n terms × ``size`` elements fits."""
    return _pair_index(n) if n * (n + 1) // 2 * size <= GATHER_LIMIT else None


@functools.lru_cache(maxsize=256)
def _power_plan(n: int, p: int, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_power_index` if the gathered terms of x**p (n terms × ``size``) fit and are few
    enough to beat binary exponentiation (their number grows like n^p/p!, a product's like
    n²/2)."""
    terms = _power_terms(n, p)
    if p > 8 or terms > _POWER_MAX_TERMS or terms * p * size > GATHER_LIMIT:
        return None
    return _power_index(n, p)


def _rows_to_visit(a: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Indices j whose term f(a_j, ·) may be nonzero.

    All-zero rows are skipped only when ``other`` is finite, so that 0·inf still gives nan.
    Seeds such as x0 + t have two nonzero rows, which makes their products nearly free.
    """
    if not np.isfinite(other).all():
        return np.arange(len(a))
    return np.flatnonzero(np.any(a != 0, axis=tuple(range(1, a.ndim))))


def _bilinear_rows(a: np.ndarray, b: np.ndarray, f: Bilinear) -> Series:
    """``series_bilinear`` one row at a time (rows that are all zero skipped), for big series."""
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    rows_a, rows_b = _rows_to_visit(a, b), _rows_to_visit(b, a)
    c = np.zeros((n, *np.shape(f(a[:1], b[:1]))[1:]))
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
    pairs = _pair_plan(n, max(_size(a), _size(b)))
    if pairs is None:
        return _bilinear_rows(a, b, f)
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


def _product(a: Series, b: Series) -> Series:
    """Elementwise product of two series with the same number of axes (rest broadcasts)."""
    n = len(a) if len(a) <= len(b) else len(b)
    pairs = _pair_plan(n, max(_size(a), _size(b)))
    if pairs is None:
        return _bilinear_rows(a, b, np.multiply)
    i, j, starts = pairs
    return np.add.reduceat(np.multiply(a.take(i, axis=0), b.take(j, axis=0)), starts, axis=0)


def mul_series(a: Series, b: Series) -> Series:
    """Elementwise product of two series."""
    if a.ndim != b.ndim:
        a, b = _pad(a, b)
    return _product(a, b)


def div_series(a: Series, b: Series) -> Series:
    """Elementwise quotient q = a/b from b·q = a: q_k = (a_k − Σ_{j=1..k} b_j q_{k−j}) / b_0."""
    a, b = _broadcast(a, b)
    q = np.empty(a.shape)
    b0 = b[0]
    q[0] = a[0] / b0
    for k in range(1, len(a)):
        q[k] = (a[k] - _dot(b[1:k + 1], q[k - 1::-1])) / b0
    return q


def _reciprocal(u: Series) -> Series:
    """1/u."""
    return div_series(_one_like(u), u)


def sqrt_series(x: Series) -> Series:
    """sqrt(x) from y² = x: y_k = (x_k − Σ_{j=1..k−1} y_j y_{k−j}) / (2 y_0)."""
    y = np.empty(x.shape)
    y[0] = np.sqrt(x[0])
    two_y0 = 2.0 * y[0]
    for k in range(1, len(x)):
        y[k] = (x[k] - _dot(y[1:k], y[k - 1:0:-1])) / two_y0
    return y


def _exp_ode(dz: Series, y0: np.ndarray) -> Series:
    """The series y with y(0) = y0 and y' = y·z', given dz = z'.

    y_k = (1/k) Σ_{j=0..k−1} dz_j y_{k−1−j}.
    """
    y = np.empty((len(dz) + 1, *np.broadcast_shapes(np.shape(y0), dz.shape[1:])))
    y[0] = y0
    for k in range(1, len(y)):
        y[k] = _dot(dz[:k], y[k - 1::-1]) / k
    return y


def _pow_ode(x: Series, p: np.ndarray | float, y0: np.ndarray | None = None) -> Series:
    """x**p from x·y' = p·y·x': y_k = Σ_{j=1..k} ((p+1)·j − k)·x_j·y_{k−j} / (k·x_0).

    Valid for x0 ≠ 0 (including x0 < 0 when y0 is real, e.g. cbrt); ``p`` may vary over rest.
    """
    x0 = x[0]
    y = np.empty(np.broadcast_shapes(x.shape, (1, *np.shape(p))))
    y[0] = np.power(x0, p) if y0 is None else y0
    # both sums of the recurrence in one contraction: Σ j·x_j·y_{k−j} and Σ x_j·y_{k−j}
    weighted = np.stack([_deriv(x), x[1:]])
    for k in range(1, len(y)):
        s = np.einsum("ai...,i...->a...", weighted[:, :k], y[k - 1::-1])
        y[k] = ((p + 1.0) * s[0] - k * s[1]) / (k * x0)
    return y


def _quadratic_ode(x: Series, y0: np.ndarray, slope0: np.ndarray, lin: float,
                   quad: float) -> Series:
    """The series y with y' = (a + lin·y + quad·y²)·x'.

    ``slope0`` = a + lin·y0 + quad·y0² is passed in so the caller can compute it without
    cancellation (e.g. 1 − tanh² at large |x0|); only the higher terms of the slope are formed here.
    """
    dx = _deriv(x)
    y = np.empty(x.shape)
    slope = np.empty(dx.shape)
    y[0] = y0
    for k in range(1, len(x)):
        m = k - 1
        slope[m] = slope0 if m == 0 else lin * y[m] + quad * _dot(y[:k], y[m::-1])
        y[k] = _dot(dx[:k], slope[m::-1]) / k
    return y


def _pair_ode(x: Series, s0: np.ndarray, c0: np.ndarray, sign: float) -> tuple[Series, Series]:
    """The series s, c with s' = c·x' and c' = sign·s·x' (sin/cos: sign −1; sinh/cosh: +1)."""
    dx = _deriv(x)
    sc = np.empty((2, *x.shape))
    sc[0, 0] = s0
    sc[1, 0] = c0
    for k in range(1, len(x)):
        t = np.einsum("i...,ai...->a...", dx[:k], sc[:, k - 1::-1]) / k
        sc[0, k] = t[1]
        sc[1, k] = sign * t[0]
    return sc[0], sc[1]


# --- powers -------------------------------------------------------------------------------------

def _scalar_power(x: Series, p: int) -> Series:
    """x**p for one integer 0 ≤ p ≤ K, exact at x0 = 0 (only sums of products).

    Short series: every term x_{i_1}⋯x_{i_p} of the power in one gather, p − 1 products and
    one segmented sum; long ones: binary exponentiation (≤ 2·log2 p products).
    """
    if p <= 1:
        return _one_like(x) if p == 0 else x.copy()
    plan = _power_plan(len(x), p, _size(x))
    if plan is not None:
        idx, starts = plan
        factors = x.take(idx, axis=0)
        if p <= 4:  # a few multiplications cost less than one ufunc.reduce here
            terms = factors[0] * factors[1]
            for r in range(2, p):
                terms *= factors[r]
        else:
            terms = np.multiply.reduce(factors, axis=0)
        return np.add.reduceat(terms, starts, axis=0)
    result = None
    base = x
    while True:
        if p & 1:
            result = base if result is None else _product(result, base)
        p >>= 1
        if not p:
            break
        base = _product(base, base)
    return result


def power_rule(p: float) -> Callable[[Series], Series]:
    """The rule of ``powc`` with exponent ``p`` bound: ``x -> x**p`` (see :func:`power_series`)."""
    q = float(p)
    if not (q.is_integer() and q >= 0):
        return lambda x: power_series(x, p)
    n = int(q)
    return lambda x: _scalar_power(x, n) if n < len(x) else power_series(x, p)


def _integer_power(x: Series, p: np.ndarray) -> Series:
    """x**p for integer p ≥ 0 (array over rest) by binary exponentiation: exact at x0 = 0."""
    n = p.astype(np.int64)
    result = _one_like(x)
    base = x
    while True:
        odd = (n & 1).astype(bool)
        if odd.any():
            product = mul_series(result, base)
            result = product if odd.all() else np.where(odd, product, result)
        n = n >> 1
        if not n.any():
            break
        base = mul_series(base, base)
    return result


def power_series(x: Series, p: np.ndarray | float) -> Series:
    """x**p for an exponent p that is constant in t (a float, or an array over rest).

    Integer 0 ≤ p ≤ K: products only (one gather for short series, else binary
    exponentiation), exact even at x0 = 0.
    Otherwise the power recurrence, also for negative integers: there it is as exact as the
    reciprocal of x**|p| (both are inf/nan at x0 = 0) but avoids that division's cancellation,
    which cost up to ~100× more rounding error in tests. At x0 = 0 with p > 0 the function is
    t^p·w(t)^p, so the coefficients below order p vanish and those above do not exist (nan); for
    integer p > K that makes all of them 0.
    """
    order = len(x) - 1
    if isinstance(p, float | int) or np.ndim(p) == 0:
        q = float(p)
        if q.is_integer() and 0 <= q <= order:
            return _scalar_power(x, int(q))
    p = np.asarray(p, dtype=np.float64)
    x = np.broadcast_to(x, (len(x), *np.broadcast_shapes(x.shape[1:], p.shape)))
    exact = (p == np.round(p)) & (p >= 0) & (p <= order)
    if exact.all():
        return _integer_power(x, p)
    general = _pow_ode(x, p)
    zero_base = (x[0] == 0) & (p > 0)
    if zero_base.any():
        below = _k_axis(len(x), x.ndim) < p
        general = np.where(zero_base, np.where(below, 0.0, np.nan), general)
    if not exact.any():
        return general
    return np.where(exact, _integer_power(x, np.where(exact, p, 0.0)), general)


def pow_series(x: Series, y: Series) -> Series:
    """x**y. Where y is constant in t (y_1 = … = y_K = 0) this is ``power_series`` with p = y0 per
    element; elsewhere exp(y·log x) seeded with the exact value x0**y0 (nan for x0 < 0, since
    x(t)**y(t) is then not real), and 0 where x is identically 0 and y0 > 0.
    """
    x, y = _broadcast(x, y)
    x0, y0 = x[0], y[0]
    constant = ~np.any(y[1:] != 0, axis=0)
    if constant.all():
        return power_series(x, y0)
    varying = _exp_ode(_deriv(mul_series(y, log_series(x))), np.power(x0, y0))
    zero_base = np.all(x == 0, axis=0) & (y0 > 0)
    varying = np.where(zero_base, 0.0, varying)
    if not constant.any():
        return varying
    return np.where(constant, power_series(x, np.where(constant, y0, 0.0)), varying)


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
        if len(leaf) != n or leaf.ndim != len(rest) + 1:
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


# --- elementwise functions ----------------------------------------------------------------------

class _Entire(NamedTuple):
    """An entire function for :func:`_compose`: a_m = weight(m)·heads[m mod len(heads)](x0)."""

    name: str
    heads: tuple[np.ufunc, ...]
    weight: Callable[[int], float]


_SIN = _Entire("sin", (np.sin, np.cos), lambda m: (-1.0) ** (m // 2) / math.factorial(m))
_COS = _Entire("cos", (np.cos, np.sin), lambda m: (-1.0) ** ((m + 1) // 2) / math.factorial(m))
_SINH = _Entire("sinh", (np.sinh, np.cosh), lambda m: 1.0 / math.factorial(m))
_COSH = _Entire("cosh", (np.cosh, np.sinh), lambda m: 1.0 / math.factorial(m))
_EXP = _Entire("exp", (np.exp,), lambda m: 1.0 / math.factorial(m))
_ENTIRE = {f.name: f for f in (_SIN, _COS, _SINH, _COSH, _EXP)}


@functools.lru_cache(maxsize=256)
def _compose_plan(name: str, n: int, rest: tuple[int, ...]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """For :func:`_compose`: the constant part of its buffer (the 1 in row 0 and the weights
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


def _compose(x: Series, f: _Entire) -> Series | None:
    """f(x(t)) for a short series by Faà di Bruno's formula (:func:`_composition_index`): one
    gather, one product over the factors and one segmented sum. The first term is f(x0)·1·1.
    None when the series is too long for it (the caller then runs its recurrence)."""
    n = len(x)
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


def exp_series(x: Series) -> Series:
    y = _compose(x, _EXP)
    return _exp_ode(_deriv(x), np.exp(x[0])) if y is None else y


def expm1_series(x: Series) -> Series:
    y = exp_series(x)
    y[0] = np.expm1(x[0])
    return y


def sin_series(x: Series) -> Series:
    y = _compose(x, _SIN)
    return _pair_ode(x, np.sin(x[0]), np.cos(x[0]), -1.0)[0] if y is None else y


def cos_series(x: Series) -> Series:
    y = _compose(x, _COS)
    return _pair_ode(x, np.sin(x[0]), np.cos(x[0]), -1.0)[1] if y is None else y


def sinh_series(x: Series) -> Series:
    y = _compose(x, _SINH)
    return _pair_ode(x, np.sinh(x[0]), np.cosh(x[0]), 1.0)[0] if y is None else y


def cosh_series(x: Series) -> Series:
    y = _compose(x, _COSH)
    return _pair_ode(x, np.sinh(x[0]), np.cosh(x[0]), 1.0)[1] if y is None else y


def tan_series(x: Series) -> Series:
    y0 = np.tan(x[0])
    return _quadratic_ode(x, y0, 1.0 + y0 * y0, 0.0, 1.0)


def tanh_series(x: Series) -> Series:
    x0 = x[0]
    e = np.exp(-2.0 * np.abs(x0))
    # 1 − tanh² = 4e/(1+e)² with e = exp(−2|x0|): no cancellation and no overflow
    return _quadratic_ode(x, np.tanh(x0), 4.0 * e / (1.0 + e) ** 2, 0.0, -1.0)


def sigmoid_series(x: Series) -> Series:
    s0 = special.expit(x[0])
    # s(1 − s) with 1 − s = expit(−x0): no cancellation when s0 is close to 1
    return _quadratic_ode(x, s0, s0 * special.expit(-x[0]), 1.0, -1.0)


def cbrt_series(x: Series) -> Series:
    return _pow_ode(x, 1.0 / 3.0, np.cbrt(x[0]))


def _one_minus_square(x: Series) -> Series:
    u = -mul_series(x, x)
    u[0] = (1.0 - x[0]) * (1.0 + x[0])  # exact near |x0| = 1, unlike 1 − x0²
    return u


def _square_minus_one(x: Series) -> Series:
    u = mul_series(x, x)
    u[0] = (x[0] - 1.0) * (x[0] + 1.0)
    return u


def _one_plus_square(x: Series) -> Series:
    u = mul_series(x, x)
    u[0] += 1.0
    return u


def _erf_slope(x: Series) -> Series:
    """erf'(x(t)) = 2/√π · exp(−x²)."""
    x0 = x[0]
    return _exp_ode(_deriv(-mul_series(x, x)), _TWO_OVER_SQRT_PI * np.exp(-x0 * x0))


def _shift(x: Series, c: float) -> Series:
    u = x.copy()
    u[0] += c
    return u


def _chain_rule(value: Callable[[np.ndarray], np.ndarray], slope: Callable[[Series], Series]
                ) -> Callable[[Series], Series]:
    """The rule y = f(x) from y' = f'(x)·x', given f and the series of f'(x(t)) from the series
    x; f'(x(t)) is only needed to K−1 terms."""

    def rule(x: Series) -> Series:
        order = len(x) - 1
        if not order:
            return value(x)
        return _integrate(value(x[0]), mul_series(slope(x[:order]), _deriv(x)))

    return rule


asin_series = _chain_rule(np.arcsin, lambda x: _pow_ode(_one_minus_square(x), -0.5))
acos_series = _chain_rule(np.arccos, lambda x: -_pow_ode(_one_minus_square(x), -0.5))
atan_series = _chain_rule(np.arctan, lambda x: _reciprocal(_one_plus_square(x)))
asinh_series = _chain_rule(np.arcsinh, lambda x: _pow_ode(_one_plus_square(x), -0.5))
acosh_series = _chain_rule(np.arccosh, lambda x: _pow_ode(_square_minus_one(x), -0.5))
atanh_series = _chain_rule(np.arctanh, lambda x: _reciprocal(_one_minus_square(x)))
log_series = _chain_rule(np.log, _reciprocal)
log1p_series = _chain_rule(np.log1p, lambda x: _reciprocal(_shift(x, 1.0)))
erf_series = _chain_rule(special.erf, _erf_slope)
erfc_series = _chain_rule(special.erfc, lambda x: -_erf_slope(x))
softplus_series = _chain_rule(lambda v: np.logaddexp(0.0, v), sigmoid_series)


def atan2_series(y: Series, x: Series) -> Series:
    """atan2(y, x) from its derivative (x·y' − y·x') / (x² + y²)."""
    y, x = _broadcast(y, x)
    order = len(x) - 1
    if not order:
        return np.arctan2(y, x)
    xs, ys = x[:order], y[:order]
    slope = div_series(mul_series(xs, _deriv(y)) - mul_series(ys, _deriv(x)),
                       mul_series(xs, xs) + mul_series(ys, ys))
    return _integrate(np.arctan2(y[0], x[0]), slope)


# --- kinks, selections, comparisons -------------------------------------------------------------

def abs_series(x: Series) -> Series:
    y = np.sign(x[0]) * x
    y[0] = np.abs(x[0])  # +0.0 at x0 = −0.0, where sign(x0)·x0 would give −0.0
    return y


def sign_series(x: Series) -> Series:
    return _constant(np.sign(x[0]), x)


def relu_series(x: Series) -> Series:
    y = np.where(x[0] > 0, x, 0.0)
    y[0] = np.maximum(x[0], 0.0)  # keeps nan
    return y


def max_series(a: Series, b: Series) -> Series:
    a, b = _broadcast(a, b)
    return np.where(a[0] > b[0], a, np.where(a[0] < b[0], b, 0.5 * (a + b)))


def min_series(a: Series, b: Series) -> Series:
    a, b = _broadcast(a, b)
    return np.where(a[0] < b[0], a, np.where(a[0] > b[0], b, 0.5 * (a + b)))


def where_series(cond: Series, a: Series, b: Series) -> Series:
    cond, a, b = _broadcast(cond, a, b)
    return np.where(cond[0] != 0, a, b)


def comparison_series(op: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., Series]:
    """The rule of a comparison: the 0/1 constant series of op(a0, b0)."""

    def rule(a: Series, b: Series) -> Series:
        a, b = _pad(a, b)
        return _constant(op(a[0], b[0]).astype(np.float64), a)

    return rule


def add_series(a: Series, b: Series) -> Series:
    if a.ndim != b.ndim:
        a, b = _pad(a, b)
    return a + b


def sub_series(a: Series, b: Series) -> Series:
    if a.ndim != b.ndim:
        a, b = _pad(a, b)
    return a - b


# --- matrices -----------------------------------------------------------------------------------

def inv_series(a: Series) -> Series:
    """inv(A) for A of shape (K+1, *prefix, n, n): Y_0 = A_0⁻¹, Y_k = −Y_0 Σ_{j=1..k} A_j Y_{k−j}.

    A singular (or non-finite) A_0 gives a nan-filled series for that matrix. Terms with an
    all-zero A_j are skipped (seeds such as A_0 + t·A_1 have one), since tiny batched matmuls
    are what this rule spends its time on.
    """
    a0 = a[0]
    _, logdet = np.linalg.slogdet(a0)
    singular = ~np.isfinite(logdet)
    y = np.empty(a.shape)
    y0 = np.linalg.inv(np.where(singular[..., None, None], np.eye(a.shape[-1]), a0))
    y0[singular] = np.nan
    y[0] = y0
    terms = _rows_to_visit(a, y0)
    terms = terms[terms > 0]
    for k in range(1, len(a)):
        j = terms[:np.searchsorted(terms, k, side="right")]
        y[k] = -(y0 @ np.matmul(a[j], y[k - j]).sum(axis=0))
    return y


def _trace_of_product(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...ji->...", p, q)


def det_series(a: Series) -> Series:
    """det(A), (K+1, *prefix, n, n) -> (K+1, *prefix), from (log det)' = tr(A⁻¹·A').

    Exact for invertible A_0; a singular A_0 keeps its value det(A_0) and gets nan above.
    """
    order = len(a) - 1
    if not order:
        return np.linalg.det(a)
    log_det_slope = series_bilinear(inv_series(a[:order]), _deriv(a), _trace_of_product)
    return _exp_ode(log_det_slope, np.linalg.det(a[0]))
