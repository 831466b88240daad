"""Strict JSON for engine results: numpy to lists, every non-finite float to ``null``."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def to_jsonable(value: Any) -> Any:
    """``value`` with arrays as nested lists, numpy scalars as Python ones, NaN/±inf as None."""
    if isinstance(value, np.ndarray):
        return _array(value)
    if isinstance(value, dict):
        return {key: to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _array(array: np.ndarray) -> Any:
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            return np.where(finite, array.astype(object), None).tolist()
    return array.tolist()


def encode(value: Any) -> bytes:
    """Compact JSON of ``value``; never emits ``NaN`` or ``Infinity``. Non-ASCII is escaped:
    names may carry lone surrogates, which UTF-8 cannot encode."""
    return json.dumps(to_jsonable(value), ensure_ascii=True, allow_nan=False,
                      separators=(",", ":")).encode()
