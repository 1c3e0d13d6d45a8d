from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine

from concord.control.app import create_app
from concord.control.models import ControlBase
from concord.control.settings import ControlSettings

from .support import ADMIN_PASSWORD, login

PASSWORD_LINE = re.compile(r"password: (\S+)")


def test_health(client: TestClient) -> None:
    response = client.get("/api/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_given_admin_password_works(client: TestClient) -> None:
    headers = login(client, "admin", ADMIN_PASSWORD)

    assert client.get("/api/me", headers=headers).json()["is_admin"] is True


def test_generated_admin_password_shown_once(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = ControlSettings(
        data_dir=tmp_path, admin_username="root", password_hash_fast=True
    )

    with TestClient(create_app(settings)) as client:
        banner = capsys.readouterr().out
        match = PASSWORD_LINE.search(banner)
        assert match is not None, banner
        password = match.group(1)
        assert "username: root" in banner
        assert "shown once" in banner
        assert login(client, "root", password)

    with TestClient(create_app(settings)) as client:
        assert capsys.readouterr().out == ""
        assert login(client, "root", password)

    assert password not in caplog.text
    assert all(password not in record.getMessage() for record in caplog.records)


def test_admin_not_created_twice(tmp_path: Path) -> None:
    settings = ControlSettings(
        data_dir=tmp_path,
        admin_password=SecretStr(ADMIN_PASSWORD),
        password_hash_fast=True,
    )
    with TestClient(create_app(settings)):
        pass
    changed = settings.model_copy(
        update={"admin_password": SecretStr("another-password")}
    )

    with TestClient(create_app(changed)) as client:
        users = client.get("/api/users", headers=login(client, "admin", ADMIN_PASSWORD))

    assert [user["username"] for user in users.json()] == ["admin"]


def test_factory_reads_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONCORD_DATA_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("CONCORD_ADMIN_USERNAME", "boss")
    monkeypatch.setenv("CONCORD_ADMIN_PASSWORD", "password-from-env")
    monkeypatch.setenv("CONCORD_PASSWORD_HASH_FAST", "true")

    with TestClient(create_app()) as client:
        assert login(client, "boss", "password-from-env")

    assert (tmp_path / "from-env" / "control.db").exists()


def test_migrations_match_models(client: TestClient, settings: ControlSettings) -> None:
    engine = create_engine(settings.resolved_database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, ControlBase.metadata)
    engine.dispose()

    assert differences == []


def test_docs_served_without_cdn(client: TestClient) -> None:
    page = client.get("/docs")

    assert page.status_code == 200
    assert "/static-docs/swagger-ui-bundle.js" in page.text
    assert re.findall(r"""(?:src|href)=["'](https?:)""", page.text) == []
    assert client.get("/static-docs/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static-docs/swagger-ui.css").status_code == 200
    assert "/api/events" in client.get("/openapi.json").json()["paths"]
