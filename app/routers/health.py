"""Liveness, readiness and metrics: unauthenticated, outside ``/v1``."""

from __future__ import annotations

import logging

from fastapi import Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.core.db import RequestDb
from app.core.errors import (
    PROBLEM_BASE,
    PROBLEM_CONTENT_TYPE,
    database_unavailable,
    problem_response,
    problem_responses,
)
from app.routers.base import IndexedRouter

log = logging.getLogger(__name__)
router = IndexedRouter(tags=["health"])


class Health(BaseModel):
    # database and migration are null on /healthz, and always in the answer.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    status: str
    database: str | None = None
    migration: str | None = None


@router.get("/healthz", operation_id="healthz", summary="Liveness")
async def healthz() -> Health:
    """Answers 200 while the process is up."""
    return Health(status="ok")


# /readyz's 503 is its own: not_ready, not the database_unavailable of the API routes.
NOT_READY = problem_responses(503)
NOT_READY[503]["content"][PROBLEM_CONTENT_TYPE]["example"] = {
    "type": PROBLEM_BASE + "not-ready",
    "title": "Not ready",
    "status": 503,
    "code": "not_ready",
    "detail": "The database is not reachable.",
    "instance": "/readyz",
    "request_id": "req_5f0c2b6e8d9a4c1e9b7a3d2f1e0c4b6a",
}


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="Readiness",
    responses=NOT_READY,
)
async def readyz(request: Request) -> Response:
    """200 when the database answers and its schema is at the latest migration, else 503."""
    expected = request.app.state.head_revision
    # On the engine's pool, not the app's sessionmaker (tests bind that to one connection),
    # with a request's discipline: bounded by the connect and statement timeouts, and a
    # connection that failed is discarded rather than pooled again.
    db = RequestDb(async_sessionmaker(request.app.state.engine))
    try:
        raw = await db.raw()
        current = await raw.fetchval("SELECT version_num FROM alembic_version")
    except Exception as exc:
        log.warning("readiness check failed", extra={"error": repr(exc)[:300]})
        if database_unavailable(exc):
            db.discard(exc)
        return problem_response(
            request,
            status=503,
            code="not_ready",
            title="Not ready",
            detail="The database is not reachable.",
            headers={"Retry-After": "1"},
        )
    finally:
        await db.close()
    if current != expected:
        return problem_response(
            request,
            status=503,
            code="not_ready",
            title="Not ready",
            detail=f"The database is at migration {current}, expected {expected}.",
        )
    return Response(
        Health(status="ok", database="ok", migration=current).model_dump_json(),
        media_type="application/json",
    )


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "The Prometheus text exposition format, version 0.0.4."}},
)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition: HTTP traffic, events and webhook delivery figures."""
    refresh = getattr(request.app.state, "refresh_metrics", None)
    if refresh is not None:
        try:
            await refresh()
        except Exception as exc:
            # The queue figures keep their last values; the rest needs no database.
            if not database_unavailable(exc):
                raise
            log.warning("metrics: queue figures not refreshed", extra={"error": repr(exc)[:300]})
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
