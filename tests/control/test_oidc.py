"""Single sign-on against a real OpenID provider running on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc.errors import BadSignatureError, InvalidClaimError
from fastapi.testclient import TestClient
from pydantic import SecretStr

from concord.control.app import create_app
from concord.control.oidc import make_client, verify_id_token
from concord.control.settings import ControlSettings

from .provider import Provider, running_provider
from .support import ADMIN_PASSWORD, login

CLIENT_ID = "concord-tests"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        yield running


def _settings(tmp_path: Path, issuer: str, **changes: Any) -> ControlSettings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "control-data",
        "admin_password": SecretStr(ADMIN_PASSWORD),
        "password_hash_fast": True,
        "oidc_issuer": issuer,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": SecretStr("client-secret-for-tests"),
        "oidc_email_domains": "example.org",
    }
    return ControlSettings(**{**values, **changes})


@pytest.fixture
def client(tmp_path: Path, provider: Provider) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path, provider.issuer))) as test_client:
        yield test_client


def _sign_in(client: TestClient, subject: str, next_path: str = "/") -> httpx.Response:
    """Drive the real flow: our redirect, the provider's form, the callback."""
    start = client.get(f"/login/oidc?next={next_path}", follow_redirects=False)
    assert start.status_code == 302, start.text
    authorize_url = start.headers["location"]
    assert authorize_url.startswith("http://127.0.0.1:")
    form = httpx.get(authorize_url)
    assert form.status_code == 200, form.text
    assert 'name="sub"' in form.text
    answer = httpx.post(authorize_url, data={"sub": subject}, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    callback = answer.headers["location"]
    assert callback.startswith("http://127.0.0.1:8080/login/oidc/callback?")
    parts = urlsplit(callback)
    return client.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def test_first_sign_in_creates_user(client: TestClient, provider: Provider) -> None:
    provider.set_user(
        "sub-alice", {"email": "alice@example.org", "preferred_username": "alice"}
    )

    response = _sign_in(client, "sub-alice", "/feeds/x/open")

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/feeds/x/open"
    assert "concord_control" in client.cookies
    home = client.get("/")
    assert home.status_code == 200
    assert "alice" in home.text
    users = client.get("/api/users", headers=login(client, "admin", ADMIN_PASSWORD))
    assert [user["username"] for user in users.json()] == ["admin", "alice"]


def test_second_sign_in_uses_link(client: TestClient, provider: Provider) -> None:
    provider.set_user(
        "sub-bea", {"email": "bea@example.org", "preferred_username": "bea"}
    )
    first = _sign_in(client, "sub-bea")
    client.cookies.clear()
    # A changed username at the provider does not create a second account.
    provider.set_user(
        "sub-bea", {"email": "bea@example.org", "preferred_username": "beatrice"}
    )

    second = _sign_in(client, "sub-bea")

    assert first.status_code == 303
    assert second.status_code == 303
    users = client.get("/api/users", headers=login(client, "admin", ADMIN_PASSWORD))
    assert [user["username"] for user in users.json()] == ["admin", "bea"]


def test_username_collision_gets_suffix(
    client: TestClient, provider: Provider
) -> None:
    provider.set_user("sub-1", {"email": "admin@example.org"})

    response = _sign_in(client, "sub-1")

    assert response.status_code == 303
    users = client.get("/api/users", headers=login(client, "admin", ADMIN_PASSWORD))
    assert [user["username"] for user in users.json()] == ["admin", "admin-2"]


def test_other_domain_refused(client: TestClient, provider: Provider) -> None:
    provider.set_user("sub-eve", {"email": "eve@elsewhere.test"})

    response = _sign_in(client, "sub-eve")

    assert response.status_code == 403
    assert "No Concord account is linked" in response.text
    assert "concord_control" not in client.cookies


def test_auto_create_flag(tmp_path: Path, provider: Provider) -> None:
    provider.set_user("sub-fay", {"email": "fay@elsewhere.test"})
    settings = _settings(tmp_path, provider.issuer, oidc_auto_create=True)

    with TestClient(create_app(settings)) as client:
        response = _sign_in(client, "sub-fay")

    assert response.status_code == 303


def test_deactivated_user_refused(client: TestClient, provider: Provider) -> None:
    provider.set_user("sub-gil", {"email": "gil@example.org"})
    _sign_in(client, "sub-gil")
    client.cookies.clear()
    admin = login(client, "admin", ADMIN_PASSWORD)
    listed = client.get("/api/users", headers=admin).json()
    gil = next(user for user in listed if user["username"] == "gil")
    client.post(f"/api/users/{gil['id']}/deactivate", headers=admin)

    response = _sign_in(client, "sub-gil")

    assert response.status_code == 403
    assert "cannot log in" in response.text


def test_callback_needs_same_browser(client: TestClient, provider: Provider) -> None:
    provider.set_user("sub-hal", {"email": "hal@example.org"})
    start = client.get("/login/oidc", follow_redirects=False)
    answer = httpx.post(
        start.headers["location"], data={"sub": "sub-hal"}, follow_redirects=False
    )
    parts = urlsplit(answer.headers["location"])
    client.cookies.clear()

    response = client.get(f"{parts.path}?{parts.query}", follow_redirects=False)

    assert response.status_code == 400
    assert "another browser" in response.text


def test_state_works_once(client: TestClient, provider: Provider) -> None:
    provider.set_user("sub-ida", {"email": "ida@example.org"})
    start = client.get("/login/oidc", follow_redirects=False)
    browser_cookie = client.cookies.get("concord_oidc")
    answer = httpx.post(
        start.headers["location"], data={"sub": "sub-ida"}, follow_redirects=False
    )
    parts = urlsplit(answer.headers["location"])
    first = client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    client.cookies.set("concord_oidc", browser_cookie or "", path="/login/oidc")

    again = client.get(f"{parts.path}?{parts.query}", follow_redirects=False)

    assert first.status_code == 303
    assert again.status_code == 400


def test_expired_id_token_rejected(tmp_path: Path) -> None:
    # The provider signs ID tokens that expired ten minutes before they were
    # issued, beyond the client's leeway of one minute.
    with running_provider(token_lifetime=timedelta(minutes=-10)) as expired:
        expired.set_user("sub-jo", {"email": "jo@example.org"})
        with TestClient(create_app(_settings(tmp_path, expired.issuer))) as client:
            response = _sign_in(client, "sub-jo")

    assert response.status_code == 401
    assert "could not be verified" in response.text
    assert "concord_control" not in client.cookies


def test_unreachable_provider(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "http://127.0.0.1:9")

    with TestClient(create_app(settings)) as client:
        response = client.get("/login/oidc", follow_redirects=False)

    assert response.status_code == 503
    assert "cannot be reached" in response.text


def test_not_configured(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "", oidc_issuer=None)

    with TestClient(create_app(settings)) as client:
        response = client.get("/login/oidc", follow_redirects=False)
        page = client.get("/login")

    assert response.status_code == 404
    assert "/login/oidc" not in page.text


def test_login_page_shows_button(client: TestClient) -> None:
    page = client.get("/login")

    assert "Log in with single sign-on" in page.text
    assert "/login/oidc?next=" in page.text


def _provider_tokens(provider: Provider, client_id: str) -> dict[str, Any]:
    """Run a code flow directly against the provider for ``client_id``."""
    nonce = "nonce-for-tests"
    redirect_uri = "http://127.0.0.1:8080/login/oidc/callback"
    query = {
        "client_id": client_id,
        "response_type": "code",
        "scope": "openid email profile",
        "redirect_uri": redirect_uri,
        "nonce": nonce,
        "state": "state-for-tests",
    }
    answer = httpx.post(
        f"{provider.issuer}/oauth2/authorize",
        params=query,
        data={"sub": "sub-kim"},
        follow_redirects=False,
    )
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    token = httpx.post(
        f"{provider.issuer}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
        },
        auth=(client_id, "any-secret"),
    )
    assert token.status_code == 200, token.text
    return {**token.json(), "nonce": nonce}


