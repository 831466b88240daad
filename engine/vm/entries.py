"""Per compiled expression and operation: a ready tape, its registers and its result layout.

An :class:`Entry` is built once (on the Compiled object, so it leaves the cache with it) from
the same derivative graphs and plan keys the numpy planners use. It knows where each input of
the request goes, which registers hold each answer field, and how to shape the answer exactly
as the numpy path does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from engine import undefined
from engine.compiled import Compiled
from engine.ir.evaluate import Plan
from engine.ir.graph import Shape, size_of
from engine.requests import Inputs, labels
from engine.vm import kernel as K
from engine.vm.tape import Tape, Unsupported, build

MAX_INSTRUCTIONS = 50_000
"""Tapes longer than this are not built: such work is big tensors, where numpy is as fast
and building the tape (in Python, once) would cost a one-off request more than it saves."""
MAX_SPARSE_WORK = 2_000_000
"""Element operations × directions a sparse tape may look through while it is built (most
of them are skipped zeros; building still visits each)."""
SPARSE_DIRECTIONS = 8
"""From this many identity directions (Hessian or Jacobian columns) on, the tape skips
structural zeros; below it the dense tape is as fast and exact to the sign of zero."""
LANES = 512
"""Points per block of a batch: one instruction runs over all of them."""
REGISTER_BYTES = 256 * 1024
"""The lanes of a batch shrink so that its registers stay about this size (in cache)."""
CHUNK = 16384
"""Points whose inputs are gathered per compiled call of a batch."""
NO_INPUTS = np.zeros(0, dtype=np.int32)
NO_VALUES = np.zeros((0, 1))

Result = dict[str, Any]


def _field(rows: np.ndarray, shape: Shape, n: int | None) -> Any:
    """One answer array from its block of output rows (size, N): the numpy path's layout."""
    if n is None:
        return rows[0, 0] if not shape else rows[:, 0].reshape(shape)
    return rows[0] if not shape else np.moveaxis(rows.reshape(*shape, rows.shape[1]), -1, 0)


