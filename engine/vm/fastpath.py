"""Choosing the tape for a request, and the warm single-point path that skips re-planning.

A request the tape can run is planned by the numpy planners once (every check and error is
theirs); its entry is then kept on the Compiled object, and for a single point also under a
key of the request's structure — operation, expression text, names and shapes of the inputs,
variable selection, limits — so the next such request only validates its numbers, writes them
into the registers, makes one compiled call and shapes the answer.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from typing import Any

import numpy as np

from engine.compiled import Compiled
from engine.jobs import Job, prepare
from engine.limits import Limits
from engine.requests import Inputs, to_array
from engine.vm.entries import Entry, make_entry
from engine.vm.tape import bit_exact

MODES = ("auto", "off", "always")
OPERATIONS = frozenset({"evaluate", "gradient", "hessian", "jacobian", "jvp", "vjp", "hvp"})
POINT_OPERATIONS = frozenset({"evaluate", "gradient", "hessian", "jacobian"})
"""Operations whose warm single point skips planning (the others carry extra arrays)."""
FAST_KEYS = 256
"""Request structures remembered for the warm single-point path (as many as the compile
cache holds expressions; an entry holds its tape, not the graph)."""

# The work model of the chooser, in seconds (CPU time on the benchmark machine): numpy pays
# per node of the plan and per element; the tape pays per instruction per point, less in
# lanes (a batch) than one point at a time.
NUMPY_PER_NODE = 1.5e-6
NUMPY_PER_ELEMENT = 2.5e-9
TAPE_PER_CALL = 5e-6
TAPE_PER_INSTRUCTION = 4e-9
TAPE_PER_LANE_INSTRUCTION = 1.5e-9


def mode() -> str:
    """``DIFFAPI_VM``: ``auto`` (the work estimate decides), ``off`` or ``always``."""
    value = os.environ.get("DIFFAPI_VM", "auto").strip().lower() or "auto"
    if value not in MODES:
        raise ValueError(f"DIFFAPI_VM must be one of {', '.join(MODES)}, got {value!r}")
    return value


MODE = mode()
_FAST: OrderedDict[Any, tuple[Entry, float, list[str]]] = OrderedDict()


def tape_wins(entry: Entry, points: int) -> bool:
    """Whether the tape is expected to beat numpy on ``points`` points."""
    if MODE == "always":
        return True
    numpy = (entry.plan_nodes * NUMPY_PER_NODE
             + entry.elements * points * entry.directions * NUMPY_PER_ELEMENT)
    per = TAPE_PER_INSTRUCTION if points == 1 else TAPE_PER_LANE_INSTRUCTION
    tape = TAPE_PER_CALL + entry.instructions * points * per
    return tape < numpy


def _scalar(v: Any) -> float | None:
    if type(v) is float:
        return v if v - v == 0.0 else None
    if type(v) is int:
        try:
            f = float(v)
        except OverflowError:
            return None
        return f if math.isfinite(f) else None
    return None


def _signature(values: Any, field: str, limits: Limits, out: list[Any],
               taken: Any = ()) -> tuple[Any, ...] | None:
    """Names (and shapes of non-scalars) of a point or constants mapping; values into ``out``.

    A bad number raises the error the numpy path's normalization raises for it (same check,
    same order), so an invalid request is not converted twice; None leaves the request to it.
    """
    if type(values) is not dict:
        return None
    sig: list[Any] = []
    for k, v in values.items():
        if k in taken:
            return None  # both a variable and a constant: the numpy path says so
        f = _scalar(v)
        if f is not None:
            sig.append(k)
            out.append(f)
            continue
        arr = to_array(v, ("body", field, k), limits)
        sig.append((k, arr.shape))
        out.append(arr)
    return tuple(sig)


def _point_key(operation: str, expression: Any, point: Any, constants: Any, variables: Any,
               limits: Limits) -> tuple[Any, list[Any]] | None:
    if type(expression) is not str:
        return None
    values: list[Any] = []
    sig = _signature(point, "point", limits, values)
    if sig is None:
        return None
    csig: tuple[Any, ...] | None = ()
    if constants is not None:
        csig = _signature(constants, "constants", limits, values, point)
        if csig is None:
            return None
    if variables is None:
        vkey = None
    elif type(variables) in (list, tuple) and all(type(v) is str for v in variables):
        vkey = tuple(variables)
    else:
        return None
    return (operation, expression, sig, csig, vkey, limits), values


def plan(operation: str, expression: Any, point: Any, points: Any, constants: Any,
         variables: Any, limits: Limits, extra: dict[str, Any]) -> Job | None:
    """A job that runs on the tape, or None to leave the request to the numpy path."""
    if MODE == "off" or operation not in OPERATIONS or extra.get("sparse"):
        return None
    key = None
    # Only requests the planners take without extra fields (a dense Hessian or Jacobian may
    # say sparse: false) skip planning: any other field is the planners' to accept or refuse.
    plain = not extra or (set(extra) == {"sparse"} and operation in ("hessian", "jacobian"))
    if points is None and operation in POINT_OPERATIONS and plain:
        found = _point_key(operation, expression, point, constants, variables, limits)
        if found is not None:
            key, values = found
            hit = _FAST.get(key)
            if hit is not None:
                entry, work, chosen = hit
                return Job(work, lambda: entry.shaper(entry.blocks(entry.run_point(values)),
                                                      None, chosen), limits)
    return _planned(operation, expression, point, points, constants, variables, limits, extra,
                    key)


def _planned(operation: str, expression: Any, point: Any, points: Any, constants: Any,
             variables: Any, limits: Limits, extra: dict[str, Any], key: Any) -> Job | None:
    from engine.api import PLANNERS  # the numpy planners: they check and estimate

    c, inp = prepare(expression, point, points, constants, variables, limits)
    job = PLANNERS[operation](c, inp, limits, **extra)
    names = tuple(inp.variables)
    if MODE == "auto":
        # A new expression runs on numpy once: lowering a tape costs about what numpy's one
        # evaluation does, and pays off only from the second request on. Not where the tape
        # may differ from numpy in the last bit: a request must not change its answer between
        # its first and second call.
        seen = c.derived(("tape seen", operation, names), lambda: [0])
        seen[0] += 1
        if seen[0] == 1 and bit_exact(c.graph, lanes=inp.n > 1):
            return Job(job.work, job.compute, limits)
    entry = c.derived(("tape", operation, names), lambda: make_entry(c, inp, operation) or False)
    if not entry or not tape_wins(entry, inp.n):
        return Job(job.work, job.compute, limits)
    if key is not None:
        _FAST[key] = (entry, job.work, list(inp.variables))
        if len(_FAST) > FAST_KEYS:
            _FAST.popitem(last=False)
    columns = _columns(c, inp, entry, operation, extra, limits)
    n = None if inp.batch is None else inp.n
    chosen = list(inp.variables)
    return Job(job.work, lambda: entry.shaper(entry.blocks(entry.run_batch(columns, inp.n)),
                                              n, chosen), limits)


def _columns(c: Compiled, inp: Inputs, entry: Entry, operation: str, extra: dict[str, Any],
             limits: Limits) -> list[np.ndarray]:
    """Per used fed input, its values as (N or 1, size): the planners already checked them."""
    arrays: list[np.ndarray] = [a.reshape(a.shape[0], -1) for a in inp.values.values()]
    arrays += [a.reshape(1, -1) for a in inp.constants.values()]
    if operation in ("jvp", "hvp"):
        given = extra["tangent" if operation == "jvp" else "vector"]
        for v in inp.variables:
            arr = (to_array(given[v], ("body", "tangent", v), limits) if v in given
                   else np.zeros(inp.shapes[v]))
            arrays.append(arr.reshape(1, -1))
    elif operation == "vjp":
        arrays.append(to_array(extra["cotangent"], ("body", "cotangent"), limits).reshape(1, -1))
    return [a for a, used in zip(arrays, entry.used, strict=True) if used]


def warm() -> None:
    """Load (or compile, on a fresh install) the interpreter now, not in a request."""
    from engine.vm import kernel as K

    code = np.array([[K.ADD, 1, 0, 0, 0]], dtype=np.int32)
    out = np.empty((1, 1))
    none = np.zeros(0, dtype=np.int32)
    K.run_points(code, np.zeros(2), np.zeros(1, dtype=np.int32), np.zeros((1, 1)),
                 np.ones(1, dtype=np.int32), out, none, none)
    K.run_blocks(code, np.zeros((2, 8)), np.zeros(1, dtype=np.int32), np.zeros((1, 1)),
                 np.ones(1, dtype=np.int32), out, 0, none, none, True)
