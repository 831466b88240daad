"""Linear-algebra functions of the language: solve, slogdet, cholesky, inv, det, outer and
inner.

Every matrix function also takes a stack of matrices (shape (..., n, n)) and acts on each, as
NumPy's: leading axes are stack axes, broadcast between the operands of a solve.
``slogdet(A)`` answers NumPy's pair (sign, log |det A|) stacked on a new first axis:
``slogdet(A)[1]`` is the log-determinant and ``slogdet(A)[0]`` the sign (derivative 0).
"""

from __future__ import annotations

from engine.errors import ShapeError
from engine.ir import emit as P
from engine.ir.graph import Graph
from engine.ir.linalg import solve as solve_node
from engine.ir.ops import Op
from engine.language.arrays import flatten


def _stacks(g: Graph, a: int, b: int, batch: tuple[int, ...]) -> tuple[int, int]:
    """Both operands broadcast to the stack shape ``batch`` (their matrices unchanged), so the
    op sees equal static ranks."""
    sa, sb = g.nodes[a].shape, g.nodes[b].shape
    return (P.broadcast_to(g, a, (*batch, *sa[-2:])), P.broadcast_to(g, b, (*batch, *sb[-2:])))


def solve(g: Graph, a: int, b: int) -> int:
    """NumPy's ``linalg.solve(a, b)``: x with a @ x = b. ``a`` is a square matrix or a stack of
    them; ``b`` a vector (exactly 1-d, as NumPy 2) or a matrix or a stack of matrices, the
    stack axes of both broadcast."""
    n = P.square_matrices(g, a, "solve")
    sa, sb = g.nodes[a].shape, g.nodes[b].shape
    rows = sb[0] if len(sb) == 1 else sb[-2] if len(sb) >= 2 else None
    if rows != n:
        hint = (f" (as in NumPy 2, a stack of vectors is a stack of n × 1 matrices: "
                f"reshape(b, {(*sb, 1)}))" if len(sa) > 2 and len(sb) >= 2 and sb[-1] == n
                else "")
        raise ShapeError(f"solve: the right-hand side must have {n} rows, got shape {sb} "
                         f"for a matrix of shape {sa}{hint}")
    if len(sa) == 2 and len(sb) <= 2:
        return solve_node(g, a, b)
    if len(sb) == 1:
        batch = sa[:-2]
        column = P.reshape(g, b, (n, 1))
        x = solve_node(g, *_stacks(g, a, column, batch))
        return P.reshape(g, x, (*batch, n))
    batch = P.batch_shape("solve", sa, sb)
    return solve_node(g, *_stacks(g, a, b, batch))


def slogdet(g: Graph, a: int) -> int:
    """[sign(det a), log |det a|], NumPy's ``linalg.slogdet`` pair stacked on a new first
    axis: a 2-vector for a matrix, shape (2, *stack) for a stack of matrices."""
    P.square_matrices(g, a, "slogdet")
    batch = g.nodes[a].shape[:-2]
    sign = P.emit(g, Op.DETSIGN, a, shape=batch)
    return P.stack(g, [sign, P.emit(g, Op.LOGABSDET, a, shape=batch)])


def cholesky(g: Graph, a: int) -> int:
    """NumPy's ``linalg.cholesky(a)``: the lower factor L with L @ L.T = a, per matrix of a
    stack."""
    P.square_matrices(g, a, "cholesky")
    return P.emit(g, Op.CHOLESKY, a, shape=g.nodes[a].shape)


def inv(g: Graph, a: int) -> int:
    """NumPy's ``linalg.inv(a)``, per matrix of a stack."""
    P.square_matrices(g, a, "inv")
    return P.emit(g, Op.INV, a, shape=g.nodes[a].shape)


def det(g: Graph, a: int) -> int:
    """NumPy's ``linalg.det(a)``: one number per matrix of a stack."""
    P.square_matrices(g, a, "det")
    return P.emit(g, Op.DET, a, shape=g.nodes[a].shape[:-2])


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
