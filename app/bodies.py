"""Request bodies parsed once, from bytes, by pydantic-core (``model_validate_json``: one pass in
Rust that builds the model, arrays included), and the 422 problem documents of bodies that fail.

Used on the event loop for small bodies and in the engine processes for big ones, so both places
answer the same problem for the same body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from app.arrays import show
from engine.errors import PROBLEM_BASE, EngineError, LimitError

_AT = re.compile(r" at line (\d+) column (\d+)$")
REQUEST_MODELS: dict[str, type[BaseModel]] = {}
"""The request models of the routes that read their body themselves, by schema name (the
OpenAPI components they need are added from here)."""


class InvalidBody(EngineError):
    """A body that is not JSON or does not fit its request model: a 422 problem document."""

    status = 422

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem["detail"])
        self._problem = problem

    def problem(self) -> dict[str, Any]:
        """The problem document."""
        return self._problem


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type announces JSON (absent counts as JSON, as FastAPI has it)."""
    if not content_type:
        return True
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/")
                                          and kind.endswith("+json"))


def openapi_body(model: type[BaseModel], examples: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` of a route that parses its own body: a required JSON ``model``."""
    REQUEST_MODELS[model.__name__] = model
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}, "examples": examples}}}}


def check_content_type(content_type: str | None) -> None:
    """InvalidBody (422) unless ``content_type`` announces JSON."""
    if not is_json(content_type):
        raise InvalidBody(validation_problem([{
            "loc": ("body",), "msg": "the body must be a JSON object sent with Content-Type: "
                                     "application/json", "type": "content_type"}]))


def check_list_values(body: bytes, max_list_numbers: int) -> int:
    """LimitError (413) if ``body`` holds more than ``max_list_numbers`` comma-separated JSON
    values: counted in the bytes (one C pass), before anything is parsed into Python objects.
    Returns the count of commas."""
    commas = count_byte(body, b","[0])
    if commas >= max_list_numbers:
        raise LimitError("max_list_numbers", max_list_numbers, commas + 1, status=413,
                         what="the values in the JSON lists and objects of this body (send "
                              "big arrays as base64 encoded arrays)")
    return commas


_COUNT_BLOCK = 1 << 20


def count_byte(data: bytes, byte: int) -> int:
    """How often ``byte`` occurs in ``data``: ``bytes.count`` for small data, numpy for big
    (``bytes.count`` of one byte runs at about 1 GB/s, a vectorized compare 15 times faster),
    a block at a time so the temporary stays small."""
    if len(data) <= _COUNT_BLOCK:
        return data.count(byte)
    view = np.frombuffer(data, dtype=np.uint8)
    return sum(int(np.count_nonzero(view[i:i + _COUNT_BLOCK] == byte))
               for i in range(0, view.size, _COUNT_BLOCK))


def parse(model: type[BaseModel], body: bytes, content_type: str | None = None) -> BaseModel:
    """``body`` validated as ``model``; InvalidBody (422) naming each bad field otherwise."""
    check_content_type(content_type)
    if not body.strip():
        raise InvalidBody(validation_problem([{
            "loc": ("body",), "msg": "a JSON object body is required", "type": "missing"}]))
    try:
        return model.model_validate_json(body)
    except ValidationError as err:
        errors = err.errors(include_url=False)
    except RecursionError:
        raise InvalidBody(malformed_problem("nesting too deep")) from None
    if errors and errors[0]["type"] == "json_invalid":
        # pydantic-core refuses lone surrogates such as "\ud800", which JSON's grammar allows
        # (and a name or an expression may hold); the json module reads them.
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise InvalidBody(malformed_problem(errors[0]["ctx"]["error"])) from None
        try:
            return model.model_validate(document)
        except ValidationError as err:
            errors = err.errors(include_url=False)
    raise InvalidBody(validation_problem([dict(e, loc=("body", *e["loc"])) for e in errors]))


def engine_kwargs(request: BaseModel) -> tuple[dict[str, Any], str]:
    """The fields the client sent, by name (what the engine functions take as keywords), and
    the answer's ``array_encoding`` (``list`` unless asked otherwise)."""
    kwargs = {name: getattr(request, name) for name in request.model_fields_set}
    return kwargs, kwargs.pop("array_encoding", "list")


def problem(status: int, kind: str, title: str, detail: str,
            errors: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """The body of a problem document whose ``type`` is ``PROBLEM_BASE + kind``."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + kind, "title": title, "status": status,
                            "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return body | extra


def validation_problem(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """422 naming each bad field (``loc``) and what was expected there."""
    items = [{"loc": list(error["loc"]), "msg": message(error)} for error in errors]
    detail = "; ".join(f"{_where(item['loc'])}: {item['msg']}" for item in items)
    return problem(422, "validation-error", "Invalid request", detail, items)


def malformed_problem(reason: str, document: Any = None, position: Any = None
                      ) -> dict[str, Any]:
    """422 for a body that is not JSON, with the line and column where parsing stopped (taken
    from pydantic-core's message, or computed from ``position`` in ``document``)."""
    item: dict[str, Any] = {"loc": ["body"], "msg": reason}
    detail = f"the body is not valid JSON: {reason}"
    at = _AT.search(reason)
    if at is not None:
        reason = reason[:at.start()]
        item |= {"msg": reason, "line": int(at[1]), "column": int(at[2])}
        detail = f"the body is not valid JSON: {reason} at line {at[1]}, column {at[2]}"
    elif isinstance(document, str) and isinstance(position, int):
        line = document.count("\n", 0, position) + 1
        column = position - document.rfind("\n", 0, position)
        item |= {"line": line, "column": column}
        detail += f" at line {line}, column {column}"
    return problem(422, "malformed-json", "Malformed JSON", detail, [item])


def message(error: Any) -> str:
    """Pydantic's message, plus what was received where that helps."""
    text, given = error["msg"], error.get("input")
    if tuple(error["loc"]) == ("body",):
        if error["type"] == "missing":
            return "a JSON object body is required"
        if isinstance(given, bytes):
            return "the body must be a JSON object sent with Content-Type: application/json"
    if error["type"].endswith("_type") or error["type"].startswith(("greater", "less")):
        text += f", got {show(given)}"
    return text


def _where(loc: Sequence[Any]) -> str:
    parts = loc[1:] if len(loc) > 1 and loc[0] == "body" else loc
    return ".".join(str(part) for part in parts)
