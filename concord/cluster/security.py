"""Who is asking: access tokens signed by the control plane, checked offline.

An access token is an EdDSA JWT that names the user (``sub``, ``name``), the
project and the role, with this cluster's id as audience. It arrives as a
bearer token or, for the annotation page, in the ``concord_session`` cookie
that ``POST /auth/enter`` sets. Cookie-authenticated requests that change
state must carry ``X-Concord-Request: 1``: browsers do not let another site
add that header without a CORS preflight, which the cluster does not grant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request

from concord.cluster.context import ClusterContext, get_context
from concord.common.errors import Forbidden, Unauthorized, Unavailable

logger = logging.getLogger(__name__)

COOKIE_NAME = "concord_session"
CSRF_HEADER = "x-concord-request"
ROLES = ("annotator", "reviewer", "manager")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Principal:
    user_id: str
    name: str
    project_id: str
    role: str
    expires_at: int

    def has_role(self, minimum: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(minimum)


def verify_access_token(context: ClusterContext, token: str) -> Principal:
    membership = context.membership
    if membership is None:
        raise Unavailable(
            "This cluster has not joined a control plane yet; start it with a join "
            "token (CONCORD_JOIN_TOKEN) and wait until /api/health reports joined."
        )
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
    if role not in ROLES or not isinstance(project, str):
        raise Unauthorized("The access token names no valid project and role.")
    return Principal(
        user_id=str(claims["sub"]),
        name=str(claims.get("name") or claims["sub"]),
        project_id=project,
        role=role,
        expires_at=int(claims["exp"]),
    )


def current_principal(
    request: Request, context: Annotated[ClusterContext, Depends(get_context)]
) -> Principal:
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


def require_role(minimum: str):  # noqa: ANN201 - returns a FastAPI dependency
    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.has_role(minimum):
            raise Forbidden(
                f"This action needs the {minimum} role in the project; you are "
                f"{principal.role}."
            )
        return principal

    return check


CurrentUser = Annotated[Principal, Depends(current_principal)]
Reviewer = Annotated[Principal, Depends(require_role("reviewer"))]
Manager = Annotated[Principal, Depends(require_role("manager"))]
Context = Annotated[ClusterContext, Depends(get_context)]
