"""Single sign-on with OpenID Connect, through Authlib's Starlette client.

``GET /login/oidc`` sends the browser to the provider with a fresh state,
nonce and PKCE verifier. The provider sends it back to
``GET /login/oidc/callback``, where the code is exchanged for tokens and the
ID token is checked: its signature against the provider's JWKS, then issuer,
audience, nonce and expiry. The person is matched to a user by the
(issuer, subject) link; a first sign-in creates a user only when the settings
allow it.

The pending sign-in lives in the database rather than in a cookie session, so
any replica can finish it. A random cookie ties it to the browser that
started it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from joserfc.errors import JoseError
from sqlalchemy.orm import Session

from concord.control import audit
from concord.control.auth import SessionDep
from concord.control.models import OidcIdentity, OidcLogin, User, utcnow
from concord.control.pages import SettingsDep, render_error, safe_next, signed_in
from concord.control.security import Passwords, new_secret, sha256_hex
from concord.control.settings import ControlSettings
from concord.control.state import get_passwords
from concord.control.users import create_user, find_user

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/login/oidc/callback"
BROWSER_COOKIE = "concord_oidc"
SIGN_IN_LIFETIME = timedelta(minutes=10)
# Allowed clock difference with the provider when checking exp and iat.
LEEWAY_SECONDS = 60
SCOPES = "openid email profile"
_USERNAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_.@\-]+")


class SignInRefused(Exception):
    """A single sign-on that cannot complete; the message is shown to the user
    with HTTP status ``status``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class StartedSignIn:
    url: str
    browser_key: str


def make_client(settings: ControlSettings) -> StarletteOAuth2App | None:
    """Return the provider's client, or None when single sign-on is off."""
    if not settings.oidc_enabled:
        return None
    assert settings.oidc_issuer is not None
    secret = settings.oidc_client_secret
    oauth = OAuth()
    client = oauth.register(
        "concord",
        client_id=settings.oidc_client_id,
        client_secret=secret.get_secret_value() if secret is not None else None,
        server_metadata_url=discovery_url(settings.oidc_issuer),
        client_kwargs={"scope": SCOPES, "code_challenge_method": "S256"},
    )
    assert isinstance(client, StarletteOAuth2App)
    return client


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


async def start_sign_in(
    session: Session,
    client: StarletteOAuth2App,
    settings: ControlSettings,
    next_path: str,
) -> StartedSignIn:
    """Store a pending sign-in and return the provider URL to redirect to."""
    redirect_uri = settings.resolved_public_url + CALLBACK_PATH
    try:
        created = await client.create_authorization_url(redirect_uri)
    except (httpx.HTTPError, AuthlibBaseError, RuntimeError, ValueError) as exc:
        logger.error("cannot reach the OpenID provider: %s", type(exc).__name__)
        raise SignInRefused(
            "The single sign-on provider cannot be reached. Try again later or "
            "log in with your password.",
            503,
        ) from None
    browser_key = new_secret()
    session.add(
        OidcLogin(
            id=sha256_hex(created["state"]),
            browser_hash=sha256_hex(browser_key),
            nonce=created["nonce"],
            code_verifier=created.get("code_verifier"),
            redirect_uri=redirect_uri,
            next_path=next_path,
            expires_at=utcnow() + SIGN_IN_LIFETIME,
        )
    )
    session.commit()
    return StartedSignIn(url=created["url"], browser_key=browser_key)


def _take_pending(
    session: Session, state: str, browser_key: str | None
) -> OidcLogin:
    """Remove and return the pending sign-in of ``state`` for this browser."""
    row = session.get(OidcLogin, sha256_hex(state)) if state else None
    if row is not None:
        session.delete(row)
        session.commit()
    if (
        row is None
        or row.expires_at <= utcnow()
        or not browser_key
        or sha256_hex(browser_key) != row.browser_hash
    ):
        raise SignInRefused(
            "This sign-in link is invalid or has expired, or was started in "
            "another browser. Start again from the login page.",
            400,
        )
    return row


async def finish_sign_in(
    session: Session,
    client: StarletteOAuth2App,
    settings: ControlSettings,
    params: dict[str, str],
    browser_key: str | None,
) -> dict[str, Any]:
    """Exchange the code and return the verified claims of the ID token."""
    if params.get("error"):
        raise SignInRefused(
            f"The single sign-on provider rejected the sign-in "
            f"({params['error'][:64]}). Start again from the login page.",
            401,
        )
    pending = _take_pending(session, params.get("state", ""), browser_key)
    assert settings.oidc_issuer is not None and settings.oidc_client_id is not None
    try:
        token = await client.fetch_access_token(
            code=params.get("code", ""),
            redirect_uri=pending.redirect_uri,
            code_verifier=pending.code_verifier,
        )
        claims = await verify_id_token(client, settings, token, pending.nonce)
    except (httpx.HTTPError, AuthlibBaseError, JoseError, KeyError, ValueError) as exc:
        logger.warning("single sign-on failed: %s", type(exc).__name__)
        raise SignInRefused(
            "The sign-in could not be verified: the provider's response was invalid, "
            "expired or meant for another application. Start again from the "
            "login page.",
            401,
        ) from None
    if claims is None:
        raise SignInRefused("The provider sent no ID token. Ask an administrator.", 401)
    return claims


