"""A cap on request body sizes, applied while the body is received.

FastAPI reads and parses a JSON body before dependencies run, so a size check
in a dependency would come too late.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from concord.common.errors import PayloadTooLarge

# The largest body the control plane accepts. Event batches are the biggest
# bodies (up to 1,000 events).
MAX_BODY_BYTES = 32 * 1024 * 1024


class BodyTooLarge(HTTPException):
    """Raised while a body is received. It subclasses HTTPException because
    FastAPI turns any other error raised during body parsing into a 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413)
        self.max_bytes = max_bytes


def _payload_too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than {max_bytes} bytes. "
        "Send less per request (for events: fewer events per batch).",
        details={"limit_bytes": max_bytes},
    )


class BodySizeLimit:
    """ASGI middleware that rejects bodies over ``max_bytes`` with a 413."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._reject(send)
            return
        received = 0

        async def counting_receive() -> Message:
            # A chunked body declares no length, so it is counted as it arrives.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)

    async def _reject(self, send: Send) -> None:
        payload = orjson.dumps(_payload_too_large(self.max_bytes).to_dict())
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def install_body_limit(app: FastAPI, max_bytes: int = MAX_BODY_BYTES) -> None:
    """Add the middleware and render its error in the shared error shape."""
    app.add_middleware(BodySizeLimit, max_bytes=max_bytes)

    @app.exception_handler(BodyTooLarge)
    async def _body_too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        error = _payload_too_large(exc.max_bytes)
        return JSONResponse(error.to_dict(), status_code=error.status)
