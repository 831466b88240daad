"""``POST /v1/nlp``: the optimization oracle, answered through the same path as every operation."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from app import models as m
from app.bodies import openapi_body
from app.routes.operations import ERROR_RESPONSES

router = APIRouter(prefix="/v1", tags=["operations"], responses=ERROR_RESPONSES)


@router.post("/nlp", response_model=m.NlpResponse, summary="Optimization oracle",
             openapi_extra=openapi_body(m.NlpRequest, m.NLP_EXAMPLES))
async def nlp(request: Request) -> Response:
    """In one call, what an NLP solver (Ipopt, MOI/JuMP, scipy's `minimize`) asks at a point:
    objective, gradient, constraints, the sparse constraint Jacobian and the sparse lower
    triangle of the Lagrangian's Hessian σ∇²f + Σλᵢ∇²gᵢ — or, with `want: ["structure"]`, the
    two patterns alone, which every later answer's `values` follow."""
    return await request.app.state.dispatcher.answer("nlp", m.NlpRequest, request)
