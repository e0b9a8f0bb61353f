"""``RequestDb`` on a real pool (as ``ccapi serve`` runs it, not the tests' shared
connection): raw statements and the ORM share one connection and one transaction, which
commits or rolls back as a whole, and the connection goes back to the pool clean."""

from __future__ import annotations

import asyncio
import logging
import uuid

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.db import RequestDb
from app.services import tenants
from tests.conftest import TenantKey


async def names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT name FROM tenants ORDER BY name"))
        return [r[0] for r in rows]


async def write_both(db: RequestDb, raw_name: str, orm_name: str) -> None:
    raw = await db.begin()
    await raw.execute(
        "INSERT INTO tenants (id, name, created_at, updated_at) VALUES ($1, $2, now(), now())",
        uuid.uuid4(),
        raw_name,
    )
    session = await db.session()
    await tenants.create(session, orm_name)
    await session.flush()


async def test_raw_and_orm_writes_commit_together(
    engine: AsyncEngine, committed_app_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    db = RequestDb(committed_app_sessionmaker)
    await write_both(db, "Raw", "Orm")
    await db.commit()
    await db.close()
    assert await names(engine) == ["Orm", "Raw"]
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_raw_and_orm_writes_roll_back_together(
    engine: AsyncEngine, committed_app_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    db = RequestDb(committed_app_sessionmaker)
    await write_both(db, "Raw", "Orm")
    await db.rollback()
    await db.close()
    assert await names(engine) == []


async def test_closing_without_commit_rolls_back_a_raw_write(
    engine: AsyncEngine, committed_app_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    db = RequestDb(committed_app_sessionmaker)
    raw = await db.begin()
    await raw.execute(
        "INSERT INTO tenants (id, name, created_at, updated_at) "
        "VALUES ($1, 'Left open', now(), now())",
        uuid.uuid4(),
    )
    await db.close()
    assert await names(engine) == []
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    # The connection went back with nothing open: the next request starts clean.
    after = RequestDb(committed_app_sessionmaker)
    assert await (await after.raw()).fetchval("SELECT pg_current_xact_id_if_assigned()") is None
    await write_both(after, "Raw", "Orm")
    await after.commit()
    await after.close()
    assert await names(engine) == ["Orm", "Raw"]


async def test_a_refused_write_through_the_api_changes_nothing(
    committed_client: httpx.AsyncClient, tenant_c: TenantKey, engine: AsyncEngine
) -> None:
    """Idempotency (raw) opens the transaction, the ORM create fails validation: neither
    the person nor the idempotency record is kept, and every connection is checked in."""
    headers = {**tenant_c.headers, "Idempotency-Key": "refused-1"}
    refused = await committed_client.post(
        "/v1/people", json={"name": "Ada", "manager_id": str(uuid.uuid4())}, headers=headers
    )
    assert refused.status_code == 422
    accepted = await committed_client.post("/v1/people", json={"name": "Ada"}, headers=headers)
    assert accepted.status_code == 201
    replayed = await committed_client.post("/v1/people", json={"name": "Ada"}, headers=headers)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == accepted.json()
    async with engine.connect() as conn:
        people = await conn.scalar(sa.text("SELECT count(*) FROM people"))
    assert people == 1
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_concurrent_creates_of_one_external_id_store_one(
    committed_client: httpx.AsyncClient, tenant_c: TenantKey, engine: AsyncEngine
) -> None:
    """The one-statement create checks the external id before it inserts; two racing past
    the check meet at the unique index, and the loser's error answers 409, never 500."""
    headers = tenant_c.headers
    people = [
        (await committed_client.post("/v1/people", json={"name": n}, headers=headers)).json()
        for n in ("Ada", "Grace")
    ]
    body = {"employee_id": people[0]["id"], "facilitator_id": people[1]["id"], "external_id": "X"}
    answers = await asyncio.gather(
        *(committed_client.post("/v1/conversations", json=body, headers=headers) for _ in range(8))
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 7
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"conflict"}
    async with engine.connect() as conn:
        stored = await conn.scalar(sa.text("SELECT count(*) FROM conversations"))
    assert stored == 1


async def test_reads_beyond_the_pool_size_give_overflow_connections_back(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """More concurrent reads than the pool keeps: an overflow connection is closed on
    check-in, which is I/O (from plain code the pool logged MissingGreenlet and dropped
    it), and the pool ends with no connection checked out."""
    pool = engine.sync_engine.pool
    sessionmaker = async_sessionmaker(engine)

    async def read() -> None:
        db = RequestDb(sessionmaker)
        await (await db.raw()).fetchval("SELECT pg_sleep(0.1)")
        await db.close()

    with caplog.at_level(logging.WARNING):
        await asyncio.gather(*(read() for _ in range(pool.size() + 3)))  # type: ignore[attr-defined]
    assert [record.getMessage() for record in caplog.records] == []
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
