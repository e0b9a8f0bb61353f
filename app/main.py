"""The ASGI application: ``create_app()`` wires settings, database, routers and conventions."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core import migrations
from app.core.config import PLACEHOLDER_ADMIN_TOKEN, Settings, get_settings
from app.core.db import create_engine, create_sessionmaker
from app.core.docs import install_docs
from app.core.embedded import EmbeddedPostgres
from app.core.errors import Problem, install_error_handlers, problem_responses
from app.core.keycache import KeyCache
from app.core.links import add_links
from app.core.logging import configure_logging
from app.core.middleware import RequestMiddleware
from app.core.ratelimit import RateLimiter
from app.routers import ROUTERS
from app.schemas.common import TIME_ZONE_MARKER, time_zone_schema
from app.services.webhook_delivery import refresh_queue_metrics
from app.services.webhook_openapi import add_webhooks

log = logging.getLogger(__name__)

DESCRIPTION = """Career conversations between employees and their managers or mentors:
preparation and agendas, career goals, action plans, feedback and follow-ups, with
Standard Webhooks notifications. See `openapi.md` for the integrator's guide.

Authenticate with `Authorization: Bearer cck_live_…` (use **Authorize** above)."""


OPENAPI_TAGS = [
    {"name": "people", "description": "Employees, managers and mentors, synced from the HRIS."},
    {"name": "mentorships", "description": "Mentor and mentee pairings."},
    {"name": "conversations", "description": "Career conversations and their lifecycle."},
    {"name": "agenda items", "description": "Talking points either party adds to a conversation."},
    {"name": "notes", "description": "Shared notes, and private notes only their author sees."},
    {"name": "goals", "description": "Career goals agreed by employee and facilitator."},
    {"name": "action plans", "description": "Plans and the steps (action items) that carry them."},
    {"name": "feedback", "description": "Feedback between people, and requests for it."},
    {"name": "follow-ups", "description": "Dated check-ins after a conversation."},
    {"name": "events", "description": "The event log: every change, in commit order."},
    {"name": "webhooks", "description": "Endpoints, signed deliveries and their attempts."},
    {"name": "tenant", "description": "The calling key's tenant."},
    {"name": "admin", "description": "Platform administration (admin token)."},
    {"name": "health", "description": "Liveness, readiness and metrics."},
]


def listen_dsn(engine: AsyncEngine) -> str:
    """A plain asyncpg DSN for the engine's database (for LISTEN connections)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _refer_time_zones(node: Any) -> None:
    """Turn each time zone field's marker into a reference to the component (a field's
    own description and default stay beside it)."""
    if isinstance(node, dict):
        if node.pop(TIME_ZONE_MARKER, None):
            node["$ref"] = "#/components/schemas/TimeZone"
        for value in node.values():
            _refer_time_zones(value)
    elif isinstance(node, list):
        for value in node:
            _refer_time_zones(value)


def create_app(
    settings: Settings | None = None,
    *,
    engine: AsyncEngine | None = None,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    run_worker: bool = False,
) -> FastAPI:
    """Build the app. Tests pass their own engine/sessionmaker; ``ccapi serve`` passes none,
    so the lifespan connects (starting embedded PostgreSQL if needed) and migrates."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        embedded: EmbeddedPostgres | None = None
        owned_engine: AsyncEngine | None = None
        if engine is None:
            url = settings.database_url
            if not url:
                embedded = EmbeddedPostgres(settings.data_dir)
                url = await asyncio.to_thread(embedded.start)
            await asyncio.to_thread(migrations.upgrade, url)
            owned_engine = create_engine(url, settings)
            app.state.engine = owned_engine
            app.state.sessionmaker = create_sessionmaker(owned_engine)
        app.state.key_cache.start(listen_dsn(app.state.engine))
        background: Any = None
        if run_worker:
            from app.services.worker import BackgroundWorkers

            background = BackgroundWorkers(app.state.engine, app.state.sessionmaker, settings)
            await background.start()
        if settings.admin_token == PLACEHOLDER_ADMIN_TOKEN:
            # Refused outside development (Settings); here it still opens /v1/admin/*.
            log.warning(
                "CCAPI_ADMIN_TOKEN is the placeholder 'change-me': anyone who can reach this "
                "server can administer it; set a secret of your own"
            )
        # Everything built so far (routes, schemas, SQLAlchemy metadata) lives as long as the
        # process: keep it out of the collector's sight, so a full collection scans only
        # what requests allocate (full collections over it paused requests for tens of ms).
        gc.collect()
        gc.freeze()
        log.info("ready", extra={"worker": run_worker, "embedded_db": embedded is not None})
        try:
            yield
        finally:
            if background is not None:
                await background.stop()
            await app.state.key_cache.stop()
            if owned_engine is not None:
                await owned_engine.dispose()
            if embedded is not None:
                await asyncio.to_thread(embedded.stop)

    app = FastAPI(
        title="Career Conversations API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_tags=OPENAPI_TAGS,
    )
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.key_cache = KeyCache()
    app.state.head_revision = migrations.head_revision()
    if engine is not None:
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker or create_sessionmaker(engine)

    async def refresh_metrics() -> None:
        await refresh_queue_metrics(app.state.sessionmaker)

    app.state.refresh_metrics = refresh_metrics

    install_error_handlers(app)
    install_docs(app)
    for router in ROUTERS:
        app.include_router(router)
    # Which methods each path allows, for the Allow header of a 405 (core/errors.py).
    app.state.route_methods = [
        (route.path_regex, route.methods)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    app.add_middleware(RequestMiddleware, max_bytes=settings.max_body_bytes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
            Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        # Every time zone field refers to one component listing the accepted names.
        schema["components"]["schemas"]["TimeZone"] = time_zone_schema()
        _refer_time_zones(schema)
        add_webhooks(schema)
        add_links(schema)
        # A body that cannot be read at all (not JSON, not UTF-8, nested past the parser's
        # limit) is a 400 before any field is validated: documented wherever there is one.
        bad_request = problem_responses(400)[400]
        bad_request = {k: v for k, v in bad_request.items() if k != "model"}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                if "requestBody" in operation:
                    operation["responses"].setdefault("400", bad_request)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_factory() -> FastAPI:
    """Entry point for ``uvicorn --factory app.main:app_factory``."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings, run_worker=True)
