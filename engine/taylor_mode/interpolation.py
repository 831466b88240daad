"""Exact interpolation of mixed partials from univariate Taylor series along integer rays.

After Griewank, Utke & Walther, "Evaluating higher derivative tensors by forward propagation of
univariate Taylor series", Math. Comp. 69 (2000). With c_d(i) the d-th normalized Taylor
coefficient of t -> f(x0 + t·Σ_v i_v e_v) along a ray i (|i| = d), the homogeneous polynomial
p(z) = Σ_{|j|=d} (∂^j f / j!) z^j takes the value c_d(i) at z = i. Its values on the simplex
lattice {i/d} determine it through the lattice's Lagrange basis, homogenized,

    L_i(z) = Π_v Π_{m<i_v} (d·z_v − m·|z|) / (i_v − m),

so  ∂^j f = Σ_i γ_ij c_d(i)  with  γ_ij = j! / d^d · [z^j] L_i(z).
For ∂³f/∂x²∂y this gives rays (3,0), (2,1), (1,2), (0,3) with weights −5/27, 2/3, −1/3, 2/27.
A ray whose support is not inside the target's has weight 0 and is dropped.

We chose this over multivariate truncated Taylor arithmetic because it reuses the univariate
rules unchanged: all rays are one batch axis of a single propagation.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np


def compositions(total: int, parts: int) -> np.ndarray:
    """All multi-indices of ``parts`` non-negative ints summing to ``total``, as rows.

    Ordered with the first component descending: (d,0,…) first, (…,0,d) last.
    """
    rows = []
    for bars in itertools.combinations(range(total + parts - 1), parts - 1):
        edges = (-1, *bars, total + parts - 1)
        rows.append([edges[i + 1] - edges[i] - 1 for i in range(parts)])
    return np.array(rows[::-1], dtype=np.int64).reshape(-1, parts)


def _lagrange_coefficients(rays: np.ndarray, d: int, top: tuple[int, ...], exact: bool = False
                           ) -> np.ndarray:
    """Coefficients of every L_i(z), truncated to exponents ≤ ``top``: shape (R, *(top+1));
    ``exact``: those of the numerators Π (d·z_v − m·|z|) alone, as Python ints (an object
    array: Fractions at every step cost seconds for a few hundred rays), to be divided by
    :func:`_denominators`."""
    n_rays, n = rays.shape
    kind = object if exact else np.float64
    poly = np.zeros((n_rays, *(t + 1 for t in top)), dtype=kind)
    if exact:
        poly[...] = 0
    poly[(slice(None), *(0,) * n)] = 1
    # Factor number `step` of ray r is (d·z_v − m·|z|)/(i_v − m) for its step-th (v, m) pair.
    factors = [[(v, m) for v in range(n) for m in range(int(ray[v]))] for ray in rays]
    for step in range(d):
        alpha = np.empty((n_rays, n), dtype=kind)
        for r, pairs in enumerate(factors):
            v, m = pairs[step]
            if exact:
                alpha[r] = -m
                alpha[r, v] += d
            else:
                width = int(rays[r, v]) - m
                alpha[r] = -m / width
                alpha[r, v] += d / width
        new = np.zeros_like(poly)
        for u in range(n):
            dst = [slice(None)] * (n + 1)
            src = [slice(None)] * (n + 1)
            dst[u + 1], src[u + 1] = slice(1, None), slice(None, -1)
            shape = (n_rays,) + (1,) * n
            new[tuple(dst)] += alpha[:, u].reshape(shape) * poly[tuple(src)]
        poly = new
    return poly


def _denominators(rays: np.ndarray) -> list[int]:
    """Π_v Π_{m<i_v} (i_v − m) = Π_v i_v! for each ray: the denominators of L_i."""
    return [math.prod(math.factorial(int(x)) for x in ray) for ray in rays]


@lru_cache(maxsize=256)
def table_size(n: int, d: int, targets: tuple[tuple[int, ...], ...]) -> tuple[int, int]:
    """Rays and entries of the polynomial table :func:`weights` would build, computed without
    building anything (callers check them against their limits first: C(39, 20) rays would
    take hours to list)."""
    top = [max(t[v] for t in targets) for v in range(n)]
    rays = math.comb(sum(1 for t in top if t > 0) + d - 1, d)
    return rays, rays * math.prod(t + 1 for t in top)


@lru_cache(maxsize=64)
def weights(n: int, d: int, targets: tuple[tuple[int, ...], ...]
            ) -> tuple[np.ndarray, np.ndarray]:
    """Rays of degree ``d`` in ``n`` variables and γ (rays × targets) for the multi-indices
    ``targets`` (each of degree ``d``); rays with zero weight for every target are dropped."""
    top = tuple(max(t[v] for t in targets) for v in range(n))
    rays = compositions(d, n)
    rays = rays[np.all((rays == 0) | (np.array(top) > 0), axis=1)]
    poly = _lagrange_coefficients(rays, d, top)
    scale = np.array([math.prod(math.factorial(x) for x in t) for t in targets]) / d ** d
    keys: list[tuple[Any, ...]] = [(slice(None), *t) for t in targets]
    gamma = np.stack([poly[k] for k in keys], axis=1) * scale
    keep = np.any(gamma != 0, axis=1)
    return rays[keep], gamma[keep]


@lru_cache(maxsize=16)
def exact_weights(n: int, d: int, targets: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """γ of :func:`weights` (same rays, same order) as exact Fractions, for extended
    precision: the float64 weights are rounded."""
    rays, _ = weights(n, d, targets)
    top = tuple(max(t[v] for t in targets) for v in range(n))
    poly = _lagrange_coefficients(rays, d, top, exact=True)
    dens = _denominators(rays)
    gamma = np.empty((len(rays), len(targets)), dtype=object)
    for j, t in enumerate(targets):
        key: tuple[Any, ...] = (slice(None), *t)
        scale = math.prod(math.factorial(x) for x in t)
        gamma[:, j] = [Fraction(int(p) * scale, den * d ** d)
                       for p, den in zip(poly[key], dens, strict=True)]
    return gamma
