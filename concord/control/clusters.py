"""Clusters joining the control plane, and how they authenticate afterwards.

A cluster joins once with a one-use join token and receives a cluster id, a
cluster secret (stored here only as a SHA-256) and the public key that
verifies the access tokens this control plane signs.

Joining again under a name that is already taken: a cluster that lost its
secret joins again with a new join token, the same name and the same URL. It
keeps its cluster id and projects, and only its secret is replaced. The same
name with a different URL is a conflict, because handing an existing
cluster's projects to another address would send users' access tokens there.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from concord.common.errors import Conflict, InvalidInput, Unauthorized
from concord.control import audit
from concord.control.auth import SessionDep
from concord.control.authorization import GrantDep
from concord.control.models import Cluster, JoinToken, utcnow
from concord.control.schemas import ClusterOut, JoinIn, JoinOut, JoinTokenOut
from concord.control.security import (
    CLUSTER_SECRET_PREFIX,
    JOIN_TOKEN_PREFIX,
    new_secret,
    sha256_hex,
)
from concord.control.signing import ISSUER, TokenSigner
from concord.control.state import get_signer

logger = logging.getLogger(__name__)

JOIN_TOKEN_LIFETIME = timedelta(hours=24)


def create_join_token(session: Session) -> tuple[str, JoinToken]:
    """Store a one-use join token that expires in 24 hours; return it and its row."""
    token = new_secret(JOIN_TOKEN_PREFIX)
    row = JoinToken(
        token_hash=sha256_hex(token), expires_at=utcnow() + JOIN_TOKEN_LIFETIME
    )
    session.add(row)
    session.commit()
    return token, row


def register_bootstrap_token(session: Session, token: str) -> None:
    """Accept the join token from the settings once, across restarts too."""
    token_hash = sha256_hex(token)
    existing = session.scalars(
        select(JoinToken).where(JoinToken.token_hash == token_hash)
    ).one_or_none()
    if existing is None:
        session.add(JoinToken(token_hash=token_hash, expires_at=None))
        session.commit()
        logger.info("registered the bootstrap join token from the settings")


def normalise_cluster_url(url: str) -> str:
    """Return ``url`` without a trailing slash; raise InvalidInput unless it is
    an http(s) URL with a host and no query or fragment."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"Cluster URL '{url}' is not an http:// or https:// URL with a host. "
            "Send the address browsers use to reach the cluster, "
            "for example http://127.0.0.1:8081.",
            details={"url": url},
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidInput(
            f"Cluster URL '{url}' must not contain credentials, a query or a "
            "fragment. Send only scheme, host, port and path.",
            details={"url": url},
        )
    return url.strip().rstrip("/")


def join_cluster(
    session: Session, signer: TokenSigner, join_token: str, name: str, url: str
) -> JoinOut:
    """Use up a join token and register (or re-register) a cluster."""
    url = normalise_cluster_url(url)
    token = _usable_join_token(session, join_token)
    secret = new_secret(CLUSTER_SECRET_PREFIX)
    cluster = session.scalars(select(Cluster).where(Cluster.name == name)).one_or_none()
    if cluster is None:
        cluster = Cluster(name=name, url=url, secret_hash=sha256_hex(secret))
        session.add(cluster)
        session.flush()
        logger.info("cluster %s (%s) joined", cluster.id, name)
    elif cluster.url == url:
        cluster.secret_hash = sha256_hex(secret)
        logger.info(
            "cluster %s (%s) joined again; its secret was replaced", cluster.id, name
        )
    else:
        raise Conflict(
            f"A cluster named '{name}' already joined from {cluster.url}. "
            "Join under another name, or from the same URL to replace its secret.",
            details={"name": name, "url": cluster.url},
        )
    token.used_at = utcnow()
    token.cluster_id = cluster.id
    audit.record(
        session,
        "cluster.joined",
        actor_name=f"cluster:{name}",
        object_type="cluster",
        object_id=cluster.id,
        details={"join_token_id": token.id, "url": url},
    )
    session.commit()
    return JoinOut(
        cluster_id=cluster.id,
        cluster_secret=secret,
        public_key=signer.public_key_pem,
        issuer=ISSUER,
    )


def _usable_join_token(session: Session, join_token: str) -> JoinToken:
    row = session.scalars(
        select(JoinToken).where(JoinToken.token_hash == sha256_hex(join_token))
    ).one_or_none()
    if row is None:
        raise Unauthorized(
            "Invalid join token. Ask an admin for a new one "
            "(POST /api/clusters/join-tokens)."
        )
    if row.used_at is not None:
        raise Unauthorized(
            "This join token was already used; each join token works once. "
            "Ask an admin for a new one (POST /api/clusters/join-tokens)."
        )
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise Unauthorized(
            "This join token has expired; join tokens last 24 hours. "
            "Ask an admin for a new one (POST /api/clusters/join-tokens)."
        )
    return row


def list_clusters(session: Session) -> list[Cluster]:
    return list(session.scalars(select(Cluster).order_by(Cluster.name)))


def cluster_out(cluster: Cluster) -> ClusterOut:
    return ClusterOut(
        id=cluster.id, name=cluster.name, url=cluster.url, joined_at=cluster.joined_at
    )


router = APIRouter(prefix="/api/clusters", tags=["clusters"])


@router.post("/join")
def join(
    body: JoinIn,
    session: SessionDep,
    signer: Annotated[TokenSigner, Depends(get_signer)],
) -> JoinOut:
    """Register a cluster with a one-use join token."""
    return join_cluster(session, signer, body.join_token, body.name, body.url)


@router.post("/join-tokens")
def new_join_token(
    request: Request, grant: GrantDep, session: SessionDep
) -> JoinTokenOut:
    """Create a join token that one cluster can use within 24 hours (admins only)."""
    token, row = create_join_token(session)
    audit.record(
        session,
        "join_token.created",
        actor=grant.caller,
        object_type="join_token",
        object_id=row.id,
        address=audit.client_address(request),
    )
    session.commit()
    assert row.expires_at is not None
    return JoinTokenOut(join_token=token, expires_at=row.expires_at)


@router.get("")
def clusters(grant: GrantDep, session: SessionDep) -> list[ClusterOut]:
    """List the joined clusters (admins only)."""
    return [cluster_out(cluster) for cluster in list_clusters(session)]
