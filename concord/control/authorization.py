"""Every request checked against the permission table.

``authorize`` is a dependency of the whole app. It reads the level the
matched route needs from ``concord.common.permissions`` and identifies the
caller: an API token under ``/api``, the session cookie on HTML pages, the
cluster secret for cluster routes. It then resolves the project of the
object in the URL from its ``project_id``, ``feed_id`` or ``source_id``.
Routes receive the result as a ``Grant`` and check nothing themselves.

``check_routes`` runs when the app is built and raises when a route has no
rule, so a new route cannot go unchecked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Request, Security
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.routing import Mount, Route

from concord.common.errors import ConcordError, Forbidden, NotFound, Unauthorized
from concord.common.permissions import (
    PROJECT_LEVELS,
    Level,
    MissingPermission,
    required_level,
)
from concord.control.auth import (
    Caller,
    ProjectAccess,
    caller_from_token,
    cluster_from_secret,
    may_annotate,
    project_access,
    require_role,
)
from concord.control.database import get_session
from concord.control.models import Cluster, Dataset, Feed, User
from concord.control.security import secrets_equal
from concord.control.sessions import COOKIE_NAME, BrowserSession, load_session

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Path parameters that name an object of a project, in the order tried.
PROJECT_PARAMETERS = ("feed_id", "project_id", "source_id")

SourceKind = Literal["feed", "dataset"]

bearer = HTTPBearer(
    scheme_name="Bearer",
    description="A user's API token (cct_...) from POST /api/auth/login or "
    "POST /api/me/tokens; for POST /api/events, the cluster secret (ccs_...).",
    auto_error=False,
)


@dataclass(frozen=True)
class Grant:
    """The caller of a request and the objects the route's level let them reach."""

    level: Level
    user: User | None = None
    token_id: str | None = None
    browser: BrowserSession | None = None
    cluster: Cluster | None = None
    access: ProjectAccess | None = None
    feed: Feed | None = None

    @property
    def caller(self) -> User:
        assert self.user is not None, f"level {self.level} has no user"
        return self.user

    @property
    def project(self) -> ProjectAccess:
        assert self.access is not None, f"level {self.level} has no project"
        return self.access


class LoginRequired(Exception):
    """An HTML page was requested without a live session."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageDenied(Exception):
    """An HTML page refused: rendered as an HTML error page, not JSON."""

    def __init__(self, error: ConcordError, browser: BrowserSession | None) -> None:
        super().__init__(error.message)
        self.error = error
        self.browser = browser


def source_project_id(session: Session, kind: SourceKind, source_id: str) -> str | None:
    """Return the project of a feed or dataset, or None when it is unknown."""
    model = Feed if kind == "feed" else Dataset
    row = session.get(model, source_id)
    return row.project_id if row is not None else None


def is_page(path: str) -> bool:
    return not path.startswith("/api/") and path != "/api"


def authorize(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    session: Annotated[Session, Depends(get_session)],
) -> Grant:
    """FastAPI dependency: enforce the route's level and describe the caller."""
    path = request.scope["route"].path_format
    level = required_level("control", request.method, path)
    if level in ("public", "join"):
        return Grant(level)
    if level == "cluster":
        secret = credentials.credentials if credentials is not None else None
        return Grant(level, cluster=cluster_from_secret(session, secret))
    if is_page(path):
        return _page_grant(request, session, level)
    caller = caller_from_token(
        session, credentials.credentials if credentials is not None else None
    )
    return _user_grant(session, level, caller, None, request.path_params)


def _page_grant(request: Request, session: Session, level: Level) -> Grant:
    browser = load_session(session, request.cookies.get(COOKIE_NAME))
    if browser is None:
        target = request.url.path if request.method in SAFE_METHODS else "/"
        if request.url.query and request.method in SAFE_METHODS:
            target += "?" + request.url.query
        raise LoginRequired(target)
    caller = Caller(user=browser.user, token_id="")
    try:
        return _user_grant(session, level, caller, browser, request.path_params)
    except ConcordError as exc:
        raise PageDenied(exc, browser) from None


