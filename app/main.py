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

from app.background.webhook_delivery import refresh_queue_metrics
from app.core import migrations
from app.core.config import PLACEHOLDER_ADMIN_TOKEN, Settings, get_settings
from app.core.db import create_engine, create_sessionmaker
from app.core.docs import install_docs
from app.core.embedded import EmbeddedPostgres
from app.core.errors import Problem, install_error_handlers, problem_responses
from app.core.keycache import KeyCache
from app.core.links import add_links
from app.core.logging import configure_logging
from app.core.middleware import AllowedOrigins, CorsMiddleware, RequestMiddleware
from app.core.ratelimit import RateLimits
from app.routers import ROUTERS
from app.schemas.common import TIME_ZONE_MARKER, time_zone_schema
from app.services import webhooks
from app.services.webhook_openapi import add_webhooks

log = logging.getLogger(__name__)

DESCRIPTION = """Career conversations between employees and their managers or mentors:
preparation and agendas, career goals, action plans, feedback and follow-ups, with
Standard Webhooks notifications. The [integrator's guide](guide) (served at `/guide`)
explains the conventions and walks through every resource with runnable examples.

Authenticate with `Authorization: Bearer cck_live_…` (use **Authorize** above); a browser
front-end uses a person session token (`ccs_…`) instead."""


# Each resource's tag says who sees it and who may change it when a key acts for a person
# (`Acting-Person` or a person session): the guide's "Who sees what" tables, in short;
# app/services/visibility.py is the rule.
OPENAPI_TAGS = [
    {
        "name": "people",
        "description": "Employees, managers and mentors, synced from the HRIS. As a person: "
        "everyone sees the directory, without `external_id` and `metadata`; only the platform "
        "writes.",
    },
    {
        "name": "mentorships",
        "description": "Mentor and mentee pairings. As a person: seen by the mentor, the "
        "mentee and the mentee's managers; written by the platform, ended by either party.",
    },
    {
        "name": "conversations",
        "description": "Career conversations and their lifecycle. As a person: seen by the "
        "employee, the facilitator, the employee's managers (`managers_see_reports`) and, for "
        "a mentorship conversation, the active mentor; created by a party or a manager of the "
        "employee, changed and moved through their lifecycle by a party.",
    },
    {
        "name": "agenda items",
        "description": "Talking points either party adds to a conversation. As a person: seen "
        "with the conversation, a sealed item only by its author until the preparation is "
        "revealed; added by a party as its author, changed by the author.",
    },
    {
        "name": "notes",
        "description": "Shared notes, and private notes only their author sees. As a person: "
        "shared notes are seen with the conversation, private ones by their author only "
        "(never by the platform); added by a party as the author, changed by the author.",
    },
    {
        "name": "agenda templates",
        "description": "Named, ordered talking points a conversation's agenda starts from "
        "(`template_id` on create or schedule); built-ins in every tenant, read-only. As a "
        "person: everyone in the tenant sees them; only the platform writes.",
    },
    {
        "name": "goals",
        "description": "Career goals agreed by employee and facilitator. As a person: seen by "
        "the owner, the owner's managers, the facilitator who agreed, the facilitator of a "
        "linked conversation and the owner's active mentor; created by the owner or a "
        "manager; `agree` records the acting person's side.",
    },
    {
        "name": "action plans",
        "description": "Plans and the steps (action items) that carry them. As a person: seen "
        "by the owner, the owner's managers, the facilitator of its conversation or goal and "
        "the items' assignees; changed by the owner, a manager or that facilitator, an item "
        "also by its assignee.",
    },
    {
        "name": "feedback",
        "description": "Feedback between people, and requests for it. As a person: feedback "
        "is seen by the giver, the recipient and (`recipient_and_manager`) the recipient's "
        "manager, written by the giver; a request by the requester and the responder, "
        "answered or declined by the responder.",
    },
    {
        "name": "follow-ups",
        "description": "Dated check-ins after a conversation. As a person: seen and changed by "
        "the conversation's parties and the assignee.",
    },
    {
        "name": "events",
        "description": "The event log: every change, in commit order. As a person: the events "
        "whose subject the person sees now.",
    },
    {
        "name": "webhooks",
        "description": "Endpoints, signed deliveries and their attempts. The platform only.",
    },
    {"name": "tenant", "description": "The calling key's tenant. The platform only."},
    {
        "name": "person sessions",
        "description": "Short-lived tokens a browser front-end uses to act for one person. "
        "The platform only.",
    },
    {"name": "admin", "description": "Platform administration (admin token)."},
    {"name": "health", "description": "Liveness, readiness and metrics."},
]


