"""Liveness, readiness and metrics."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core import migrations
from app.core.config import Settings
from app.main import create_app


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": None, "migration": None}


async def test_readyz_at_head(client: httpx.AsyncClient) -> None:
    head = migrations.head_revision()
    assert head is not None
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok", "migration": head}


async def test_readyz_is_503_when_a_migration_is_pending(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    app = create_app(settings, engine=engine, sessionmaker=sessionmaker)
    app.state.head_revision = "does-not-exist"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["status"] == 503
    assert body["instance"] == "/readyz"
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["detail"] == (
        f"The database is at migration {migrations.head_revision()}, expected does-not-exist."
    )


async def test_readyz_is_503_when_the_database_is_unreachable(settings: Settings) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    # Nothing listens on port 1.
    unreachable = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        app = create_app(settings, engine=unreachable)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/readyz")
    finally:
        await unreachable.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The database is not reachable."
    assert "127.0.0.1" not in response.text


async def test_metrics(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await client.get("/v1/tenant", headers=auth)
    await client.get("/v1/nope")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE ccapi_http_requests_total counter" in text
    assert 'ccapi_http_requests_total{method="GET",route="/v1/tenant",status="200"}' in text
    assert 'ccapi_http_requests_total{method="GET",route="unmatched",status="404"}' in text
    assert "ccapi_http_request_duration_seconds_bucket" in text


async def test_health_routes_need_no_key(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await client.get(path)).status_code == 200, path
