"""The control plane's tables.

People, projects and clusters are the control plane's own objects and get
random ids (``uuid4().hex``). Datasets, feeds and answers are copies of what
clusters reported in events and keep the cluster's ids. Nothing here holds
example text: answers store hashes, the answer and label names only.

The schema is created by the Alembic migrations in ``migrations/versions``;
a change here needs a new migration there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from concord.common.db import Base

ID_LENGTH = 32
# Ids that clusters choose (datasets, feeds, annotations, events) follow
# ``concord.common.events.Id``: at most 128 characters.
EXTERNAL_ID_LENGTH = 128
HASH_HEX_LENGTH = 64

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and read back as an aware UTC datetime.

    SQLite has no time zone type, so values are normalised before they are
    written and tagged with UTC when they are read.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                f"invalid naive datetime {value!r}: pass a timezone-aware datetime"
            )
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class ControlBase(Base):
    """Base of the control plane's tables, with metadata of their own."""

    __abstract__ = True
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(ControlBase):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(ControlBase):
    """A bearer token for the API. Only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH), unique=True)
    # A label the owner chose, such as "laptop-cli"; "login" for tokens that
    # POST /api/auth/login created.
    name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(ControlBase):
    """A browser login. ``id`` is the SHA-256 of the random cookie value."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Cluster(ControlBase):
    __tablename__ = "clusters"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret_hash: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH), unique=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JoinToken(ControlBase):
    """A one-use token that lets a cluster join. ``expires_at`` is empty for
    the bootstrap token from the settings."""

    __tablename__ = "join_tokens"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cluster_id: Mapped[str | None] = mapped_column(
        ForeignKey("clusters.id", ondelete="SET NULL")
    )


class SigningKey(ControlBase):
    """The Ed25519 key that signs access tokens, shared by every replica."""

    __tablename__ = "signing_keys"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    purpose: Mapped[str] = mapped_column(String(32), unique=True)
    private_key_pem: Mapped[str] = mapped_column(Text)
    public_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Project(ControlBase):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("clusters.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Membership(ControlBase):
    __tablename__ = "memberships"

    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Dataset(ControlBase):
    """A dataset as reported by ``dataset.created`` and ``dataset.imported``.

    ``name`` is empty while only an import event has arrived. ``totals_at`` is
    the time of the event that set ``examples_total``, so an older event that
    arrives late does not overwrite a newer total.
    """

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(EXTERNAL_ID_LENGTH), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16), default="source")
    examples_total: Mapped[int] = mapped_column(Integer, default=0)
    annotations_imported: Mapped[int] = mapped_column(Integer, default=0)
    totals_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Feed(ControlBase):
    """A feed as reported by ``feed.created``; ``labels`` is its label set."""

    __tablename__ = "feeds"

    id: Mapped[str] = mapped_column(String(EXTERNAL_ID_LENGTH), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    # Not a foreign key: events may name a dataset whose own event is still
    # on its way.
    dataset_id: Mapped[str] = mapped_column(String(EXTERNAL_ID_LENGTH), index=True)
    name: Mapped[str] = mapped_column(String(64))
    interface: Mapped[str] = mapped_column(String(16))
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    multiple: Mapped[bool] = mapped_column(Boolean, default=False)
    overlap: Mapped[int] = mapped_column(Integer, default=1)
    lease_seconds: Mapped[int] = mapped_column(Integer)
    examples_total: Mapped[int] = mapped_column(Integer, default=0)
    totals_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Answer(ControlBase):
    """One annotator's answer to one task: hashes, the answer and label names."""

    __tablename__ = "answers"
    __table_args__ = (
        Index("ix_answers_feed_task", "feed_id", "task_hash"),
        Index("ix_answers_feed_annotator", "feed_id", "annotator_id"),
    )

    annotation_id: Mapped[str] = mapped_column(
        String(EXTERNAL_ID_LENGTH), primary_key=True
    )
    feed_id: Mapped[str] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    annotator_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    input_hash: Mapped[int] = mapped_column(BigInteger)
    task_hash: Mapped[int] = mapped_column(BigInteger)
    answer: Mapped[str] = mapped_column(String(8))
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReceivedEvent(ControlBase):
    """The id of every event applied, so a redelivered event is applied once."""

    __tablename__ = "received_events"

    event_id: Mapped[str] = mapped_column(String(EXTERNAL_ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    cluster_id: Mapped[str] = mapped_column(
        ForeignKey("clusters.id", ondelete="CASCADE"), index=True
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AgreementResult(ControlBase):
    """The latest ``agreement.computed`` values of a feed or a dataset."""

    __tablename__ = "agreement_results"

    source_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(EXTERNAL_ID_LENGTH), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(EXTERNAL_ID_LENGTH))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)


class GoldResult(ControlBase):
    """The latest ``gold.built`` counts of a feed or a dataset."""

    __tablename__ = "gold_results"

    source_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(EXTERNAL_ID_LENGTH), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(EXTERNAL_ID_LENGTH))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)


class Invitation(ControlBase):
    """A one-time link that lets a new person create an account in a project.

    Only the SHA-256 of the link's token is stored.
    """

    __tablename__ = "invitations"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH), unique=True)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FeedMember(ControlBase):
    """An annotator allowed to work on one feed."""

    __tablename__ = "feed_members"

    feed_id: Mapped[str] = mapped_column(
        ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(ControlBase):
    """One line of the append-only audit log: who did what to which object.

    ``actor_id`` is not a foreign key, so an entry outlives what it names.
    ``details`` holds ids, role names and counts only.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    actor_name: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48), index=True)
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), index=True
    )
    project_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    address: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class LoginFailure(ControlBase):
    """A failed login, kept for the length of the rate limit window."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class OidcIdentity(ControlBase):
    """The link from an OpenID Connect account (issuer, subject) to a user."""

    __tablename__ = "oidc_identities"

    issuer: Mapped[str] = mapped_column(String(255), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OidcLogin(ControlBase):
    """A sign-in started at the provider and not yet completed.

    ``id`` is the SHA-256 of the ``state`` parameter. ``browser_hash`` is the
    SHA-256 of a cookie set on the browser that started the sign-in, so a
    callback URL is useless in another browser.
    """

    __tablename__ = "oidc_logins"

    id: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH), primary_key=True)
    browser_hash: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str | None] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    next_path: Mapped[str] = mapped_column(String(2048))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
