"""The in-process API key cache: what it must never break.

A revoked key is refused by every process within a second (each LISTENs for revocations);
a cached key never serves another tenant; an ETag still changes with every write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.keycache import KeyCache
from app.core.security import hash_api_key
from app.main import create_app, listen_dsn
from tests.conftest import TenantKey, make_tenant
from tests.factories import create_person


@asynccontextmanager
async def listening_app(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app instance (as another process would have) whose key cache LISTENs."""
    app = create_app(settings, engine=engine, sessionmaker=sessionmaker)
    cache: KeyCache = app.state.key_cache
    cache.start(listen_dsn(engine))
    try:
        for _ in range(100):
            if cache.listening:
                break
            await asyncio.sleep(0.05)
        assert cache.listening
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client
    finally:
        await cache.stop()


async def test_revocation_reaches_another_instance_within_a_second(
    settings: Settings,
    engine: AsyncEngine,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
    admin_headers: dict[str, str],
) -> None:
    tenant = await make_tenant(committed_app_sessionmaker, "Initech")
    async with (
        listening_app(settings, engine, committed_app_sessionmaker) as (_, one),
        listening_app(settings, engine, committed_app_sessionmaker) as (other_app, other),
    ):
        assert (await other.get("/v1/tenant", headers=tenant.headers)).status_code == 200
        # Cached for the listening TTL (30 s): only the notification can make it refuse.
        cached = other_app.state.key_cache.get(hash_api_key(tenant.secret))
        assert cached is not None and cached.principal is not None

        revoked = await one.delete(f"/v1/admin/api-keys/{tenant.key_id}", headers=admin_headers)
        assert revoked.status_code == 200, revoked.text
        revoked_at = time.monotonic()
        while True:
            answer = await other.get("/v1/tenant", headers=tenant.headers)
            if answer.status_code == 401:
                break
            assert answer.status_code == 200
            assert time.monotonic() - revoked_at < 1.0, "still accepted a second after revoking"
            await asyncio.sleep(0.02)
        assert answer.json()["detail"] == "The API key has been revoked."


async def test_revoking_in_the_same_process_refuses_at_once(
    client: httpx.AsyncClient, tenant: TenantKey, admin_headers: dict[str, str]
) -> None:
    assert (await client.get("/v1/tenant", headers=tenant.headers)).status_code == 200
    revoked = await client.delete(f"/v1/admin/api-keys/{tenant.key_id}", headers=admin_headers)
    assert revoked.status_code == 200
    refused = await client.get("/v1/tenant", headers=tenant.headers)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The API key has been revoked."


async def test_a_cached_key_never_serves_another_tenant(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    mine = await create_person(client, tenant.headers, name="Ada")
    theirs = await create_person(client, other_tenant.headers, name="Grace")
    for _ in range(3):  # the second round onwards is answered from the cache
        for key, own, foreign in ((tenant, mine, theirs), (other_tenant, theirs, mine)):
            listed = await client.get("/v1/people", headers=key.headers)
            assert [p["id"] for p in listed.json()["data"]] == [own["id"]]
            got = await client.get(f"/v1/people/{own['id']}", headers=key.headers)
            assert got.json()["name"] == own["name"]
            hidden = await client.get(f"/v1/people/{foreign['id']}", headers=key.headers)
            assert hidden.status_code == 404
            me = await client.get("/v1/tenant", headers=key.headers)
            assert me.json()["id"] == str(key.tenant_id)


async def test_unknown_keys_are_cached_as_unknown_and_expire() -> None:
    cache = KeyCache(ttl=30.0, fallback_ttl=0.05)
    entry = cache.put("digest", None)
    assert entry.principal is None
    assert cache.get("digest") is entry
    await asyncio.sleep(0.1)
    assert cache.get("digest") is None  # not listening: entries live only fallback_ttl


async def test_etag_changes_with_every_write(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    employee = await create_person(client, auth, name="Ada")
    facilitator = await create_person(client, auth, name="Grace")
    created = await client.post(
        "/v1/conversations",
        json={"employee_id": employee["id"], "facilitator_id": facilitator["id"]},
        headers=auth,
    )
    url = f"/v1/conversations/{created.json()['id']}"
    seen = [created.headers["etag"]]
    assert (await client.get(url, headers=auth)).headers["etag"] == seen[-1]
    writes = [
        ("PATCH", url, {"location": "Room 1"}),
        ("POST", f"{url}/schedule", {"scheduled_start": "2030-01-01T09:00:00Z"}),
        ("POST", f"{url}/prepare", {"person_id": employee["id"]}),
        ("POST", f"{url}/reschedule", {"scheduled_start": "2030-01-02T09:00:00Z"}),
    ]
    for method, path, body in writes:
        await asyncio.sleep(0.002)  # updated_at has microsecond resolution
        written = await client.request(method, path, json=body, headers=auth)
        assert written.status_code == 200, written.text
        read = await client.get(url, headers=auth)
        assert read.headers["etag"] == written.headers["etag"]
        assert read.headers["etag"] not in seen
        assert read.json() == written.json()
        seen.append(read.headers["etag"])