class Entry:
    """A lowered operation of one compiled expression."""

    def __init__(self, c: Compiled, plan: Plan, tape: Tape, fed: list[tuple[int, Shape]],
                 outputs: list[tuple[int, int]], shaper: Callable[..., Result],
                 dense: Callable[[], Tape] | None = None) -> None:
        self.code = tape.code
        self.finite, self.nonzero = tape.finite, tape.nonzero
        self._dense_tape = dense
        self._dense: Entry | None = None
        # Only a sparse entry keeps what its dense twin needs (the graph among it).
        self._layout = (c, plan, fed, outputs, shaper) if dense is not None else None
        self.sparse = dense is not None
        """Built skipping structural zeros (with a dense twin for when a guard fails)."""
        self.init = tape.init
        self.regs = tape.init.copy()
        self.lock = threading.Lock()
        # Per fed input (in request order): its registers, or None when the plan skips it.
        self.slots: list[np.ndarray | None] = [
            tape.in_regs.get(nid) for nid, _ in fed]
        self.scalar_slots = [int(r[0]) if r is not None and shape == () else None
                             for r, (_, shape) in zip(self.slots, fed, strict=True)]
        used = [r for r in self.slots if r is not None]
        self.in_regs = (np.concatenate(used).astype(np.int32) if used else NO_INPUTS)
        self.used = [r is not None for r in self.slots]
        maps = []
        for out_index, directions in outputs:
            m = tape.out_maps[out_index]
            maps.append(np.broadcast_to(m, (directions, *m.shape[1:])) if directions
                        else m[:1])
        self.out_regs = np.concatenate([m.ravel() for m in maps]).astype(np.int32)
        self.bounds = np.cumsum([0] + [m.size for m in maps]).tolist()
        self.shaper = shaper
        self.instructions = len(tape.code)
        self.plan_nodes = len(plan.order)
        self.elements = plan.elements
        self.directions = max([m.shape[0] for m in maps], default=1)

    def blocks(self, out: np.ndarray) -> list[np.ndarray]:
        """The output rows of each output, in order."""
        b = self.bounds
        return [out[b[i]:b[i + 1]] for i in range(len(b) - 1)]

    def run_point(self, values: list[Any]) -> np.ndarray:
        """Outputs (n_out, 1) for one point; ``values`` per fed input, float or array."""
        acquired = self.lock.acquire(blocking=False)
        regs = self.regs if acquired else self.init.copy()
        try:
            for slot, scalar, v in zip(self.slots, self.scalar_slots, values, strict=True):
                if scalar is not None:
                    regs[scalar] = v
                elif slot is not None:
                    regs[slot] = np.ravel(v)
            out = np.empty((len(self.out_regs), 1))
            ok = K.run_points(self.code, regs, NO_INPUTS, NO_VALUES, self.out_regs, out,
                              self.finite, self.nonzero) >= 0
        finally:
            if acquired:
                self.lock.release()
        return out if ok else self.dense().run_point(values)

    def dense(self) -> Entry:
        """The same operation without the sparse shortcuts: run where a guard fails (a
        non-finite value met a structural zero), so NaN and ±inf come out as numpy's."""
        if self._dense is None:
            assert self._dense_tape is not None and self._layout is not None
            c, plan, fed, outputs, shaper = self._layout
            self._dense = Entry(c, plan, self._dense_tape(), fed, outputs, shaper)
        return self._dense

    def run_batch(self, columns: list[np.ndarray], n: int) -> np.ndarray:
        """Outputs (n_out, N); ``columns`` per used fed input, shape (N or 1, size).

        Points run in lanes (a block of points per instruction), a chunk of inputs at a time,
        so memory beyond the answer stays a few hundred kilobytes whatever N is. A batch of
        several points takes sin and cos from the vectorized lane kernel (within 1 ulp of
        libm); one point keeps libm's, the bits the warm one-point path gives.
        """
        out = np.empty((len(self.out_regs), n))
        lanes = max(8, min(LANES, REGISTER_BYTES // (8 * len(self.init))))
        regs = np.repeat(self.init[:, None], lanes, axis=1)
        chunk = np.empty((len(self.in_regs), min(n, CHUNK)))
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            inputs = chunk[:, :stop - start]
            row = 0
            for col in columns:
                size = col.shape[1]
                inputs[row:row + size] = (col[start:stop] if col.shape[0] > 1 else col).T
                row += size
            if K.run_blocks(self.code, regs, self.in_regs, inputs, self.out_regs, out, start,
                            self.finite, self.nonzero, n > 1) < 0:
                return self.dense().run_batch(columns, n)
        return out


def _identity(c: Compiled, variables: tuple[str, ...], shapes: dict[str, Shape]
              ) -> dict[int, np.ndarray]:
    """The fixed tangent feeds of a Hessian or forward Jacobian: (n, *shape) unit blocks."""
    n = sum(size_of(shapes[v]) for v in variables)
    fixed, offset = {}, 0
    for v in variables:
        size = size_of(shapes[v])
        block = np.zeros((n, size))
        block[offset:offset + size] = np.eye(size)
        fixed[c.tangent_input(v)] = block.reshape((n, *shapes[v]))
        offset += size
    return fixed


def _columns(names: tuple[str, ...], shapes: dict[str, Shape]) -> list[str]:
    return [lab for v in names for lab in labels(v, shapes[v])]


def _base(value_shape: Shape, value: Any, n: int | None, variables: list[str]) -> Result:
    shape = list(value_shape) if n is None else [n, *value_shape]
    return {"value": value, "shape": shape, "variables": list(variables), "warnings": []}


def make_entry(c: Compiled, inp: Inputs, operation: str) -> Entry | None:
    """The entry of ``operation`` on ``c`` for inputs shaped like ``inp``, or None when the
    tape cannot run it (an op it lacks, or a tape too long to pay off)."""
    names = tuple(inp.variables)
    shapes = inp.shapes
    sizes = [size_of(s) for s in shapes.values()] + [v.size for v in inp.constants.values()]
    if 0 in sizes or size_of(c.shape) == 0 or not names:
        return None  # empty tensors: nothing to gain, and numpy's shapes are the reference
    fed: list[tuple[int, Shape]] = [(c.inputs[k], shapes[k]) for k in inp.values]
    fed += [(c.inputs[k], v.shape) for k, v in inp.constants.items()]
    n = sum(size_of(shapes[v]) for v in names)
    directions = 1
    identity: tuple[str, ...] | None = None  # variables with identity tangents (n directions)
    if operation == "evaluate":
        plan = c.plan("value", lambda: [c.output])
    elif operation == "gradient":
        plan = c.plan(("grad", names), lambda: [c.output, *c.gradient_nodes(names)])
    elif operation == "hessian":
        def outputs() -> list[int]:
            grads = c.gradient_nodes(names)
            return [c.output, *grads, *c.jvp_nodes(tuple(grads), names)]
        plan = c.plan(("hessian", names), outputs)
        identity, directions = names, n
    elif operation == "jacobian":
        if n <= size_of(c.shape):
            plan = c.plan(("jacfwd", names),
                          lambda: [c.output, *c.jvp_nodes((c.output,), names)])
            identity, directions = names, n
            operation = "jacfwd"
        else:
            plan = c.plan(("jacrev", names), lambda: [c.output, *c.vjp_nodes(names)])
            directions = size_of(c.shape)
    elif operation in ("jvp", "hvp"):
        def of() -> tuple[int, ...]:
            return (c.output,) if operation == "jvp" else tuple(c.gradient_nodes(names))
        plan = c.plan((operation, names), lambda: [c.output, *c.jvp_nodes(of(), names)])
        fed += [(c.tangent_input(v), shapes[v]) for v in names]
    elif operation == "vjp":
        plan = c.plan(("vjp", names), lambda: [c.output, *c.vjp_nodes(names)])
        fed.append((c.cotangent_input(), c.shape))
    else:
        return None
    sparse = directions >= SPARSE_DIRECTIONS
    if plan.elements * directions > (MAX_SPARSE_WORK if sparse else MAX_INSTRUCTIONS):
        return None
    fixed: dict[int, np.ndarray] = {}
    if identity is not None:
        fixed = _identity(c, identity, shapes)
    elif operation == "jacobian":
        m = size_of(c.shape)
        fixed = {c.cotangent_input(): np.eye(m).reshape((m, *c.shape))}
    ids = [nid for nid, _ in fed]
    try:
        tape = build(c.graph, plan, ids, fixed, sparse=sparse)
    except Unsupported:
        return None
    if len(tape.code) > MAX_INSTRUCTIONS:
        return None
    dense = (lambda: build(c.graph, plan, ids, fixed)) if sparse else None
    return _with_layout(c, plan, tape, fed, operation, names, shapes, dense)


def _with_layout(c: Compiled, plan: Plan, tape: Tape, fed: list[tuple[int, Shape]],
                 operation: str, names: tuple[str, ...], shapes: dict[str, Shape],
                 dense: Callable[[], Tape] | None = None) -> Entry:
    """The entry with its output layout and answer shaper for ``operation``.

    The shapers hold shapes and labels only, not the compiled expression: an entry kept by
    the warm path must not keep a graph alive after the compile cache dropped it.
    """
    fshape = c.shape
    k = len(names)
    vshapes = [shapes[v] for v in names]
    if operation in ("evaluate", "gradient", "jvp", "vjp", "hvp"):
        outputs = [(i, 0) for i in range(len(plan.outputs))]

        def first_order_answer(blocks: list[np.ndarray], n: int | None,
                               variables: list[str]) -> Result:
            out = _base(fshape, _field(blocks[0], fshape, n), n, variables)
            if operation == "jvp":
                out["jvp"] = _field(blocks[1], fshape, n)
            elif operation != "evaluate":
                out[operation] = {
                    v: _field(b, s, n) for v, b, s in zip(names, blocks[1:], vshapes,
                                                          strict=True)}
            return out
        return Entry(c, plan, tape, fed, outputs, first_order_answer, dense)
    width = sum(size_of(s) for s in vshapes)
    columns = _columns(names, shapes)
    if operation == "hessian":
        outputs = [(0, 0)] + [(i, 0) for i in range(1, 1 + k)] + [(i, width)
                                                                  for i in range(1 + k, 1 + 2 * k)]

        def hessian_answer(blocks: list[np.ndarray], n: int | None, variables: list[str]) -> Result:
            out = _base(fshape, _field(blocks[0], (), n), n, variables)
            grads = np.concatenate(blocks[1:1 + k]) if k else np.zeros((0, blocks[0].shape[1]))
            hess = undefined.dense_hessian(grads.T, _square(blocks[1 + k:], width,
                                                            grads.shape[1]))
            out["gradient"] = grads[:, 0] if n is None else grads.T
            out["hessian"] = hess[0] if n is None else hess
            out["columns"] = list(columns)
            return out
        return Entry(c, plan, tape, fed, outputs, hessian_answer, dense)
    m = size_of(c.shape)
    rows = labels("f", c.shape)
    forward = operation == "jacfwd"
    if forward:
        outputs = [(0, 0), (1, width)]
    else:
        outputs = [(0, 0)] + [(i, m) for i in range(1, len(plan.outputs))]

    def jacobian_answer(blocks: list[np.ndarray], n: int | None, variables: list[str]) -> Result:
        points = blocks[0].shape[1]
        out = _base(fshape, _field(blocks[0], fshape, n), n, variables)
        if forward:
            jac = blocks[1].reshape(width, m, points).transpose(2, 1, 0)
        else:
            jac = _square(blocks[1:], m, points)
        out["jacobian"] = jac[0] if n is None else jac
        out["rows"] = list(rows)
        out["columns"] = list(columns)
        return out
    return Entry(c, plan, tape, fed, outputs, jacobian_answer, dense)


def _square(blocks: list[np.ndarray], directions: int, points: int) -> np.ndarray:
    """(N, directions, width) from per-variable blocks of rows ordered (direction, entry)."""
    if not blocks:
        return np.zeros((points, directions, 0))
    parts = [b.reshape(directions, -1, points) for b in blocks]
    return np.concatenate(parts, axis=1).transpose(2, 0, 1)
