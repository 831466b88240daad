"""The playground: ``GET /`` serves a page that calls the API, plots and shows the request.

The page is static (``app/static/playground/``, plain ES modules, no build step); its assets are
served under ``/static/playground/…``. None of these routes is part of the OpenAPI document.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from starlette.responses import FileResponse

STATIC_DIR = (Path(__file__).resolve().parent.parent / "static" / "playground").resolve()
"""The page and its assets, shipped as package data (``app = ["static/**/*"]``)."""

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
    "": "text/plain; charset=utf-8",  # LICENSE
}
"""Only these kinds of file are served; anything else under the folder is a 404."""

NO_CACHE = {"Cache-Control": "no-cache"}
"""Revalidate on every load (cheap with ETag / Last-Modified): a new release is seen at once."""

router = APIRouter(include_in_schema=False)


@router.get("/")
async def playground() -> FileResponse:
    """The playground page."""
    return _file(STATIC_DIR / "index.html")


@router.get("/static/playground/{path:path}")
async def playground_asset(path: str) -> FileResponse:
    """A file of the page (script, style sheet, the vendored chart and maths libraries, their
    fonts and licences)."""
    target = (STATIC_DIR / path).resolve()
    if not target.is_relative_to(STATIC_DIR) or not target.is_file():
        raise HTTPException(status_code=404)
    return _file(target)


def _file(target: Path) -> FileResponse:
    media_type = MEDIA_TYPES.get(target.suffix.lower())
    if media_type is None:
        raise HTTPException(status_code=404)
    headers = NO_CACHE | {"X-Content-Type-Options": "nosniff"}
    return FileResponse(target, media_type=media_type, headers=headers)
