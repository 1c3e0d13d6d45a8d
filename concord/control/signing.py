"""The Ed25519 key that signs access tokens for clusters, and the tokens themselves.

The key is stored in the database so that every replica of the control plane
signs with the same key. Clusters get the public half when they join and
check tokens offline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from concord.control.models import SigningKey, new_id, utcnow

logger = logging.getLogger(__name__)

ISSUER = "concord-control"
ALGORITHM = "EdDSA"
ACCESS_TOKEN_PURPOSE = "access-token"


@dataclass(frozen=True)
class TokenSigner:
    """The private key that signs access tokens, with its id and public PEM."""

    key_id: str
    private_key: Ed25519PrivateKey
    public_key_pem: str

    def sign(self, claims: dict[str, object]) -> str:
        headers = {"kid": self.key_id}
        return jwt.encode(
            claims, self.private_key, algorithm=ALGORITHM, headers=headers
        )


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime


def load_or_create_signer(session: Session) -> TokenSigner:
    """Return the shared signing key, creating it on the first start.

    When two replicas start together, both may try to insert a key. The unique
    ``purpose`` column lets one insert win, and the other replica loads that key.
    """
    row = _load_key(session)
    if row is None:
        try:
            session.add(_generate_key())
            session.commit()
            logger.info("created the access token signing key")
        except IntegrityError:
            session.rollback()
        row = _load_key(session)
        assert row is not None, "the signing key vanished right after it was stored"
    private_key = serialization.load_pem_private_key(
        row.private_key_pem.encode("ascii"), password=None
    )
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError(f"signing key {row.id} is not an Ed25519 key")
    return TokenSigner(row.id, private_key, row.public_key_pem)


def _load_key(session: Session) -> SigningKey | None:
    query = select(SigningKey).where(SigningKey.purpose == ACCESS_TOKEN_PURPOSE)
    return session.scalars(query).one_or_none()


def _generate_key() -> SigningKey:
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    return SigningKey(
        id=new_id(),
        purpose=ACCESS_TOKEN_PURPOSE,
        private_key_pem=private_pem.decode("ascii"),
        public_key_pem=public_pem.decode("ascii"),
    )


def issue_access_token(
    signer: TokenSigner,
    *,
    cluster_id: str,
    user_id: str,
    username: str,
    project_id: str,
    role: str,
    feeds: list[str],
    seconds: int,
) -> AccessToken:
    """Sign a token for ``user_id`` acting as ``role`` in one project on one cluster.

    ``feeds`` lists the feed ids the user may annotate, or is ``["*"]`` for
    every feed of the project.
    """
    issued_at = utcnow().replace(microsecond=0)
    expires_at = issued_at + timedelta(seconds=seconds)
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": cluster_id,
        "sub": user_id,
        "name": username,
        "project": project_id,
        "role": role,
        "feeds": feeds,
        "iat": int(issued_at.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": new_id(),
    }
    return AccessToken(token=signer.sign(claims), expires_at=expires_at)
