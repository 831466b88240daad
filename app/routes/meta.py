"""The language, limits, liveness and metrics: ``/v1/functions``, ``/v1/limits``, ``/healthz``,
``/metrics``."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

import engine
from app import observability
from app.models import FunctionsResponse, Health, LimitsResponse
from engine import CONSTANTS, LINALG_PREFIXES, MODULE_PREFIXES

router = APIRouter(tags=["meta"])


@router.get("/v1/functions", response_model=FunctionsResponse, summary="The language")
async def functions() -> dict[str, Any]:
    """Every built-in function (arity, domain, the derivative convention at kinks), the built-in
    constants and the module prefixes (`np.`, `torch.`, …) a name may carry."""
    return {"functions": engine.functions_table(), "constants": dict(CONSTANTS),
            "modules": sorted(MODULE_PREFIXES), "linalg_modules": sorted(LINALG_PREFIXES)}


@router.get("/v1/limits", response_model=LimitsResponse, summary="The limits")
async def limits(request: Request) -> dict[str, Any]:
    """Every limit on a request, its value and the environment variable that sets it."""
    return {"limits": request.app.state.settings.limit_entries()}


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> dict[str, str]:
    """`{"status": "ok"}` while the process serves requests."""
    return {"status": "ok"}


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {}},
                             "description": "Prometheus text exposition format"}})
async def metrics(request: Request) -> Response:
    """Requests by route and status, latency histograms, engine time, refusals by limit."""
    return observability.metrics(request)
