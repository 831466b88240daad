"""Exact structural sparsity of an expression graph, at the level of flattened entries.

One forward pass gives every node a boolean dependence matrix J (node entries × flattened
variables, a scipy CSR matrix): which variable entries each entry depends on. For a Hessian a
reverse pass then marks which entries of each node the output depends on (``adj``), and every
nonlinear node adds the variable pairs its second partials couple, pulled back through its
operands' J (``J_aᵀ diag(adj) J_b``). Nothing is probed at a point: values enter only through
constants (a constant matrix ``A`` in ``A @ x``, a constant mask in ``c * x``), which are the
same for every point.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp

from engine.errors import LimitError
from engine.ir.graph import Graph, size_of
from engine.ir.ops import PRIMITIVES
from engine.ir.primitives import safe_inv
from engine.ir.transforms import ancestors
from engine.sparse.families import FAMILY, Family, second_order_pairs

Local: TypeAlias = np.ndarray | sp.csr_matrix | str | None
"""An operand's local dependence: None (identity), a boolean mask (a diagonal), a CSR matrix
(output entries × operand entries) or ``"dense"`` (every entry on every entry)."""

_DENSE = "dense"


@dataclass(frozen=True)
class Pattern:
    """The structural pattern of a compiled expression with respect to its variables."""

    jacobian: sp.csr_matrix
    """Outputs (flattened) × variables (flattened); sorted indices, data all ones."""
    hessian: sp.csr_matrix | None
    """Variables × variables, symmetric (scalar outputs, when asked for)."""


def _ones(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _canonical(m: sp.spmatrix) -> sp.csr_matrix:
    """A fresh CSR copy with sorted, duplicate-free indices and all-one data."""
    m = sp.csr_matrix(m, copy=True)
    m.sum_duplicates()
    m.sort_indices()
    m.data[:] = 1.0
    return m


def _row_nnz(m: sp.csr_matrix) -> np.ndarray:
    return np.diff(m.indptr).astype(np.float64)


class _Propagation:
    def __init__(self, g: Graph, output: int, wrt: dict[int, int], n: int,
                 constants: dict[int, np.ndarray], limit: int) -> None:
        self.g = g
        self.n = n
        self.limit = limit
        self.order = ancestors(g, [output])
        self.output = output
        self.J: dict[int, sp.csr_matrix] = {}
        self.values: dict[int, np.ndarray] = {}
        self.local: dict[int, list[tuple[int, Local]]] = {}
        for nid in self.order:
            node = g.nodes[nid]
            if node.op == "const":
                self.values[nid] = g.consts[nid]
            elif node.op == "input":
                if nid in wrt:
                    size = size_of(node.shape)
                    self.J[nid] = _ones(np.arange(size), wrt[nid] + np.arange(size), (size, n))
                elif nid in constants:
                    self.values[nid] = constants[nid].reshape(node.shape)
            elif any(a in self.J for a in node.args):
                self._propagate(nid)
            elif all(a in self.values for a in node.args):
                with np.errstate(all="ignore"):
                    self.values[nid] = np.asarray(PRIMITIVES[node.op].forward(
                        node.params, *[self.values[a] for a in node.args]), dtype=np.float64)

    # ------------------------------------------------------------ helpers

    def _check(self, entries: float, what: str) -> None:
        if entries > self.limit:
            raise LimitError("max_sparse_entries", self.limit, entries,
                             what=f"the structural pattern of {what}")

    def _nz(self, nid: int) -> np.ndarray | None:
        """Entries that may be nonzero, when known (constants); None: any may be."""
        value = self.values.get(nid)
        return None if value is None else (value.reshape(-1) != 0)

    def _apply(self, local: Local, j: sp.csr_matrix, size: int) -> sp.csr_matrix:
        if local is None:
            return j
        if isinstance(local, np.ndarray):
            idx = np.flatnonzero(local)
            return _ones(idx, idx, (len(local), len(local))) @ j
        if isinstance(local, str):
            cols = np.unique(j.indices)
            self._check(size * len(cols), "a dense operation's result")
            return _ones(np.repeat(np.arange(size), len(cols)), np.tile(cols, size),
                         (size, self.n))
        self._check(float((local @ _row_nnz(j)).sum()), "an intermediate value")
        return local @ j

    def _propagate(self, nid: int) -> None:
        node = self.g.nodes[nid]
        family = FAMILY[node.op]
        size = size_of(node.shape)
        if family is Family.ZERO or (node.op == "powc" and node.params[0] == 0):
            return
        locals_ = getattr(self, f"_local_{family.value}")(nid)
        parts = [self._apply(loc, self.J[a], size) for a, loc in locals_]
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        if total is not self.J[locals_[0][0]]:
            total = _canonical(total)
        self._check(total.nnz, "an intermediate value")
        self.J[nid] = total
        self.local[nid] = locals_

    def _var_args(self, nid: int, locals_: list[Local]) -> list[tuple[int, Local]]:
        args = self.g.nodes[nid].args
        return [(a, loc) for a, loc in zip(args, locals_, strict=True) if a in self.J]

    # ------------------------------------------------------------ first order, by family

    def _local_mover(self, nid: int) -> list[tuple[int, Local]]:
        node = self.g.nodes[nid]
        shapes = [self.g.nodes[a].shape for a in node.args]
        sizes = [size_of(s) for s in shapes]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        # Entry numbers (+1, so that 0 marks an entry no operand fills) run through the op.
        ids = [(offsets[i] + np.arange(sizes[i]) + 1.0).reshape(s)
               for i, s in enumerate(shapes)]
        src = np.asarray(PRIMITIVES[node.op].forward(node.params, *ids)).reshape(-1)
        src = src.astype(np.int64) - 1
        rows = np.flatnonzero(src >= 0)
        total = int(offsets[-1])
        full = _ones(rows, src[rows], (len(src), total))
        locals_: list[Local] = [full[:, offsets[i]:offsets[i + 1]].tocsr()
                                for i in range(len(sizes))]
        return self._var_args(nid, locals_)

    def _local_reduction(self, nid: int) -> list[tuple[int, Local]]:
        node = self.g.nodes[nid]
        src = self.g.nodes[node.args[0]].shape
        axes = {ax + len(src) for ax in node.params[0]}
        kept = tuple(1 if i in axes else s for i, s in enumerate(src))
        out = np.broadcast_to(np.arange(size_of(kept)).reshape(kept), src).reshape(-1)
        return [(node.args[0], _ones(out, np.arange(len(out)), (size_of(node.shape), len(out))))]

    def _local_elementwise(self, nid: int) -> list[tuple[int, Local]]:
        node = self.g.nodes[nid]
        if node.op in ("mul", "smul"):
            a, b = node.args
            return self._var_args(nid, [self._nz(b), self._nz(a)])
        if node.op == "div":
            return self._var_args(nid, [None, self._nz(node.args[0])])
        return self._var_args(nid, [None] * len(node.args))

    def _local_select(self, nid: int) -> list[tuple[int, Local]]:
        c, a, b = self.g.nodes[nid].args
        nz = self._nz(c)
        picks: list[Local] = [None, None, None] if nz is None else [None, nz, ~nz]
        return [(x, loc) for x, loc in zip((a, b), picks[1:], strict=True) if x in self.J]

    def _stack(self, nid: int) -> int:
        """How many matrices a linear-algebra node's stack holds (1 for a single matrix; the
        language broadcasts both operands of a stacked product or solve to one stack)."""
        node = self.g.nodes[nid]
        if node.op not in _STACKABLE:
            return 1
        shape = self.g.nodes[node.args[0]].shape
        return size_of(shape[:-2]) if len(shape) > 2 else 1

    def _matmul_dims(self, nid: int) -> tuple[int, int, int, int]:
        """The stack size and the dimensions i × j @ j × k of each product."""
        node = self.g.nodes[nid]
        sa, sb = (self.g.nodes[x].shape for x in node.args)
        return (self._stack(nid), (sa[-2] if len(sa) >= 2 else 1), sa[-1],
                (sb[-1] if len(sb) >= 2 else 1))

    def _nz_blocks(self, nid: int, count: int, rows: int, cols: int) -> list[sp.csr_matrix]:
        """The may-be-nonzero pattern of each of the ``count`` rows × cols matrices of a node."""
        nz = self._nz(nid)
        if nz is None:
            nz = np.ones(count * rows * cols, dtype=bool)
        out = []
        for m in nz.reshape(count, rows, cols):
            r, c = np.nonzero(m)
            out.append(_ones(r, c, (rows, cols)))
        return out

    def _local_bilinear(self, nid: int) -> list[tuple[int, Local]]:
        a, b = self.g.nodes[nid].args
        count, i, j, k = self._matmul_dims(nid)
        locals_: list[Local] = [None, None]
        # One block per product of the stack: entries of different products never meet.
        if a in self.J:
            nzb = self._nz_blocks(b, count, j, k)
            self._check(i * sum(m.nnz for m in nzb), "a matrix product")
            locals_[0] = _diagonal_blocks(
                [sp.kron(sp.identity(i, format="csr"), m.T, format="csr") for m in nzb])
        if b in self.J:
            nza = self._nz_blocks(a, count, i, j)
            self._check(k * sum(m.nnz for m in nza), "a matrix product")
            locals_[1] = _diagonal_blocks(
                [sp.kron(m, sp.identity(k, format="csr"), format="csr") for m in nza])
        return self._var_args(nid, locals_)

    def _local_dense(self, nid: int) -> list[tuple[int, Local]]:
        node = self.g.nodes[nid]
        count = self._stack(nid)
        if node.op == "solve" and node.args[0] not in self.J and node.args[0] in self.values:
            return [(node.args[1], self._solve_rhs(nid))]
        if node.op == "cholesky":
            local = _cholesky_local(node.shape[-1])
            return [(node.args[0], _diagonal_blocks([local] * count))]
        if count == 1:
            return [(a, _DENSE) for a in node.args if a in self.J]
        # A stack: each matrix's result depends on that matrix's operands only.
        out = size_of(node.shape) // count
        locals_: list[tuple[int, Local]] = []
        for a in node.args:
            if a in self.J:
                per = size_of(self.g.nodes[a].shape) // count
                self._check(count * out * per, "a stacked matrix operation")
                block = sp.csr_matrix(np.ones((out, per)))
                locals_.append((a, _diagonal_blocks([block] * count)))
        return locals_

    def _solve_rhs(self, nid: int) -> sp.csr_matrix:
        """``solve(A, b)`` with a constant A is ``A⁻¹ b``: output (p, q) depends on b[i, q]
        where A⁻¹[p, i] is nonzero (per matrix of a stack)."""
        node = self.g.nodes[nid]
        a, b = node.args
        with np.errstate(all="ignore"):
            inverse = safe_inv(self.values[a])
        n = inverse.shape[-1]
        shape = self.g.nodes[b].shape
        blocks = []
        for m in inverse.reshape(-1, n, n):
            rows, cols = np.nonzero(m != 0)  # NaN (singular A) counts as nonzero
            nz = _ones(rows, cols, (n, n))
            blocks.append(nz if len(shape) == 1 else
                          sp.kron(nz, sp.identity(shape[-1], format="csr"), format="csr"))
        return _diagonal_blocks(blocks)

    # ------------------------------------------------------------ second order

    def adjoints(self) -> dict[int, np.ndarray]:
        """Entries of each node that the (scalar) output structurally depends on."""
        adj = {self.output: np.ones(size_of(self.g.nodes[self.output].shape), dtype=bool)}
        for nid in reversed(self.order):
            w = adj.get(nid)
            if w is None or nid not in self.local:
                continue
            for a, loc in self.local[nid]:
                if loc is None:
                    contrib = w
                elif isinstance(loc, np.ndarray):
                    contrib = w & loc
                elif isinstance(loc, str):
                    contrib = np.full(size_of(self.g.nodes[a].shape), bool(w.any()))
                else:
                    contrib = (loc.T @ w.astype(np.float64)) > 0
                adj[a] = adj[a] | contrib if a in adj else contrib
        return adj

    def hessian(self) -> sp.csr_matrix:
        """The symmetric pattern of the output's Hessian."""
        adj = self.adjoints()
        terms: list[sp.csr_matrix] = []
        for nid in self.order:
            w = adj.get(nid)
            if w is None or nid not in self.local or not w.any():
                continue
            node = self.g.nodes[nid]
            family = FAMILY[node.op]
            if family is Family.ELEMENTWISE:
                terms.extend(self._pairs_elementwise(nid, w))
            elif family is Family.BILINEAR:
                terms.extend(self._pairs_bilinear(nid, w))
            elif family is Family.DENSE and node.op == "cholesky":
                terms.append(self._pairs_per_entry(nid, w))
            elif family is Family.DENSE:
                terms.append(self._pairs_dense(nid, w))
        if not terms:
            return sp.csr_matrix((self.n, self.n))
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return _canonical(total + total.T)

    def _outer(self, ja: sp.csr_matrix, w: np.ndarray, jb: sp.csr_matrix) -> sp.csr_matrix:
        """``jaᵀ diag(w) jb``, after checking its size."""
        self._check(float((_row_nnz(ja) * _row_nnz(jb))[w].sum()), "the Hessian")
        idx = np.flatnonzero(w)
        return ja.T @ _ones(idx, idx, (len(w), len(w))) @ jb

    def _pairs_elementwise(self, nid: int, w: np.ndarray) -> list[sp.csr_matrix]:
        node = self.g.nodes[nid]
        out = []
        for p, q in second_order_pairs(node.op):
            a, b = node.args[p], node.args[q]
            if a not in self.J or b not in self.J:
                continue
            weight = w
            if node.op == "div" and (p, q) == (1, 1):
                nz = self._nz(node.args[0])
                weight = w if nz is None else w & nz
            out.append(self._outer(self.J[a], weight, self.J[b]))
        return out

    def _pairs_bilinear(self, nid: int, w: np.ndarray) -> list[sp.csr_matrix]:
        a, b = self.g.nodes[nid].args
        if a not in self.J or b not in self.J:
            return []
        count, i, j, k = self._matmul_dims(nid)
        ob, oi, ok = np.nonzero(w.reshape(count, i, k))
        self._check(len(oi) * j, "the Hessian of a matrix product")
        jj = np.arange(j)
        # Output (β, i, k) pairs a[β, i, j] with b[β, j, k] for every j.
        rows = (((ob * i + oi) * j)[:, None] + jj).reshape(-1)
        cols = ((ob * j * k + ok)[:, None] + jj * k).reshape(-1)
        pairs = _ones(rows, cols, (count * i * j, count * j * k))
        ja, jb = self.J[a], self.J[b]
        self._check(float(_row_nnz(ja) @ (pairs @ _row_nnz(jb))), "the Hessian")
        return [ja.T @ pairs @ jb]

    def _pairs_per_entry(self, nid: int, w: np.ndarray) -> sp.csr_matrix:
        """Every pair of the variables one output entry the output needs (``w``) depends on
        (a nonlinear op whose entries each read their own set: the Cholesky factor)."""
        ((a, local),) = self.local[nid]
        assert isinstance(local, sp.csr_matrix)
        idx = np.flatnonzero(w)
        deps = _canonical(_ones(idx, idx, (len(w), len(w))) @ local @ self.J[a])
        self._check(float((_row_nnz(deps) ** 2).sum()), "the Hessian")
        return deps.T @ deps

    def _pairs_dense(self, nid: int, w: np.ndarray) -> sp.csr_matrix:
        node = self.g.nodes[nid]
        count = self._stack(nid)
        if node.op == "det":
            ja = self.J[node.args[0]]
            # det is linear in each row and each column: entries sharing one do not interact,
            # nor do entries of different matrices of a stack.
            n = self.g.nodes[node.args[0]].shape[-1]
            r, c = np.divmod(np.arange(n * n), n)
            couple = (r[:, None] != r[None, :]) & (c[:, None] != c[None, :])
            p, q = np.nonzero(couple)
            pairs = _diagonal_blocks([_ones(p, q, couple.shape)] * count)
            self._check(float(_row_nnz(ja) @ (pairs @ _row_nnz(ja))), "the Hessian")
            return ja.T @ pairs @ ja
        if node.op == "solve" and node.args[0] not in self.J:
            return sp.csr_matrix((self.n, self.n))  # linear in the right-hand side
        total = sp.csr_matrix((self.n, self.n))
        used = w.reshape(count, -1).any(axis=1)
        for m in np.flatnonzero(used):
            # Every pair of the variables one matrix's operands depend on.
            parts = []
            for a in node.args:
                if a in self.J:
                    per = size_of(self.g.nodes[a].shape) // count
                    parts.append(self.J[a][m * per:(m + 1) * per].indices)
            cols = np.unique(np.concatenate(parts))
            self._check(len(cols) ** 2, "the Hessian")
            u = _ones(np.zeros(len(cols), dtype=np.int64), cols, (1, self.n))
            total = total + u.T @ u
        return total


