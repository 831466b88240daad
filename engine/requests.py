"""Request normalization: points, batches, constants and variable selection as float64 arrays."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import InputError, LimitError, did_you_mean, suggest
from engine.ir.graph import Shape, size_of
from engine.limits import Limits

_LABEL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[\s*-?\d+\s*(?:,\s*-?\d+\s*)*\])*)$")


def to_array(value: Any, loc: tuple[Any, ...], limits: Limits) -> np.ndarray:
    """A finite float64 array from a number, nested list or array; InputError otherwise."""
    if type(value) is float or type(value) is int:
        # The common case, kept cheap: a number straight from JSON.
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise InputError("inputs must be finite numbers (no NaN or Infinity)", loc=loc)
        return np.array(number)
    if isinstance(value, np.ndarray):
        arr = value
    else:
        if isinstance(value, bool | str | bytes) or value is None:
            raise InputError(f"expected a number or a nested list of numbers, got "
                             f"{type(value).__name__}", loc=loc)
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (ValueError, TypeError) as err:
            if "maximum number of dimension" in str(err):
                raise InputError("nested lists may have at most 64 levels (NumPy's limit on "
                                 "dimensions)", loc=loc) from None
            raise InputError("expected a number or a rectangular nested list of numbers "
                             "(rows of equal length)", loc=loc) from None
    if arr.dtype != np.float64:
        try:
            arr = arr.astype(np.float64)
        except (ValueError, TypeError):
            raise InputError("expected numbers", loc=loc) from None
    if arr.ndim > limits.max_rank:
        raise LimitError("max_rank", limits.max_rank, arr.ndim, loc=loc,
                         what=f"the rank of the tensor at {'.'.join(map(str, loc[1:]))}")
    if arr.size > limits.max_tensor_elements:
        raise LimitError("max_tensor_elements", limits.max_tensor_elements, arr.size, loc=loc,
                         what=f"the tensor at {'.'.join(map(str, loc[1:]))}")
    if not np.isfinite(arr).all():
        raise InputError("inputs must be finite numbers (no NaN or Infinity)", loc=loc)
    return arr


@dataclass(frozen=True)
class Inputs:
    """Normalized inputs: every variable carries a leading batch axis (length ``batch`` or 1)."""

    values: dict[str, np.ndarray]
    """Variable name -> array of shape (batch or 1, *shape)."""
    shapes: dict[str, Shape]
    constants: dict[str, np.ndarray]
    variables: list[str]
    """The differentiated variables, in request order."""
    batch: int | None
    """N for a ``points`` request, None for ``point``."""

    @property
    def n(self) -> int:
        """Batch length (1 for a single point)."""
        return 1 if self.batch is None else self.batch


def _points_columns(points: Any, limits: Limits) -> tuple[dict[str, np.ndarray], int]:
    if isinstance(points, Mapping):
        if not points:
            raise InputError("points must name at least one variable", loc=("body", "points"))
        cols = {str(k): to_array(v, ("body", "points", k), limits) for k, v in points.items()}
        lengths = {k: (c.shape[0] if c.ndim else -1) for k, c in cols.items()}
        if any(n < 0 for n in lengths.values()):
            bad = next(k for k, n in lengths.items() if n < 0)
            raise InputError(f"column form: points['{bad}'] must be a list of N values",
                             loc=("body", "points", bad))
        if len(set(lengths.values())) != 1:
            raise InputError(f"column form: every variable needs the same number of points, "
                             f"got {lengths}", loc=("body", "points"))
        return cols, next(iter(lengths.values()))
    if isinstance(points, Sequence) and not isinstance(points, str | bytes):
        if not points:
            raise InputError("points must hold at least one point", loc=("body", "points"))
        if len(points) > limits.max_batch:
            # Checked before the rows are read (normalize checks the column form).
            raise LimitError("max_batch", limits.max_batch, len(points),
                             loc=("body", "points"), what="the number of points")
        first = points[0]
        if not isinstance(first, Mapping):
            raise InputError("points must be a list of objects or one object of columns",
                             loc=("body", "points"))
        names = list(first)
        rows: dict[str, list[np.ndarray]] = {k: [] for k in names}
        for i, p in enumerate(points):
            if not isinstance(p, Mapping) or list(p) != names:
                raise InputError(f"points[{i}] must have the keys {names} in that order",
                                 loc=("body", "points", i))
            for k in names:
                rows[k].append(to_array(p[k], ("body", "points", i, k), limits))
        cols = {}
        for k, vals in rows.items():
            if len({v.shape for v in vals}) != 1:
                raise InputError(f"variable '{k}' has different shapes across points",
                                 loc=("body", "points"))
            cols[str(k)] = np.stack(vals)
        return cols, len(points)
    raise InputError("points must be a list of objects or one object of columns",
                     loc=("body", "points"))


def normalize(point: Any, points: Any, constants: Any, variables: Any, limits: Limits
              ) -> Inputs:
    """Validate and convert the common request fields of API.md §2."""
    if (point is None) == (points is None):
        raise InputError("give exactly one of 'point' or 'points'", loc=("body",))
    if point is not None:
        if not isinstance(point, Mapping):
            raise InputError("point must be an object mapping names to values",
                             loc=("body", "point"))
        values = {str(k): to_array(v, ("body", "point", k), limits)[None]
                  for k, v in point.items()}
        batch = None
    else:
        values, batch = _points_columns(points, limits)
        if batch > limits.max_batch:
            raise LimitError("max_batch", limits.max_batch, batch,
                             loc=("body", "points"), what="the number of points")
    shapes = {k: v.shape[1:] for k, v in values.items()}
    consts: dict[str, np.ndarray] = {}
    if constants is not None:
        if not isinstance(constants, Mapping):
            raise InputError("constants must be an object mapping names to values",
                             loc=("body", "constants"))
        for k, v in constants.items():
            if k in values:
                raise InputError(f"'{k}' is both a variable and a constant",
                                 loc=("body", "constants", k))
            consts[str(k)] = to_array(v, ("body", "constants", k), limits)
    if variables is None:
        chosen = list(values)
    else:
        if isinstance(variables, str) or not isinstance(variables, Sequence):
            raise InputError("variables must be a list of names", loc=("body", "variables"))
        chosen = []
        for i, name in enumerate(variables):
            if not isinstance(name, str):
                raise InputError("variables must be a list of names", loc=("body", "variables", i))
            if name not in values:
                hint = did_you_mean(suggest(str(name), values))
                raise InputError(f"variable '{name}' has no value in the point{hint}",
                                 loc=("body", "variables", i))
            if name in chosen:
                raise InputError(f"variable '{name}' is listed twice",
                                 loc=("body", "variables", i))
            chosen.append(name)
    for k, arr in values.items():
        per_point = size_of(arr.shape[1:])
        if per_point > limits.max_tensor_elements:
            raise LimitError("max_tensor_elements", limits.max_tensor_elements, per_point,
                             what=f"variable '{k}'")
    return Inputs(values, shapes, consts, chosen, batch)


def labels(name: str, shape: Shape) -> list[str]:
    """Labels of a tensor's entries in C order: ``x``, ``v[0]``, ``M[1,2]``."""
    if not shape:
        return [name]
    return [f"{name}[{','.join(map(str, idx))}]" for idx in np.ndindex(*shape)]


