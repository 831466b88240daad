"""Linear-algebra functions of the language: solve, slogdet, cholesky, outer and inner.

``slogdet(A)`` answers NumPy's pair (sign, log |det A|) as a 2-vector: ``slogdet(A)[1]`` is the
log-determinant and ``slogdet(A)[0]`` the sign (derivative 0).
"""

from __future__ import annotations

from engine.errors import ShapeError
from engine.ir import emit as P
from engine.ir.graph import Graph
from engine.ir.linalg import solve as solve_node
from engine.ir.ops import Op
from engine.language.arrays import flatten


def _square(g: Graph, a: int, fn: str) -> int:
    shape = g.nodes[a].shape
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ShapeError(f"{fn} takes a square matrix, got shape {shape}")
    return shape[0]


def solve(g: Graph, a: int, b: int) -> int:
    """NumPy's ``linalg.solve(a, b)``: x with a @ x = b, b a vector or a matrix."""
    n = _square(g, a, "solve")
    sb = g.nodes[b].shape
    if len(sb) not in (1, 2) or sb[0] != n:
        raise ShapeError(f"solve: the right-hand side must have {n} rows, got shape {sb} "
                         f"for a matrix of shape {g.nodes[a].shape}")
    return solve_node(g, a, b)


def slogdet(g: Graph, a: int) -> int:
    """[sign(det a), log |det a|], NumPy's ``linalg.slogdet`` pair as a 2-vector."""
    _square(g, a, "slogdet")
    sign = P.emit(g, Op.DETSIGN, a, shape=())
    return P.stack(g, [sign, P.emit(g, Op.LOGABSDET, a, shape=())])


def cholesky(g: Graph, a: int) -> int:
    """NumPy's ``linalg.cholesky(a)``: the lower factor L with L @ L.T = a."""
    _square(g, a, "cholesky")
    return P.emit(g, Op.CHOLESKY, a, shape=g.nodes[a].shape)


def outer(g: Graph, a: int, b: int) -> int:
    """NumPy's ``outer(a, b)``: both flattened, out[i, j] = a[i] * b[j]."""
    return P.outer(g, flatten(g, a), flatten(g, b))


def inner(g: Graph, a: int, b: int) -> int:
    """NumPy's ``inner(a, b)``: the sum product over the last axes (ranks up to 2)."""
    sa, sb = g.nodes[a].shape, g.nodes[b].shape
    if not sa or not sb:
        return P.mul(g, a, b)
    if len(sa) > 2 or len(sb) > 2:
        raise ShapeError(f"inner takes values of rank up to 2, got shapes {sa} and {sb}")
    if sa[-1] != sb[-1]:
        raise ShapeError(f"inner: the last axes differ, shapes {sa} and {sb}")
    if len(sa) == 1 and len(sb) == 2:
        return P.matmul(g, b, a)
    return P.matmul(g, a, P.transpose(g, b))
