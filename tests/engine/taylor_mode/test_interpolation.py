"""Exact interpolation of mixed partials from integer rays (engine.taylor_mode.interpolation).

References are exact rational arithmetic (fractions.Fraction / sympy), never the module itself:
with c_d(i) = Σ_{|j|=d} (∂^j f / j!) i^j the d-th Taylor coefficient along a ray i, weights γ
recover ∂^j f = Σ_i γ_ij c_d(i) exactly iff Σ_i γ_ij i^k = j!·δ_jk for every |k| = d.
"""

from __future__ import annotations

import itertools
import math
import random
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

import engine
from engine.errors import LimitError
from engine.taylor_mode.interpolation import compositions, table_size, weights
from engine.taylor_mode.interpolation import exact_weights as engine_exact

# γ are float64 values of rationals computed in floating point by a d-step product of
# polynomials with O(d^n) terms; each step costs a few ulps, so 1e-13 relative (to the largest
# weight of the column) is ample while a wrong weight is off by O(1).
WEIGHT_RTOL = 1e-13


def monomial(i: tuple[int, ...], k: tuple[int, ...]) -> int:
    return math.prod(a**b for a, b in zip(i, k, strict=True))


def exact_weights(rays: list[tuple[int, ...]], target: tuple[int, ...]) -> list[Fraction]:
    """Solve Σ_r w_r r^k = target!·δ(k, target) over all |k| = d with rays' support in the
    target's (Fractions, Gauss-Jordan; the system is square and non-singular for these rays)."""
    n, d = len(target), sum(target)
    ks = [k for k in map(tuple, compositions(d, n).tolist())
          if all(k[v] == 0 or target[v] > 0 for v in range(n))]
    assert len(ks) == len(rays)
    a = [[Fraction(monomial(r, k)) for r in rays] for k in ks]
    rhs = [Fraction(math.prod(map(math.factorial, target)) if k == target else 0) for k in ks]
    m = len(rays)
    for col in range(m):
        piv = next(r for r in range(col, m) if a[r][col] != 0)
        a[col], a[piv] = a[piv], a[col]
        rhs[col], rhs[piv] = rhs[piv], rhs[col]
        for r in range(m):
            if r != col and a[r][col] != 0:
                f = a[r][col] / a[col][col]
                a[r] = [x - f * y for x, y in zip(a[r], a[col], strict=True)]
                rhs[r] -= f * rhs[col]
    return [rhs[i] / a[i][i] for i in range(m)]


# --- compositions -----------------------------------------------------------------------------

@pytest.mark.parametrize(("total", "parts"), [(0, 1), (0, 3), (1, 1), (3, 2), (4, 3), (6, 4),
                                               (5, 1)])
def test_compositions_are_all_multi_indices_of_the_degree(total: int, parts: int) -> None:
    rows = [tuple(r) for r in compositions(total, parts).tolist()]
    expected = {c for c in itertools.product(range(total + 1), repeat=parts) if sum(c) == total}
    assert len(rows) == len(set(rows)) == math.comb(total + parts - 1, parts - 1)
    assert set(rows) == expected
    assert rows == sorted(rows, reverse=True)  # first component descending: (d,0,…) first
    assert compositions(total, parts).shape == (len(rows), parts)


# --- the worked example ------------------------------------------------------------

def test_x2y_weights_hand_derived() -> None:
    # ∂³f/∂x²∂y: Σ_i w_i i^k = 2!·1!·δ(k, (2,1)) over k ∈ {(3,0),(2,1),(1,2),(0,3)} gives
    #   27a + 8b + c = 0, 4b + 2c = 2, 2b + 4c = 0, b + 8c + 27d = 0
    #   ⇒ b = 2/3, c = −1/3, a = −5/27, d = 2/27.
    rays, gamma = weights(2, 3, ((2, 1),))
    assert [tuple(r) for r in rays.tolist()] == [(3, 0), (2, 1), (1, 2), (0, 3)]
    expected = [Fraction(-5, 27), Fraction(2, 3), Fraction(-1, 3), Fraction(2, 27)]
    assert exact_weights([(3, 0), (2, 1), (1, 2), (0, 3)], (2, 1)) == expected
    assert gamma.shape == (4, 1)
    np.testing.assert_allclose(gamma[:, 0], [float(w) for w in expected], rtol=1e-15,
                               atol=1e-16)


