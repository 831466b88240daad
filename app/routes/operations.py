"""``POST /v1/<operation>``: validate, call one engine function, answer strict JSON."""

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, cast

from fastapi import APIRouter, Body, Request
from fastapi.openapi.models import Example
from pydantic import BaseModel
from starlette.responses import Response

from app import models as m
from app.models import EXAMPLES

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"description": "Over a limit (body size, …): the problem names it and its value.",
          "content": _PROBLEM},
    422: {"description": "Malformed JSON, a bad field, an expression that does not parse, an "
                         "unknown name, a shape mismatch or a limit: see `type` and `errors`.",
          "content": _PROBLEM},
    503: {"description": "The computation did not finish within `request_timeout_seconds`, "
                         "or the engine process computing it died (it is replaced).",
          "content": _PROBLEM},
}

router = APIRouter(prefix="/v1", tags=["operations"], responses=ERROR_RESPONSES)

_EXAMPLES = {name: Body(openapi_examples=cast(dict[str, Example], examples))
             for name, examples in EXAMPLES.items()}

# (operation, request model, response model, summary, description); one POST route each.
_ROUTES: tuple[tuple[str, type[BaseModel], type[BaseModel], str, str], ...] = (
    ("evaluate", m.ExpressionRequest, m.EvaluateResponse, "Value",
     "The expression's value at `point`, or at every one of `points`."),
    ("gradient", m.DifferentiableRequest, m.GradientResponse, "Gradient",
     "The gradient of a scalar-valued expression: one array per variable, of its shape."),
    ("jacobian", m.DifferentiableRequest, m.JacobianResponse, "Jacobian",
     "The Jacobian: outputs flattened (C order) × variables flattened in `variables` order."),
    ("hessian", m.DifferentiableRequest, m.HessianResponse, "Hessian",
     "The gradient and Hessian of a scalar-valued expression, over the flattened variables."),
    ("derivative", m.DerivativeRequest, m.DerivativeResponse, "n-th derivative or mixed partial",
     "d^n f/dx^n (`variable` + `order`) or a mixed partial (`wrt`), exact at any order."),
    ("taylor", m.TaylorRequest, m.TaylorResponse, "Taylor coefficients",
     "The normalized Taylor coefficients ∂^α f / α! of total degree ≤ `order` at the point."),
    ("jvp", m.JvpRequest, m.JvpResponse, "Jacobian-vector product",
     "The directional derivative J·t along `tangent`."),
    ("vjp", m.VjpRequest, m.VjpResponse, "Vector-Jacobian product",
     "Jᵀ·c for a `cotangent` c of the output's shape."),
    ("hvp", m.HvpRequest, m.HvpResponse, "Hessian-vector product",
     "H·v of a scalar-valued expression along `vector`."),
    ("differentiate", m.DifferentiateRequest, m.DifferentiateResponse, "Derivative formulas",
     "The gradient, Jacobian, Hessian or a derivative as formulas (our language and LaTeX),\n"
     "without a point. The same formulas come with `\"symbolic\": true` on those operations."),
)


def _endpoint(operation: str, model: type[BaseModel]) -> Callable[..., Awaitable[Response]]:
    """The handler of ``POST /v1/<operation>``: its body is validated as ``model``."""

    async def endpoint(body: BaseModel, request: Request) -> Response:
        dispatcher = request.app.state.dispatcher
        if operation == "differentiate":  # symbolic expansion: always in a worker
            return await dispatcher.run_pooled(operation, body)
        size = len(await request.body())  # already read and cached by FastAPI
        return await dispatcher.run(operation, body, size)

    # FastAPI reads the body's model and examples from the signature.
    endpoint.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          annotation=Annotated[model, _EXAMPLES[operation]]),
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          annotation=Request)])
    return endpoint


for _operation, _model, _response, _summary, _description in _ROUTES:
    router.add_api_route(f"/{_operation}", _endpoint(_operation, _model), methods=["POST"],
                         response_model=_response, summary=_summary, description=_description,
                         name=_operation)
