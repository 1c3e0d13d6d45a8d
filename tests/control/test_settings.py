from __future__ import annotations

from pathlib import Path

import pytest

from concord.control.settings import ControlSettings

ENVIRONMENT = {
    "CONCORD_DATA_DIR": "/srv/concord",
    "CONCORD_CONTROL_DATABASE_URL": "postgresql://db/concord",
    "CONCORD_CONTROL_HOST": "0.0.0.0",
    "CONCORD_CONTROL_PORT": "9090",
    "CONCORD_CONTROL_PUBLIC_URL": "https://concord.example/",
    "CONCORD_ADMIN_USERNAME": "root",
    "CONCORD_ADMIN_PASSWORD": "from-env-password",
    "CONCORD_JOIN_TOKEN": "from-env-join-token",
    "CONCORD_ACCESS_TOKEN_SECONDS": "300",
    "CONCORD_SESSION_HOURS": "2",
    "CONCORD_COOKIE_SECURE": "true",
    "CONCORD_PASSWORD_HASH_FAST": "true",
}


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults(clean_environment: pytest.MonkeyPatch) -> None:
    settings = ControlSettings()

    assert settings.data_dir == Path("./concord-data")
    assert settings.resolved_database_url == (
        f"sqlite:///{Path('./concord-data/control.db').resolve()}"
    )
    assert settings.resolved_public_url == "http://127.0.0.1:8080"
    assert settings.admin_username == "admin"
    assert settings.admin_password is None
    assert settings.join_token is None
    assert settings.access_token_seconds == 900
    assert settings.session_hours == 12
    assert settings.cookie_secure is False
    assert settings.password_hash_fast is False


def test_environment_names(clean_environment: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRONMENT.items():
        clean_environment.setenv(name, value)

    settings = ControlSettings()

    assert settings.data_dir == Path("/srv/concord")
    assert settings.resolved_database_url == "postgresql://db/concord"
    assert settings.host == "0.0.0.0"
    assert settings.port == 9090
    assert settings.resolved_public_url == "https://concord.example"
    assert settings.admin_username == "root"
    assert settings.admin_password is not None
    assert settings.admin_password.get_secret_value() == "from-env-password"
    assert settings.join_token is not None
    assert settings.join_token.get_secret_value() == "from-env-join-token"
    assert settings.access_token_seconds == 300
    assert settings.session_hours == 2
    assert settings.cookie_secure is True
    assert settings.password_hash_fast is True


def test_secrets_hidden_in_repr(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("CONCORD_ADMIN_PASSWORD", "from-env-password")

    assert "from-env-password" not in repr(ControlSettings())


def test_keyword_arguments(
    tmp_path: Path, clean_environment: pytest.MonkeyPatch
) -> None:
    settings = ControlSettings(data_dir=tmp_path, port=1234)

    assert settings.data_dir == tmp_path
    assert settings.resolved_public_url == "http://127.0.0.1:1234"
