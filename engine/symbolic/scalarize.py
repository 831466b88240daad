"""Scalarizing a derivative graph: tensors, structural ops and shared nodes become the
canonical scalar terms of an :class:`engine.symbolic.algebra.Algebra`, entry by entry.

Elementwise ops go through the algebra's constructors (each op's record says how); structural
and linear-algebra ops rearrange or combine the term arrays of their operands here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.errors import InputError, LimitError
from engine.ir.graph import Graph, size_of
from engine.ir.ops import PRIMITIVES
from engine.ir.transforms import ancestors
from engine.symbolic.algebra import Algebra

_ADD_OPS = frozenset({"add", "sub", "neg"})
_MUL_OPS = frozenset({"mul", "div"})
MAX_SMALL_LINALG = 3
"""det/inv are expanded by cofactors up to this size; larger ones have no readable formula."""


def _key(params_key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(slice(k[1], k[2], k[3]) if isinstance(k, tuple) else k for k in params_key)


def _obj(x: Any) -> np.ndarray:
    """An object array (0-d for a single term id)."""
    if isinstance(x, np.ndarray):
        return x
    out = np.empty((), dtype=object)
    out[()] = x
    return out


def _small(m: np.ndarray, what: str) -> int:
    """The size n of the n×n matrix ``m``, refused past the size symbolic formulas expand."""
    n = int(m.shape[0])
    if n > MAX_SMALL_LINALG:
        raise InputError(f"symbolic formulas expand {what} only up to "
                         f"{MAX_SMALL_LINALG}×{MAX_SMALL_LINALG} matrices, got {n}×{n}",
                         loc=("body", "expression"))
    return n


class Scalarizer:
    """Turns graph nodes into object arrays of term ids, entry by entry.

    Chains of sums and of products whose inner links have no other use are gathered into one
    n-ary term: a user's ``x1 + x2 + … + xn`` costs O(n), not O(n²) intermediate sums.
    """

    def __init__(self, g: Graph, algebra: Algebra, max_elements: int) -> None:
        self.g = g
        self.a = algebra
        self.max_elements = max_elements
        self.values: dict[int, np.ndarray] = {}
        self.inline: set[int] = set()
        """Chain links gathered by their consumer instead of getting terms of their own."""

    def run(self, outputs: list[int]) -> list[np.ndarray]:
        """The term arrays of ``outputs`` (shape = each node's static shape)."""
        g = self.g
        order = [n for n in ancestors(g, outputs) if n not in self.values]
        elements = sum(size_of(g.nodes[n].shape) for n in order)
        if elements > self.max_elements:
            raise LimitError("max_symbolic_elements", self.max_elements, elements,
                             what="the scalar entries of the derivative graph")
        uses: Counter[int] = Counter(outputs)
        consumer: dict[int, int] = {}
        for nid in order:
            for arg in g.nodes[nid].args:
                uses[arg] += 1
                consumer[arg] = nid
        for nid in order:
            op = g.nodes[nid].op
            if uses[nid] != 1 or nid not in consumer:
                continue
            user = g.nodes[consumer[nid]].op
            if (op in _ADD_OPS and user in _ADD_OPS) or (op in _MUL_OPS and user in _MUL_OPS):
                self.inline.add(nid)
        for nid in order:
            if nid not in self.inline:
                self.values[nid] = self._node(nid)
        return [self.values[o] for o in outputs]

    # -- chains

    def _gather(self, nid: int) -> list[tuple[int, float]]:
        """(node, weight) leaves of the inlined sum or product chain rooted at ``nid``."""
        nodes = self.g.nodes
        stack = [(nid, 1.0)]
        leaves = []
        while stack:
            n, w = stack.pop()
            node = nodes[n]
            if n != nid and n not in self.inline:
                leaves.append((n, w))
                continue
            match node.op:
                case "add" | "mul":
                    stack.extend([(node.args[1], w), (node.args[0], w)])
                case "sub" | "div":
                    stack.extend([(node.args[1], -w), (node.args[0], w)])
                case "neg":
                    stack.append((node.args[0], -w))
        return leaves

    def _chain(self, nid: int, shape: tuple[int, ...]) -> np.ndarray:
        leaves = self._gather(nid)
        arrays = [(self.values[n], w) for n, w in leaves]
        out = np.empty(shape, dtype=object)
        is_sum = self.g.nodes[nid].op in _ADD_OPS
        for idx in np.ndindex(*shape):
            if is_sum:
                out[idx] = self.a.add([(int(arr[idx]), w) for arr, w in arrays])
            else:
                out[idx] = self.a.mul([(int(arr[idx]), int(w)) for arr, w in arrays])
        return out

    # -- one node

    def _node(self, nid: int) -> np.ndarray:
        g, a = self.g, self.a
        node = g.nodes[nid]
        op, shape = node.op, node.shape
        if op in _ADD_OPS or op in _MUL_OPS:
            return self._chain(nid, shape)
        args = [self.values[x] for x in node.args]
        if op == "const":
            arr = g.consts[nid]
            out = np.empty(shape, dtype=object)
            for idx in np.ndindex(*shape):
                out[idx] = a.num(float(arr[idx]))
            return out
        if op == "input":
            name = node.params[0]
            out = np.empty(shape, dtype=object)
            for idx in np.ndindex(*shape):
                out[idx] = a.sym(name, idx)
            return out
        prim = PRIMITIVES[op]
        if prim.elementwise:
            out = np.empty(shape, dtype=object)
            for idx in np.ndindex(*shape):
                out[idx] = a.call(op, tuple(int(arr[idx]) for arr in args), node.params)
            return out
        return _obj(self._structural(op, node.params, args, shape))

    def _structural(self, op: str, params: tuple[Any, ...], args: list[np.ndarray],
                    shape: tuple[int, ...]) -> np.ndarray:
        a = self.a
        x = args[0]
        match op:
            case "broadcast":
                src, dst = params
                return np.broadcast_to(x.reshape((1,) * (len(dst) - len(src)) + src), dst)
            case "reshape":
                return x.reshape(params[1])
            case "sum":
                axes = tuple(x.ndim + ax for ax in params[0])
                moved = np.moveaxis(x, axes, tuple(range(-len(axes), 0)))
                rows = moved.reshape((*shape, -1))
                out = np.empty(shape, dtype=object)
                for idx in np.ndindex(*shape):
                    out[idx] = a.add([(t, 1.0) for t in rows[idx]])
                return out
            case "index":
                return _obj(x[_key(params[0])])
            case "scatter":
                key, full = params
                out = np.full(full, a.zero, dtype=object)
                # A 0-d object array assigned to one entry would be stored as an object itself.
                out[_key(key)] = x[()] if x.ndim == 0 else x
                return out
            case "stack":
                return np.stack(args)
            case "transpose":
                return np.swapaxes(x, -1, -2)
            case "matmul":
                y = args[1]
                return self._per_matrix(x.shape[:-2] if x.ndim > 2 else (),
                                        lambda i: self._matmul(x[i], y[i], shape[len(i):]))
            case "det" | "inv":
                return self._per_matrix(x.shape[:-2],
                                        lambda i: self._small_linalg(op, x[i]))
            case "norm":
                squares = [(a.mul([(t, 2)]), 1.0) for t in x.flat]
                return _obj(a.call("sqrt", (a.add(squares),), ()))
            case "amax" | "amin" | "maxshift":
                return self._extremum("min" if op == "amin" else "max", x, params[0], shape)
            case "solve":
                b = args[1]
                return self._per_matrix(x.shape[:-2], lambda i: self._matmul(
                    self._small_linalg("inv", x[i]), b[i], shape[len(i):]))
            case "logabsdet" | "detsign":
                fn = "log" if op == "logabsdet" else "sign"

                def of_det(i: tuple[int, ...]) -> np.ndarray:
                    det = int(self._small_linalg("det", x[i])[()])
                    inner = a.call("abs", (det,), ()) if fn == "log" else det
                    return _obj(a.call(fn, (inner,), ()))
                return self._per_matrix(x.shape[:-2], of_det)
            case "cholesky":
                return self._per_matrix(x.shape[:-2], lambda i: self._cholesky(x[i]))
        raise InputError(f"symbolic formulas do not support the op {op!r}",
                         loc=("body", "expression"))

    @staticmethod
    def _per_matrix(batch: tuple[int, ...],
                    fn: Callable[[tuple[int, ...]], np.ndarray]) -> np.ndarray:
        """``fn(i)`` for the index ``i`` of each matrix of a stack of shape ``batch`` (``()``
        for one matrix), the results stacked on the stack's axes."""
        if not batch:
            return fn(())
        parts = [fn(i) for i in np.ndindex(*batch)]
        return np.stack(parts).reshape(*batch, *parts[0].shape)

    def _extremum(self, fn: str, x: np.ndarray, axes: tuple[int, ...],
                  shape: tuple[int, ...]) -> np.ndarray:
        """max/min over ``axes`` as nested two-argument max/min terms."""
        moved = np.moveaxis(x, tuple(x.ndim + ax for ax in axes), tuple(range(-len(axes), 0)))
        rows = moved.reshape((*shape, -1))
        out = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            acc = int(rows[idx][0])
            for t in rows[idx][1:]:
                acc = self.a.call(fn, (acc, int(t)), ())
            out[idx] = acc
        return out

    def _cholesky(self, m: np.ndarray) -> np.ndarray:
        """The lower Cholesky factor by Cholesky–Banachiewicz, from the lower triangle of m."""
        n = _small(m, "cholesky")
        a = self.a
        low = np.full((n, n), a.zero, dtype=object)
        for i in range(n):
            for j in range(i + 1):
                rest = a.add([(int(m[i, j]), 1.0)] + [
                    (a.mul([(int(low[i, k]), 1), (int(low[j, k]), 1)]), -1.0) for k in range(j)])
                low[i, j] = (a.power(rest, 0.5) if i == j
                             else a.mul([(rest, 1), (int(low[j, j]), -1)]))
        return low

    def _matmul(self, x: np.ndarray, y: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        m = x if x.ndim == 2 else x.reshape(1, -1)
        n = y if y.ndim == 2 else y.reshape(-1, 1)
        out = np.empty((m.shape[0], n.shape[1]), dtype=object)
        for i in range(m.shape[0]):
            for j in range(n.shape[1]):
                out[i, j] = self.a.add([(self.a.mul([(m[i, k], 1), (n[k, j], 1)]), 1.0)
                                        for k in range(m.shape[1])])
        return out.reshape(shape)

    def _small_linalg(self, op: str, m: np.ndarray) -> np.ndarray:
        n = _small(m, "det and inv")
        a = self.a
        cof = np.empty((n, n), dtype=object)
        for i in range(n):
            for j in range(n):
                minor = np.delete(np.delete(m, i, axis=0), j, axis=1)
                sign = -1.0 if (i + j) % 2 else 1.0
                cof[i, j] = a.add([(self._det(minor), sign)])
        det = a.add([(a.mul([(m[0, j], 1), (cof[0, j], 1)]), 1.0) for j in range(n)])
        if op == "det":
            return _obj(det)
        out = np.empty((n, n), dtype=object)
        for i in range(n):
            for j in range(n):
                out[i, j] = a.mul([(cof[j, i], 1), (det, -1)])
        return out

    def _det(self, m: np.ndarray) -> int:
        """Determinant of a matrix of at most 2×2 (cofactors of a 3×3)."""
        a = self.a
        if m.size == 0:
            return a.one
        if m.shape[0] == 1:
            return m[0, 0]
        return a.sub(a.mul([(m[0, 0], 1), (m[1, 1], 1)]), a.mul([(m[0, 1], 1), (m[1, 0], 1)]))
