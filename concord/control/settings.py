"""Settings of the control plane, read from the environment.

Every setting has a type, a default and a description; the environment
variable that sets it is its ``validation_alias``. Secrets are ``SecretStr`` so
they never show in a repr or a log line.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from concord.common.db import sqlite_url


class ControlSettings(BaseSettings):
    """Configuration of one control plane process."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    data_dir: Path = Field(
        Path("./concord-data"),
        validation_alias="CONCORD_DATA_DIR",
        description="Folder for the control plane's SQLite database.",
    )
    database_url: str | None = Field(
        None,
        validation_alias="CONCORD_CONTROL_DATABASE_URL",
        description="SQLAlchemy database URL; default: control.db in data_dir.",
    )
    host: str = Field(
        "127.0.0.1",
        validation_alias="CONCORD_CONTROL_HOST",
        description="Address the HTTP server binds to.",
    )
    port: int = Field(
        8080,
        ge=1,
        le=65535,
        validation_alias="CONCORD_CONTROL_PORT",
        description="TCP port the HTTP server listens on.",
    )
    public_url: str | None = Field(
        None,
        validation_alias="CONCORD_CONTROL_PUBLIC_URL",
        description="URL people and clusters use to reach this server; "
        "default: http://{host}:{port}.",
    )
    admin_username: str = Field(
        "admin",
        validation_alias="CONCORD_ADMIN_USERNAME",
        description="Username of the first administrator, created at first start.",
    )
    admin_password: SecretStr | None = Field(
        None,
        validation_alias="CONCORD_ADMIN_PASSWORD",
        description="Password of the first administrator; when unset, one is "
        "generated and written to the terminal once.",
    )
    join_token: SecretStr | None = Field(
        None,
        validation_alias="CONCORD_JOIN_TOKEN",
        description="Bootstrap join token: lets one cluster join without an admin "
        "creating a token first; accepted once.",
    )
    access_token_seconds: int = Field(
        15 * 60,
        ge=2,
        le=24 * 3600,
        validation_alias="CONCORD_ACCESS_TOKEN_SECONDS",
        description="Lifetime in seconds of the access tokens signed for clusters. "
        "Deactivation and role changes reach a cluster within this time.",
    )
    session_hours: int = Field(
        12,
        ge=1,
        le=24 * 30,
        validation_alias="CONCORD_SESSION_HOURS",
        description="Lifetime in hours of a browser login session.",
    )
    cookie_secure: bool = Field(
        False,
        validation_alias="CONCORD_COOKIE_SECURE",
        description="Mark the session cookie Secure; turn on when served over HTTPS.",
    )
    login_failures_per_account: int = Field(
        5,
        ge=1,
        validation_alias="CONCORD_LOGIN_FAILURES_PER_ACCOUNT",
        description="Failed logins allowed per username within the login window.",
    )
    login_failures_per_address: int = Field(
        20,
        ge=1,
        validation_alias="CONCORD_LOGIN_FAILURES_PER_ADDRESS",
        description="Failed logins allowed per client address within the login "
        "window.",
    )
    login_window_minutes: int = Field(
        15,
        ge=1,
        le=24 * 60,
        validation_alias="CONCORD_LOGIN_WINDOW_MINUTES",
        description="Length in minutes of the sliding window of login limits.",
    )
    invitation_hours: int = Field(
        72,
        ge=1,
        le=24 * 90,
        validation_alias="CONCORD_INVITATION_HOURS",
        description="Lifetime in hours of an invitation link.",
    )
    oidc_issuer: str | None = Field(
        None,
        validation_alias="CONCORD_OIDC_ISSUER",
        description="Issuer URL of the OpenID Connect provider; its metadata is "
        "read from {issuer}/.well-known/openid-configuration. Unset: no single "
        "sign-on.",
    )
    oidc_client_id: str | None = Field(
        None,
        validation_alias="CONCORD_OIDC_CLIENT_ID",
        description="Client id of this control plane at the provider.",
    )
    oidc_client_secret: SecretStr | None = Field(
        None,
        validation_alias="CONCORD_OIDC_CLIENT_SECRET",
        description="Client secret of this control plane at the provider.",
    )
    oidc_email_domains: str = Field(
        "",
        validation_alias="CONCORD_OIDC_EMAIL_DOMAINS",
        description="Comma-separated email domains whose people get an account "
        "at their first single sign-on, for example 'example.org,example.com'.",
    )
    oidc_auto_create: bool = Field(
        False,
        validation_alias="CONCORD_OIDC_AUTO_CREATE",
        description="Create an account for everyone the provider signs in, "
        "whatever their email domain.",
    )
    oidc_button_label: str = Field(
        "Log in with single sign-on",
        validation_alias="CONCORD_OIDC_BUTTON_LABEL",
        description="Text of the single sign-on button on the login page.",
    )
    password_hash_fast: bool = Field(
        False,
        validation_alias="CONCORD_PASSWORD_HASH_FAST",
        description="Use cheap Argon2 parameters. For tests only: it makes "
        "stolen password hashes easy to crack.",
    )

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def oidc_domains(self) -> frozenset[str]:
        parts = (part.strip().lower() for part in self.oidc_email_domains.split(","))
        return frozenset(part for part in parts if part)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return sqlite_url(self.data_dir / "control.db")

    @property
    def resolved_public_url(self) -> str:
        url = self.public_url or f"http://{self.host}:{self.port}"
        return url.rstrip("/")