def listen_dsn(engine: AsyncEngine) -> str:
    """A plain asyncpg DSN for the engine's database (for LISTEN connections)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


RATE_LIMIT_HEADERS: dict[str, dict[str, Any]] = {
    "RateLimit-Policy": {
        "description": "The limit this answer counts against (IETF draft "
        'draft-ietf-httpapi-ratelimit-headers): `"default";q=600;w=60` is 600 requests per '
        'API key a 60-second window; `"auth";q=30;w=60` (on 401s and the 429s they lead '
        "to) 30 failed authentications per client address.",
        "schema": {"type": "string"},
        "example": '"default";q=600;w=60',
    },
    "RateLimit": {
        "description": "What is left of that limit: `r` requests remaining and `t` seconds "
        'until the window resets, e.g. `"default";r=42;t=17`.',
        "schema": {"type": "string"},
        "example": '"default";r=42;t=17',
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying (the window's reset).",
        "schema": {"type": "integer"},
        "example": 17,
    },
}


def add_rate_limit_headers(schema: dict[str, Any]) -> None:
    """Every response of an operation authenticated by an API key carries the RateLimit
    headers (a 429 also Retry-After): one shared component each, referenced."""
    schema.setdefault("components", {})["headers"] = RATE_LIMIT_HEADERS
    refs = {name: {"$ref": f"#/components/headers/{name}"} for name in RATE_LIMIT_HEADERS}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if {"ApiKey": []} not in operation.get("security", []):
                continue
            for status, response in operation.get("responses", {}).items():
                headers = response.setdefault("headers", {})
                headers["RateLimit-Policy"] = refs["RateLimit-Policy"]
                headers["RateLimit"] = refs["RateLimit"]
                if status == "429":
                    headers["Retry-After"] = refs["Retry-After"]


ACTING_PERSON_PARAMETER = {
    "name": "Acting-Person",
    "in": "header",
    "required": False,
    "description": "Act for this person of your tenant: the answer is exactly what they may "
    "see, and a write is checked against what they may do (403 `not_permitted` otherwise). "
    "Without it the key acts as the platform. An id that is not a person of your tenant is a "
    '422 naming this header. See "Who sees what" in the guide.',
    "schema": {"type": "string", "format": "uuid"},
}


def add_acting_person(schema: dict[str, Any]) -> None:
    """Every operation authenticated by an API key takes ``Acting-Person``: one shared
    parameter, referenced (``app/core/auth.py`` reads it)."""
    components = schema.setdefault("components", {})
    components.setdefault("parameters", {})["ActingPerson"] = ACTING_PERSON_PARAMETER
    unprocessable = problem_responses(422)[422]
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if {"ApiKey": []} not in operation.get("security", []):
                continue
            parameters = operation.setdefault("parameters", [])
            parameters.append({"$ref": "#/components/parameters/ActingPerson"})
            answer = {k: v for k, v in unprocessable.items() if k != "model"}
            operation["responses"].setdefault("422", answer)


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


# Relative to where the document is served from: the API and its docs share a server (a
# proxy's prefix, given as root_path, is put in front by FastAPI when it serves the document).
SERVERS = [{"url": "/", "description": "This server: the one serving this document."}]
LICENSE = {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"}


def declare_no_security(schema: dict[str, Any]) -> None:
    """Operations that need no credentials say so (``security: []``) instead of saying
    nothing: the health routes, and the webhook requests this API sends (their receivers
    check the signature headers, not an OpenAPI security scheme)."""
    for section in ("paths", "webhooks"):
        for operations in schema.get(section, {}).values():
            for operation in operations.values():
                operation.setdefault("security", [])


def plain_optional_parameters(schema: dict[str, Any]) -> None:
    """An optional header or query parameter is a plain value that may be left out: drop
    the ``null`` branch pydantic gives ``X | None`` (a header or a query string cannot send
    a JSON null; docs showed "string or null" and clients typed it ``None | str | Unset``)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("required") or parameter.get("in") not in ("header", "query"):
                    continue
                param_schema = parameter.get("schema", {})
                branches = param_schema.get("anyOf")
                if not branches or {"type": "null"} not in branches:
                    continue
                others = [b for b in branches if b != {"type": "null"}]
                rest = {k: v for k, v in param_schema.items() if k != "anyOf"}
                if len(others) == 1:
                    parameter["schema"] = {**others[0], **rest}
                else:
                    parameter["schema"] = {"anyOf": others, **rest}
                # None would otherwise be the documented default of a parameter left out.
                if parameter["schema"].get("default", 0) is None:
                    del parameter["schema"]["default"]


