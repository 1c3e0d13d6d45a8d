"""Cluster settings, read from the environment with documented defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from concord.common.db import sqlite_url


class ClusterSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    data_dir: Path = Field(
        Path("concord-data"),
        validation_alias=AliasChoices("data_dir", "CONCORD_DATA_DIR"),
        description="Folder for the cluster database and logs.",
    )
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("database_url", "CONCORD_CLUSTER_DATABASE_URL"),
        description="SQLAlchemy URL; defaults to SQLite at <data_dir>/cluster.db.",
    )
    host: str = Field(
        "127.0.0.1",
        validation_alias=AliasChoices("host", "CONCORD_CLUSTER_HOST"),
        description="Address the cluster listens on.",
    )
    port: int = Field(
        8081,
        validation_alias=AliasChoices("port", "CONCORD_CLUSTER_PORT"),
        description="TCP port the cluster listens on.",
    )
    public_url: str | None = Field(
        None,
        validation_alias=AliasChoices("public_url", "CONCORD_CLUSTER_PUBLIC_URL"),
        description="URL annotators' browsers use; defaults to http://host:port.",
    )
    control_url: str = Field(
        "http://127.0.0.1:8080",
        validation_alias=AliasChoices("control_url", "CONCORD_CONTROL_URL"),
        description="URL of the control plane this cluster reports to.",
    )
    control_public_url: str | None = Field(
        None,
        validation_alias=AliasChoices(
            "control_public_url", "CONCORD_CONTROL_PUBLIC_URL"
        ),
        description="Control plane URL for browsers; defaults to control_url.",
    )
    join_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("join_token", "CONCORD_JOIN_TOKEN"),
        description="One-time token to join the control plane on first start.",
    )
    name: str = Field(
        "local",
        validation_alias=AliasChoices("name", "CONCORD_CLUSTER_NAME"),
        description="Name this cluster registers under.",
    )
    media_dir: Path | None = Field(
        None,
        validation_alias=AliasChoices("media_dir", "CONCORD_CLUSTER_MEDIA_DIR"),
        description="Folder of the image files that tasks name in 'image'; unset "
        "means tasks can carry images only as data URIs.",
    )
    spacy_language: str = Field(
        "en",
        validation_alias=AliasChoices("spacy_language", "CONCORD_SPACY_LANGUAGE"),
        description="Language code of the blank spaCy tokenizer for NER feeds.",
    )
    max_import_line_bytes: int = Field(
        16 * 1024 * 1024,
        validation_alias=AliasChoices(
            "max_import_line_bytes", "CONCORD_MAX_IMPORT_LINE_BYTES"
        ),
        description="Largest accepted JSONL line, in bytes.",
    )
    outbox_batch_size: int = Field(200, description="Events sent per request.")
    outbox_max_backoff_seconds: float = Field(
        30.0, description="Longest wait between two delivery attempts, in seconds."
    )
    cookie_secure: bool = Field(
        False,
        validation_alias=AliasChoices("cookie_secure", "CONCORD_COOKIE_SECURE"),
        description="Mark the session cookie Secure (set it when served over HTTPS).",
    )

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or sqlite_url(self.data_dir / "cluster.db")

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def resolved_control_public_url(self) -> str:
        return (self.control_public_url or self.control_url).rstrip("/")
