"""Sparse Jacobians and Hessians: pattern and coloring (cached with the compiled expression),
compressed evaluation through the engine's batched passes, decompression to COO.

A Jacobian costs one forward pass with ``colors`` tangent directions (or one reverse pass with
``colors`` cotangents when a row coloring needs fewer); a Hessian one forward-over-reverse pass
with ``colors`` directions. Direction c is the sum of the unit vectors of the columns of color
c, so a Jacobian's entry (i, j) is read at (direction color(j), row i); a Hessian's (star
coloring) there or at (direction color(i), row j), whichever holds it alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from engine import undefined
from engine.compiled import Compiled
from engine.errors import InputError, LimitError
from engine.ir.evaluate import run
from engine.ir.graph import size_of
from engine.jobs import Job, Result, base, check_work, prepare, primal_feeds, require_scalar
from engine.limits import Limits
from engine.requests import Inputs
from engine.sparse.coloring import color_jacobian, color_symmetric, count
from engine.sparse.pattern import coo, detect, fingerprint
from engine.sparse.star import star_gather

TRIANGLES = ("full", "lower")


@dataclass(frozen=True)
class Sparsity:
    """A structural pattern with its coloring, ready to decompress compressed products."""

    shape: tuple[int, int]
    rows: np.ndarray
    cols: np.ndarray
    colors: int
    coloring: np.ndarray
    """The color of each column (or of each row when ``reverse``)."""
    reverse: bool
    """Evaluate with cotangent directions (row coloring) instead of tangents."""
    gather: np.ndarray
    """Per nonzero, its flat position in the compressed product (directions × length)."""

    def __post_init__(self) -> None:
        # Cached with the compiled expression and handed to every answer: read-only, so the
        # service may serialize rows and cols once.
        for array in (self.rows, self.cols, self.coloring, self.gather):
            array.flags.writeable = False

    @property
    def nnz(self) -> int:
        """Stored entries per point."""
        return len(self.rows)

    def lower(self) -> Sparsity:
        """The entries with row ≥ col (a symmetric matrix's lower triangle), kept with this
        pattern."""
        return self._lower

    @cached_property
    def _lower(self) -> Sparsity:
        keep = self.rows >= self.cols
        return Sparsity(self.shape, self.rows[keep], self.cols[keep], self.colors,
                        self.coloring, self.reverse, self.gather[keep])


def _offsets(inp: Inputs, names: tuple[str, ...]) -> tuple[list[int], int]:
    offsets, total = [], 0
    for v in names:
        offsets.append(total)
        total += size_of(inp.shapes[v])
    return offsets, total


DETECTION_COST = 10.0
"""Work units per entry a pattern may have, before detection has found how many it has
(scipy's cost per entry against numpy's per element): a detection that may be large is never
planned as small work, so a server runs it in a worker process, not on its event loop."""


def _key(inp: Inputs, kind: str) -> tuple[Any, ...]:
    return ("sparsity", kind, tuple(inp.variables), fingerprint(inp.constants))


def sparsity(c: Compiled, inp: Inputs, limits: Limits, kind: str,
             key: tuple[Any, ...] | None = None) -> Sparsity:
    """The pattern of the ``kind`` ("jacobian" or "hessian") of ``c``, detected and colored
    once per variables and constant values (``key``: their cache key, when known)."""
    names = tuple(inp.variables)
    key = _key(inp, kind) if key is None else key

    def build() -> Sparsity:
        offsets, n = _offsets(inp, names)
        wrt = {c.inputs[v]: o for v, o in zip(names, offsets, strict=True)}
        consts = {c.inputs[k]: v for k, v in inp.constants.items()}
        pattern = detect(c.graph, c.output, wrt, n, consts, limits.max_sparse_entries,
                         hessian=kind == "hessian")
        matrix = pattern.hessian if kind == "hessian" else pattern.jacobian
        assert matrix is not None
        rows, cols = coo(matrix)
        if kind == "hessian":
            coloring = color_symmetric(matrix, limits.max_sparse_entries)
            gather = star_gather(rows, cols, coloring, n)
            return Sparsity(matrix.shape, rows, cols, count(coloring, matrix), coloring,
                            False, gather)
        coloring, reverse = color_jacobian(matrix, limits.max_sparse_entries)
        colors = count(coloring, matrix)
        m = matrix.shape[0]
        gather = (coloring[rows] * n + cols) if reverse else (coloring[cols] * m + rows)
        return Sparsity(matrix.shape, rows, cols, colors, coloring, reverse, gather)
    slot = _slot(c, key)
    if "pattern" not in slot:
        with c.lock:
            if "pattern" not in slot:
                slot["pattern"] = build()
    return slot["pattern"]


def _slot(c: Compiled, key: tuple[Any, ...]) -> dict[str, Sparsity]:
    """The cache entry of one pattern, empty until it is detected (so that asking whether it
    is detected builds nothing)."""
    return c.derived(key, dict)


def _detected(c: Compiled, key: tuple[Any, ...]) -> bool:
    """Whether the pattern is cached."""
    return "pattern" in _slot(c, key)


def _detection_work(c: Compiled, inp: Inputs, limits: Limits, kind: str) -> float:
    """A bound on the work of detecting and coloring the pattern, and of one value pass."""
    n = sum(size_of(inp.shapes[v]) for v in inp.variables)
    m = n if kind == "hessian" else size_of(c.shape)
    value = c.plan("value", lambda: [c.output])
    return (DETECTION_COST * min(float(m) * n, limits.max_sparse_entries)
            + value.elements * inp.n)


def _after_detection(c: Compiled, inp: Inputs, limits: Limits, kind: str,
                     planned: Callable[[tuple[Any, ...]], Job]) -> Job:
    """``planned(key)`` when the pattern is known; before that, a job of the detection's
    bounded work that detects, then admits the compressed evaluation against ``max_work`` and
    runs it. The key (hashing the constants) is computed once."""
    key = _key(inp, kind)
    if _detected(c, key):
        return planned(key)

    def compute() -> Result:
        job = planned(key)
        check_work(job.work, limits)
        return job.compute()
    return Job(_detection_work(c, inp, limits, kind), compute)


def _check_stored(s: Sparsity, inp: Inputs, limits: Limits) -> None:
    if s.nnz * inp.n > limits.max_sparse_entries:
        raise LimitError("max_sparse_entries", limits.max_sparse_entries, s.nnz * inp.n,
                         what="the stored entries of this sparse answer (nnz × points)")


def _seeds(c: Compiled, inp: Inputs, names: tuple[str, ...], s: Sparsity,
           key: tuple[Any, ...]) -> dict[int, np.ndarray]:
    """Tangent feeds: direction k moves every column of color k by one. Built once per
    pattern and shared by every call, so read-only."""
    def build() -> dict[int, np.ndarray]:
        feeds, (offsets, _) = {}, _offsets(inp, names)
        for v, o in zip(names, offsets, strict=True):
            size = size_of(inp.shapes[v])
            seed = np.zeros((s.colors, size))
            seed[s.coloring[o:o + size], np.arange(size)] = 1.0
            seed.setflags(write=False)
            feeds[c.tangent_input(v)] = seed.reshape((1, s.colors, *inp.shapes[v]))
        return feeds
    return c.derived(("seeds", key), build)


def _gathered(compressed: np.ndarray, s: Sparsity, inp: Inputs) -> np.ndarray:
    """Decompress (N|1, colors, length) into values (nnz,) or (N, nnz)."""
    flat = compressed.reshape(compressed.shape[0], -1)
    values = flat[:, s.gather]
    if inp.batch is None:
        return values[0]
    return np.broadcast_to(values, (inp.n, s.nnz)) if values.shape[0] != inp.n else values


def _concat(blocks: list[np.ndarray], colors: int, shapes: list[tuple[int, ...]]
            ) -> np.ndarray:
    """Per-variable blocks (N|1, colors, *shape_v) as one (N|1, colors, n). A variable the
    expression does not use comes back as a constant zero without those leading axes."""
    lead = max(b.shape[0] if b.ndim > len(v) else 1 for b, v in zip(blocks, shapes, strict=True))
    return np.concatenate([np.broadcast_to(b, (lead, colors, *v)).reshape(lead, colors, -1)
                           for b, v in zip(blocks, shapes, strict=True)], axis=-1)


def coo_answer(s: Sparsity, values: np.ndarray) -> dict[str, Any]:
    """The §6 coordinate form; ``values`` stays a numpy array for the encoder."""
    return {"format": "coo", "shape": list(s.shape), "rows": s.rows, "cols": s.cols,
            "values": values, "nnz": s.nnz, "colors": s.colors}


def _empty(inp: Inputs, s: Sparsity) -> np.ndarray:
    return np.zeros(s.nnz if inp.batch is None else (inp.n, s.nnz))


def plan_sparse_jacobian(c: Compiled, inp: Inputs, limits: Limits) -> Job:
    """A sparse Jacobian: one compressed forward (or reverse) pass (after detection, the first
    time)."""
    return _after_detection(c, inp, limits, "jacobian",
                            lambda key: _plan_jacobian(c, inp, limits, key))


def _plan_jacobian(c: Compiled, inp: Inputs, limits: Limits, key: tuple[Any, ...]) -> Job:
    names = tuple(inp.variables)
    s = sparsity(c, inp, limits, "jacobian", key)
    _check_stored(s, inp, limits)
    if s.colors == 0:
        plan = c.plan("value", lambda: [c.output])

        def compute_empty() -> Result:
            (value,) = run(c.graph, plan, primal_feeds(c, inp, 1), 1)
            out = base(c, inp, value)
            out["jacobian"] = coo_answer(s, _empty(inp, s))
            return out
        return Job(plan.elements * inp.n, compute_empty)
    if s.reverse:
        plan = c.plan(("jacrev", names), lambda: [c.output, *c.vjp_nodes(names)])
    else:
        plan = c.plan(("jacfwd", names), lambda: [c.output, *c.jvp_nodes((c.output,), names)])

    def compute() -> Result:
        feeds = primal_feeds(c, inp, 2)
        if s.reverse:
            seed = np.zeros((s.colors, s.shape[0]))
            seed[s.coloring, np.arange(s.shape[0])] = 1.0
            feeds[c.cotangent_input()] = seed.reshape((1, s.colors, *c.shape))
        else:
            feeds.update(_seeds(c, inp, names, s, key))
        value, *products = run(c.graph, plan, feeds, 2)
        # Reverse mode answers one block per variable, forward mode one of the output's shape.
        shapes = [inp.shapes[v] for v in names] if s.reverse else [tuple(c.shape)]
        compressed = _concat(products, s.colors, shapes)
        out = base(c, inp, value[:, 0])
        out["jacobian"] = coo_answer(s, _gathered(compressed, s, inp))
        return out
    return Job(plan.elements * inp.n * s.colors, compute)


def plan_sparse_hessian(c: Compiled, inp: Inputs, limits: Limits, triangle: str) -> Job:
    """A sparse Hessian: one forward-over-reverse pass with ``colors`` directions (after
    detection, the first time)."""
    require_scalar(c, "hessian")
    return _after_detection(c, inp, limits, "hessian",
                            lambda key: _plan_hessian(c, inp, limits, triangle, key))


def _plan_hessian(c: Compiled, inp: Inputs, limits: Limits, triangle: str,
                  key: tuple[Any, ...]) -> Job:
    names = tuple(inp.variables)
    s = sparsity(c, inp, limits, "hessian", key)
    if triangle == "lower":
        s = s.lower()
    _check_stored(s, inp, limits)
    colors = max(s.colors, 1)  # the gradient is answered even when the Hessian is empty

    def outputs() -> list[int]:
        grads = c.gradient_nodes(names)
        return [c.output, *grads, *c.jvp_nodes(tuple(grads), names)]
    plan = c.plan(("hessian", names), outputs)

    def compute() -> Result:
        feeds = primal_feeds(c, inp, 2)
        feeds.update(_seeds(c, inp, names, s, key) if s.colors else {
            c.tangent_input(v): np.zeros((1, 1, *inp.shapes[v])) for v in names})
        value, *rest = run(c.graph, plan, feeds, 2)
        grads, blocks = rest[:len(names)], rest[len(names):]
        out = base(c, inp, value[:, 0])
        shapes = [inp.shapes[v] for v in names]
        flat = _concat(grads, 1, shapes)[:, 0]
        flat = np.broadcast_to(flat, (inp.n, flat.shape[-1]))
        out["gradient"] = flat[0] if inp.batch is None else flat
        values = _gathered(_concat(blocks, colors, shapes), s, inp) if s.colors else _empty(inp, s)
        out["hessian"] = coo_answer(s, undefined.sparse_hessian(out["gradient"], s.rows, s.cols,
                                                                values))
        return out
    return Job(plan.elements * inp.n * colors, compute)


def _check_triangle(operation: str, triangle: Any) -> str:
    if triangle is None:
        return "full"
    if operation != "hessian":
        raise InputError("'triangle' applies to sparse hessian answers only",
                         loc=("body", "triangle"))
    if triangle not in TRIANGLES:
        raise InputError(f"triangle must be one of {', '.join(TRIANGLES)}, got {triangle!r}",
                         loc=("body", "triangle"))
    return triangle


def sparse_planner(operation: str, dense: Any) -> Any:
    """The planner of ``operation`` that answers in COO form when ``sparse`` is true."""
    def planner(c: Compiled, inp: Inputs, limits: Limits, sparse: bool = False,
                triangle: str | None = None) -> Job:
        if not isinstance(sparse, bool):
            raise InputError("sparse must be true or false", loc=("body", "sparse"))
        if not sparse:
            if triangle is not None:
                raise InputError("'triangle' needs \"sparse\": true", loc=("body", "triangle"))
            return dense(c, inp, limits)
        tri = _check_triangle(operation, triangle)
        if operation == "hessian":
            return plan_sparse_hessian(c, inp, limits, tri)
        return plan_sparse_jacobian(c, inp, limits)
    return planner


SPARSITY_OPERATIONS = ("jacobian", "hessian")


def _zero_point(shapes: Any, limits: Limits) -> dict[str, np.ndarray]:
    if not isinstance(shapes, dict) or not shapes:
        raise InputError("shapes must be an object mapping variable names to shapes "
                         "(lists of sizes, [] for a scalar)", loc=("body", "shapes"))
    point = {}
    for name, shape in shapes.items():
        if (not isinstance(shape, list) or len(shape) > limits.max_rank
                or not all(type(d) is int and d >= 1 for d in shape)):
            raise InputError(f"shapes['{name}'] must be a list of at most {limits.max_rank} "
                             f"positive integers", loc=("body", "shapes", name))
        size = size_of(tuple(shape))
        if size > limits.max_tensor_elements:
            raise LimitError("max_tensor_elements", limits.max_tensor_elements, size,
                             loc=("body", "shapes", name), what=f"variable '{name}'")
        point[name] = np.zeros(tuple(shape))
    return point


def plan_sparsity(*, expression: Any, of: Any = None, point: Any = None, points: Any = None,
                  shapes: Any = None, constants: Any = None, variables: Any = None,
                  limits: Limits) -> Job:
    """The structural pattern alone, from a ``point`` or from variable ``shapes``."""
    if points is not None:
        raise InputError("the pattern is the same at every point: give one 'point' or "
                         "'shapes', not 'points'", loc=("body", "points"))
    if of not in SPARSITY_OPERATIONS:
        raise InputError(f"operation must be one of {', '.join(SPARSITY_OPERATIONS)}, "
                         f"got {of!r}", loc=("body", "operation"))
    if (point is None) == (shapes is None):
        raise InputError("give exactly one of 'point' and 'shapes'", loc=("body",))
    if shapes is not None:
        point = _zero_point(shapes, limits)
    c, inp = prepare(expression, point, None, constants, variables, limits)
    if of == "hessian":
        require_scalar(c, "hessian")

    def compute() -> Result:
        s = sparsity(c, inp, limits, of)
        return {"operation": of, "shape": list(s.shape), "rows": s.rows, "cols": s.cols,
                "nnz": s.nnz, "colors": s.colors,
                "coloring": s.coloring, "coloring_of": "rows" if s.reverse else "columns",
                "variables": list(inp.variables), "warnings": []}
    return Job(_detection_work(c, inp, limits, of), compute, limits)
