"""``POST /v1/<operation>``: validate, call one engine function, answer strict JSON.

Each handler reads its body itself (``Dispatcher.answer``: parsed once by pydantic-core, or in
an engine process when big); ``openapi_body`` documents it.
"""

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from app import models as m
from app.bodies import openapi_body
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


def _body(model: type[BaseModel], operation: str) -> dict[str, Any]:
    return openapi_body(model, EXAMPLES[operation])


async def _answer(request: Request, operation: str, model: type[BaseModel]) -> Response:
    return await request.app.state.dispatcher.answer(operation, model, request)


@router.post("/evaluate", response_model=m.EvaluateResponse, summary="Value",
             openapi_extra=_body(m.ExpressionRequest, "evaluate"))
async def evaluate(request: Request) -> Response:
    """The expression's value at `point`, or at every one of `points`."""
    return await _answer(request, "evaluate", m.ExpressionRequest)


@router.post("/gradient", response_model=m.GradientResponse, summary="Gradient",
             openapi_extra=_body(m.DifferentiableRequest, "gradient"))
async def gradient(request: Request) -> Response:
    """The gradient of a scalar-valued expression: one array per variable, of its shape."""
    return await _answer(request, "gradient", m.DifferentiableRequest)


@router.post("/jacobian", response_model=m.JacobianResponse, summary="Jacobian",
             openapi_extra=_body(m.JacobianRequest, "jacobian"))
async def jacobian(request: Request) -> Response:
    """The Jacobian: outputs flattened (C order) × variables flattened in `variables` order;
    with `"sparse": true` only its structural nonzeros, in coordinate form."""
    return await _answer(request, "jacobian", m.JacobianRequest)


@router.post("/hessian", response_model=m.HessianResponse, summary="Hessian",
             openapi_extra=_body(m.HessianRequest, "hessian"))
async def hessian(request: Request) -> Response:
    """The gradient and Hessian of a scalar-valued expression, over the flattened variables;
    with `"sparse": true` only the Hessian's structural nonzeros, in coordinate form."""
    return await _answer(request, "hessian", m.HessianRequest)


@router.post("/derivative", response_model=m.DerivativeResponse,
             summary="n-th derivative or mixed partial",
             openapi_extra=_body(m.DerivativeRequest, "derivative"))
async def derivative(request: Request) -> Response:
    """d^n f/dx^n (`variable` + `order`) or a mixed partial (`wrt`), exact at any order."""
    return await _answer(request, "derivative", m.DerivativeRequest)


@router.post("/taylor", response_model=m.TaylorResponse, summary="Taylor coefficients",
             openapi_extra=_body(m.TaylorRequest, "taylor"))
async def taylor(request: Request) -> Response:
    """The normalized Taylor coefficients ∂^α f / α! of total degree ≤ `order` at the point."""
    return await _answer(request, "taylor", m.TaylorRequest)


@router.post("/jvp", response_model=m.JvpResponse, summary="Jacobian-vector product",
             openapi_extra=_body(m.JvpRequest, "jvp"))
async def jvp(request: Request) -> Response:
    """The directional derivative J·t along `tangent`."""
    return await _answer(request, "jvp", m.JvpRequest)


@router.post("/vjp", response_model=m.VjpResponse, summary="Vector-Jacobian product",
             openapi_extra=_body(m.VjpRequest, "vjp"))
async def vjp(request: Request) -> Response:
    """Jᵀ·c for a `cotangent` c of the output's shape."""
    return await _answer(request, "vjp", m.VjpRequest)


@router.post("/hvp", response_model=m.HvpResponse, summary="Hessian-vector product",
             openapi_extra=_body(m.HvpRequest, "hvp"))
async def hvp(request: Request) -> Response:
    """H·v of a scalar-valued expression along `vector`."""
    return await _answer(request, "hvp", m.HvpRequest)


@router.post("/differentiate", response_model=m.DifferentiateResponse,
             summary="Derivative formulas",
             openapi_extra=_body(m.DifferentiateRequest, "differentiate"))
async def differentiate(request: Request) -> Response:
    """The gradient, Jacobian, Hessian or a derivative as formulas (our language and LaTeX),
    without a point. The same formulas come with `"symbolic": true` on those operations."""
    return await request.app.state.dispatcher.answer("differentiate", m.DifferentiateRequest,
                                                     request, planned=False)
