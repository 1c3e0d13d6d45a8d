"""The cluster's FastAPI application and its lifecycle."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from concord import __version__
from concord.cluster import api, pages
from concord.cluster.context import ClusterContext
from concord.cluster.database import Database
from concord.cluster.joining import Joiner, load_existing
from concord.cluster.outbox import OutboxSender
from concord.cluster.security import check_routes
from concord.cluster.settings import ClusterSettings
from concord.cluster.tokenization import Tokenizer
from concord.common.apidocs import mount_api_docs
from concord.common.http import BodySizeLimit, install_error_handlers

logger = logging.getLogger(__name__)

# Allocations before a young collection, and young (then middle) collections
# before the next older one. Python's defaults are 700, 10 and 10.
GC_THRESHOLDS = (50_000, 50, 1_000)

MAX_JSON_BODY_BYTES = 8 * 1024 * 1024


def _is_import(path: str) -> bool:
    return path.startswith("/api/datasets/") and path.endswith("/import")


def create_app(settings: ClusterSettings | None = None) -> FastAPI:
    """Build the cluster app; with no settings they come from the environment."""
    settings = settings or ClusterSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url)
    context = ClusterContext(
        settings=settings, db=database, tokenizer=Tokenizer(settings.spacy_language)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database.migrate()
        context.membership = load_existing(context)
        joiner = None
        if context.membership is None:
            joiner = Joiner(context)
            joiner.start()
        sender = OutboxSender(context)
        sender.start()
        # The modules, the tokenizer and the settings loaded so far live as
        # long as the process: moving them out of the collector's generations
        # shortens every full collection, which pauses all requests. Larger
        # thresholds make collections rarer: a full one paused every request
        # for 100 to 250 ms in the load benchmark, which set its p99 latency.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        logger.info("cluster started at %s", settings.resolved_public_url)
        try:
            yield
        finally:
            sender.stop()
            if joiner is not None:
                joiner.stop()
            database.dispose()
            logger.info("cluster stopped")

    app = FastAPI(
        title="Concord cluster",
        version=__version__,
        description="The data plane: datasets, feeds, annotations, quality and exports.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = context
    install_error_handlers(app)
    mount_api_docs(app)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount(
        "/static",
        StaticFiles(directory=Path(__file__).parent / "static"),
        name="static",
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[settings.resolved_control_public_url],
        allow_credentials=False,
        allow_methods=["GET"],
    )
    app.add_middleware(
        BodySizeLimit, max_bytes=MAX_JSON_BODY_BYTES, exempt=_is_import
    )
    check_routes(app)
    return app
