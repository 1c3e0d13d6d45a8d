"""Browser routes: entering the cluster with a token and the annotation page."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from concord.cluster.feeds import feed_to_dict, get_feed
from concord.cluster.security import (
    COOKIE_NAME,
    Context,
    check_level,
    route_level,
    verify_access_token,
)
from concord.common.errors import ConcordError

logger = logging.getLogger(__name__)

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)


def safe_next(value: str) -> str:
    """Accept only a path on this site, so the redirect cannot leave it."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


@router.post("/auth/enter")
def enter(
    context: Context,
    token: str = Form(..., max_length=8_192),
    next: str = Form("/", max_length=2_048),  # noqa: A002 - the form field's name
) -> Response:
    """Check an access token from the control plane and start a browser session."""
    principal = verify_access_token(context, token)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=max(1, principal.expires_at - int(time.time())),
        httponly=True,
        samesite="lax",
        secure=context.settings.cookie_secure,
        path="/",
    )
    logger.info("user %s entered project %s", principal.user_id, principal.project_id)
    return response


@router.post("/auth/logout")
def logout() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


@router.get("/annotate/{feed_id}", response_class=HTMLResponse)
def annotate(feed_id: str, request: Request, context: Context) -> Response:
    reauth_url = f"{context.settings.resolved_control_public_url}/feeds/{feed_id}/open"
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return RedirectResponse(reauth_url, status_code=303)
    try:
        principal = verify_access_token(context, token)
    except ConcordError:
        # An expired or foreign session goes back to the control plane for a
        # fresh token.
        return RedirectResponse(reauth_url, status_code=303)
    check_level(principal, route_level(request), request.path_params)
    with context.db.sessions() as session:
        feed = feed_to_dict(session, get_feed(session, principal, feed_id))
    page: dict[str, Any] = {
        "feed": feed,
        "feed_json": _script_json(feed),
        "user": {"id": principal.user_id, "name": principal.name, "role": principal.role},
        "static_url": "/static",
        "reauth_url": reauth_url,
    }
    response = templates.TemplateResponse(request, "annotate.html", page)
    _security_headers(response)
    return response


# Every script and style of the page comes from /static, so nothing inline runs
# and no other site can frame the page.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _security_headers(response: Response) -> None:
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"


def _script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element: no '<', '>' or '&' as such."""
    text = orjson.dumps(value).decode("utf-8")
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