def _diagonal_blocks(blocks: list[sp.csr_matrix]) -> sp.csr_matrix:
    """One block per matrix of a stack, on the diagonal."""
    if len(blocks) == 1:
        return blocks[0]
    return sp.csr_matrix(sp.block_diag(blocks, format="csr"))


_STACKABLE = frozenset({"matmul", "inv", "det", "solve", "cholesky", "logabsdet"})
"""Linear-algebra ops that take stacks of matrices: one independent problem per matrix."""


def _cholesky_local(n: int) -> sp.csr_matrix:
    """Which entries of A each entry of L = cholesky(A) depends on: L[i, j] (i ≥ j) is
    (A[i, j] − Σ_{k<j} L[i, k] L[j, k]) / L[j, j], so it reads the lower-triangle entries
    A[p, q] with q ≤ j and p ≤ j or p = i — and their mirrors A[q, p], since the derivative is
    that of the symmetric part. The upper triangle of L is structurally zero."""
    rows, cols = [], []
    for i in range(n):
        for j in range(i + 1):
            for p in (*range(j + 1), *((i,) if i > j else ())):
                for q in range(min(p, j) + 1):
                    rows += [i * n + j, i * n + j]
                    cols += [p * n + q, q * n + p]
    return _ones(np.array(rows), np.array(cols), (n * n, n * n))


def detect(g: Graph, output: int, wrt: dict[int, int], n: int,
           constants: dict[int, np.ndarray], limit: int, hessian: bool) -> Pattern:
    """The pattern of ``output`` with respect to the inputs ``wrt`` (node -> first flattened
    column); ``constants`` gives the values of non-differentiated constant inputs.

    Raises LimitError (``max_sparse_entries``) before building any pattern over ``limit``.
    """
    prop = _Propagation(g, output, wrt, n, constants, limit)
    m = size_of(g.nodes[output].shape)
    jac = prop.J.get(output)
    jac = sp.csr_matrix((m, n)) if jac is None else _canonical(jac)
    return Pattern(jac, prop.hessian() if hessian else None)


def coo(m: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of a canonical CSR matrix, sorted by (row, col)."""
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    return rows, m.indices.astype(np.int64)


def fingerprint(values: dict[str, Any]) -> tuple[Any, ...]:
    """A hashable summary of constant values (the pattern may depend on them)."""
    return tuple((k, hashlib.blake2b(np.ascontiguousarray(v).tobytes(), digest_size=16)
                  .hexdigest()) for k, v in sorted(values.items()))
