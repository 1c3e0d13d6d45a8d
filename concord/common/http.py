"""FastAPI glue that both applications share: error rendering and body limits."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from concord.common.errors import (
    ConcordError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unavailable,
)

logger = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    """Render ``ConcordError`` and request validation errors in the shared shape."""

    @app.exception_handler(ConcordError)
    async def _concord_error(request: Request, exc: ConcordError) -> JSONResponse:
        if exc.status >= 500:
            logger.error("%s %s failed: %s", request.method, request.url.path, exc.code)
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(OperationalError)
    async def _database_busy(request: Request, exc: OperationalError) -> JSONResponse:
        if "locked" not in str(exc.orig).lower():
            raise exc
        logger.warning(
            "%s %s: database busy past the timeout", request.method, request.url.path
        )
        error = Unavailable(
            "The database is busy with a long write, such as a large import; "
            "retry in a few seconds."
        )
        return JSONResponse(
            error.to_dict(), status_code=error.status, headers={"Retry-After": "5"}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: NotFound, 405: MethodNotAllowed}
        error_class = codes.get(exc.status_code)
        if error_class is None:
            body = {"error": {"code": "http_error", "message": str(exc.detail)}}
            return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
        error = error_class(
            f"{request.method} {request.url.path}: {exc.detail}. See /docs for "
            "the routes this server offers."
        )
        return JSONResponse(error.to_dict(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(
        request: Request, exc: RequestValidationError
    ) -> JSONResponse:
        problems = []
        for error in exc.errors():
            location = ".".join(str(part) for part in error.get("loc", ()))
            problems.append({"field": location, "message": error.get("msg", "")})
        first = problems[0] if problems else {"field": "body", "message": "invalid"}
        message = (
            f"Invalid request field '{first['field']}': {first['message']}. "
            "Fix the field and send the request again."
        )
        body = {"code": "invalid_input", "message": message, "details": {"fields": problems}}
        return JSONResponse({"error": body}, status_code=422)


class BodySizeLimit:
    """ASGI middleware that rejects request bodies over ``max_bytes`` with 413.

    Paths for which ``exempt(path)`` is true are not limited here; streaming
    routes such as imports enforce their own per-line limit instead.
    """

    def __init__(self, app: Any, max_bytes: int, exempt: Callable[[str], bool]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit():
                if int(value) > self.max_bytes:
                    await self._reject(send)
                    return
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(self._message())
            return message

        try:
            await self.app(scope, limited_receive, send)
        except PayloadTooLarge:
            await self._reject(send)

    def _message(self) -> str:
        return (
            f"The request body is larger than {self.max_bytes} bytes; send less "
            "data per request."
        )

    async def _reject(self, send: Any) -> None:
        error = PayloadTooLarge(self._message())
        response = JSONResponse(error.to_dict(), status_code=error.status)
        await response({"type": "http"}, None, send)  # type: ignore[arg-type]
