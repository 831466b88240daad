"""Graph coloring for compressed Jacobians and Hessians.

A column coloring of a pattern P is *distance-2*: two columns that share a row get different
colors, so one product with the seed matrix (one direction per color) recovers every nonzero
directly. For a symmetric Hessian pattern the same coloring of H is a star coloring (every path
on four vertices sees at least three colors), recovered directly as well.

The conflict graph is built with sparse products (PᵀP) and colored by igraph's greedy
heuristics (C implementations; we run "colored neighbors" and DSATUR and keep the coloring with
fewer colors): a Python loop over 10^5 vertices would cost more than the whole evaluation.
"""

from __future__ import annotations

import igraph
import numpy as np
import scipy.sparse as sp


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


def color_rows(pattern: sp.csr_matrix) -> np.ndarray:
    """A distance-2 row coloring: rows sharing a column differ in color (for reverse mode)."""
    return color_columns(sp.csr_matrix(pattern.T))


def count(colors: np.ndarray, pattern: sp.csr_matrix) -> int:
    """Colors used (0 for an empty pattern: nothing needs evaluating)."""
    return int(colors.max()) + 1 if pattern.nnz and len(colors) else 0
