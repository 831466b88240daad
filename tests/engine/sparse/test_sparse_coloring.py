"""Colorings checked by brute force: distance-2 column colorings (no two columns sharing a row
alike) and star colorings (proper, and no path on four vertices in two colors, every path
enumerated), star recovery of random symmetric matrices from their compressed products, and
the colors of sparse answers whose best count is known."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import engine
from engine.sparse.coloring import color_columns, color_rows, color_symmetric
from engine.sparse.star import off_diagonal, star_coloring, star_gather

RNG = np.random.default_rng(5)


def random_symmetric(n: int, density: float, rng: np.random.Generator) -> sp.csr_matrix:
    upper = sp.random(n, n, density=density, random_state=rng, format="csr")
    m = sp.csr_matrix(upper + upper.T + sp.identity(n))
    m.data[:] = 1.0
    m.sort_indices()
    return m


def neighbors(adj: sp.csr_matrix) -> list[set[int]]:
    return [set(adj.indices[adj.indptr[v]:adj.indptr[v + 1]].tolist())
            for v in range(adj.shape[0])]


def assert_star(adj: sp.csr_matrix, colors: np.ndarray) -> None:
    """Proper, and every path a-b-c-d (four distinct vertices) has at least three colors."""
    nb = neighbors(adj)
    for a in range(len(nb)):
        for b in nb[a]:
            assert colors[a] != colors[b]
            for c in nb[b] - {a}:
                for d in nb[c] - {a, b}:
                    assert len({colors[a], colors[b], colors[c], colors[d]}) >= 3, (a, b, c, d)


@pytest.mark.parametrize("seed", range(8))
def test_star_coloring_of_random_graphs_is_a_star_coloring(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pattern = random_symmetric(int(rng.integers(5, 40)), float(rng.uniform(0.03, 0.3)), rng)
    adj = off_diagonal(pattern)
    order = rng.permutation(adj.shape[0])
    colors = star_coloring(adj, order)
    assert_star(adj, colors)
    assert_star(adj, color_symmetric(pattern))


@pytest.mark.parametrize("seed", range(8))
def test_star_recovery_returns_every_entry_of_a_random_symmetric_matrix(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(5, 60))
    pattern = random_symmetric(n, float(rng.uniform(0.02, 0.2)), rng)
    coo = sp.coo_matrix(pattern)
    order = np.lexsort((coo.col, coo.row))
    rows, cols = coo.row[order].astype(np.int64), coo.col[order].astype(np.int64)
    values = rng.normal(size=len(rows))
    h = sp.csr_matrix((values, (rows, cols)), shape=(n, n))
    h = (h + h.T) / 2  # symmetric values on the symmetric pattern
    for colors in (star_coloring(off_diagonal(pattern), np.arange(n)), color_symmetric(pattern)):
        seed_matrix = np.zeros((n, colors.max() + 1))
        seed_matrix[np.arange(n), colors] = 1.0
        compressed = (h @ seed_matrix).T.reshape(-1)  # laid out as (colors, n)
        got = compressed[star_gather(rows, cols, colors, n)]
        assert np.allclose(got, np.asarray(h[rows, cols]).reshape(-1), rtol=1e-14, atol=1e-15)


def test_star_gather_refuses_a_coloring_that_is_not_star() -> None:
    path = sp.csr_matrix(sp.diags([1.0, 1.0, 1.0], [-1, 0, 1], shape=(4, 4)))
    coo = sp.coo_matrix(path)
    with pytest.raises(ValueError, match="not a star coloring"):
        star_gather(coo.row.astype(np.int64), coo.col.astype(np.int64),
                    np.array([0, 1, 0, 1]), 4)


def test_known_star_counts() -> None:
    # A star graph needs two colors (distance-2: one per vertex); a path needs three.
    n = 12
    arrow = sp.lil_matrix((n, n))
    arrow[0, :] = 1
    arrow[:, 0] = 1
    arrow.setdiag(1)
    adj = off_diagonal(sp.csr_matrix(arrow))
    assert star_coloring(adj, np.arange(n)).max() + 1 == 2
    path = off_diagonal(sp.csr_matrix(sp.diags([1.0, 1.0, 1.0], [-1, 0, 1], shape=(n, n))))
    assert star_coloring(path, np.arange(n)).max() + 1 == 3


@pytest.mark.parametrize("seed", range(5))
def test_distance2_colorings_separate_columns_and_rows_sharing_a_line(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    p = sp.random(30, 25, density=0.1, random_state=rng, format="csr")
    p.data[:] = 1.0
    by_col, by_row = color_columns(p), color_rows(p)
    dense = p.toarray() != 0
    for r in range(30):
        cols = np.flatnonzero(dense[r])
        assert len(set(by_col[cols].tolist())) == len(cols)
    for c in range(25):
        rows = np.flatnonzero(dense[:, c])
        assert len(set(by_row[rows].tolist())) == len(rows)


def test_arrowhead_hessian_takes_two_colors_with_closed_form_values() -> None:
    # f = x0 · Σ_{i≥1} x_i²: H[0, i] = 2 x_i, H[i, i] = 2 x0 (i ≥ 1), H[0, 0] = 0 structurally.
    n = 40
    x = RNG.uniform(-1, 1, n)
    h = engine.hessian(expression="x[0]*sum(x[1:]**2)", point={"x": x}, sparse=True)["hessian"]
    assert h["colors"] == 2  # a distance-2 coloring would need n
    expected = {}
    for i in range(1, n):
        expected[(0, i)] = expected[(i, 0)] = 2 * x[i]
        expected[(i, i)] = 2 * x[0]
    got = {(int(r), int(c)): v for r, c, v in zip(h["rows"], h["cols"], h["values"],
                                                   strict=True)}
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert abs(got[k] - v) <= 1e-15 * 4


def test_stencil_hessian_star_colors_beat_distance2() -> None:
    u = RNG.uniform(0, 1, (14, 14))
    stencil = ("4*u[1:-1, 1:-1] - u[:-2, 1:-1] - u[2:, 1:-1] - u[1:-1, :-2] - u[1:-1, 2:]"
               " + exp(u[1:-1, 1:-1])")
    out = engine.sparsity(expression=f"sum(({stencil})**2)", of="hessian", point={"u": u})
    pattern = sp.csr_matrix((np.ones(out["nnz"]), (out["rows"], out["cols"])),
                            shape=tuple(out["shape"]))
    assert out["colors"] < color_columns(pattern).max() + 1
    adj = off_diagonal(pattern)
    assert_star(adj, out["coloring"])
    # Not a distance-2 coloring: some vertex has two neighbors of one color.
    nb = neighbors(adj)
    assert any(len({out["coloring"][w] for w in nb[v]}) < len(nb[v]) for v in range(len(nb)))


def test_the_star_checker_catches_a_two_colored_path() -> None:
    adj = off_diagonal(sp.csr_matrix(sp.diags([1.0, 1.0, 1.0], [-1, 0, 1], shape=(4, 4))))
    with pytest.raises(AssertionError):
        assert_star(adj, np.array([0, 1, 0, 1]))