def test_x2y_weights_recover_the_partial_of_a_cubic() -> None:
    # p = a x³ + b x²y + c xy² + e y³: ∂²_x ∂_y p = 2b, exactly, from the four ray values
    rays, gamma = weights(2, 3, ((2, 1),))
    a, b, c, e = 3, -7, 5, 11
    values = [a * i**3 + b * i**2 * j + c * i * j**2 + e * j**3 for i, j in rays.tolist()]
    assert float(gamma[:, 0] @ np.array(values, float)) == pytest.approx(2 * b, rel=1e-14)


def test_pure_power_needs_one_ray() -> None:
    # ∂^d/∂x^d: only the ray (d, 0, …) has support inside the target's; c_d(d e_x) = d^d·p_d
    for n, d in [(1, 1), (1, 5), (2, 4), (3, 3)]:
        target = (d,) + (0,) * (n - 1)
        rays, gamma = weights(n, d, (target,))
        assert [tuple(r) for r in rays.tolist()] == [target]
        assert gamma[0, 0] == pytest.approx(math.factorial(d) / d**d, rel=1e-15)


def test_xy_weights() -> None:
    # ∂²/∂x∂y from rays (2,0), (1,1), (0,2): 4a + b = 0, b = 1, b + 4c = 0
    rays, gamma = weights(2, 2, ((1, 1),))
    ray_list = [tuple(r) for r in rays.tolist()]
    assert ray_list == [(2, 0), (1, 1), (0, 2)]
    exact = exact_weights(ray_list, (1, 1))
    assert exact == [Fraction(-1, 4), Fraction(1), Fraction(-1, 4)]
    np.testing.assert_allclose(gamma[:, 0], [float(w) for w in exact], rtol=1e-15)


# --- against the exact linear system ----------------------------------------------------------

TARGETS = [
    (1, 1), (2, 1), (1, 2), (3, 3), (4, 2), (1, 1, 1), (2, 1, 1), (1, 2, 0), (2, 0, 2),
    (1, 2, 3), (1, 1, 1, 1), (2, 1, 1, 2), (0, 1, 0, 3), (3, 1, 0, 1),
]


def solved_system(target: tuple[int, ...]) -> dict[tuple[int, ...], Fraction]:
    """The exact weight of every ray of degree |target| inside the target's support."""
    n, d = len(target), sum(target)
    support = [r for r in map(tuple, compositions(d, n).tolist())
               if all(r[v] == 0 or target[v] > 0 for v in range(n))]
    return dict(zip(support, exact_weights(support, target), strict=True))


@pytest.mark.parametrize("target", TARGETS)
def test_weights_solve_the_exact_system(target: tuple[int, ...]) -> None:
    n, d = len(target), sum(target)
    rays, gamma = weights(n, d, (target,))
    ray_list = [tuple(r) for r in rays.tolist()]
    # rays have degree d and no component where the target has none
    assert all(sum(r) == d for r in ray_list)
    assert all(r[v] == 0 for r in ray_list for v in range(n) if target[v] == 0)
    exact = solved_system(target)
    # dropped rays are exactly the zero-weight ones
    assert set(ray_list) == {r for r, w in exact.items() if w != 0}
    scale = max(abs(float(w)) for w in exact.values())
    for r, g in zip(ray_list, gamma[:, 0], strict=True):
        assert abs(g - float(exact[r])) <= WEIGHT_RTOL * scale, (r, g, exact[r])


@pytest.mark.parametrize("target", TARGETS)
def test_exact_weights_are_the_rationals_of_the_exact_system(target: tuple[int, ...]) -> None:
    # the Fractions extended precision contracts with: equal, not close, to the solved system
    n, d = len(target), sum(target)
    rays, _ = weights(n, d, (target,))
    exact = solved_system(target)
    assert list(engine_exact(n, d, (target,))[:, 0]) == [exact[tuple(r)] for r in rays.tolist()]


