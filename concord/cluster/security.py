"""Caller authentication: access tokens signed by the control plane, checked offline.

An access token is an EdDSA JWT that names the user (``sub``, ``name``), the
project and the role, with this cluster's id as audience. It arrives as a
bearer token or, for the annotation page, in the ``concord_session`` cookie
that ``POST /auth/enter`` sets. Cookie-authenticated requests that change
state must carry ``X-Concord-Request: 1``: browsers do not let another site
add that header without a CORS preflight, which the cluster does not grant.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, Request
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from concord.cluster.context import ClusterContext, get_context
from concord.cluster.state import Membership
from concord.common.errors import Forbidden, NotFound, Unauthorized, Unavailable
from concord.common.permissions import (
    ALL_FEEDS,
    PROJECT_ROLES,
    Level,
    required_level,
    role_meets,
)

logger = logging.getLogger(__name__)

COOKIE_NAME = "concord_session"
CSRF_HEADER = "x-concord-request"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Principal:
    user_id: str
    name: str
    project_id: str
    role: str
    expires_at: int
    # Feed ids an annotator may work on; ``ALL_FEEDS`` grants every feed.
    feeds: tuple[str, ...] = ()

    def may_annotate(self, feed_id: str) -> bool:
        return ALL_FEEDS in self.feeds or feed_id in self.feeds


# Tokens whose signature and claims were checked, by membership and token.
# An annotator sends the same token on every request until it expires, and
# the EdDSA check is a noticeable share of a request's time. Expiry is checked
# again on every use.
_VERIFIED: dict[tuple[str, str, str, str], Principal] = {}
MAX_VERIFIED_TOKENS = 10_000


def verify_access_token(context: ClusterContext, token: str) -> Principal:
    membership = context.membership
    if membership is None:
        raise Unavailable(
            "This cluster has not joined a control plane yet; start it with a join "
            "token (CONCORD_JOIN_TOKEN) and wait until /api/health reports joined."
        )
    # The audience and issuer are part of what was checked, so part of the key.
    key = (membership.public_key, membership.cluster_id, membership.issuer, token)
    principal = _VERIFIED.get(key)
    if principal is None:
        principal = _check_token(membership, token)
        if len(_VERIFIED) >= MAX_VERIFIED_TOKENS:
            _VERIFIED.clear()
        _VERIFIED[key] = principal
    if principal.expires_at <= time.time():
        _VERIFIED.pop(key, None)
        raise Unauthorized(
            "The access token has expired; ask the control plane for a new one."
        )
    return principal


def _check_token(membership: Membership, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            membership.public_key,
            algorithms=["EdDSA"],
            audience=membership.cluster_id,
            issuer=membership.issuer,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized(
            "The access token has expired; ask the control plane for a new one."
        ) from None
    except jwt.PyJWTError as exc:
        logger.warning("rejected an access token: %s", type(exc).__name__)
        raise Unauthorized(
            "The access token is invalid for this cluster; ask the control plane "
            "for a new one."
        ) from None
    role = claims.get("role")
    project = claims.get("project")
    feeds = claims.get("feeds")
    if role not in PROJECT_ROLES or not isinstance(project, str):
        raise Unauthorized("The access token names no valid project and role.")
    if not isinstance(feeds, list) or not all(isinstance(f, str) for f in feeds):
        raise Unauthorized("The access token has no valid 'feeds' claim.")
    return Principal(
        user_id=str(claims["sub"]),
        name=str(claims.get("name") or claims["sub"]),
        project_id=project,
        role=role,
        expires_at=int(claims["exp"]),
        feeds=tuple(feeds),
    )


def principal_from_request(request: Request, context: ClusterContext) -> Principal:
    """Authenticate the caller by bearer token or session cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return verify_access_token(context, header[7:].strip())
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
            raise Forbidden(
                "Requests authenticated by the session cookie must send the header "
                "'X-Concord-Request: 1'."
            )
        return verify_access_token(context, cookie)
    raise Unauthorized(
        "Authentication required: send 'Authorization: Bearer <access token>' "
        "from the control plane's cluster-token route."
    )


def check_level(principal: Principal, level: Level, path_params: dict[str, str]) -> None:
    """Raise unless ``principal`` reaches ``level`` for the object in the path.

    Objects of other projects are rejected later, by the lookups, with 404.
    A feed outside an annotator's ``feeds`` claim is a 404 here for the same reason.
    """
    if level in ("reviewer", "manager"):
        if not role_meets(principal.role, level):
            raise Forbidden(
                f"This action needs the {level} role in the project; you are "
                f"{principal.role}."
            )
    elif level == "annotator-of-feed":
        feed_id = path_params.get("feed_id", "")
        if not principal.may_annotate(feed_id):
            raise NotFound(
                f"Feed {feed_id!r} not found in this project; list feeds with "
                "GET /api/feeds.",
                details={"feed_id": feed_id},
            )
    elif level != "member":
        raise Forbidden(f"The cluster does not serve routes of level {level!r}.")


def route_level(request: Request) -> Level:
    route = request.scope.get("route")
    path = getattr(route, "path_format", None) or request.url.path
    return required_level("cluster", request.method, path)


def authorize(
    request: Request, context: Annotated[ClusterContext, Depends(get_context)]
) -> None:
    """Check the caller against the permission table; run before every API route."""
    level = route_level(request)
    if level == "public":
        return
    principal = principal_from_request(request, context)
    check_level(principal, level, request.path_params)
    request.state.principal = principal


def current_principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise Unauthorized(
            "Authentication required: the route has no authorize dependency."
        )
    return principal


def check_routes(app: FastAPI) -> None:
    """Raise MissingPermission if a route of ``app`` has no rule in the table."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            required_level("cluster", "GET", route.path)
            continue
        for method in sorted((context.methods or set()) - {"HEAD"}):
            required_level("cluster", method, context.path_format or "")


CurrentUser = Annotated[Principal, Depends(current_principal)]
Context = Annotated[ClusterContext, Depends(get_context)]
