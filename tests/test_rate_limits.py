"""Rate limits shared by every process: per API key, and failed authentications per client
address; counted in PostgreSQL (default) or Redis; ``RateLimit`` headers on every answer.

Each app instance here stands for another process of one deployment: its own limiter and
leases, the same database (or Redis)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.ratelimit import RateLimits, RedisCounters
from app.main import create_app
from tests.conftest import TenantKey, make_tenant, steady_keys
from tests.test_errors import assert_problem

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_running() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


BACKENDS = [
    "postgres",
    pytest.param(
        "redis",
        marks=pytest.mark.skipif(not _redis_running(), reason="no Redis on 127.0.0.1:6379"),
    ),
]


@pytest.fixture(params=BACKENDS)
def limited(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Test settings with small limits, on the backend named by the parameter (a Redis key
    prefix of its own per test, so runs never share counters)."""
    update: dict[str, Any] = {"rate_limit_per_minute": 10, "auth_failures_per_minute": 3}
    if request.param == "redis":
        update["redis_url"] = REDIS_URL
        update["redis_key_prefix"] = f"ccapi-test-{uuid.uuid4().hex}"
    return settings.model_copy(update=update)


@asynccontextmanager
async def instance(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    address: str = "127.0.0.1",
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """One app instance (a process of the deployment) and a client calling from ``address``."""
    app = steady_keys(create_app(settings, engine=engine, sessionmaker=sessionmaker))
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client
    finally:
        await app.state.rate_limits.close()


@contextmanager
def checkouts(engine: AsyncEngine) -> Iterator[list[object]]:
    """Every connection checked out of ``engine``'s pool inside the block."""
    seen: list[object] = []

    def checkout(*args: object) -> None:
        seen.append(args[0])

    event.listen(engine.sync_engine.pool, "checkout", checkout)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine.pool, "checkout", checkout)