async def verify_id_token(
    client: StarletteOAuth2App,
    settings: ControlSettings,
    token: dict[str, Any],
    nonce: str,
) -> dict[str, Any] | None:
    """Return the claims of the token response's ID token, or None without one.

    Raises joserfc's errors for a bad signature (checked against the JWKS),
    a wrong issuer, audience or nonce, and an expired token.
    """
    claims = await client.parse_id_token(
        token,
        nonce=nonce,
        claims_options=_claims_options(settings),
        leeway=LEEWAY_SECONDS,
    )
    return dict(claims) if claims is not None else None


def _claims_options(settings: ControlSettings) -> dict[str, Any]:
    """Require the configured issuer and this client as audience.

    Authlib checks neither on its own, only the issuer from the metadata.
    """
    issuer = (settings.oidc_issuer or "").rstrip("/")
    return {
        "iss": {"essential": True, "values": [issuer, issuer + "/"]},
        "aud": {"essential": True, "value": settings.oidc_client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
    }


def _username_candidates(claims: dict[str, Any]) -> Iterator[str]:
    email = str(claims.get("email") or "")
    wanted = str(claims.get("preferred_username") or email.split("@")[0] or "user")
    base = _USERNAME_CHARACTERS.sub("-", wanted).strip("-")[:56] or "user"
    yield base
    for number in range(2, 100):
        yield f"{base}-{number}"


def _may_create(settings: ControlSettings, claims: dict[str, Any]) -> bool:
    if settings.oidc_auto_create:
        return True
    email = str(claims.get("email") or "")
    if "@" not in email or claims.get("email_verified") is False:
        return False
    # NOTE: a provider that omits email_verified is trusted to have checked
    # the address; configure such providers with care.
    return email.rsplit("@", 1)[1].lower() in settings.oidc_domains


def account_for(
    session: Session,
    passwords: Passwords,
    settings: ControlSettings,
    claims: dict[str, Any],
) -> tuple[User, bool]:
    """Return the user linked to the claims' (issuer, subject) and whether it
    was created now; raise SignInRefused when there is none and none may be
    created."""
    issuer, subject = str(claims["iss"]), str(claims["sub"])
    link = session.get(OidcIdentity, (issuer, subject))
    if link is not None:
        user = session.get(User, link.user_id)
        assert user is not None, "oidc_identities.user_id is a foreign key"
        return user, False
    if not _may_create(settings, claims):
        raise SignInRefused(
            "No Concord account is linked to this single sign-on account, and "
            "this server does not create accounts for it. Ask a project manager "
            "for an invitation.",
            403,
        )
    candidates = _username_candidates(claims)
    free = (name for name in candidates if find_user(session, name) is None)
    username = next(free, None)
    if username is None:
        raise SignInRefused("No free username was found. Ask an administrator.", 409)
    # The random password is never shown: the account signs in through the
    # provider only.
    user = create_user(session, passwords, username, new_secret())
    session.add(OidcIdentity(issuer=issuer, subject=subject, user_id=user.id))
    return user, True


router = APIRouter(include_in_schema=False)
NOT_CONFIGURED = (
    "Single sign-on is not configured on this server. Log in with your password."
)


def _client(request: Request) -> StarletteOAuth2App | None:
    return request.app.state.oidc


@router.get("/login/oidc")
async def oidc_start(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    next_path: Annotated[str, Query(alias="next", max_length=2048)] = "/",
) -> Response:
    """Send the browser to the provider's authorization endpoint."""
    client = _client(request)
    if client is None:
        return render_error(request, 404, NOT_CONFIGURED, {})
    try:
        started = await start_sign_in(session, client, settings, safe_next(next_path))
    except SignInRefused as exc:
        return render_error(request, exc.status, str(exc), {})
    response = RedirectResponse(started.url, status_code=302)
    response.set_cookie(
        BROWSER_COOKIE,
        started.browser_key,
        max_age=int(SIGN_IN_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/login/oidc",
    )
    return response


@router.get(CALLBACK_PATH)
async def oidc_callback(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    passwords: Annotated[Passwords, Depends(get_passwords)],
) -> Response:
    """Verify the provider's answer and start a session for the linked user."""
    client = _client(request)
    if client is None:
        return render_error(request, 404, NOT_CONFIGURED, {})
    address = audit.client_address(request)
    params = dict(request.query_params)
    browser_key = request.cookies.get(BROWSER_COOKIE)
    try:
        pending_next = _pending_next(session, params.get("state", ""))
        claims = await finish_sign_in(session, client, settings, params, browser_key)
        user, created = account_for(session, passwords, settings, claims)
        if not user.active:
            raise SignInRefused(
                "This account cannot log in. Ask an administrator.", 403
            )
    except SignInRefused as exc:
        audit.record(
            session, "login.failed", address=address, details={"method": "oidc"}
        )
        session.commit()
        return render_error(request, exc.status, str(exc), {})
    if created:
        audit.record(
            session,
            "user.created",
            actor=user,
            object_type="user",
            object_id=user.id,
            address=address,
            details={"username": user.username, "method": "oidc"},
        )
    audit.record(
        session, "login", actor=user, address=address, details={"method": "oidc"}
    )
    response = signed_in(session, user, settings, pending_next)
    response.delete_cookie(BROWSER_COOKIE, path="/login/oidc")
    logger.info("user %s logged in by single sign-on", user.id)
    return response


def _pending_next(session: Session, state: str) -> str:
    row = session.get(OidcLogin, sha256_hex(state)) if state else None
    return row.next_path if row is not None else "/"
