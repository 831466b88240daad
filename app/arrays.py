"""Array-valued request fields (API.md §5): nested JSON lists or base64 encoded arrays, both
checked and turned into float64 numpy arrays in one place, by the pydantic validator of
:data:`ArrayInput`. Any request model whose field is an ``ArrayInput`` (or a dict of them)
accepts both forms.

The common case is kept in C: a list of numbers is type-checked by a strict pydantic-core
adapter and converted by ``np.asarray``; only a list that fails is walked in Python, to say
which entry is wrong. An encoded array is one SIMD base64 decode (pybase64, many times faster
than CPython's ``a2b_base64``) and an ``np.frombuffer`` view.
"""

from __future__ import annotations

import binascii
import json
import math
import sys
from typing import Annotated, Any, Literal, Union

import numpy as np
import pybase64
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

DTYPES: dict[str, np.dtype[Any]] = {"float64": np.dtype("<f8"), "float32": np.dtype("<f4")}
"""The dtypes an encoded array may declare (little-endian); both are computed in float64."""
MAX_ENCODED_RANK = 64
"""Dimensions an encoded ``shape`` may list (NumPy's own limit; the engine's ``max_rank`` is
checked afterwards and is smaller)."""
_BASE64 = r"^[A-Za-z0-9+/]*={0,2}$"


class EncodedArray(BaseModel):
    """An array as raw little-endian bytes in C order, base64-encoded (RFC 4648, with padding).
    The byte count must be the product of `shape` times the dtype's size."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "examples": [{"dtype": "float64", "shape": [2], "data": "AAAAAAAA8D8AAAAAAAAAQA=="}]})

    dtype: Literal["float64", "float32"] = Field(
        description="Element type of `data`; computed in float64 either way.")
    shape: list[Annotated[int, Field(ge=0)]] = Field(
        max_length=MAX_ENCODED_RANK, description="Dimensions, outermost first; `[]` for a "
                                                 "scalar.")
    data: str = Field(pattern=_BASE64, description="Standard base64 of the raw bytes.")


_FLOAT = Annotated[float, Field(allow_inf_nan=False)]
_STRICT = ConfigDict(strict=True)
_BY_DEPTH: list[TypeAdapter[Any]] = []
"""``_BY_DEPTH[d]``: a strict adapter for a list nested ``d + 1`` deep of finite numbers."""
_nested: Any = _FLOAT
for _ in range(8):
    _nested = list[_nested]
    _BY_DEPTH.append(TypeAdapter(_nested, config=_STRICT))

_TENSOR_MSG = ("{where}Input should be a finite number, a nested list of finite numbers or an "
               "encoded array, got {got}")


def show(value: Any) -> str:
    """A short JSON rendering of an offending input."""
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "an object"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _bad_entry(value: Any) -> Any:
    """The first entry of a nested list that is not a finite float64-representable number,
    or ``_OK`` if there is none."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is list:
            stack.extend(reversed(item))
            continue
        if kind is float:
            ok = math.isfinite(item)
        elif kind is int:
            ok = abs(item) <= sys.float_info.max
        else:
            ok = False
        if not ok:
            return item
    return _OK


_OK = object()


def _fail(where: str, got: Any) -> PydanticCustomError:
    return PydanticCustomError("tensor", _TENSOR_MSG, {"where": where, "got": show(got)})


def _from_list(value: list[Any], where: str) -> np.ndarray:
    depth, probe = 0, value
    while probe and type(probe[0]) is list and depth < len(_BY_DEPTH) - 1:
        probe, depth = probe[0], depth + 1
    try:
        _BY_DEPTH[depth].validate_python(value)
    except ValidationError:
        bad = _bad_entry(value)
        if bad is not _OK:
            raise _fail(where, bad) from None
    try:
        return np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        raise PydanticCustomError(
            "tensor", "{where}Input should be a rectangular nested list (rows of equal "
                      "length, at most 64 levels)", {"where": where}) from None


_NOT_BASE64 = ("data is not valid base64 (RFC 4648 alphabet, length a multiple of 4, with "
               "padding)")


def _encoded_error(where: str, message: str) -> PydanticCustomError:
    return PydanticCustomError("encoded_array", "{where}Invalid encoded array: {message}",
                               {"where": where, "message": message})


