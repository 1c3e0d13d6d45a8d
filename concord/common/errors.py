"""The error family shared by both planes and the one JSON shape it renders to.

Every domain error carries an HTTP status, a stable machine-readable ``code``, a
message that names the value at fault and what to do about it, and optional
structured ``details``. Both applications render it as::

    {"error": {"code": "invalid_input", "message": "...", "details": {...}}}
"""

from __future__ import annotations

from typing import Any


class ConcordError(Exception):
    """Base class of every error that Concord reports to a caller."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class InvalidInput(ConcordError):
    status = 422
    code = "invalid_input"


class NotFound(ConcordError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ConcordError):
    status = 405
    code = "method_not_allowed"


class Conflict(ConcordError):
    status = 409
    code = "conflict"


class Unauthorized(ConcordError):
    status = 401
    code = "unauthorized"


class Forbidden(ConcordError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(ConcordError):
    status = 413
    code = "payload_too_large"


class Unavailable(ConcordError):
    status = 503
    code = "unavailable"
