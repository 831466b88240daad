"""Star coloring of a symmetric pattern, and the direct (star) recovery of a Hessian from its
compressed product.

A star coloring is a proper coloring in which every path on four vertices uses at least three
colors: the vertices of any two colors induce stars. For a Hessian H and a seed S (one column
per color), entry (i, j) then sits alone in B = H S at (i, color(j)) when j is the only
neighbor of i colored color(j), else at (j, color(i)) — one of the two always holds, since a
second neighbor on each side would close a two-colored path of four vertices. A distance-2
coloring is a star coloring too, but a star coloring may use fewer colors (a star graph needs
two, not its degree plus one).

The greedy algorithm is Algorithm 4.1 of Gebremedhin, Tarafdar, Manne & Pothen, "New acyclic
and star coloring algorithms with application to computing Hessians" (SIAM J. Sci. Comput.,
2007): it keeps the two-colored stars grown so far (each edge's star and the star's hub), so a
vertex looks at most two edges away, O(Σ deg²) in all.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

_NO_HUB = -1
"""The hub of a star with a single edge is not yet decided (any value < 0 marks that)."""


def _edge_ids(adj: sp.csr_matrix) -> np.ndarray:
    """Per stored position (i, j), one id shared with its twin (j, i)."""
    positions = sp.csr_matrix((np.arange(adj.nnz, dtype=np.float64), adj.indices, adj.indptr),
                              shape=adj.shape)
    twin = sp.csr_matrix(positions.T)
    twin.sort_indices()
    return np.minimum(np.arange(adj.nnz), twin.data.astype(np.int64))


def off_diagonal(pattern: sp.csr_matrix) -> sp.csr_matrix:
    """The adjacency of a symmetric pattern: its entries off the diagonal, sorted."""
    adj = sp.csr_matrix(sp.triu(pattern, k=1) + sp.tril(pattern, k=-1))
    adj.sum_duplicates()
    adj.sort_indices()
    return adj


def star_coloring(adj: sp.csr_matrix, order: np.ndarray) -> np.ndarray:
    """A star coloring (colors 0, 1, …) of the graph ``adj`` (symmetric, no diagonal), coloring
    vertices greedily in ``order``."""
    n = adj.shape[0]
    indptr: list[int] = adj.indptr.tolist()
    nbr: list[int] = adj.indices.tolist()
    edge: list[int] = _edge_ids(adj).tolist()
    color = [-1] * n
    forbidden = [-1] * (n + 1)  # forbidden[c] == v: color c is taken for vertex v
    first = [(-1, -1, -1)] * (n + 1)  # per color: (v, its first neighbor w of it, position vw)
    treated = [-1] * n
    star = [-1] * len(edge)
    hub: list[int] = []

    def treat(v: int, w: int) -> None:
        for q in range(indptr[w], indptr[w + 1]):
            cx = color[nbr[q]]
            if cx >= 0:
                forbidden[cx] = v
        treated[w] = v

    for v in order.tolist():
        lo, hi = indptr[v], indptr[v + 1]
        for p in range(lo, hi):
            w = nbr[p]
            cw = color[w]
            if cw < 0:
                continue
            forbidden[cw] = v
            fv, fw, _ = first[cw]
            if fv == v:
                # v has two neighbors colored cw: no color of their neighbors may repeat at v.
                if treated[fw] != v:
                    treat(v, fw)
                treat(v, w)
            else:
                first[cw] = (v, w, p)
                # w is a spoke of a star whose hub x is colored: v may not take x's color.
                for q in range(indptr[w], indptr[w + 1]):
                    x = nbr[q]
                    if x != v and color[x] >= 0 and hub[star[edge[q]]] == x:
                        forbidden[color[x]] = v
        c = 0
        while forbidden[c] == v:
            c += 1
        color[v] = c
        # Grow the stars: v joins the star of each colored neighbor's edges.
        for p in range(lo, hi):
            w = nbr[p]
            cw = color[w]
            if cw < 0:
                continue
            for q in range(indptr[w], indptr[w + 1]):
                x = nbr[q]
                if x != v and color[x] == c:
                    s = star[edge[q]]
                    hub[s] = w
                    star[edge[p]] = s
                    break
            else:
                fv, fw, fp = first[cw]
                if fv == v and fw != w:
                    s = star[edge[fp]]
                    hub[s] = v
                    star[edge[p]] = s
                else:
                    hub.append(_NO_HUB)
                    star[edge[p]] = len(hub) - 1
    return np.asarray(color, dtype=np.int64)


def star_gather(rows: np.ndarray, cols: np.ndarray, coloring: np.ndarray, n: int) -> np.ndarray:
    """Per entry (rows[k], cols[k]) of a symmetric pattern with the star ``coloring``, its flat
    position in the compressed product laid out as (colors, n): (color(j), i) when j is the
    only neighbor of i with color(j), else (color(i), j)."""
    off = rows != cols
    ci, cj = coloring[rows], coloring[cols]
    colors = int(coloring.max()) + 1 if len(coloring) else 1
    # How many neighbors of i have color(j): the entry is alone in its row when that is 1.
    key = rows[off] * colors + cj[off]
    keys, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    alone = np.ones(len(rows), dtype=bool)
    alone[off] = counts[inverse] == 1
    gather = np.where(alone, cj * n + rows, ci * n + cols)
    # Otherwise (i, j) must be alone in row j: its twin (j, i) is stored, so its key is there.
    swapped = ~alone
    twin = np.searchsorted(keys, cols[swapped] * colors + ci[swapped])
    if np.any(counts[twin] != 1):
        raise ValueError("not a star coloring: an entry is recoverable from neither side")
    return gather
