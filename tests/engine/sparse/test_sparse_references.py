"""Sparse Jacobians and Hessians against independent references: scipy's Rosenbrock Hessian
and Hessian-vector product, and closed-form Jacobians and Hessians of a 1-D (Bratu) and a 2-D
(5-point stencil) residual assembled here with scipy.sparse.

Every answer is the §6 coordinate form; the checks rebuild a scipy matrix from ``rows``,
``cols`` and ``values`` and compare it, pattern and values, with the reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import rosen_hess, rosen_hess_prod

import engine

ROSENBROCK = "sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)"
BRATU = "x[:-2] - 2*x[1:-1] + x[2:] + h**2*lam*exp(x[1:-1])"
STENCIL = ("4*u[1:-1, 1:-1] - u[:-2, 1:-1] - u[2:, 1:-1] - u[1:-1, :-2] - u[1:-1, 2:]"
           " + exp(u[1:-1, 1:-1])")
RNG = np.random.default_rng(12)


def as_matrix(answer: dict[str, Any], values: np.ndarray | None = None) -> sp.csr_matrix:
    """The COO answer as a scipy matrix (explicit zeros kept)."""
    data = answer["values"] if values is None else values
    m = sp.csr_matrix((data, (answer["rows"], answer["cols"])), shape=tuple(answer["shape"]))
    m.sort_indices()
    return m


def assert_sorted_coo(answer: dict[str, Any]) -> None:
    """0-based indices sorted by (row, col), without duplicates; nnz counts them."""
    rows, cols = np.asarray(answer["rows"]), np.asarray(answer["cols"])
    assert answer["format"] == "coo"
    assert answer["nnz"] == len(rows) == len(cols)
    key = rows * answer["shape"][1] + cols
    assert np.all(np.diff(key) > 0)


def pattern(m: sp.spmatrix) -> set[tuple[int, int]]:
    coo = sp.coo_matrix(m)
    return set(zip(coo.row.tolist(), coo.col.tolist(), strict=True))


def assert_matches(answer: dict[str, Any], reference: sp.spmatrix, rtol: float = 1e-12) -> None:
    """Same pattern as the structural ``reference`` and the same values to ``rtol`` (relative
    to the largest entry)."""
    assert_sorted_coo(answer)
    got = as_matrix(answer)
    assert pattern(got) == pattern(reference)
    diff = abs(got - sp.csr_matrix(reference)).max()
    assert diff <= rtol * abs(reference).max()


# ---------------------------------------------------------------- Rosenbrock (scipy)

def test_rosenbrock_hessian_equals_scipy_rosen_hess_n1000() -> None:
    n = 1000
    x = RNG.uniform(-2, 2, n)
    out = engine.hessian(expression=ROSENBROCK, point={"x": x}, sparse=True)
    h = out["hessian"]
    assert h["shape"] == [n, n] and h["nnz"] == 3 * n - 2 and h["colors"] == 3
    reference = sp.csr_matrix(rosen_hess(x))  # exactly the tridiagonal band (x is generic)
    assert_matches(h, reference)


def test_rosenbrock_hessian_products_equal_scipy_rosen_hess_prod_n100000() -> None:
    n = 100_000
    x = RNG.uniform(-2, 2, n)
    out = engine.hessian(expression=ROSENBROCK, point={"x": x}, sparse=True)
    h = out["hessian"]
    assert h["nnz"] == 3 * n - 2 and h["colors"] == 3
    matrix = as_matrix(h)
    for _ in range(3):
        p = RNG.normal(size=n)
        expected = rosen_hess_prod(x, p)
        assert np.max(abs(matrix @ p - expected)) <= 1e-12 * np.max(abs(expected))


def test_lower_triangle_keeps_row_ge_col_of_the_full_pattern() -> None:
    n = 50
    x = RNG.uniform(-2, 2, n)
    lower = engine.hessian(expression=ROSENBROCK, point={"x": x}, sparse=True,
                           triangle="lower")["hessian"]
    assert_matches(lower, sp.tril(sp.csr_matrix(rosen_hess(x))))
    assert lower["nnz"] == 2 * n - 1


def test_batch_answers_one_pattern_and_values_per_point() -> None:
    n, count = 200, 4
    xs = RNG.uniform(-2, 2, (count, n))
    out = engine.hessian(expression=ROSENBROCK, points={"x": xs}, sparse=True)
    h = out["hessian"]
    assert np.shape(h["values"]) == (count, h["nnz"])
    for k in range(count):
        reference = sp.csr_matrix(rosen_hess(xs[k]))
        assert pattern(as_matrix(h, h["values"][k])) == pattern(reference)
        got = as_matrix(h, h["values"][k])
        assert abs(got - reference).max() <= 1e-12 * abs(reference).max()
    assert np.shape(out["gradient"]) == (count, n)


# ---------------------------------------------------------------- Bratu (closed form)

def bratu_jacobian(x: np.ndarray, h: float, lam: float) -> sp.csr_matrix:
    """∂r_i/∂x_j of r_i = x_i - 2 x_{i+1} + x_{i+2} + h² λ exp(x_{i+1})."""
    m = len(x) - 2
    i = np.arange(m)
    rows = np.concatenate([i, i, i])
    cols = np.concatenate([i, i + 1, i + 2])
    vals = np.concatenate([np.ones(m), -2 + h**2 * lam * np.exp(x[1:-1]), np.ones(m)])
    return sp.csr_matrix((vals, (rows, cols)), shape=(m, len(x)))


@pytest.mark.parametrize("n", [10, 100_000])
def test_bratu_jacobian_three_colors_equals_closed_form(n: int) -> None:
    h, lam = 1.0 / (n + 1), 3.5
    x = RNG.uniform(0, 1, n)
    out = engine.jacobian(expression=BRATU, point={"x": x}, constants={"h": h, "lam": lam},
                          sparse=True)
    jac = out["jacobian"]
    assert jac["shape"] == [n - 2, n] and jac["nnz"] == 3 * (n - 2) and jac["colors"] == 3
    assert_matches(jac, bratu_jacobian(x, h, lam))


def test_bratu_batch_values_per_point() -> None:
    n, count, h, lam = 30, 3, 1 / 31, 2.0
    xs = RNG.uniform(0, 1, (count, n))
    jac = engine.jacobian(expression=BRATU, points={"x": xs}, constants={"h": h, "lam": lam},
                          sparse=True)["jacobian"]
    assert np.shape(jac["values"]) == (count, jac["nnz"])
    for k in range(count):
        reference = bratu_jacobian(xs[k], h, lam)
        got = as_matrix(jac, jac["values"][k])
        assert pattern(got) == pattern(reference)
        assert abs(got - reference).max() <= 1e-12 * abs(reference).max()


# ---------------------------------------------------------------- 2-D stencil (closed form)

def stencil_parts(u: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """The Jacobian of the interior residual r = 4u_c - u_n - u_s - u_w - u_e + exp(u_c) over
    the flattened grid, and the residual itself."""
    p, q = u.shape
    idx = np.arange(p * q).reshape(p, q)
    centre = idx[1:-1, 1:-1].reshape(-1)
    m = len(centre)
    rows = np.tile(np.arange(m), 5)
    cols = np.concatenate([centre, idx[:-2, 1:-1].reshape(-1), idx[2:, 1:-1].reshape(-1),
                           idx[1:-1, :-2].reshape(-1), idx[1:-1, 2:].reshape(-1)])
    uc = u[1:-1, 1:-1].reshape(-1)
    vals = np.concatenate([4 + np.exp(uc), -np.ones(4 * m)])
    residual = (4 * u[1:-1, 1:-1] - u[:-2, 1:-1] - u[2:, 1:-1] - u[1:-1, :-2] - u[1:-1, 2:]
                + np.exp(u[1:-1, 1:-1])).reshape(-1)
    return sp.csr_matrix((vals, (rows, cols)), shape=(m, p * q)), residual


def test_stencil_jacobian_300x300_five_colors() -> None:
    u = RNG.uniform(0, 1, (300, 300))
    jac = engine.jacobian(expression=STENCIL, point={"u": u}, sparse=True)["jacobian"]
    assert jac["colors"] == 5
    assert jac["nnz"] == 5 * 298 * 298
    reference, _ = stencil_parts(u)
    assert_matches(jac, reference)


def test_stencil_sum_of_squares_hessian_equals_gauss_newton_plus_curvature() -> None:
    u = RNG.uniform(0, 1, (12, 9))
    j, r = stencil_parts(u)
    # H = 2 JᵀJ + 2 Σ_k r_k ∇²r_k, and ∇²r_k is exp(u_c) at the centre of row k only.
    centre = np.arange(u.size).reshape(u.shape)[1:-1, 1:-1].reshape(-1)
    curvature = sp.csr_matrix((2 * r * np.exp(u[1:-1, 1:-1].reshape(-1)), (centre, centre)),
                              shape=(u.size, u.size))
    reference = 2 * (j.T @ j) + curvature
    out = engine.hessian(expression=f"sum(({STENCIL})**2)", point={"u": u}, sparse=True)
    h = out["hessian"]
    assert_matches(h, reference)


# ---------------------------------------------------------------- never probed

def test_entries_zero_at_the_point_stay_with_value_zero() -> None:
    # At x = 0: ∂(x²)/∂x = 0, ∂²sin(y)/∂y² = -sin(0) = 0 and ∂²(x·z)/∂x∂z = 1; all stay.
    jac = engine.jacobian(expression="[x**2, x*y, sin(y)]", point={"x": 0.0, "y": 0.0},
                          sparse=True)["jacobian"]
    assert pattern(as_matrix(jac)) == {(0, 0), (1, 0), (1, 1), (2, 1)}
    assert_sorted_coo(jac)
    assert np.array_equal(jac["values"], [0.0, 0.0, 0.0, 1.0])
    hes = engine.hessian(expression="x*z + sin(y) + x**3", point={"x": 0.0, "y": 0.0, "z": 2.0},
                         sparse=True)["hessian"]
    assert list(zip(hes["rows"], hes["cols"], strict=True)) == [(0, 0), (0, 2), (1, 1), (2, 0)]
    assert np.array_equal(hes["values"], [0.0, 1.0, 0.0, 1.0])


def test_sparsity_from_shapes_is_the_pattern_alone() -> None:
    n = 1000
    out = engine.sparsity(expression=ROSENBROCK, of="hessian", shapes={"x": [n]})
    reference = pattern(sp.csr_matrix(rosen_hess(RNG.uniform(-2, 2, n))))
    assert set(zip(out["rows"].tolist(), out["cols"].tolist(), strict=True)) == reference
    assert out["nnz"] == 3 * n - 2 and out["colors"] == 3 and out["shape"] == [n, n]
    assert len(out["coloring"]) == n and out["coloring"].max() == 2
    jac = engine.sparsity(expression=BRATU, of="jacobian", point={"x": np.ones(20)},
                          constants={"h": 0.1, "lam": 1.0})
    assert jac["shape"] == [18, 20] and jac["nnz"] == 54 and jac["colors"] == 3


def test_variables_order_and_subset_set_the_columns() -> None:
    # H over x only of x0·y·x1 + Σ x³: [[6x0, y, 0], [y, 6x1, 0], [0, 0, 6x2]].
    hes = engine.hessian(expression="x[0]*y*x[1] + sum(x**3)",
                         point={"x": [1.0, 2.0, 3.0], "y": 2.0}, variables=["x"],
                         sparse=True)["hessian"]
    assert hes["shape"] == [3, 3]
    assert list(zip(hes["rows"], hes["cols"], hes["values"], strict=True)) == [
        (0, 0, 6.0), (0, 1, 2.0), (1, 0, 2.0), (1, 1, 12.0), (2, 2, 18.0)]
    # Columns follow the point's order: y first, then x[0], x[1], x[2].
    jac = engine.jacobian(expression="[x[0]*y, y**2, x[2]]",
                          point={"y": 2.0, "x": [1.0, 2.0, 3.0]}, sparse=True)["jacobian"]
    assert jac["shape"] == [3, 4]
    assert list(zip(jac["rows"], jac["cols"], jac["values"], strict=True)) == [
        (0, 0, 1.0), (0, 1, 2.0), (1, 0, 4.0), (2, 3, 1.0)]
