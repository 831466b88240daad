"""Graph coloring for compressed Jacobians and Hessians.

A column coloring of a pattern P is *distance-2*: two columns that share a row get different
colors, so one product with the seed matrix (one direction per color) recovers every nonzero
directly. A symmetric Hessian needs less: a star coloring (every path on four vertices sees at
least three colors, engine.sparse.star), recovered directly from one side of each entry or the
other; a distance-2 coloring is one, and a star coloring of its own often uses fewer colors.

The conflict graph is built with sparse products (PᵀP) and colored by igraph's greedy
heuristics (C implementations; we run "colored neighbors" and DSATUR and keep the coloring with
fewer colors): a Python loop over 10^5 vertices would cost more than the whole evaluation.
Building PᵀP costs Σ (row nnz)² (a dense row makes it n²), so that is bounded before it starts.
"""

from __future__ import annotations

import igraph
import numpy as np
import scipy.sparse as sp

from engine.errors import LimitError
from engine.sparse.star import off_diagonal, star_coloring

CONFLICT_FACTOR = 4
"""The conflict graph PᵀP may cost up to this many times ``max_sparse_entries`` (Σ row nnz²,
which counts its entries before duplicates merge)."""

STAR_WORK = 3e7
"""Largest Σ deg² (over the Hessian's graph) for which the greedy star coloring runs: it is a
Python loop (about 10^7 steps a second), tried only where it may save colors."""


def _greedy(n: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """A proper coloring of the graph on ``n`` vertices with edges (first[i], second[i])."""
    if not len(first):
        return np.zeros(n, dtype=np.int64)
    graph = igraph.Graph(n=n)
    graph.add_edges(zip(first.tolist(), second.tolist(), strict=True))
    best: np.ndarray | None = None
    for method in ("COLORED_NEIGHBORS", "DSATUR"):
        colors = np.asarray(graph.vertex_coloring_greedy(method=method), dtype=np.int64)
        if best is None or colors.max() < best.max():
            best = colors
    assert best is not None
    return best


def color_columns(pattern: sp.csr_matrix) -> np.ndarray:
    """A distance-2 column coloring: columns sharing a row of ``pattern`` differ in color."""
    conflicts = sp.triu(pattern.T @ pattern, k=1, format="coo")
    return _greedy(pattern.shape[1], conflicts.row, conflicts.col)


def conflict_work(pattern: sp.csr_matrix) -> float:
    """Σ (row nnz)²: the products, and the most entries, of PᵀP for a column coloring."""
    return float(np.square(np.diff(pattern.indptr), dtype=np.float64).sum())


def _refuse(work: float, limit: int) -> LimitError:
    return LimitError("max_sparse_entries", limit, work / CONFLICT_FACTOR,
                      what=f"the conflict graph of this pattern's coloring (Σ row nnz² / "
                           f"{CONFLICT_FACTOR}: a row or column on many entries)")


def color_jacobian(pattern: sp.csr_matrix, limit: int) -> tuple[np.ndarray, bool]:
    """The distance-2 coloring with fewer colors, of columns (forward mode) or of rows
    (``True``: reverse mode), among those whose conflict graph fits ``CONFLICT_FACTOR ×
    limit``."""
    by_column = np.bincount(pattern.indices, minlength=pattern.shape[1])
    works = conflict_work(pattern), float(np.square(by_column, dtype=np.float64).sum())
    bound = CONFLICT_FACTOR * limit
    if min(works) > bound:
        raise _refuse(min(works), limit)
    by_col = color_columns(pattern) if works[0] <= bound else None
    by_row = color_rows(pattern) if works[1] <= bound else None
    if by_col is None or (by_row is not None and count(by_row, pattern) < count(by_col,
                                                                                 pattern)):
        assert by_row is not None
        return by_row, True
    return by_col, False


def color_rows(pattern: sp.csr_matrix) -> np.ndarray:
    """A distance-2 row coloring: rows sharing a column differ in color (for reverse mode)."""
    return color_columns(sp.csr_matrix(pattern.T))


def count(colors: np.ndarray, pattern: sp.csr_matrix) -> int:
    """Colors used (0 for an empty pattern: nothing needs evaluating)."""
    return int(colors.max()) + 1 if pattern.nnz and len(colors) else 0


def color_symmetric(pattern: sp.csr_matrix, limit: float = np.inf) -> np.ndarray:
    """A star coloring of a symmetric pattern: the fewer colors of a distance-2 coloring (C
    heuristics) and the greedy star coloring in natural order (good for banded and grid
    patterns), the latter skipped where it cannot win (three colors are needed by any graph
    with a path on four vertices) or would cost over ``STAR_WORK``. Refused (LimitError) when
    the conflict graph would cost over ``CONFLICT_FACTOR × limit``."""
    work = conflict_work(pattern)
    if work > CONFLICT_FACTOR * limit:
        raise _refuse(work, int(limit))
    best = color_columns(pattern)
    if count(best, pattern) <= 3:
        return best
    adj = off_diagonal(pattern)
    if float(np.square(np.diff(adj.indptr), dtype=np.float64).sum()) > STAR_WORK:
        return best
    star = star_coloring(adj, np.arange(adj.shape[0]))
    return star if star.max() < best.max() else best
