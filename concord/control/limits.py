"""A cap on request body sizes, applied before any route reads the body.

FastAPI reads and parses a JSON body before dependencies run, so a size check
in a dependency would come too late.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from concord.common.errors import PayloadTooLarge

# The largest body the control plane accepts; event batches are the biggest
# bodies (up to 1,000 events).
MAX_BODY_BYTES = 32 * 1024 * 1024


class BodySizeLimit:
    """ASGI middleware that answers 413 to bodies over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._reject(send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._error()
            return message

        await self.app(scope, counting_receive, send)

    def _error(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"The request body is larger than {self.max_bytes} bytes. "
            "Send less per request (for events: fewer events per batch).",
            details={"limit_bytes": self.max_bytes},
        )

    async def _reject(self, send: Send) -> None:
        payload = orjson.dumps(self._error().to_dict())
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
