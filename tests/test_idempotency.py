"""``Idempotency-Key`` on POST: replay, reuse with another body, tenant scope, races."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.conftest import TenantKey, make_tenant


async def _people(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    response = await client.get("/v1/people", headers=headers)
    assert response.status_code == 200
    return [p["name"] for p in response.json()["data"]]


async def _records(session: AsyncSession, tenant: TenantKey) -> list[str]:
    rows = await session.scalars(
        sa.text("SELECT key FROM idempotency_records WHERE tenant_id = :t ORDER BY key"),
        {"t": tenant.tenant_id},
    )
    return list(rows)


async def test_replay_returns_the_first_response(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "order-1"}
    first = await client.post("/v1/people", json={"name": "Ada"}, headers=headers)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers

    replay = await client.post("/v1/people", json={"name": "Ada"}, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == first.content
    assert replay.headers["Location"] == first.headers["Location"]
    assert replay.headers["ETag"] == first.headers["ETag"]
    assert replay.headers["content-type"] == "application/json"

    assert await _people(client, tenant.headers) == ["Ada"]
    assert await _records(session, tenant) == ["order-1"]
    events = (await client.get("/v1/events", headers=tenant.headers)).json()["data"]
    assert [e["type"] for e in events] == ["person.created"]


async def test_same_key_with_another_body_is_refused(
    client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "order-2"}
    first = await client.post("/v1/people", json={"name": "Ada"}, headers=headers)
    assert first.status_code == 201

    reused = await client.post("/v1/people", json={"name": "Grace"}, headers=headers)
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    body = reused.json()
    assert body["code"] == "idempotency_key_reused"
    assert body["type"] == "https://ccapi.dev/problems/idempotency-key-reused"
    assert body["detail"] == (
        "This Idempotency-Key was used with a different request; use a new key."
    )
    assert await _people(client, tenant.headers) == ["Ada"]


async def test_keys_are_scoped_per_tenant(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, session: AsyncSession
) -> None:
    mine = await client.post(
        "/v1/people",
        json={"name": "Ada"},
        headers={**tenant.headers, "Idempotency-Key": "shared-key"},
    )
    theirs = await client.post(
        "/v1/people",
        json={"name": "Ada"},
        headers={**other_tenant.headers, "Idempotency-Key": "shared-key"},
    )
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert await _people(client, tenant.headers) == ["Ada"]
    assert await _people(client, other_tenant.headers) == ["Ada"]
    assert await _records(session, tenant) == ["shared-key"]
    assert await _records(session, other_tenant) == ["shared-key"]


async def test_failed_request_is_not_stored(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "order-3"}
    invalid = await client.post("/v1/people", json={"name": ""}, headers=headers)
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "validation_failed"
    assert await _records(session, tenant) == []

    fixed = await client.post("/v1/people", json={"name": "Ada"}, headers=headers)
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed.headers
    replay = await client.post("/v1/people", json={"name": "Ada"}, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == fixed.json()
    assert await _people(client, tenant.headers) == ["Ada"]


async def test_conflict_is_not_stored(client: httpx.AsyncClient, tenant: TenantKey) -> None:
    taken = await client.post(
        "/v1/people", json={"name": "Ada", "external_id": "E1"}, headers=tenant.headers
    )
    assert taken.status_code == 201
    headers = {**tenant.headers, "Idempotency-Key": "order-4"}
    body = {"name": "Grace", "external_id": "E1"}
    conflict = await client.post("/v1/people", json=body, headers=headers)
    assert conflict.status_code == 409

    await client.patch(
        f"/v1/people/{taken.json()['id']}", json={"external_id": "E0"}, headers=tenant.headers
    )
    retried = await client.post("/v1/people", json=body, headers=headers)
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers


async def test_without_a_key_each_post_acts(client: httpx.AsyncClient, tenant: TenantKey) -> None:
    for _ in range(2):
        response = await client.post("/v1/people", json={"name": "Ada"}, headers=tenant.headers)
        assert response.status_code == 201
    assert await _people(client, tenant.headers) == ["Ada", "Ada"]


async def test_key_length_is_bounded(client: httpx.AsyncClient, tenant: TenantKey) -> None:
    response = await client.post(
        "/v1/people",
        json={"name": "Ada"},
        headers={**tenant.headers, "Idempotency-Key": "k" * 256},
    )
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/header/Idempotency-Key"]
    assert await _people(client, tenant.headers) == []


async def test_concurrent_duplicate_is_a_409(
    committed_client: httpx.AsyncClient,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
) -> None:
    tenant = await make_tenant(committed_app_sessionmaker, "Acme")
    key = "order-race"
    headers = {**tenant.headers, "Idempotency-Key": key}

    # Another request with this key is in flight: it holds the (tenant, key) lock.
    async with engine.connect() as other, other.begin():
        await other.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"idem:{tenant.tenant_id}:{key}"},
        )
        raced = await committed_client.post("/v1/people", json={"name": "Ada"}, headers=headers)
        assert raced.status_code == 409
        assert raced.headers["content-type"] == "application/problem+json"
        assert raced.json()["code"] == "idempotency_in_progress"
        assert raced.json()["type"] == "https://ccapi.dev/problems/idempotency-in-progress"

    retried = await committed_client.post("/v1/people", json={"name": "Ada"}, headers=headers)
    assert retried.status_code == 201
    replay = await committed_client.post("/v1/people", json={"name": "Ada"}, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == retried.json()
    listed = await committed_client.get("/v1/people", headers=tenant.headers)
    assert [p["id"] for p in listed.json()["data"]] == [retried.json()["id"]]
