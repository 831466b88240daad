"""Builds the ASGI application ``app.main:app``."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel

import engine.vm
from app import __version__, problems
from app.bodies import REQUEST_MODELS
from app.body_limit import BodyLimitMiddleware
from app.dispatch import Dispatcher
from app.models import Problem
from app.observability import ObservabilityMiddleware
from app.pool import pin_heap
from app.routes import meta, operations, playground
from app.settings import Settings

DESCRIPTION = """\
Differentiation as a web service: send a math expression (Python/NumPy flavoured), a point and
what you want — value, gradient, Jacobian, Hessian, n-th derivative, mixed partial, Taylor
coefficients, directional derivatives — and get JSON exact to float64 rounding (automatic
differentiation, no finite differences). Errors are RFC 9457 `application/problem+json`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application for ``settings`` (default: read from the environment)."""
    settings = Settings.from_env() if settings is None else settings
    dispatcher = Dispatcher(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Engine processes start with the server and stop after in-flight requests finished.
        engine.vm.warm()  # small requests run the tape inline: load it before serving
        pin_heap()  # big bodies and answers are copied here too: reuse the heap for them
        await dispatcher.pool.start()
        # What is loaded by now (modules, tables, compiled kernels) lives as long as the server:
        # kept out of the collector, a full collection does not walk it and stall the loop.
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            await dispatcher.pool.stop()

    app = FastAPIOffline(
        title="diffapi", version=__version__, description=DESCRIPTION, lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        openapi_tags=[{"name": "operations", "description": "`POST /v1/<operation>`"},
                      {"name": "meta", "description": "The language, limits and health."}],
    )
    app.state.settings = settings
    app.state.dispatcher = dispatcher
    problems.install(app)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(ObservabilityMiddleware)
    app.include_router(operations.router)
    app.include_router(meta.router)
    app.include_router(playground.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _operation_id(route: APIRoute) -> str:
    """Stable operation ids: the handler's name (``gradient``, ``functions``, …)."""
    return route.name


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's spec plus the schemas of the request bodies the routes parse themselves and of
    ``Problem``, which the error responses refer to."""
    schema = app.openapi_schema
    if schema is None:
        schema = FastAPI.openapi(app)
        components = schema["components"]["schemas"]
        models: list[tuple[str, type[BaseModel]]] = [*REQUEST_MODELS.items(), ("Problem", Problem)]
        for name, model in models:
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}), **{name: body})
        schema["components"]["schemas"] = dict(sorted(components.items()))
        app.openapi_schema = schema
    return schema


app = create_app()
