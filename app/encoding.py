"""Strict JSON for engine results, serialized once by orjson straight from the numpy buffers.

Array-valued results are nested lists (non-finite numbers as ``null``) or, with
``array_encoding="base64"``, encoded arrays ``{dtype, shape, data}`` made from the array's own
bytes (non-finite values kept). Scalars are JSON numbers either way (``null`` when not finite).
This is the one place every answer's arrays are encoded, whatever the operation.
"""

from __future__ import annotations

import json
import math
import weakref
from typing import Any

import numpy as np
import orjson
import pybase64

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_NULL_SUFFIX = "sent as null"
_BASE64_SUFFIX = "sent as null where a JSON number, kept as NaN/±Infinity in base64 arrays"


def encoded_array(array: np.ndarray) -> dict[str, Any]:
    """The encoded-array object of API.md §5 for a float array (little-endian float64)."""
    data = np.ascontiguousarray(array, dtype="<f8")
    return {"dtype": "float64", "shape": list(data.shape),
            "data": pybase64.b64encode(data.data).decode("ascii")}


_FRAGMENTS: dict[int, orjson.Fragment] = {}
"""The JSON of read-only integer arrays the engine keeps (a sparse pattern's ``rows`` and
``cols``, cached with the compiled expression), by ``id``; an entry goes with its array."""


def _fragment(array: np.ndarray) -> orjson.Fragment:
    """The JSON list of a read-only integer array that owns its data, serialized once."""
    key = id(array)
    fragment = _FRAGMENTS.get(key)
    if fragment is None:
        fragment = orjson.Fragment(orjson.dumps(array, option=_OPTIONS))
        _FRAGMENTS[key] = fragment
        weakref.finalize(array, _FRAGMENTS.pop, key, None)
    return fragment


def _prepare(value: Any, base64_arrays: bool, fragments: bool = True) -> Any:
    """``value`` with 0-d arrays as Python numbers and, if asked, float arrays encoded; other
    arrays stay numpy for orjson (which writes NaN/±inf as null), except that a read-only
    integer array owning its data (which nothing can change) is written from its cached
    JSON when ``fragments``."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return value.item()
        kind = value.dtype.kind
        if base64_arrays and kind == "f":
            return encoded_array(value)
        if (fragments and kind in "iu" and not value.flags.writeable and value.base is None
                and value.flags.c_contiguous):
            return _fragment(value)
        return value
    if isinstance(value, dict):
        return {key: _prepare(item, base64_arrays, fragments) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_prepare(item, base64_arrays, fragments) for item in value]
    return value


def _default(value: Any) -> Any:
    """What orjson cannot write natively: non-contiguous arrays and numpy types it lacks."""
    if isinstance(value, np.ndarray):
        if value.flags.c_contiguous:
            return value.tolist()
        return np.ascontiguousarray(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialize {type(value).__name__}")


def encode(value: Any, array_encoding: str = "list") -> bytes:
    """Compact strict JSON of ``value`` (never ``NaN`` or ``Infinity``); array-valued fields as
    lists or, for ``array_encoding="base64"``, as encoded arrays."""
    base64_arrays = array_encoding == "base64"
    if base64_arrays and isinstance(value, dict) and value.get("warnings"):
        value = dict(value, warnings=[w.replace(_NULL_SUFFIX, _BASE64_SUFFIX)
                                      for w in value["warnings"]])
    try:
        return orjson.dumps(_prepare(value, base64_arrays), default=_default, option=_OPTIONS)
    except TypeError:
        # A name with a lone surrogate cannot be UTF-8; ``\ud800`` escaped is valid JSON.
        tree = to_jsonable(_prepare(value, base64_arrays, fragments=False))
        return json.dumps(tree, ensure_ascii=True, allow_nan=False,
                          separators=(",", ":")).encode()


def to_jsonable(value: Any) -> Any:
    """``value`` with arrays as nested lists, numpy scalars as Python ones, NaN/±inf as None."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            finite = np.isfinite(value)
            if not finite.all():
                return np.where(finite, value.astype(object), None).tolist()
        return value.tolist()
    if isinstance(value, dict):
        return {key: to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
