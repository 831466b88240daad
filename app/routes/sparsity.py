"""``POST /v1/sparsity``: the structural pattern of a Jacobian or Hessian and its coloring."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from app import models as m
from app.bodies import openapi_body
from app.models import EXAMPLES
from app.routes.operations import ERROR_RESPONSES

router = APIRouter(prefix="/v1", tags=["operations"], responses=ERROR_RESPONSES)


@router.post("/sparsity", response_model=m.SparsityResponse, summary="Sparsity pattern",
             openapi_extra=openapi_body(m.SparsityRequest, EXAMPLES["sparsity"]))
async def sparsity(request: Request) -> Response:
    """The exact structural pattern of the Jacobian or Hessian (`operation`) from the
    expression itself, never probed at a point, with the coloring a `"sparse": true` answer
    evaluates: give a `point` or only the variables' `shapes`."""
    return await request.app.state.dispatcher.answer("sparsity", m.SparsityRequest, request)
