"""The control plane's FastAPI application.

Run it with ``uvicorn concord.control.app:create_app --factory``; called
without arguments, ``create_app`` reads its settings from the environment.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import SecretStr

from concord import __version__
from concord.common.apidocs import mount_api_docs
from concord.common.http import install_error_handlers
from concord.control import (
    admin,
    clusters,
    events,
    feed_members,
    feeds,
    invitations,
    oidc,
    pages,
    projects,
    results,
    tokens,
    users,
)
from concord.control.authorization import check_csrf, check_routes
from concord.control.database import open_database
from concord.control.limits import install_body_limit
from concord.control.schemas import Health
from concord.control.security import Passwords
from concord.control.settings import ControlSettings
from concord.control.signing import load_or_create_signer
from concord.control.throttle import TooManyAttempts

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
ROUTERS = (
    users.router,
    tokens.router,
    projects.router,
    invitations.router,
    feeds.router,
    feed_members.router,
    results.router,
    clusters.router,
    events.router,
    admin.router,
    oidc.router,
    invitations.pages,
    pages.router,
)


def create_app(settings: ControlSettings | None = None) -> FastAPI:
    """Build the app; the database is opened and migrated when it starts.

    Every route depends on ``check_csrf`` and through it on ``authorize``,
    which enforces the permission table. Raises MissingPermission when a
    route has no rule in that table.
    """
    settings = settings or ControlSettings()
    app = FastAPI(
        title="Concord control plane",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(settings),
        dependencies=[Depends(check_csrf)],
    )
    install_error_handlers(app)
    _install_rate_limit_handler(app)
    pages.install_page_handlers(app)
    install_body_limit(app)
    mount_api_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/health", tags=["health"])
    def health() -> Health:
        return Health()

    for router in ROUTERS:
        app.include_router(router)
    app.state.oidc = oidc.make_client(settings)
    check_routes(app)
    return app


def _install_rate_limit_handler(app: FastAPI) -> None:
    @app.exception_handler(TooManyAttempts)
    async def _too_many(request: Request, exc: TooManyAttempts) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


def _lifespan(
    settings: ControlSettings,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = open_database(settings.resolved_database_url)
        passwords = Passwords(fast=settings.password_hash_fast)
        with database.sessions() as session:
            signer = load_or_create_signer(session)
            generated = users.bootstrap_admin(
                session,
                passwords,
                settings.admin_username,
                _secret(settings.admin_password),
            )
            bootstrap_token = _secret(settings.join_token)
            if bootstrap_token:
                clusters.register_bootstrap_token(session, bootstrap_token)
        if generated is not None:
            # The terminal, not the log: log files are kept and shipped.
            sys.stdout.write(users.admin_banner(settings.admin_username, generated))
            sys.stdout.flush()
        app.state.settings = settings
        app.state.database = database
        app.state.passwords = passwords
        app.state.signer = signer
        logger.info("control plane started at %s", settings.resolved_public_url)
        try:
            yield
        finally:
            database.close()
            logger.info("control plane stopped")

    return lifespan


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() or None if value is not None else None
