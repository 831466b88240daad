"""Big JSON bodies read with their number lists going straight to float64 arrays.

pydantic-core's ``model_validate_json`` builds a Python float for every number of a 10^5-point
batch, the strict list check walks them again and ``np.asarray`` copies them once more: about
15 ms for a 4 MB body. simdjson parses the same bytes into its tape in about 2 ms and copies a
flat number list into a buffer in C, so an array-valued field becomes an ndarray without one
Python float. Everything else of the body (the expression, the names, the options) is small and
goes through the request model as usual, which takes an ndarray where it takes a list.

This is a shortcut, never a second validator: whenever the body is anything but the plain case
(not an object, a duplicate key, an object of more than 64 members, an escaped character, a
nested or non-number list, a number out of float64's range, a row-form batch, a body the model
refuses), it answers None and the caller parses the body the ordinary way, so the answer and
every 422 stay exactly the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import simdjson
from pydantic import BaseModel, ValidationError

from app.bodies import count_byte

FAST_LIST_LENGTH = 256
"""Number lists at least this long are read as buffers; shorter ones stay Python lists."""
_VARIABLE_FIELDS = ("point", "points", "constants", "tangent", "vector")
"""Request fields that map names to array-valued inputs (``points`` in its column form)."""
_ARRAY_FIELDS = ("cotangent", "multipliers")
"""Request fields that are one array-valued input."""
_MAX_KEYS = 64
"""Members an object of the body may have for the fast path."""
_SIMDJSON_ERRORS = (ValueError, TypeError, RuntimeError, OverflowError, KeyError)


class _Unsure(Exception):
    """The body is not the plain case: parse it the ordinary way."""


def parse_big(model: type[BaseModel], body: bytes) -> BaseModel | None:
    """``body`` validated as ``model`` with its long flat number lists read as float64
    arrays, or None when the ordinary parse must decide (see the module's docstring)."""
    if b"\\" in body:  # an escape: a string may hide a bracket from the count below
        return None
    try:
        document = simdjson.Parser().parse(body)
        if not isinstance(document, simdjson.Object):
            return None
        tree, brackets = _plain(document)
    except (_Unsure, *_SIMDJSON_ERRORS):
        return None
    # Every '[' of the body is a list found above or sits inside a string; a long list holding
    # a nested one would have one more (as_buffer flattens nested lists silently).
    if count_byte(body, b"["[0]) != brackets:
        return None
    try:
        return model.model_validate(tree)
    except ValidationError:
        return None


def _plain(document: Any) -> tuple[dict[str, Any], int]:
    """The body as Python objects, long number lists of array fields as ndarrays; and how many
    '[' characters that accounts for (lists, and brackets inside strings and keys)."""
    tree: dict[str, Any] = {}
    brackets = 0
    for key, value in _items(document):
        brackets += key.count("[")
        if key in _VARIABLE_FIELDS and isinstance(value, simdjson.Object):
            inner: dict[str, Any] = {}
            for name, item in _items(value):
                brackets += name.count("[")
                inner[name], found = _value(item)
                brackets += found
            tree[key] = inner
        elif key in _ARRAY_FIELDS:
            tree[key], found = _value(value)
            brackets += found
        elif key == "points":  # the row form: many small objects, nothing to gain here
            raise _Unsure
        else:
            tree[key], found = _python(value)
            brackets += found
    return tree, brackets


def _items(obj: Any) -> list[tuple[str, Any]]:
    """An object's members in order, as simdjson elements; _Unsure if a key repeats or there
    are more than ``_MAX_KEYS`` (a lookup by key scans the object, and a body of many names
    and few numbers per name gains nothing here)."""
    keys = list(obj.keys())
    if len(keys) > _MAX_KEYS or len(set(keys)) != len(keys):
        raise _Unsure
    return [(key, obj[key]) for key in keys]


def _value(value: Any) -> tuple[Any, int]:
    """An array-valued input: a long flat number list as a float64 array, else Python."""
    if isinstance(value, simdjson.Array) and len(value) >= FAST_LIST_LENGTH:
        array = np.frombuffer(value.as_buffer(of_type="d"), dtype=np.float64)
        if array.size != len(value):
            raise _Unsure  # nested lists, flattened
        return array, 1
    return _python(value)


def _python(value: Any) -> tuple[Any, int]:
    """A small part of the document as Python objects, and the '[' it accounts for."""
    if isinstance(value, simdjson.Object):
        out: dict[str, Any] = {}
        brackets = 0
        for key, item in _items(value):
            out[key], found = _python(item)
            brackets += found + key.count("[")
        return out, brackets
    if isinstance(value, simdjson.Array):
        items = [_python(item) for item in value]
        return [item for item, _ in items], 1 + sum(found for _, found in items)
    if isinstance(value, str):
        return value, value.count("[")
    return value, 0

