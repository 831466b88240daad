"""``POST /v1/nlp``: the optimization oracle, answered through the same path as every operation."""

from typing import Annotated

from fastapi import APIRouter, Body, Request
from starlette.responses import Response

from app import models as m
from app.routes.operations import ERROR_RESPONSES

router = APIRouter(prefix="/v1", tags=["operations"], responses=ERROR_RESPONSES)

NlpBody = Annotated[m.NlpRequest, Body(openapi_examples=m.NLP_EXAMPLES)]


@router.post("/nlp", response_model=m.NlpResponse, summary="Optimization oracle")
async def nlp(body: NlpBody, request: Request) -> Response:
    """In one call, what an NLP solver (Ipopt, MOI/JuMP, scipy's `minimize`) asks at a point:
    objective, gradient, constraints, the sparse constraint Jacobian and the sparse lower
    triangle of the Lagrangian's Hessian σ∇²f + Σλᵢ∇²gᵢ — or, with `want: ["structure"]`, the
    two patterns alone, which every later answer's `values` follow."""
    size = len(await request.body())  # already read and cached by FastAPI
    return await request.app.state.dispatcher.run("nlp", body, size)
