"""Liveness, readiness and metrics: unauthenticated, outside ``/v1``."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from app.core.errors import problem_response, problem_responses
from app.routers.base import IndexedRouter

router = IndexedRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str | None = None
    migration: str | None = None


@router.get("/healthz", operation_id="healthz", summary="Liveness")
async def healthz() -> Health:
    """Answers 200 while the process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="Readiness",
    responses=problem_responses(503),
)
async def readyz(request: Request) -> Response:
    """200 when the database answers and its schema is at the latest migration, else 503."""
    expected = request.app.state.head_revision
    try:
        async with request.app.state.engine.connect() as conn:
            current = await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    except Exception:
        return problem_response(
            request,
            status=503,
            code="not_ready",
            title="Not ready",
            detail="The database is not reachable.",
        )
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
        await refresh()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
