"""Swagger UI served from files inside the package, so ``/docs`` works offline.

FastAPI's built-in docs page loads Swagger UI from a CDN. An application that
calls ``mount_api_docs`` must be created with ``docs_url=None`` and
``redoc_url=None``; it then serves ``/docs`` and the assets under
``/static-docs/``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_DIR = Path(__file__).parent / "static" / "swagger"
DOCS_PATH = "/docs"
ASSETS_PATH = "/static-docs"


def mount_api_docs(app: FastAPI) -> None:
    """Serve Swagger UI for ``app.openapi_url`` at ``/docs`` from vendored assets."""
    if app.docs_url is not None:
        raise ValueError(
            f"the app already serves FastAPI's CDN docs at {app.docs_url!r}; "
            "create it with docs_url=None before calling mount_api_docs"
        )
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS_PATH, StaticFiles(directory=SWAGGER_DIR), name="static-docs")

    @app.get(DOCS_PATH, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            # An empty data URL keeps the browser from fetching a remote icon.
            swagger_favicon_url="data:,",
        )