async def test_two_processes_share_one_limit(
    limited: Settings,
    engine: AsyncEngine,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
    tenant_c: TenantKey,
) -> None:
    """10 a minute, 6 requests through each of two instances: exactly 10 succeed."""
    async with (
        instance(limited, engine, committed_app_sessionmaker) as (_, first),
        instance(limited, engine, committed_app_sessionmaker) as (_, second),
    ):
        answers = [await first.get("/v1/tenant", headers=tenant_c.headers) for _ in range(6)]
        answers += [await second.get("/v1/tenant", headers=tenant_c.headers) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 10 + [429] * 2
    resets = {a.headers["RateLimit"].rsplit(";t=", 1)[1] for a in answers}
    assert len(resets) <= 2  # one window (its seconds-to-reset may tick once meanwhile)
    for answer in answers:
        assert answer.headers["RateLimit-Policy"] == '"default";q=10;w=60'
    remaining = [a.headers["RateLimit"].split(";t=")[0] for a in answers]
    assert remaining == [f'"default";r={r}' for r in (9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0)]
    for refused in answers[10:]:
        body = assert_problem(refused, 429, "rate_limited", "/v1/tenant")
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        assert refused.headers["RateLimit"] == f'"default";r=0;t={retry_after}'
        assert body["detail"] == f"Rate limit exceeded; retry after {retry_after} seconds."


async def test_keys_have_their_own_limits(
    limited: Settings,
    engine: AsyncEngine,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
    tenant_c: TenantKey,
) -> None:
    other = await make_tenant(committed_app_sessionmaker, "Umbrella")
    async with instance(limited, engine, committed_app_sessionmaker) as (_, client):
        used = [await client.get("/v1/tenant", headers=tenant_c.headers) for _ in range(11)]
        fresh = await client.get("/v1/tenant", headers=other.headers)
    assert [a.status_code for a in used] == [200] * 10 + [429]
    assert fresh.status_code == 200
    assert fresh.headers["RateLimit"].startswith('"default";r=9;t=')


async def test_every_answer_of_an_authenticated_route_has_the_headers(
    limited: Settings,
    engine: AsyncEngine,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
    tenant_c: TenantKey,
) -> None:
    hooks = await make_tenant(committed_app_sessionmaker, "Hooks", scopes=("webhooks",))
    async with instance(limited, engine, committed_app_sessionmaker) as (_, client):
        ok = await client.get("/v1/people", headers=tenant_c.headers)
        missing = await client.get(f"/v1/people/{uuid.uuid4()}", headers=tenant_c.headers)
        invalid = await client.post("/v1/people", headers=tenant_c.headers, json={"x": 1})
        forbidden = await client.get("/v1/people", headers=hooks.headers)
        unauthenticated = await client.get("/v1/people")
        health = await client.get("/healthz")
    assert [ok.status_code, missing.status_code, invalid.status_code] == [200, 404, 422]
    assert forbidden.status_code == 403
    for answer, remaining in ((ok, 9), (missing, 8), (invalid, 7), (forbidden, 9)):
        assert answer.headers["RateLimit-Policy"] == '"default";q=10;w=60'
        assert answer.headers["RateLimit"].startswith(f'"default";r={remaining};t=')
    # A failed authentication counts against the address's limit, and says so.
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["RateLimit-Policy"] == '"auth";q=3;w=60'
    assert unauthenticated.headers["RateLimit"].startswith('"auth";r=2;t=')
    # Routes without an API key carry none.
    assert "RateLimit" not in health.headers
    assert "RateLimit-Policy" not in health.headers


async def test_failed_authentication_is_throttled_per_address(
    limited: Settings,
    engine: AsyncEngine,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
    tenant_c: TenantKey,
) -> None:
    """3 failures a minute per address, shared by two instances; then 429 without a
    database lookup, for any key (valid ones too) from that address."""
    attacker = "198.51.100.7"
    unknown = {"Authorization": "Bearer cck_live_" + "x" * 40}
    async with (
        instance(limited, engine, committed_app_sessionmaker, attacker) as (_, first),
        instance(limited, engine, committed_app_sessionmaker, attacker) as (_, second),
        instance(limited, engine, committed_app_sessionmaker, "198.51.100.8") as (_, bystander),
    ):
        answers = [
            await first.get("/v1/tenant", headers=unknown),
            await second.get("/v1/tenant"),
            await first.get("/v1/tenant", headers={"Authorization": "Bearer nope"}),
            # The address's limit is used up: this instance learns it from the counter.
            await second.get("/v1/tenant", headers=unknown),
        ]
        with checkouts(engine) as used:
            refused = [
                await first.get("/v1/tenant", headers=unknown),
                await second.get("/v1/tenant", headers=unknown),
                await first.get("/v1/tenant", headers=tenant_c.headers),
            ]
        assert used == []  # no database lookup (no connection at all) for refused attempts
        elsewhere = await bystander.get("/v1/tenant", headers=tenant_c.headers)
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert [a.headers["RateLimit"].split(";t=")[0] for a in answers] == [
        '"auth";r=2',
        '"auth";r=1',
        '"auth";r=0',
        '"auth";r=0',
    ]
    for answer in answers[3:] + refused:
        body = assert_problem(answer, 429, "rate_limited", "/v1/tenant")
        retry_after = int(answer.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        assert answer.headers["RateLimit-Policy"] == '"auth";q=3;w=60'
        assert answer.headers["RateLimit"] == f'"auth";r=0;t={retry_after}'
        assert body["detail"] == (
            "Too many failed authentication attempts from this address; "
            f"retry after {retry_after} seconds."
        )
    assert elsewhere.status_code == 200


async def test_leases_take_batches_from_the_shared_counter(
    settings: Settings,
    engine: AsyncEngine,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
    tenant_c: TenantKey,
) -> None:
    """At 600 a minute a process leases 6 units at a time: 13 requests take 3 leases
    (18 units), one statement each, instead of 13."""
    six = settings.model_copy(update={"rate_limit_per_minute": 600})
    async with instance(six, engine, committed_app_sessionmaker) as (app, client):
        assert app.state.rate_limits.requests.lease == 6
        answers = [await client.get("/v1/tenant", headers=tenant_c.headers) for _ in range(13)]
    assert [a.status_code for a in answers] == [200] * 13
    assert answers[-1].headers["RateLimit"].startswith('"default";r=587;t=')
    async with committed_app_sessionmaker() as session:
        raw = await session.connection()
        rows = (
            await raw.exec_driver_sql("SELECT key, taken, granted FROM rate_limit_counters")
        ).all()
    assert [tuple(r) for r in rows] == [(f"default:{tenant_c.key_id}", 18, 6)]


async def test_concurrent_requests_share_one_lease(
    settings: Settings,
    engine: AsyncEngine,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
    tenant_c: TenantKey,
) -> None:
    """4 requests at once with an empty lease wait for one lease instead of each sending
    its own: 2 leases of 6 in all (12 units taken), not 5 (30). (4: fewer than the test
    pool's 5 connections, whose overflow connections RequestDb cannot close.)"""
    six = settings.model_copy(update={"rate_limit_per_minute": 600})
    async with instance(six, engine, committed_app_sessionmaker) as (_, client):
        for _ in range(6):  # use up the first lease (and cache the key)
            await client.get("/v1/tenant", headers=tenant_c.headers)
        answers = await asyncio.gather(
            *(client.get("/v1/tenant", headers=tenant_c.headers) for _ in range(4))
        )
    assert [a.status_code for a in answers] == [200] * 4
    async with committed_app_sessionmaker() as session:
        raw = await session.connection()
        taken = (await raw.exec_driver_sql("SELECT taken FROM rate_limit_counters")).scalar()
    assert taken == 12


async def test_a_window_that_ended_starts_afresh_and_old_ones_are_removed(
    settings: Settings,
    engine: AsyncEngine,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
    tenant_c: TenantKey,
) -> None:
    """PostgreSQL counters (Redis expires its keys itself)."""
    limited = settings.model_copy(update={"rate_limit_per_minute": 10})
    key = f"default:{tenant_c.key_id}"
    async with committed_app_sessionmaker() as session:
        raw = await session.connection()
        # This key's window used up, but ended a second ago; another key's long ago.
        await raw.exec_driver_sql(
            "INSERT INTO rate_limit_counters (key, window_end, taken, granted) VALUES "
            f"('{key}', now() - interval '1 second', 10, 0), "
            "('default:gone', now() - interval '5 minutes', 3, 1)"
        )
        await session.commit()
    async with instance(limited, engine, committed_app_sessionmaker) as (_, client):
        answer = await client.get("/v1/tenant", headers=tenant_c.headers)
    assert answer.status_code == 200
    assert answer.headers["RateLimit"].startswith('"default";r=9;t=')
    async with committed_app_sessionmaker() as session:
        raw = await session.connection()
        rows = (
            await raw.exec_driver_sql(
                "SELECT key, taken, window_end > now() + interval '50 seconds' "
                "FROM rate_limit_counters"
            )
        ).all()
    assert [tuple(r) for r in rows] == [(key, 1, True)]


async def test_unreachable_redis_does_not_refuse_requests(
    settings: Settings,
    engine: AsyncEngine,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
    tenant_c: TenantKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With Redis down, each process limits on its own (a lease of its own per window)."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = settings.model_copy(
        update={"rate_limit_per_minute": 2, "redis_url": f"redis://127.0.0.1:{port}/0"}
    )
    async with instance(down, engine, committed_app_sessionmaker) as (app, client):
        assert isinstance(app.state.rate_limits.requests.counters, RedisCounters)
        answers = [await client.get("/v1/tenant", headers=tenant_c.headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "rate limit store unreachable" in caplog.messages


async def test_openapi_documents_the_headers(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    headers = schema["components"]["headers"]
    assert set(headers) == {"RateLimit", "RateLimit-Policy", "Retry-After"}
    assert headers["RateLimit-Policy"]["schema"] == {"type": "string"}
    operation = schema["paths"]["/v1/tenant"]["get"]
    refs = {
        "RateLimit": {"$ref": "#/components/headers/RateLimit"},
        "RateLimit-Policy": {"$ref": "#/components/headers/RateLimit-Policy"},
    }
    for status, response in operation["responses"].items():
        expected = dict(refs)
        if status == "429":
            expected["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
        assert {k: v for k, v in response.get("headers", {}).items() if k in expected} == (
            expected
        ), status
    # Not on routes without an API key.
    assert "headers" not in schema["paths"]["/healthz"]["get"]["responses"]["200"]


def test_backend_follows_settings(settings: Settings) -> None:
    assert type(RateLimits.from_settings(settings).requests.counters).__name__ == (
        "PostgresCounters"
    )
    redis = settings.model_copy(update={"redis_url": REDIS_URL})
    limits = RateLimits.from_settings(redis)
    assert isinstance(limits.requests.counters, RedisCounters)
    # Both limits count in one store.
    assert limits.auth_failures.counters is limits.requests.counters