def decode_encoded(value: dict[str, Any], where: str = "") -> np.ndarray:
    """The float64 array of an encoded-array object; a pydantic error naming what is wrong."""
    if set(value) != {"dtype", "shape", "data"}:
        missing = sorted({"dtype", "shape", "data"} - set(value))
        extra = sorted(set(value) - {"dtype", "shape", "data"})
        what = (f"missing {', '.join(missing)}" if missing
                else f"unexpected {', '.join(map(repr, extra))}")
        raise _encoded_error(where, f"an encoded array has exactly the keys dtype, shape and "
                                    f"data ({what})")
    dtype = DTYPES.get(value["dtype"]) if type(value["dtype"]) is str else None
    if dtype is None:
        raise _encoded_error(where, f"unknown dtype {show(value['dtype'])}, expected "
                                    f"\"float64\" or \"float32\"")
    shape = value["shape"]
    if (type(shape) is not list or len(shape) > MAX_ENCODED_RANK
            or any(type(n) is not int or n < 0 for n in shape)):
        raise _encoded_error(where, f"shape must be a list of at most {MAX_ENCODED_RANK} "
                                    f"integers >= 0, got {show(shape)}")
    data = value["data"]
    if type(data) is not str:
        raise _encoded_error(where, f"data must be a base64 string, got {show(data)}")
    count = math.prod(shape)  # Python integers: a huge shape cannot overflow
    expected = count * dtype.itemsize
    padding = len(data) - len(data.rstrip("="))
    if len(data) % 4 or padding > 2:
        raise _encoded_error(where, _NOT_BASE64)
    # Three bytes per four characters, less padding: the byte count is known before decoding.
    size = len(data) // 4 * 3 - padding
    if size != expected:
        raise _encoded_error(where, f"data holds {size} bytes, but shape {shape} of "
                                    f"{value['dtype']} needs {expected}")
    try:
        raw = pybase64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _encoded_error(where, _NOT_BASE64) from None
    array = np.frombuffer(raw, dtype=dtype).reshape(shape).astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        raise _encoded_error(where, "inputs must be finite numbers (no NaN or Infinity)")
    return array


def to_array(value: Any, where: str = "") -> Any:
    """A request's array-valued input as a float64 array (a JSON number stays a number);
    a pydantic error naming the bad entry otherwise."""
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            raise _fail(where, value)
        return value
    if kind is int:
        if abs(value) > sys.float_info.max:
            raise _fail(where, value)
        return value
    if kind is list:
        return _from_list(value, where)
    if kind is dict:
        return decode_encoded(value, where)
    if isinstance(value, np.ndarray):  # a job rebuilt from raw buffers in an engine process
        return value
    raise _fail(where, value)


def _check_array(value: Any) -> Any:
    return to_array(value)


def _check_points(value: Any) -> Any:
    """A batch in row form (a list of point objects) or column form (name → N values)."""
    if type(value) is dict:
        columns = {}
        for name, column in value.items():
            # An ndarray: a column read straight from a big body (app.big_bodies).
            if type(column) not in (list, dict, np.ndarray):
                raise PydanticCustomError("points", _POINTS_MSG,
                                          {"where": f"{name}: ", "got": show(column)})
            columns[name] = to_array(column, f"{name}: ")
        return columns
    if type(value) is list:
        rows = []
        for index, row in enumerate(value):
            if type(row) is not dict:
                raise PydanticCustomError("points", _POINTS_MSG,
                                          {"where": f"[{index}]: ", "got": show(row)})
            rows.append({name: to_array(entry, f"[{index}].{name}: ")
                         for name, entry in row.items()})
        return rows
    raise PydanticCustomError("points", _POINTS_MSG, {"where": "", "got": show(value)})


_POINTS_MSG = ("{where}Input should be a list of point objects (name → value) or one object "
               "name → list of N values or encoded array, got {got}")

ARRAY_SCHEMA = Union[float, list[Any], EncodedArray]  # noqa: UP007 (a schema, not a hint)
"""What the OpenAPI schema says an array input is: a number, a nested list, an encoded array."""

ArrayInput = Annotated[Any, PlainValidator(_check_array, json_schema_input_type=ARRAY_SCHEMA)]
"""An array-valued request field in either form of API.md §5 (number, nested lists, encoded
array); validated to a float64 numpy array (a number stays a number)."""
PointsInput = Annotated[Any, PlainValidator(
    _check_points, json_schema_input_type=Union[list[dict[str, ARRAY_SCHEMA]],  # noqa: UP007
                                                dict[str, Union[list[Any],  # noqa: UP007
                                                                EncodedArray]]])]
"""``points``: rows (point objects) or columns (name → list or encoded array of N values)."""