def test_several_targets_share_the_rays() -> None:
    targets = tuple(map(tuple, compositions(4, 3).tolist()))
    rays, gamma = weights(3, 4, targets)
    assert gamma.shape == (len(rays), len(targets))
    ray_list = [tuple(r) for r in rays.tolist()]
    all_rays = [tuple(r) for r in compositions(4, 3).tolist()]
    for t, target in enumerate(targets):
        exact = dict(zip(all_rays, _full_weights(all_rays, target), strict=True))
        scale = max(abs(float(w)) for w in exact.values())
        for r, g in zip(ray_list, gamma[:, t], strict=True):
            assert abs(g - float(exact[r])) <= WEIGHT_RTOL * scale
        assert all(exact[r] == 0 for r in all_rays if r not in ray_list)


def _full_weights(rays: list[tuple[int, ...]], target: tuple[int, ...]) -> list[Fraction]:
    """Weights on the full simplex lattice (no support restriction), by sympy's exact solver."""
    d = sum(target)
    ws = sp.symbols(f"w0:{len(rays)}")
    eqs = [sp.Eq(sum(w * monomial(r, k) for w, r in zip(ws, rays, strict=True)),
                 math.prod(map(math.factorial, target)) if k == target else 0)
           for k in map(tuple, compositions(d, len(target)).tolist())]
    sol = sp.solve(eqs, ws, dict=True)[0]
    return [Fraction(int(sp.fraction(sol[w])[0]), int(sp.fraction(sol[w])[1])) for w in ws]


# --- random homogeneous polynomials: Σ γ_ij p(i) = ∂^j p exactly ----------------------------------

@pytest.mark.parametrize(("n", "d"), [(1, 3), (2, 2), (2, 5), (2, 6), (3, 2), (3, 4), (3, 5),
                                      (4, 3), (4, 4)])
def test_weights_recover_partials_of_random_homogeneous_polynomials(n: int, d: int) -> None:
    rng = random.Random(1000 * n + d)
    monomials = [tuple(k) for k in compositions(d, n).tolist()]
    targets = tuple(monomials)
    rays, gamma = weights(n, d, targets)
    for _ in range(3):
        coeff = {k: Fraction(rng.randint(-9, 9), rng.randint(1, 5)) for k in monomials}
        # p(z) = Σ_k coeff_k z^k; along ray i its d-th Taylor coefficient is exactly p(i)
        values = [sum(c * monomial(tuple(i), k) for k, c in coeff.items())
                  for i in rays.tolist()]
        for t, j in enumerate(targets):
            exact = coeff[j] * math.prod(map(math.factorial, j))  # ∂^j p, |j| = d
            got = sum(g * float(v) for g, v in zip(gamma[:, t], values, strict=True))
            size = sum(abs(g * float(v)) for g, v in zip(gamma[:, t], values, strict=True))
            # float summation of the exact (rational) terms: a few eps of their total size
            assert abs(got - float(exact)) <= 1e-13 * max(size, 1.0), (j, got, exact)


def test_table_size_is_known_before_anything_is_listed() -> None:
    # C(39, 20) rays for 20 distinct entries: sized at once, so callers refuse it by a limit.
    rays, entries = table_size(20, 20, ((1,) * 20,))
    assert rays == math.comb(39, 20)
    assert entries == rays * 2**20
    assert table_size(2, 3, ((2, 1),)) == (4, 4 * 3 * 2)


def test_engine_refuses_huge_interpolations_by_a_configured_limit() -> None:
    wrt = [f"v[{i}]" for i in range(20)]
    with pytest.raises(LimitError) as err:
        engine.derivative(expression="prod(v)", point={"v": [1.0] * 20}, wrt=wrt)
    assert err.value.limit == "max_coefficients"
    assert err.value.value == engine.DEFAULT_LIMITS.max_coefficients
    assert err.value.actual == math.comb(39, 20)
