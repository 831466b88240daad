"""``POST /v1/<operation>``: validate, call one engine function, answer strict JSON.

Each handler reads its body itself (``Dispatcher.answer``: parsed once by pydantic-core, or in
an engine process when big); ``openapi_body`` documents it.
"""

from collections.abc import Awaitable, Callable
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


# (operation, request model, response model, summary, description): one POST route each, whose
# handler reads its own body (parsed once, on the loop or in an engine process when big).
_ROUTES: tuple[tuple[str, type[BaseModel], type[BaseModel], str, str], ...] = (
    ("evaluate", m.ExpressionRequest, m.EvaluateResponse, "Value",
     "The expression's value at `point`, or at every one of `points`."),
    ("gradient", m.DifferentiableRequest, m.GradientResponse, "Gradient",
     "The gradient of a scalar-valued expression: one array per variable, of its shape."),
    ("jacobian", m.JacobianRequest, m.JacobianResponse, "Jacobian",
     "The Jacobian: outputs flattened (C order) × variables flattened in `variables` order;\n"
     "with `\"sparse\": true` only its structural nonzeros, in coordinate form."),
    ("hessian", m.HessianRequest, m.HessianResponse, "Hessian",
     "The gradient and Hessian of a scalar-valued expression, over the flattened variables;\n"
     "with `\"sparse\": true` only the Hessian's structural nonzeros, in coordinate form."),
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
    ("sparsity", m.SparsityRequest, m.SparsityResponse, "Sparsity pattern",
     "The exact structural pattern of the Jacobian or Hessian (`operation`) from the\n"
     "expression itself, never probed at a point, with the coloring a `\"sparse\": true` answer\n"
     "evaluates: give a `point` or only the variables' `shapes`."),
    ("nlp", m.NlpRequest, m.NlpResponse, "Optimization oracle",
     "In one call, what an NLP solver (Ipopt, MOI/JuMP, scipy's `minimize`) asks at a point:\n"
     "objective, gradient, constraints, the sparse constraint Jacobian and the sparse lower\n"
     "triangle of the Lagrangian's Hessian σ∇²f + Σλᵢ∇²gᵢ — or, with `want: [\"structure\"]`, the\n"
     "two patterns alone, which every later answer's `values` follow."),
)


def _endpoint(operation: str, model: type[BaseModel]) -> Callable[[Request], Awaitable[Response]]:
    """The handler of ``POST /v1/<operation>``; symbolic expansion (``differentiate``) has no
    work estimate, so it always runs in an engine process."""
    planned = operation != "differentiate"

    async def endpoint(request: Request) -> Response:
        return await request.app.state.dispatcher.answer(operation, model, request,
                                                         planned=planned)

    return endpoint


for _operation, _request, _response, _summary, _description in _ROUTES:
    router.add_api_route(f"/{_operation}", _endpoint(_operation, _request), methods=["POST"],
                         name=_operation, response_model=_response, summary=_summary,
                         description=_description,
                         openapi_extra=openapi_body(_request, EXAMPLES[_operation]))
