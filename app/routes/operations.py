"""``POST /v1/<operation>``: validate, call one engine function, answer strict JSON."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
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

EvaluateBody = Annotated[m.ExpressionRequest, Body(openapi_examples=EXAMPLES["evaluate"])]
GradientBody = Annotated[m.DifferentiableRequest, Body(openapi_examples=EXAMPLES["gradient"])]
JacobianBody = Annotated[m.JacobianRequest, Body(openapi_examples=EXAMPLES["jacobian"])]
HessianBody = Annotated[m.HessianRequest, Body(openapi_examples=EXAMPLES["hessian"])]
DerivativeBody = Annotated[m.DerivativeRequest, Body(openapi_examples=EXAMPLES["derivative"])]
TaylorBody = Annotated[m.TaylorRequest, Body(openapi_examples=EXAMPLES["taylor"])]
JvpBody = Annotated[m.JvpRequest, Body(openapi_examples=EXAMPLES["jvp"])]
VjpBody = Annotated[m.VjpRequest, Body(openapi_examples=EXAMPLES["vjp"])]
HvpBody = Annotated[m.HvpRequest, Body(openapi_examples=EXAMPLES["hvp"])]
DifferentiateBody = Annotated[m.DifferentiateRequest,
                              Body(openapi_examples=EXAMPLES["differentiate"])]


async def _run(request: Request, operation: str, body: m.ExpressionRequest) -> Response:
    size = len(await request.body())  # already read and cached by FastAPI
    return await request.app.state.dispatcher.run(operation, body, size)


@router.post("/evaluate", response_model=m.EvaluateResponse, summary="Value")
async def evaluate(body: EvaluateBody, request: Request) -> Response:
    """The expression's value at `point`, or at every one of `points`."""
    return await _run(request, "evaluate", body)


@router.post("/gradient", response_model=m.GradientResponse, summary="Gradient")
async def gradient(body: GradientBody, request: Request) -> Response:
    """The gradient of a scalar-valued expression: one array per variable, of its shape."""
    return await _run(request, "gradient", body)


@router.post("/jacobian", response_model=m.JacobianResponse, summary="Jacobian")
async def jacobian(body: JacobianBody, request: Request) -> Response:
    """The Jacobian: outputs flattened (C order) × variables flattened in `variables` order;
    with `"sparse": true` only its structural nonzeros, in coordinate form."""
    return await _run(request, "jacobian", body)


@router.post("/hessian", response_model=m.HessianResponse, summary="Hessian")
async def hessian(body: HessianBody, request: Request) -> Response:
    """The gradient and Hessian of a scalar-valued expression, over the flattened variables;
    with `"sparse": true` only the Hessian's structural nonzeros, in coordinate form."""
    return await _run(request, "hessian", body)


@router.post("/derivative", response_model=m.DerivativeResponse,
             summary="n-th derivative or mixed partial")
async def derivative(body: DerivativeBody, request: Request) -> Response:
    """d^n f/dx^n (`variable` + `order`) or a mixed partial (`wrt`), exact at any order."""
    return await _run(request, "derivative", body)


@router.post("/taylor", response_model=m.TaylorResponse, summary="Taylor coefficients")
async def taylor(body: TaylorBody, request: Request) -> Response:
    """The normalized Taylor coefficients ∂^α f / α! of total degree ≤ `order` at the point."""
    return await _run(request, "taylor", body)


@router.post("/jvp", response_model=m.JvpResponse, summary="Jacobian-vector product")
async def jvp(body: JvpBody, request: Request) -> Response:
    """The directional derivative J·t along `tangent`."""
    return await _run(request, "jvp", body)


@router.post("/vjp", response_model=m.VjpResponse, summary="Vector-Jacobian product")
async def vjp(body: VjpBody, request: Request) -> Response:
    """Jᵀ·c for a `cotangent` c of the output's shape."""
    return await _run(request, "vjp", body)


@router.post("/hvp", response_model=m.HvpResponse, summary="Hessian-vector product")
async def hvp(body: HvpBody, request: Request) -> Response:
    """H·v of a scalar-valued expression along `vector`."""
    return await _run(request, "hvp", body)


@router.post("/differentiate", response_model=m.DifferentiateResponse,
             summary="Derivative formulas")
async def differentiate(body: DifferentiateBody, request: Request) -> Response:
    """The gradient, Jacobian, Hessian or a derivative as formulas (our language and LaTeX),
    without a point. The same formulas come with `"symbolic": true` on those operations."""
    return await request.app.state.dispatcher.run_pooled("differentiate", body)