def restore_example_nulls(schema: dict[str, Any]) -> None:
    """FastAPI writes the document with ``exclude_none``, which also strips the nulls out of
    the schemas' examples: a read example then lacks its required nullable fields
    (``ended_at``...) and fails its own schema. Put them back as null."""
    components = schema.get("components", {}).get("schemas", {})

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            return resolve(components.get(ref.rsplit("/", 1)[1], {}))
        return node

    def fill(value: Any, node: dict[str, Any]) -> None:
        node = resolve(node)
        branches = [resolve(b) for b in node.get("anyOf", []) if b != {"type": "null"}]
        if len(branches) == 1:
            node = branches[0]
        if isinstance(value, dict):
            properties = node.get("properties", {})
            for name in node.get("required", []):
                if name not in value and {"type": "null"} in properties.get(name, {}).get(
                    "anyOf", []
                ):
                    value[name] = None
            for name, item in value.items():
                if name in properties:
                    fill(item, properties[name])
            # In the schema's order, as the API writes it.
            ordered = {name: value[name] for name in properties if name in value}
            ordered.update(value)
            value.clear()
            value.update(ordered)
        elif isinstance(value, list) and isinstance(node.get("items"), dict):
            for item in value:
                fill(item, node["items"])

    for component in components.values():
        for example in component.get("examples", []):
            fill(example, component)


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
    # Every event a request writes queues its webhook deliveries in the same transaction.
    webhooks.register_hooks()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        embedded: EmbeddedPostgres | None = None
        owned_engine: AsyncEngine | None = None
        # Reads (in development, creates) the key sealing webhook secrets: a bad key
        # stops the start here rather than at the first delivery.
        _ = settings.keyring
        if settings.secret_key is None:
            # Refused outside development (Settings).
            log.warning(
                "CCAPI_SECRET_KEY is not set: webhook secrets are sealed with a development "
                f"key kept in {settings.development_key_path}; set CCAPI_SECRET_KEY outside "
                "development (`ccapi generate-secret-key` makes one)"
            )
        supervisor: asyncio.Task[None] | None = None
        stop_supervising = asyncio.Event()
        if engine is None:
            url = settings.database_url
            if not url:
                embedded = EmbeddedPostgres(settings.data_dir)
                url = await asyncio.to_thread(embedded.start)
            await asyncio.to_thread(migrations.upgrade, url, settings)
            if embedded is not None:
                # Restarted (with backoff) if it dies; requests answer 503 meanwhile.
                supervisor = asyncio.create_task(
                    embedded.supervise(stop_supervising), name="embedded-postgres-supervisor"
                )
            owned_engine = create_engine(url, settings)
            app.state.engine = owned_engine
            app.state.sessionmaker = create_sessionmaker(owned_engine)
        app.state.key_cache.start(listen_dsn(app.state.engine))
        background: Any = None
        if run_worker:
            from app.background.worker import BackgroundWorkers

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
            await app.state.rate_limits.close()
            if owned_engine is not None:
                await owned_engine.dispose()
            if supervisor is not None:
                stop_supervising.set()
                await supervisor
            if embedded is not None:
                await asyncio.to_thread(embedded.stop)

    app = FastAPI(
        title="Career Conversations API",
        version="1.0.0",
        description=DESCRIPTION,
        license_info=LICENSE,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_tags=OPENAPI_TAGS,
    )
    app.state.settings = settings
    app.state.rate_limits = RateLimits.from_settings(settings)
    app.state.key_cache = KeyCache(connect_timeout=settings.db_connect_timeout)
    app.state.allowed_origins = AllowedOrigins(app.state.key_cache)
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
        if isinstance(route, APIRoute) and route.include_in_schema
    ]
    # Inside RequestMiddleware: a preflight gets a request id, a log line and metrics too.
    app.add_middleware(CorsMiddleware, origins=app.state.allowed_origins)
    app.add_middleware(RequestMiddleware, max_bytes=settings.max_body_bytes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            license_info=app.license_info,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        schema["servers"] = SERVERS
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem.pop("$defs", {}))
        schemas["Problem"] = problem
        # Every time zone field refers to one component listing the accepted names.
        schemas["TimeZone"] = time_zone_schema()
        _refer_time_zones(schema)
        restore_example_nulls(schema)
        add_webhooks(schema)
        add_links(schema)
        # A body that cannot be read at all (not JSON, not UTF-8, nested past the parser's
        # limit) is a 400 before any field is validated: documented wherever there is one.
        # A body in another media type than JSON is a 415.
        documented = problem_responses(400, 415)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                if "requestBody" in operation:
                    for status in (400, 415):
                        answer = {k: v for k, v in documented[status].items() if k != "model"}
                        operation["responses"].setdefault(str(status), answer)
        add_acting_person(schema)
        add_rate_limit_headers(schema)
        declare_no_security(schema)
        plain_optional_parameters(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_factory() -> FastAPI:
    """Entry point for ``uvicorn --factory app.main:app_factory``."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings, run_worker=True)
