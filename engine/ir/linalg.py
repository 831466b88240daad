"""Op records of linear solves and factorizations: ``solve``, ``cholesky``, ``logabsdet`` and
``detsign`` (the two halves of NumPy's ``slogdet``).

Derivative rules are graph-to-graph, so Hessians are forward over reverse as everywhere:

* ``solve(A, B) = X``: dX = solve(A, dB − dA X); B̄ = solve(Aᵀ, X̄), Ā = −B̄ Xᵀ.
* ``cholesky(A) = L`` (lower, L Lᵀ = A): as JAX and PyTorch, the derivative is that of the
  factor of the symmetric part S = (A + Aᵀ)/2: dL = L Φ(L⁻¹ dS L⁻ᵀ), Φ the strict lower
  triangle plus half the diagonal; Ā = sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹).
* ``logabsdet(A)``: d = tr(A⁻¹ dA); Ā = ȳ A⁻ᵀ. ``detsign`` is piecewise constant.

Each acts on the last two axes: a stack of matrices (leading axes) is one independent problem
per matrix, and the language broadcasts the stacks of both operands of a solve to one shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.ir.declare import define, zero
from engine.ir.emit import (
    add,
    emit,
    matmul,
    matrix_transpose,
    mul,
    neg,
    outer,
    per_matrix,
    scale,
    sub,
    sum_matrices,
)
from engine.ir.graph import Graph
from engine.ir.ops import Group, Op, SeriesRule
from engine.taylor_mode import linalg as TL

_LINALG = frozenset({Group.LINALG})


def solve(g: Graph, a: int, b: int) -> int:
    """``solve(a, b)``: a square matrix and a vector or a matrix with as many rows, or a stack
    of square matrices and a stack of right-hand matrices with the same stack shape."""
    return emit(g, Op.SOLVE, a, b, params=(len(g.nodes[b].shape),), shape=g.nodes[b].shape)


def _solve_forward(params: tuple[int], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    (rank,) = params
    if rank == 1:
        return TL.safe_solve(a, b[..., None])[..., 0]
    return TL.safe_solve(a, b)


def _solve_jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
    a, _ = g.nodes[nid].args
    ta, tb = tangents
    if ta is None and tb is None:
        return None
    moved = None if ta is None else matmul(g, ta, nid)
    if tb is None:
        assert moved is not None
        rhs = neg(g, moved)
    else:
        rhs = tb if moved is None else sub(g, tb, moved)
    return solve(g, a, rhs)


def _solve_vjp(g: Graph, nid: int, ct: int) -> list[int | None]:
    a, _ = g.nodes[nid].args
    ct_b = solve(g, matrix_transpose(g, a), ct)
    (rank,) = g.nodes[nid].params
    ct_a = outer(g, ct_b, nid) if rank == 1 else matmul(g, ct_b, matrix_transpose(g, nid))
    return [neg(g, ct_a), ct_b]


def _solve_taylor(params: tuple[Any, ...]) -> SeriesRule:
    (rank,) = params
    return lambda a, b: TL.solve_series(a, b, vector=rank == 1)


define(Op.SOLVE, 2, _LINALG, _solve_forward, _solve_jvp, _solve_vjp, taylor=_solve_taylor)


def _inverse(g: Graph, m: int) -> int:
    return emit(g, Op.INV, m, shape=g.nodes[m].shape)


def _phi_weights(g: Graph, n: int) -> int:
    return g.const(np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n))


def _cholesky_jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
    (t,) = tangents
    if t is None:
        return None
    n = g.nodes[nid].shape[-1]
    sym = scale(g, 0.5, add(g, t, matrix_transpose(g, t)))
    l_inv = _inverse(g, nid)
    inner = matmul(g, matmul(g, l_inv, sym), matrix_transpose(g, l_inv))
    return matmul(g, nid, mul(g, inner, _phi_weights(g, n)))


def _cholesky_vjp(g: Graph, nid: int, ct: int) -> list[int | None]:
    n = g.nodes[nid].shape[-1]
    l_inv = _inverse(g, nid)
    p = mul(g, matmul(g, matrix_transpose(g, nid), ct), _phi_weights(g, n))
    q = matmul(g, matmul(g, matrix_transpose(g, l_inv), p), l_inv)
    return [scale(g, 0.5, add(g, q, matrix_transpose(g, q)))]


define(Op.CHOLESKY, 1, _LINALG, lambda params, a: TL.safe_cholesky(a), _cholesky_jvp,
        _cholesky_vjp, series=TL.cholesky_series)


def _inverse_transposed(g: Graph, nid: int) -> int:
    return matrix_transpose(g, _inverse(g, g.nodes[nid].args[0]))


def _logabsdet_jvp(g: Graph, nid: int, tangents: list[int | None]) -> int | None:
    (t,) = tangents
    if t is None:
        return None
    return sum_matrices(g, mul(g, _inverse_transposed(g, nid), t))


define(Op.LOGABSDET, 1, _LINALG, lambda params, a: np.linalg.slogdet(a)[1], _logabsdet_jvp,
        lambda g, nid, ct: [mul(g, per_matrix(g, ct), _inverse_transposed(g, nid))],
        series=TL.logabsdet_series, latex=r"\log\left|\det\right|")
zero(Op.DETSIGN, 1, lambda params, a: np.linalg.slogdet(a)[0],
      frozenset({Group.LINALG, Group.PIECEWISE_CONSTANT}), series=TL.detsign_series)
