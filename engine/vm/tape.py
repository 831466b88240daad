"""Lowering a planned graph to a flat register tape of scalar instructions.

Every element of every node gets a register (structural ops — broadcast, reshape, index,
scatter, stack, transpose — only re-map registers and emit nothing). A node's *map* is an
int array of shape ``(D, *shape)``: its registers for each of ``D`` directions, where ``D`` is 1
or the number of tangent/cotangent directions of a Hessian or Jacobian (the numpy path's
second prefix axis); nodes that do not depend on the directions keep one copy.

Only ops whose compiled version gives the numpy path's numbers are lowered (the kernel's
docstring says how close); a graph with any other op gets no tape and stays on numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.ir.evaluate import Plan
from engine.ir.graph import Graph, size_of
from engine.ir.ops import PRIMITIVES
from engine.vm import kernel as K

_UNARY = {
    "neg": K.NEG, "sin": K.SIN, "cos": K.COS, "tan": K.TAN, "asin": K.ASIN, "acos": K.ACOS,
    "atan": K.ATAN, "cosh": K.COSH, "acosh": K.ACOSH, "exp": K.EXP, "expm1": K.EXPM1,
    "log": K.LOG, "log1p": K.LOG1P, "sqrt": K.SQRT, "abs": K.ABS, "sigmoid": K.SIGMOID,
    "softplus": K.SOFTPLUS, "relu": K.RELU, "sign": K.SIGN, "sigmoid_slope": K.SIGMOID_SLOPE,
}
"""Unary ops the tape runs. Left out (numpy keeps them): sinh, tanh, tanh_slope, asinh, atanh,
cbrt, erf, erfc — NumPy's SIMD (SVML) kernels and SciPy's erf differ from libm by up to 3 ulp
there."""
_BINARY = {
    "add": K.ADD, "sub": K.SUB, "mul": K.MUL, "smul": K.SMUL, "div": K.DIV, "pow": K.POW,
    "atan2": K.ATAN2, "max": K.MAX, "min": K.MIN, "lt": K.LT, "le": K.LE, "gt": K.GT, "ge": K.GE,
    "eq": K.EQ, "ne": K.NE,
}
_POWC = {2.0: K.SQUARE, 3.0: K.CUBE, 4.0: K.FOURTH, -1.0: K.RECIP, 0.5: K.SQRT}
"""Exponents the numpy path (and NumPy's power loop, for 0.5) computes without ``pow``."""
_REMAP = frozenset({"broadcast", "reshape", "index", "scatter", "stack", "transpose"})
SUPPORTED = frozenset({*_UNARY, *_BINARY, "powc", "where", "sum", "norm", *_REMAP})
_SCALAR_OPS = frozenset({*_UNARY, *_BINARY, "powc", "where"})
"""Ops lowered by the fast scalar branch when the node and its operands are scalars."""

_INEXACT = frozenset({"exp", "expm1", "log", "log1p", "tan", "asin", "acos", "atan", "cosh",
                      "acosh", "pow", "atan2"})
"""Ops whose libm result may differ from NumPy's by 1 ulp (tests/engine/test_vm.py measures)."""


_LANES_INEXACT = frozenset({"sin", "cos"})
"""Ops the lanes of a batch compute with a vectorized kernel within 1 ulp of libm."""


def bit_exact(g: Graph, lanes: bool = False) -> bool:
    """Whether every node of ``g`` is computed by the tape exactly as by numpy (no op that may
    differ in the last bit, no ``powc`` that goes through ``pow``); with ``lanes``, as a batch
    of several points computes it."""
    inexact = _INEXACT | _LANES_INEXACT if lanes else _INEXACT
    for node in g.nodes:
        if node.op in inexact or (node.op == "powc" and node.params[0] not in _POWC):
            return False
    return True


ZERO = 0
"""Register 0 always holds +0.0 (scatter's fill, the start of small sums)."""
ONE = 1
"""Register 1 always holds 1.0 (a sparse tape's unit tangent entries)."""


@dataclass(frozen=True)
class Tape:
    """A lowered plan: instructions, initial registers, and where inputs and outputs live."""

    code: np.ndarray
    """(T, 5) int32 instructions."""
    init: np.ndarray
    """Initial registers: constants and fixed feeds filled in, the rest 0."""
    in_regs: dict[int, np.ndarray]
    """Per fed input node: its registers in C order (one direction)."""
    out_maps: list[np.ndarray]
    """Per output of the plan: its map, shape (D, *shape)."""
    finite: np.ndarray
    """Registers a sparse tape multiplied by a structural zero: each must be finite (else
    0·x is NaN, not 0, and the dense tape has to run instead)."""
    nonzero: np.ndarray
    """Registers a sparse tape divided a structural zero by: each must be nonzero, not NaN."""


def _fuse_sincos(code: np.ndarray) -> np.ndarray:
    """``code`` with each sin and cos of one register (a derivative of either needs the other)
    as one SINCOS at the first of the two: one range reduction for both. Registers are written
    once, so the later result may be computed earlier."""
    first: dict[tuple[int, int], int] = {}
    fused: dict[int, int] = {}  # row of the first of a pair -> row of its partner
    for t, (op, _, a, _, _) in enumerate(code.tolist()):
        if op in (K.SIN, K.COS):
            other = first.pop((K.COS if op == K.SIN else K.SIN, a), None)
            if other is None:
                first.setdefault((op, a), t)
            else:
                fused[other] = t
    if not fused:
        return code
    out = code.copy()
    for t, partner in fused.items():
        sin_row, cos_row = (t, partner) if code[t, 0] == K.SIN else (partner, t)
        out[t] = (K.SINCOS, code[sin_row, 1], code[t, 2], 0, code[cos_row, 1])
    return np.delete(out, list(fused.values()), axis=0)


class Unsupported(Exception):
    """The plan has an op the tape does not run."""


class _Builder:
    def __init__(self, g: Graph, sparse: bool) -> None:
        self.g = g
        self.code: list[int] = []
        self.values: list[float] = [0.0, 1.0]
        self.sparse = sparse
        self.finite: set[int] = set()
        self.nonzero: set[int] = set()

    def rule(self, name: str, regs: list[int]) -> int | None:
        """A sparse tape's shortcut for ``name`` on structural zeros and ones, or None.

        ``x·1 = x`` is exact; the zero rules are exact up to the sign of a zero result (a
        structural zero stands for NumPy's ±0), with the guards recording what must be finite.
        """
        if name in ("mul", "smul"):
            a, b = regs
            if name == "smul" and b == ZERO:  # a tangent of 0: 0 whatever the partial
                return ZERO
            if a == ZERO or b == ZERO:
                other = b if a == ZERO else a
                if other != ZERO:
                    self.finite.add(other)
                return ZERO
            if a == ONE:
                return b
            if b == ONE:
                return a
        elif name == "add":
            a, b = regs
            if a == ZERO:
                return b
            if b == ZERO:
                return a
        elif name == "sub":
            a, b = regs
            if b == ZERO:
                return a
            if a == ZERO:
                return self.emit(K.NEG, b)
        elif name == "neg":
            if regs[0] == ZERO:
                return ZERO
        elif name == "div":
            a, b = regs
            if a == ZERO and b != ZERO:
                self.nonzero.add(b)
                return ZERO
        elif name == "where" and regs[1] == ZERO and regs[2] == ZERO:
            return ZERO
        return None

    def op(self, name: str, params: tuple, regs: list[int]) -> int:
        """Emit the scalar op ``name`` (a tape op name) on ``regs``; its result register."""
        if self.sparse:
            found = self.rule(name, regs)
            if found is not None:
                return found
        if name in _BINARY:
            return self.emit(_BINARY[name], regs[0], regs[1])
        if name in _UNARY:
            return self.emit(_UNARY[name], regs[0])
        if name == "powc":
            return self.elementwise_scalar_powc(self._new(), params[0], regs[0])
        return self.emit(K.WHERE, regs[0], regs[1], regs[2])

    def _new(self) -> int:
        self.values.append(0.0)
        return len(self.values) - 1

    def add(self, a: int, b: int) -> int:
        return self.op("add", (), [a, b]) if self.sparse else self.emit(K.ADD, a, b)

    def fresh(self, count: int) -> np.ndarray:
        start = len(self.values)
        self.values.extend([0.0] * count)
        return np.arange(start, start + count, dtype=np.int64)

    def preset(self, values: np.ndarray) -> np.ndarray:
        """Registers holding ``values`` from the start (a sparse tape shares +0.0 and 1.0)."""
        regs = self.fresh(values.size)
        flat = values.ravel().tolist()
        self.values[regs[0]:regs[0] + len(flat)] = flat
        regs = regs.reshape(values.shape)
        if self.sparse:
            regs = np.where((values == 0) & ~np.signbit(values), ZERO,
                            np.where(values == 1, ONE, regs))
        return regs

    def emit(self, op: int, a: int, b: int = 0, c: int = 0) -> int:
        dst = len(self.values)
        self.values.append(0.0)
        self.code.extend((op, dst, a, b, c))
        return dst

    def pairwise(self, regs: list[int]) -> int:
        """NumPy's pairwise summation of ``regs`` (its add.reduce over a contiguous axis)."""
        n = len(regs)
        add = self.add
        if n < 8:
            r = add(ZERO, regs[0]) if n else ZERO
            for x in regs[1:]:
                r = add(r, x)
            return r
        if n <= 128:
            acc = regs[:8]
            i = 8
            while i < n - n % 8:
                acc = [add(acc[j], regs[i + j]) for j in range(8)]
                i += 8
            r = add(add(add(acc[0], acc[1]), add(acc[2], acc[3])),
                    add(add(acc[4], acc[5]), add(acc[6], acc[7])))
            for x in regs[i:]:
                r = add(r, x)
            return r
        half = n // 2
        half -= half % 8
        return add(self.pairwise(regs[:half]), self.pairwise(regs[half:]))

    def total(self, regs: list[int]) -> int:
        """NumPy's sum of ``regs``: pairwise, added to the identity 0.0."""
        if len(regs) < 8:
            return self.pairwise(regs)
        return self.add(ZERO, self.pairwise(regs))

    def reduce(self, m: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        """Sum of map ``m`` (D, *shape) over negative ``axes``, as ``np.sum`` orders it."""
        rank = m.ndim - 1
        pos = sorted(rank + a for a in axes)
        trailing = pos == list(range(rank - len(pos), rank))
        moved = np.moveaxis(m, [1 + i for i in pos], list(range(m.ndim - len(pos), m.ndim)))
        out_shape = moved.shape[:m.ndim - len(pos)]
        flat = moved.reshape(*out_shape, -1)
        out = np.empty(out_shape, dtype=np.int64)
        for idx in np.ndindex(*out_shape):
            regs = flat[idx].tolist()
            if trailing:
                out[idx] = self.total(regs)
            else:
                # Reduced axes that are not innermost: NumPy adds one slice at a time.
                r = self.add(ZERO, regs[0])
                for x in regs[1:]:
                    r = self.add(r, x)
                out[idx] = r
        return out

    def directions(self, op: str, params: tuple, arg_maps: list[Any]
                   ) -> tuple[int, ...]:
        """A scalar op over several directions (operands with one direction are shared)."""
        d = max(len(m) for m in arg_maps if type(m) is tuple)
        cols = [m if type(m) is tuple else (m,) * d for m in arg_maps]
        if self.sparse:
            return tuple(self.op(op, params, [c[i] for c in cols]) for i in range(d))
        values, code = self.values, self.code
        out = []
        for i in range(d):
            dst = len(values)
            values.append(0.0)
            if op in _BINARY:
                code.extend((_BINARY[op], dst, cols[0][i], cols[1][i], 0))
            elif op in _UNARY:
                code.extend((_UNARY[op], dst, cols[0][i], 0, 0))
            elif op == "powc":
                self.elementwise_scalar_powc(dst, params[0], cols[0][i])
            else:
                code.extend((K.WHERE, dst, cols[0][i], cols[1][i], cols[2][i]))
            out.append(dst)
        return tuple(out)

    def elementwise_scalar_powc(self, dst: int, p: float, a: int) -> int:
        op = _POWC.get(p)
        if op is None:
            self.code.extend((K.POW, dst, a, int(self.preset(np.array(p))[()]), 0))
        else:
            self.code.extend((op, dst, a, 0, 0))
        return dst

    def elementwise(self, name: str, params: tuple, maps: list[np.ndarray],
                    shape: tuple[int, ...]) -> np.ndarray:
        d = max(m.shape[0] for m in maps)
        full = [np.broadcast_to(m, (d, *shape)).ravel().tolist() for m in maps]
        n = len(full[0])
        emit = self.emit
        if self.sparse:
            out = [self.op(name, params, [f[i] for f in full]) for i in range(n)]
        elif name in _BINARY:
            op = _BINARY[name]
            a, b = full
            out = [emit(op, a[i], b[i]) for i in range(n)]
        elif name == "powc":
            (p,) = params
            special = _POWC.get(p)
            (a,) = full
            if special is None:
                preg = int(self.preset(np.array(p))[()])
                out = [emit(K.POW, a[i], preg) for i in range(n)]
            else:
                out = [emit(special, a[i]) for i in range(n)]
        elif name == "where":
            c, a, b = full
            out = [emit(K.WHERE, c[i], a[i], b[i]) for i in range(n)]
        else:
            op = _UNARY[name]
            (a,) = full
            out = [emit(op, a[i]) for i in range(n)]
        return np.array(out, dtype=np.int64).reshape(d, *shape)


def _remap(name: str, params: tuple, maps: list[np.ndarray]) -> np.ndarray:
    """Registers of a structural op: its numpy forward rule applied to the argument maps."""
    if name == "scatter":
        # Scatter fills with zeros: register ZERO (0) is the fill, as the float result shows.
        out = PRIMITIVES[name].forward(params, maps[0].astype(np.float64))
        return out.astype(np.int64)
    return np.asarray(PRIMITIVES[name].forward(params, *maps))


def _as_map(m: np.ndarray | int | tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    if isinstance(m, np.ndarray):
        return m
    if isinstance(m, int):
        return np.full((1, *shape), m, dtype=np.int64)
    return np.array(m, dtype=np.int64).reshape(len(m), *shape)


def _compact(m: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | int | tuple[int, ...]:
    """Scalar-shaped maps as an int (one direction) or a tuple of ints (several)."""
    if shape:
        return m
    flat = m.ravel().tolist()
    return flat[0] if len(flat) == 1 else tuple(flat)


def build(g: Graph, plan: Plan, fed: list[int], fixed: dict[int, np.ndarray],
          sparse: bool = False) -> Tape:
    """The tape of ``plan``. ``fed`` input nodes get registers written per call (one
    direction); ``fixed`` ones (identity tangents, shape (D, *shape)) are filled in once.
    A ``sparse`` tape skips arithmetic on structural zeros and ones (unit tangents): exact up
    to the sign of zero results, given its guards hold. Raises :class:`Unsupported` for an op
    the tape does not run."""
    b = _Builder(g, sparse)
    # A scalar node with one direction (most nodes of most graphs) maps to a plain int.
    # A node's registers: one int (a scalar), a tuple (one per direction) or an array of them;
    # the lowering below tells them apart by type.
    maps: dict[int, Any] = {}
    in_regs: dict[int, np.ndarray] = {}
    nodes = g.nodes
    consts = g.consts
    values = b.values
    code = b.code
    fed_set = set(fed)
    for nid in plan.order:
        node = nodes[nid]
        op = node.op
        args = node.args
        if (not node.shape and op in _SCALAR_OPS and not sparse
                and all(type(maps[a]) is not np.ndarray for a in args)):
            arg_maps = [maps[a] for a in args]
            if any(type(m) is tuple for m in arg_maps):
                maps[nid] = b.directions(op, node.params, arg_maps)
                continue
            dst = len(values)
            values.append(0.0)
            if op in _BINARY:
                code.extend((_BINARY[op], dst, maps[args[0]], maps[args[1]], 0))
            elif op in _UNARY:
                code.extend((_UNARY[op], dst, maps[args[0]], 0, 0))
            elif op == "powc":
                dst = b.elementwise_scalar_powc(dst, node.params[0], maps[args[0]])
            else:
                code.extend((K.WHERE, dst, maps[args[0]], maps[args[1]], maps[args[2]]))
            maps[nid] = dst
        elif op == "const":
            arr = consts[nid]
            if arr.ndim == 0 and not sparse:
                maps[nid] = len(values)
                values.append(float(arr))
            else:
                maps[nid] = b.preset(arr.reshape(1, *node.shape))
        elif op == "input":
            if nid in fixed:
                maps[nid] = _compact(b.preset(fixed[nid]), node.shape)
            elif nid in fed_set:
                regs = b.fresh(size_of(node.shape))
                in_regs[nid] = regs
                maps[nid] = int(regs[0]) if not node.shape else regs.reshape(1, *node.shape)
            else:
                raise Unsupported(f"input {node.params[0]} has no feed")
        elif op not in SUPPORTED:
            raise Unsupported(op)
        else:
            arg_maps = [_as_map(maps[a], nodes[a].shape) for a in args]
            if op in _REMAP:
                m = _remap(op, node.params, arg_maps)
            elif op == "sum":
                m = b.reduce(arg_maps[0], node.params[0])
            elif op == "norm":
                sq = b.elementwise("mul", (), [arg_maps[0], arg_maps[0]], nodes[args[0]].shape)
                m = b.elementwise("sqrt", (), [b.reduce(sq, node.params[0])], ())
            else:
                if any(nodes[a].shape != node.shape for a in args):
                    raise Unsupported(f"{op} with operands of other shapes")
                m = b.elementwise(op, node.params, arg_maps, node.shape)
            maps[nid] = _compact(m, node.shape)
    out_maps = [_as_map(maps[o], nodes[o].shape) for o in plan.outputs]
    return Tape(_fuse_sincos(np.array(code, dtype=np.int32).reshape(-1, 5)),
                np.array(values, dtype=np.float64), in_regs, out_maps,
                np.array(sorted(b.finite), dtype=np.int32),
                np.array(sorted(b.nonzero), dtype=np.int32))
