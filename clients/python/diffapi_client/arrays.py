"""Arrays on the wire: numpy to request JSON and answers back to numpy.

An array travels either as nested JSON lists or as an encoded object
``{"dtype": "float64", "shape": [...], "data": base64}`` (little-endian, C order). Big inputs
are encoded (one memcpy instead of a list of Python floats); answers are decoded whichever form
the service chose. In list answers a non-finite number arrives as ``null`` and becomes NaN here
(the answer's ``warnings`` name it).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np

ENCODED_KEYS = frozenset({"dtype", "shape", "data"})
_DTYPES: dict[str, np.dtype[np.floating[Any]]] = {"float64": np.dtype("<f8"),
                                                   "float32": np.dtype("<f4")}


def encode_array(array: Any) -> dict[str, Any]:
    """The encoded-object form of ``array`` (float64, little-endian, C order)."""
    data = np.ascontiguousarray(np.asarray(array, dtype="<f8"))
    return {"dtype": "float64", "shape": list(data.shape),
            "data": base64.b64encode(data.tobytes()).decode("ascii")}


def decode_array(obj: Mapping[str, Any]) -> np.ndarray:
    """The float64 array of an encoded object; ValueError if it is malformed."""
    dtype = _DTYPES.get(obj.get("dtype", ""))
    if dtype is None:
        raise ValueError(f"unknown dtype {obj.get('dtype')!r}: expected float64 or float32")
    shape = tuple(int(n) for n in obj["shape"])
    raw = base64.b64decode(obj["data"], validate=True)
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) != count * dtype.itemsize:
        raise ValueError(f"{len(raw)} bytes do not hold shape {list(shape)} of {obj['dtype']}")
    return np.frombuffer(raw, dtype=dtype).astype(np.float64).reshape(shape)


def is_encoded(value: Any) -> bool:
    """Whether ``value`` is an encoded-array object."""
    return isinstance(value, dict) and value.keys() >= ENCODED_KEYS


def to_wire(value: Any, threshold: int) -> Any:
    """``value`` for a request body: arrays with at least ``threshold`` elements encoded,
    smaller ones as lists, numbers as numbers; dicts and lists walked."""
    if isinstance(value, Mapping):
        return {str(key): to_wire(item, threshold) for key, item in value.items()}
    if isinstance(value, list | tuple) and any(isinstance(item, Mapping) for item in value):
        return [to_wire(item, threshold) for item in value]
    if isinstance(value, np.ndarray | list | tuple):
        array = np.asarray(value, dtype=np.float64)
        if array.ndim and array.size >= threshold:
            return encode_array(array)
        return array.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def wire_size(value: Any) -> int:
    """The number of array elements in ``value`` (points, constants, vectors)."""
    if isinstance(value, Mapping):
        return sum(wire_size(item) for item in value.values())
    if isinstance(value, list | tuple) and any(isinstance(item, Mapping) for item in value):
        return sum(wire_size(item) for item in value)
    if isinstance(value, np.ndarray | list | tuple):
        return int(np.asarray(value, dtype=np.float64).size)
    return 1


def from_wire(value: Any) -> np.ndarray:
    """A numpy float64 array of an answer's array field in either form (``null`` → NaN)."""
    if is_encoded(value):
        return decode_array(value)
    if value is None:
        return np.array(np.nan)
    return np.array(_nulls_to_nan(value), dtype=np.float64)


def _nulls_to_nan(value: Any) -> Any:
    if isinstance(value, list):
        return [_nulls_to_nan(item) for item in value]
    return np.nan if value is None else value
