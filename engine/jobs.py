"""Shared plumbing of the operations: preparing a request, feeding inputs, shaping results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.compiled import CACHE, Compiled
from engine.errors import InputError, LimitError, NonScalarError
from engine.graph import Shape
from engine.limits import Limits
from engine.requests import Inputs, normalize

Result = dict[str, Any]


@dataclass(frozen=True)
class Job:
    """A planned request: its work estimate and how to compute it."""

    work: float
    compute: Callable[[], Result]


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
    return {"value": batch(value, inp, c.shape), "shape": list(c.shape),
            "variables": list(inp.variables), "warnings": []}


def require_scalar(c: Compiled, operation: str) -> None:
    if c.shape != ():
        raise NonScalarError(
            f"{operation} needs a scalar-valued expression; this one has shape {c.shape}. "
            f"Use jacobian (or vjp) for vector- and matrix-valued expressions.",
            loc=("body", "expression"), extra={"shape": list(c.shape)})