def _user_grant(
    session: Session,
    level: Level,
    caller: Caller,
    browser: BrowserSession | None,
    params: dict[str, str],
) -> Grant:
    user = caller.user
    token_id = caller.token_id or None
    if level == "user":
        return Grant(level, user=user, token_id=token_id, browser=browser)
    if level == "admin":
        if not user.is_admin:
            raise Forbidden(
                "Only an administrator can do this; ask one of your admins."
            )
        return Grant(level, user=user, token_id=token_id, browser=browser)
    access, feed = _project_of(session, user, params)
    if level == "annotator-of-feed":
        if feed is None or not may_annotate(session, access, feed):
            raise _feed_not_found(params.get("feed_id", ""))
    elif level in ("reviewer", "manager"):
        require_role(access, level)
    return Grant(level, user, token_id, browser, access=access, feed=feed)


def _feed_not_found(feed_id: str) -> NotFound:
    return NotFound(
        f"Feed '{feed_id}' not found. List a project's feeds with "
        "GET /api/projects/{project_id}/feeds."
    )


def _project_of(
    session: Session, user: User, params: dict[str, str]
) -> tuple[ProjectAccess, Feed | None]:
    """Return the caller's access to the project of the object in the URL."""
    if "feed_id" in params:
        feed = session.get(Feed, params["feed_id"])
        if feed is None:
            raise _feed_not_found(params["feed_id"])
        try:
            return project_access(session, user, feed.project_id), feed
        except NotFound:
            raise _feed_not_found(params["feed_id"]) from None
    if "project_id" in params:
        return project_access(session, user, params["project_id"]), None
    kind, source_id = params.get("source_kind", ""), params.get("source_id", "")
    missing = NotFound(f"No {kind} '{source_id}' with reported results was found.")
    project_id = None
    if kind == "feed" or kind == "dataset":
        project_id = source_project_id(session, kind, source_id)
    if project_id is None:
        raise missing
    try:
        return project_access(session, user, project_id), None
    except NotFound:
        raise missing from None


GrantDep = Annotated[Grant, Depends(authorize)]


async def check_csrf(request: Request, grant: GrantDep) -> Grant:
    """Reject a state-changing cookie request without the session's CSRF token.

    The token comes from the form field ``csrf_token`` or the header
    ``X-CSRF-Token``.
    """
    if grant.browser is None or request.method in SAFE_METHODS:
        return grant
    sent = request.headers.get("x-csrf-token", "")
    if not sent:
        form = await request.form()
        value = form.get("csrf_token", "")
        sent = value if isinstance(value, str) else ""
    if not secrets_equal(grant.browser.csrf_token, sent):
        error = Forbidden("The form expired. Reload the page and send it again.")
        raise PageDenied(error, grant.browser)
    return grant


@dataclass(frozen=True)
class RouteEntry:
    """One method of one route as the app serves it."""

    method: str
    path: str
    context: RouteContext

    @property
    def is_api_route(self) -> bool:
        return isinstance(self.context.original_route, APIRoute)


def route_entries(app: FastAPI) -> list[RouteEntry]:
    """List every (method, path template) the app serves, mounts as GET."""
    entries = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            entries.append(RouteEntry("GET", route.path, context))
        elif isinstance(route, Route | APIRoute):
            methods = sorted((context.methods or set()) - {"HEAD"})
            path = context.path_format or ""
            entries += [RouteEntry(method, path, context) for method in methods]
    return entries


def _entry_problems(entry: RouteEntry) -> Iterable[str]:
    method, path = entry.method, entry.path
    try:
        level = required_level("control", method, path)
    except MissingPermission as exc:
        yield str(exc)
        return
    if not entry.is_api_route:
        if level != "public":
            yield f"{method} {path} is not an API route, so it can only be public"
        return
    original = entry.context.original_route
    if getattr(original, "path_format", None) != path:
        # ``authorize`` looks routes up by the template of the original route.
        yield f"{method} {path} was included under a prefix; add the prefix to "
        "its APIRouter instead"
    dependencies = getattr(entry.context, "dependencies", None) or []
    if not any(item.dependency is check_csrf for item in dependencies):
        yield f"{method} {path} does not depend on check_csrf"
    names = set(getattr(original, "param_convertors", {}))
    if level in PROJECT_LEVELS and not names & set(PROJECT_PARAMETERS):
        yield f"{method} {path} needs {level} but names no project object"
    if level == "annotator-of-feed" and "feed_id" not in names:
        yield f"{method} {path} needs {level} but has no feed_id"


def check_routes(app: FastAPI) -> None:
    """Raise MissingPermission unless every route is listed and enforceable."""
    problems = [
        problem for entry in route_entries(app) for problem in _entry_problems(entry)
    ]
    if problems:
        raise MissingPermission(
            "The control plane's routes do not match the permission table:\n"
            + "\n".join(problems)
        )
