"""Shared plumbing of the operations: preparing a request, feeding inputs, shaping results."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.compiled import CACHE, Compiled
from engine.errors import InputError, LimitError, NonScalarError
from engine.ir.graph import Shape
from engine.limits import Limits
from engine.requests import Inputs, normalize

Result = dict[str, Any]


@dataclass(frozen=True)
class Job:
    """A planned request: its work estimate and how to compute it."""

    work: float
    compute: Callable[[], Result]
    limits: Limits | None = None
    """Set by :func:`engine.api.plan`; ``run`` admits the job against its ``max_work``."""

    def run(self) -> Result:
        """Refuse the job if over ``max_work``, else compute it and flag non-finite results."""
        if self.limits is not None:
            check_work(self.work, self.limits)
        return _with_warnings(self.compute())


def prepare(expression: Any, point: Any, points: Any, constants: Any, variables: Any,
             limits: Limits) -> tuple[Compiled, Inputs]:
    if not isinstance(expression, str):
        raise InputError("expression must be a string", loc=("body", "expression"))
    inp = normalize(point, points, constants, variables, limits)
    const_shapes = {k: v.shape for k, v in inp.constants.items()}
    return CACHE.get(expression, inp.shapes, const_shapes, limits), inp


def primal_feeds(c: Compiled, inp: Inputs, prefix_rank: int) -> dict[int, np.ndarray]:
    feeds = {}
    for name, arr in inp.values.items():
        feeds[c.inputs[name]] = arr.reshape(arr.shape[:1] + (1,) * (prefix_rank - 1)
                                            + arr.shape[1:])
    for name, arr in inp.constants.items():
        feeds[c.inputs[name]] = arr.reshape((1,) * prefix_rank + arr.shape)
    return feeds


def batch(arr: np.ndarray, inp: Inputs, shape: Shape) -> np.ndarray:
    """Broadcast a result with a (N or 1) leading axis to N and drop it for a single point."""
    if inp.batch is None:
        return arr[0]
    if arr.shape[0] == inp.n:
        return arr
    return np.broadcast_to(arr, (inp.n, *shape))


def check_work(work: float, limits: Limits) -> None:
    if work > limits.max_work:
        raise LimitError("max_work", limits.max_work, work,
                         what="the work estimate (element operations) of this request")


def base(c: Compiled, inp: Inputs, value: np.ndarray) -> Result:
    """The fields every answer has; ``shape`` is the value's, batch axis included."""
    shape = list(c.shape) if inp.batch is None else [inp.n, *c.shape]
    return {"value": batch(value, inp, c.shape), "shape": shape,
            "variables": list(inp.variables), "warnings": []}


def require_scalar(c: Compiled, operation: str) -> None:
    if c.shape != ():
        raise NonScalarError(
            f"{operation} needs a scalar-valued expression; this one has shape {c.shape}. "
            f"Use jacobian (or vjp) for vector- and matrix-valued expressions.",
            loc=("body", "expression"), extra={"shape": list(c.shape)})


def _nonfinite(value: Any) -> int:
    if isinstance(value, float):  # numpy float64 scalars too: math is far cheaper here
        return 0 if math.isfinite(value) else 1
    if isinstance(value, np.ndarray):
        finite = np.isfinite(value)
        return 0 if finite.all() else int(np.size(value) - np.count_nonzero(finite))
    if isinstance(value, Mapping):
        return sum(_nonfinite(v) for v in value.values())
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return sum(_nonfinite(v.get("coefficient")) for v in value)
    return 0


_RESULT_FIELDS = ("value", "gradient", "jacobian", "hessian", "jvp", "vjp", "hvp",
                  "derivative", "derivatives", "coefficients")


def _with_warnings(out: Result) -> Result:
    for field in _RESULT_FIELDS:
        if field in out:
            count = _nonfinite(out[field])
            if count:
                out["warnings"].append(
                    f"{field}: {count} non-finite number(s) (NaN or ±Infinity: the function "
                    f"or its derivative is undefined or overflows float64 here), sent as null")
    return out
