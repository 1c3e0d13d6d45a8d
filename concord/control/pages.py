"""The HTML pages: login, the home page and the hand-over to a cluster.

Pages authenticate with the session cookie; ``authorization.authorize``
checks it and ``check_csrf`` checks the CSRF token of every state-changing
form of a session. Forms shown before there is a session (login, accepting an
invitation) use a double-submit cookie instead.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from concord.common.errors import ConcordError
from concord.control import audit
from concord.control.auth import SessionDep
from concord.control.authorization import GrantDep, LoginRequired, PageDenied
from concord.control.feeds import progress_for, visible_feeds
from concord.control.models import User
from concord.control.projects import (
    issue_project_token,
    record_token_grant,
    visible_projects,
)
from concord.control.schemas import LoginIn
from concord.control.security import Passwords, secrets_equal
from concord.control.sessions import (
    COOKIE_NAME,
    end_session,
    load_session,
    start_session,
)
from concord.control.settings import ControlSettings
from concord.control.signing import TokenSigner
from concord.control.state import get_passwords, get_settings, get_signer
from concord.control.throttle import TooManyAttempts
from concord.control.users import LOGIN_FAILED, password_login

logger = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
FORM_CSRF_COOKIE = "concord_control_csrf"

templates = Jinja2Templates(directory=TEMPLATES_DIR)
router = APIRouter(include_in_schema=False)
SettingsDep = Annotated[ControlSettings, Depends(get_settings)]


def safe_next(value: str | None) -> str:
    """Return ``value`` when it is a path on this site, else "/".

    Only relative paths are followed after login, so a link cannot send a
    user who just logged in to another site.
    """
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(char) < 32 for char in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def _security_headers(response: Response, nonce: str | None, form_origin: str) -> None:
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src {script}; style-src 'self'; "
        f"img-src 'self' data:; form-action 'self' {form_origin}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    nonce: str | None = None,
    form_origin: str = "",
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, name, {**context, "nonce": nonce}, status_code=status_code
    )
    _security_headers(response, nonce, form_origin)
    return response


def render_error(
    request: Request, status_code: int, message: str, context: dict[str, Any]
) -> HTMLResponse:
    return render(request, "error.html", {**context, "message": message}, status_code)


def install_page_handlers(app: FastAPI) -> None:
    """Render rejected page requests as a redirect to login or an error page."""

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(
            f"/login?next={quote(exc.next_path, safe='/')}", status_code=303
        )

    @app.exception_handler(PageDenied)
    async def _page_denied(request: Request, exc: PageDenied) -> Response:
        context: dict[str, Any] = {}
        if exc.browser is not None:
            context = {"user": exc.browser.user, "csrf_token": exc.browser.csrf_token}
        return render_error(request, exc.error.status, exc.error.message, context)


def form_csrf_token(request: Request) -> str:
    """Return the double-submit token of this browser, or a new one."""
    return request.cookies.get(FORM_CSRF_COOKIE) or secrets.token_urlsafe(32)


def set_form_csrf_cookie(
    response: Response, token: str, path: str, settings: ControlSettings
) -> None:
    response.set_cookie(
        FORM_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path=path,
    )


def form_csrf_valid(request: Request, sent: str) -> bool:
    expected = request.cookies.get(FORM_CSRF_COOKIE, "")
    return bool(expected) and secrets_equal(expected, sent)


def signed_in(
    session: Session, user: User, settings: ControlSettings, next_path: str
) -> RedirectResponse:
    """Start a browser session for ``user`` and redirect to ``next_path``."""
    cookie_value = start_session(session, user, settings.session_hours)
    response = RedirectResponse(safe_next(next_path), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        cookie_value,
        max_age=settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


@router.get("/login")
def login_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    next_path: Annotated[str, Query(alias="next", max_length=2048)] = "/",
) -> Response:
    """Show the login form, or go on to ``next`` when already logged in."""
    if load_session(session, request.cookies.get(COOKIE_NAME)) is not None:
        return RedirectResponse(safe_next(next_path), status_code=303)
    return _login_form(request, settings, safe_next(next_path))


def _login_form(
    request: Request,
    settings: ControlSettings,
    next_path: str,
    error: str | None = None,
    username: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    csrf = form_csrf_token(request)
    context = {
        "csrf_token": csrf,
        "next": next_path,
        "error": error,
        "username": username,
        "oidc_label": settings.oidc_button_label if settings.oidc_enabled else None,
    }
    response = render(request, "login.html", context, status_code=status_code)
    set_form_csrf_cookie(response, csrf, "/login", settings)
    return response


@router.post("/login")
def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    passwords: Annotated[Passwords, Depends(get_passwords)],
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "/",
) -> Response:
    """Check the CSRF token and the credentials, then start a session."""
    next_path = safe_next(next_path)
    if not form_csrf_valid(request, csrf_token):
        error = "The login form expired. Enter your username and password again."
        return _login_form(request, settings, next_path, error, username, 403)
    address = audit.client_address(request)
    credentials = LoginIn(username=username, password=password)
    try:
        user = password_login(session, passwords, settings, credentials, address)
    except TooManyAttempts as exc:
        response = _login_form(request, settings, next_path, exc.message, username, 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except ConcordError:
        return _login_form(request, settings, next_path, LOGIN_FAILED, username, 401)
    audit.record(
        session,
        "login",
        actor=user,
        address=address,
        details={"method": "password", "via": "web"},
    )
    response = signed_in(session, user, settings, next_path)
    logger.info("user %s logged in to the web interface", user.username)
    response.delete_cookie(FORM_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout_submit(request: Request, session: SessionDep, grant: GrantDep) -> Response:
    """End the browser session; ``check_csrf`` rejected it without the token."""
    assert grant.browser is not None
    end_session(session, grant.browser)
    audit.record(
        session, "logout", actor=grant.caller, address=audit.client_address(request)
    )
    session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


def page_context(grant: GrantDep) -> dict[str, Any]:
    """Return the template values every page of a logged-in user needs."""
    assert grant.browser is not None
    return {"user": grant.caller, "csrf_token": grant.browser.csrf_token}


@router.get("/")
def home(request: Request, session: SessionDep, grant: GrantDep) -> Response:
    """Render the user's projects, the feeds they may work on and their progress."""
    projects = []
    for access in visible_projects(session, grant.caller):
        feeds = [
            progress_for(session, access, feed)
            for feed in visible_feeds(session, access)
        ]
        projects.append({"access": access, "feeds": feeds})
    return render(request, "home.html", {**page_context(grant), "projects": projects})


@router.get("/feeds/{feed_id}/open")
def open_feed(
    feed_id: str,
    request: Request,
    session: SessionDep,
    grant: GrantDep,
    settings: SettingsDep,
    signer: Annotated[TokenSigner, Depends(get_signer)],
) -> Response:
    """Sign a cluster token and hand the browser to the cluster by a POST form.

    The token travels in a form body, never in a URL, so it stays out of
    browser history, proxy logs and Referer headers.
    """
    assert grant.feed is not None
    token = issue_project_token(session, signer, settings, grant.project)
    record_token_grant(session, grant.project, audit.client_address(request), "web")
    session.commit()
    target = urlsplit(token.cluster_url)
    context = {
        **page_context(grant),
        "feed": grant.feed,
        "action": f"{token.cluster_url}/auth/enter",
        "token": token.token,
        "next": f"/annotate/{grant.feed.id}",
    }
    return render(
        request,
        "feed_open.html",
        context,
        nonce=secrets.token_urlsafe(16),
        form_origin=f"{target.scheme}://{target.netloc}",
    )