def parse_label(label: Any, shapes: dict[str, Shape], loc: tuple[Any, ...]
                ) -> tuple[str, tuple[int, ...]]:
    """``"v[0]"`` -> ("v", (0,)); also accepts ``M[1][2]``; checks bounds against the shape."""
    m = _LABEL.match(label.replace(" ", "")) if isinstance(label, str) else None
    if m is None:
        raise InputError(f"{label!r} is not a variable or an entry such as 'v[0]'", loc=loc)
    name = m.group(1)
    if name not in shapes:
        hint = did_you_mean(suggest(name, shapes))
        raise InputError(f"variable '{name}' has no value in the point{hint}", loc=loc)
    idx = tuple(int(i) for i in re.findall(r"-?\d+", m.group(2)))
    shape = shapes[name]
    if 0 in shape:
        raise InputError(f"'{name}' has no entries (shape {shape}) to differentiate by",
                         loc=loc)
    if len(idx) != len(shape):
        example = labels(name, shape)[0]
        raise InputError(f"'{label}' must name one entry of '{name}' (shape {shape}), "
                         f"e.g. '{example}'", loc=loc)
    for i, n in zip(idx, shape, strict=True):
        if not -n <= i < n:
            raise InputError(f"'{label}' is out of bounds for shape {shape}", loc=loc)
    return name, tuple(i % n for i, n in zip(idx, shape, strict=True))


def check_derivative_fields(variable: Any, order: Any, wrt: Any) -> None:
    """Exactly one of ``variable`` + ``order`` or ``wrt``, and ``wrt`` a non-empty list."""
    if (wrt is None) == (variable is None and order is None):
        raise InputError("give either 'variable' and 'order', or 'wrt'", loc=("body",))
    if wrt is not None and (isinstance(wrt, str) or not isinstance(wrt, list | tuple)
                            or not wrt):
        raise InputError("wrt must be a non-empty list of variables or entries such as "
                         "'v[0]'", loc=("body", "wrt"))
