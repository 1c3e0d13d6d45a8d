"""The HTML pages: login, the home page and the hand-over to a cluster.

Pages authenticate with the session cookie. Every form carries a CSRF token:
the login form's is a double-submit cookie (there is no session yet), later
forms send the session's own token.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from concord.common.errors import NotFound
from concord.control.auth import SessionDep
from concord.control.feeds import feed_access, list_feeds
from concord.control.progress import compute_progress
from concord.control.projects import issue_project_token, visible_projects
from concord.control.security import Passwords, secrets_equal
from concord.control.sessions import (
    COOKIE_NAME,
    BrowserSession,
    end_session,
    load_session,
    start_session,
)
from concord.control.settings import ControlSettings
from concord.control.signing import TokenSigner
from concord.control.state import get_passwords, get_settings, get_signer
from concord.control.users import LOGIN_FAILED, authenticate

logger = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
LOGIN_CSRF_COOKIE = "concord_control_csrf"

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


def _cookie_session(request: Request, session: SessionDep) -> BrowserSession | None:
    return load_session(session, request.cookies.get(COOKIE_NAME))


BrowserDep = Annotated[BrowserSession | None, Depends(_cookie_session)]


def _to_login(next_path: str) -> RedirectResponse:
    return RedirectResponse(
        f"/login?next={quote(next_path, safe='/')}", status_code=303
    )


def _not_found(request: Request, browser: BrowserSession, message: str) -> HTMLResponse:
    context = {
        "user": browser.user,
        "csrf_token": browser.csrf_token,
        "message": message,
    }
    return render(request, "error.html", context, status_code=404)


@router.get("/login")
def login_page(
    request: Request,
    browser: BrowserDep,
    settings: SettingsDep,
    next_path: Annotated[str, Query(alias="next", max_length=2048)] = "/",
) -> Response:
    if browser is not None:
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
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    context = {
        "csrf_token": csrf,
        "next": next_path,
        "error": error,
        "username": username,
    }
    response = render(request, "login.html", context, status_code=status_code)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/login",
    )
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
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets_equal(expected, csrf_token):
        error = "The login form expired. Enter your username and password again."
        return _login_form(request, settings, next_path, error, username, 403)
    user = authenticate(session, passwords, username, password)
    if user is None:
        return _login_form(request, settings, next_path, LOGIN_FAILED, username, 401)
    cookie_value = start_session(session, user, settings.session_hours)
    logger.info("user %s logged in to the web interface", user.username)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        cookie_value,
        max_age=settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout_submit(
    request: Request,
    session: SessionDep,
    browser: BrowserDep,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """End the browser session; a request without the session's CSRF token
    changes nothing."""
    response = RedirectResponse("/login", status_code=303)
    if browser is None:
        response.delete_cookie(COOKIE_NAME, path="/")
        return response
    if not secrets_equal(browser.csrf_token, csrf_token):
        message = "The logout form expired. Use the Log out button again."
        context = {"user": browser.user, "csrf_token": browser.csrf_token}
        return render(request, "error.html", {**context, "message": message}, 403)
    end_session(session, browser)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


@router.get("/")
def home(request: Request, session: SessionDep, browser: BrowserDep) -> Response:
    """Render the user's projects, their feeds and each feed's progress."""
    if browser is None:
        return _to_login("/")
    projects = []
    for access in visible_projects(session, browser.user):
        feeds = [
            compute_progress(session, feed)
            for feed in list_feeds(session, access.project.id)
        ]
        projects.append({"access": access, "feeds": feeds})
    context = {
        "user": browser.user,
        "csrf_token": browser.csrf_token,
        "projects": projects,
    }
    return render(request, "home.html", context)


@router.get("/feeds/{feed_id}/open")
def open_feed(
    feed_id: str,
    request: Request,
    session: SessionDep,
    browser: BrowserDep,
    settings: SettingsDep,
    signer: Annotated[TokenSigner, Depends(get_signer)],
) -> Response:
    """Sign a cluster token and hand the browser to the cluster by a POST form.

    The token travels in a form body, never in a URL, so it stays out of
    browser history, proxy logs and Referer headers.
    """
    if browser is None:
        return _to_login(f"/feeds/{feed_id}/open")
    try:
        feed, access = feed_access(session, browser.user, feed_id)
    except NotFound as exc:
        return _not_found(request, browser, exc.message)
    token = issue_project_token(session, signer, settings, access)
    target = urlsplit(token.cluster_url)
    context = {
        "user": browser.user,
        "csrf_token": browser.csrf_token,
        "feed": feed,
        "action": f"{token.cluster_url}/auth/enter",
        "token": token.token,
        "next": f"/annotate/{feed.id}",
    }
    return render(
        request,
        "feed_open.html",
        context,
        nonce=secrets.token_urlsafe(16),
        form_origin=f"{target.scheme}://{target.netloc}",
    )