async def _verify(
    settings: ControlSettings, token: dict[str, Any], nonce: str
) -> dict[str, Any] | None:
    client = make_client(settings)
    assert client is not None
    return await verify_id_token(client, settings, token, nonce)


@pytest.fixture
def tokens(provider: Provider) -> dict[str, dict[str, Any]]:
    """Real token responses of the provider: for us and for another client."""
    provider.set_user("sub-kim", {"email": "kim@example.org"})
    own = _provider_tokens(provider, CLIENT_ID)
    header, payload, signature = own["id_token"].split(".")
    forged = "A" * len(signature)
    return {
        "own": own,
        "foreign": _provider_tokens(provider, "another-application"),
        "tampered": {**own, "id_token": f"{header}.{payload}.{forged}"},
    }


@pytest.mark.anyio
async def test_id_token_accepted(
    tmp_path: Path, provider: Provider, tokens: dict[str, dict[str, Any]]
) -> None:
    own = tokens["own"]

    claims = await _verify(_settings(tmp_path, provider.issuer), own, own["nonce"])

    assert claims is not None
    assert claims["sub"] == "sub-kim"
    assert CLIENT_ID in claims["aud"]
    assert claims["iss"] == provider.issuer


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("token_name", "nonce", "issuer_suffix", "error"),
    [
        ("foreign", "nonce-for-tests", "", InvalidClaimError),
        ("tampered", "nonce-for-tests", "", BadSignatureError),
        ("own", "another-nonce", "", InvalidClaimError),
        ("own", "nonce-for-tests", "/other", InvalidClaimError),
    ],
    ids=["wrong-audience", "tampered", "wrong-nonce", "wrong-issuer"],
)
async def test_id_token_rejected(
    tmp_path: Path,
    provider: Provider,
    tokens: dict[str, dict[str, Any]],
    token_name: str,
    nonce: str,
    issuer_suffix: str,
    error: type[Exception],
) -> None:
    settings = _settings(tmp_path, provider.issuer + issuer_suffix)
    # Keep discovery at the real provider while the expected issuer differs.
    client = make_client(_settings(tmp_path, provider.issuer))
    assert client is not None

    with pytest.raises(error):
        await verify_id_token(client, settings, tokens[token_name], nonce)
