"""Request and response bodies of the control plane's JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# Names that appear in URLs and command lines: letters, digits and ``_.-``.
SLUG_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"
USERNAME_PATTERN = r"^[A-Za-z0-9_.@\-]{1,64}$"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024

Role = Literal["manager", "reviewer", "annotator"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserOut(BaseModel):
    id: str
    username: str
    is_admin: bool
    active: bool


class LoginIn(_Input):
    username: str = Field(max_length=64)
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)


class LoginOut(BaseModel):
    token: str
    user: UserOut


class UserCreate(_Input):
    username: str = Field(pattern=USERNAME_PATTERN)
    password: str = Field(
        min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH
    )
    is_admin: bool = False


class ProjectCreate(_Input):
    name: str = Field(pattern=SLUG_PATTERN)
    cluster_id: str | None = Field(None, max_length=64)


class ProjectOut(BaseModel):
    id: str
    name: str
    cluster_id: str
    cluster_url: str
    role: Role
    created_at: datetime


class MemberIn(_Input):
    username: str = Field(max_length=64)
    role: Role


class MemberOut(BaseModel):
    user_id: str
    username: str
    role: Role


class ClusterTokenOut(BaseModel):
    token: str
    cluster_url: str
    cluster_id: str
    role: Role
    expires_at: datetime


class DatasetOut(BaseModel):
    id: str
    name: str | None
    role: str
    examples_total: int
    annotations: int


class FeedOut(BaseModel):
    id: str
    project_id: str
    dataset_id: str
    name: str
    interface: str
    labels: list[str]
    multiple: bool
    overlap: int
    lease_seconds: int
    examples_total: int


class JoinIn(_Input):
    join_token: str = Field(max_length=256)
    name: str = Field(pattern=SLUG_PATTERN)
    url: str = Field(max_length=2048)


class JoinOut(BaseModel):
    cluster_id: str
    cluster_secret: str
    public_key: str
    issuer: str


class JoinTokenOut(BaseModel):
    join_token: str
    expires_at: datetime


class ClusterOut(BaseModel):
    id: str
    name: str
    url: str
    joined_at: datetime


class Rejection(BaseModel):
    event_id: str
    reason: str


class IngestResult(BaseModel):
    accepted: list[str]
    duplicates: list[str]
    rejected: list[Rejection]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class FeedMembersIn(_Input):
    usernames: list[Annotated[str, Field(max_length=64)]] = Field(
        min_length=1, max_length=1_000
    )


class FeedMembersOut(BaseModel):
    feed_id: str
    usernames: list[str]


class PasswordChange(_Input):
    current_password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Field(
        min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH
    )


class ApiTokenIn(_Input):
    name: str = Field(pattern=SLUG_PATTERN)


class ApiTokenOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    current: bool


class ApiTokenCreated(BaseModel):
    id: str
    name: str
    token: str
    created_at: datetime


class InvitationIn(_Input):
    role: Role


class InvitationCreated(BaseModel):
    id: str
    project_id: str
    role: Role
    url: str
    expires_at: datetime


class InvitationOut(BaseModel):
    id: str
    role: Role
    created_by: str
    created_at: datetime
    expires_at: datetime
    status: Literal["pending", "used", "expired", "revoked"]
