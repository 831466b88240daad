"""``POST /v1/sparsity``: the structural pattern of a Jacobian or Hessian and its coloring."""

from typing import Annotated

from fastapi import APIRouter, Body, Request
from starlette.responses import Response

from app import models as m
from app.models import EXAMPLES
from app.routes.operations import ERROR_RESPONSES, _run

router = APIRouter(prefix="/v1", tags=["operations"], responses=ERROR_RESPONSES)

SparsityBody = Annotated[m.SparsityRequest, Body(openapi_examples=EXAMPLES["sparsity"])]


@router.post("/sparsity", response_model=m.SparsityResponse, summary="Sparsity pattern")
async def sparsity(body: SparsityBody, request: Request) -> Response:
    """The exact structural pattern of the Jacobian or Hessian (`operation`) from the
    expression itself, never probed at a point, with the coloring a `"sparse": true` answer
    evaluates: give a `point` or only the variables' `shapes`."""
    return await _run(request, "sparsity", body)
