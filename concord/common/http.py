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

# PostgreSQL error classes after which the same request can succeed when
# retried: connection loss (08), a rolled-back transaction such as a deadlock
# (40), a lock wait over lock_timeout (55P03), the server shutting down (57P0x)
# and a session ended for idling in a transaction (25P03).
TRANSIENT_SQLSTATES = ("08", "40", "55P03", "57P01", "57P02", "57P03", "25P03")


def is_transient(exc: OperationalError) -> bool:
    """Return whether a database error may pass on retry, unlike a bug."""
    if "database is locked" in str(exc.orig).lower():
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is None:
        # psycopg reports a lost connection without a SQLSTATE.
        return exc.connection_invalidated or "connection" in str(exc.orig).lower()
    return sqlstate.startswith(TRANSIENT_SQLSTATES)


def install_error_handlers(app: FastAPI) -> None:
    """Render ``ConcordError`` and request validation errors in the shared shape."""

    @app.exception_handler(ConcordError)
    async def _concord_error(request: Request, exc: ConcordError) -> JSONResponse:
        if exc.status >= 500:
            logger.error("%s %s failed: %s", request.method, request.url.path, exc.code)
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(OperationalError)
    async def _database_busy(request: Request, exc: OperationalError) -> JSONResponse:
        if not is_transient(exc):
            raise exc
        logger.warning(
            "%s %s: database busy or unreachable: %s",
            request.method,
            request.url.path,
            type(exc.orig).__name__,
        )
        error = Unavailable(
            "The database is busy, for example with a large import, or was briefly "
            "unreachable; nothing was stored by this request. Retry in a few seconds."
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
