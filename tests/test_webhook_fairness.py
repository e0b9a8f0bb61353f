"""Fair delivery: a cap on deliveries in flight to one endpoint, and claims dealt
round-robin across tenants and their endpoints, so one tenant's slow endpoint or large
backlog does not hold up another tenant's deliveries.

Receivers are real HTTP servers on loopback; the worker runs in process.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from functools import partial

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.background import webhook_delivery
from app.background.webhook_delivery import Outcome
from app.core.config import Settings
from app.models.base import utcnow
from tests.conftest import TenantKey, make_tenant
from tests.webhook_receiver import (
    Received,
    Reply,
    create_endpoint,
    enqueue,
    running_receiver,
    running_workers,
    worker_settings,
)

Client = httpx.AsyncClient
Sessionmaker = async_sessionmaker[AsyncSession]


async def test_a_claim_deals_round_robin_and_keeps_each_endpoint_under_its_cap(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    sm = committed_app_sessionmaker
    claim = partial(webhook_delivery.claim, sm, settings.keyring)
    other = await make_tenant(sm, "Hooli")
    a1 = await create_endpoint(committed_client, tenant_c.headers, "http://127.0.0.1:9/a1")
    a2 = await create_endpoint(committed_client, tenant_c.headers, "http://127.0.0.1:9/a2")
    b = await create_endpoint(committed_client, other.headers, "http://127.0.0.1:9/b")
    # 100 deliveries of the first tenant are due before any of the other's.
    await enqueue(sm, tenant_c.tenant_id, 50)
    await enqueue(sm, other.tenant_id, 3)

    first = await claim(6, lease_seconds=60, endpoint_cap=2)
    a, o = tenant_c.tenant_id, other.tenant_id
    assert [c.tenant_id for c in first] == [a, o, a, o, a, a]
    assert Counter(str(c.endpoint_id) for c in first) == {a1["id"]: 2, a2["id"]: 2, b["id"]: 2}
    # Within a tenant, its endpoints take turns.
    assert len({c.endpoint_id for c in first[::2][:2]}) == 2

    # Every endpoint is at its cap: nothing more, though 97 deliveries are due.
    again = await claim(6, lease_seconds=60, endpoint_cap=2)
    assert again == []
    due_in, held_back = await webhook_delivery.seconds_until_next_due(sm, again.as_of)
    assert held_back is True
    assert due_in is not None and 50.0 < due_in <= 60.0  # the leases lapse then

    # A finished send frees a slot of its endpoint, and of that endpoint only.
    ok = Outcome("succeeded", utcnow(), 3, status_code=200, response_body="ok")
    done = next(c for c in first if c.tenant_id == o)
    assert await webhook_delivery.record(sm, done, ok, settings, random.Random(1)) == "succeeded"
    [third] = await claim(6, lease_seconds=60, endpoint_cap=2)
    assert str(third.endpoint_id) == b["id"]
    assert third.tenant_id == o
    assert third.id not in {c.id for c in first}


async def test_a_lapsed_lease_no_longer_counts_against_the_cap(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    sm = committed_app_sessionmaker
    claim = partial(webhook_delivery.claim, sm, settings.keyring)
    await create_endpoint(committed_client, tenant_c.headers, "http://127.0.0.1:9/one")
    await enqueue(sm, tenant_c.tenant_id, 5)
    # A zero-second lease has lapsed at once: it no longer counts against the cap.
    lapsed = await claim(10, lease_seconds=0, endpoint_cap=3)
    held = await claim(10, lease_seconds=60, endpoint_cap=3)
    assert (len(lapsed), len(held)) == (3, 3)
    assert await claim(10, lease_seconds=60, endpoint_cap=3) == []


async def test_a_hanging_endpoint_does_not_hold_up_another_tenant(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    engine: AsyncEngine,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    """Tenant A's receiver never answers (each send runs into the 3 s timeout) with 100
    deliveries queued; tenant B's deliveries still arrive within a second. Without the cap
    A's endpoint would hold all eight of the worker's slots."""
    sm = committed_app_sessionmaker
    other = await make_tenant(sm, "Hooli")
    release = asyncio.Event()

    async def hang(_request: Received) -> Reply:
        await release.wait()
        return Reply(200)

    busy = worker_settings(
        settings,
        webhook_timeout=3.0,
        worker_concurrency=8,
        worker_batch_size=8,
        webhook_endpoint_concurrency=4,
    )
    async with running_receiver() as rx:
        rx.on("/a", hang)
        await create_endpoint(committed_client, tenant_c.headers, rx.url("/a"))
        await create_endpoint(committed_client, other.headers, rx.url("/b"))
        await enqueue(sm, tenant_c.tenant_id, 100)
        try:
            async with running_workers(engine, sm, busy):
                await rx.wait_for(lambda: rx.concurrent["/a"] == 4)
                b_ids = await enqueue(sm, other.tenant_id, 3)
                await rx.wait_for(lambda: len(rx.at("/b")) == 3, within=1.0)
                # A's four sends are all still hanging, and no fifth was started.
                assert (rx.concurrent["/a"], len(rx.at("/a")), rx.peak["/a"]) == (4, 4, 4)
                release.set()
        finally:
            release.set()
    assert {r.webhook_id for r in rx.at("/b")} == set(b_ids)


def test_the_cap_setting_defaults_to_four(settings: Settings) -> None:
    assert Settings.model_fields["webhook_endpoint_concurrency"].default == 4
    assert settings.webhook_endpoint_concurrency == 4


async def test_concurrent_claims_together_stay_under_the_cap(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    """Eight claims at once, on eight connections, against two endpoints with a cap of 2:
    they take turns, so together they lease exactly two per endpoint."""
    sm = committed_app_sessionmaker
    claim = partial(webhook_delivery.claim, sm, settings.keyring)
    e1 = await create_endpoint(committed_client, tenant_c.headers, "http://127.0.0.1:9/e1")
    e2 = await create_endpoint(committed_client, tenant_c.headers, "http://127.0.0.1:9/e2")
    await enqueue(sm, tenant_c.tenant_id, 40)
    batches = await asyncio.gather(*(claim(10, lease_seconds=60, endpoint_cap=2) for _ in range(8)))
    leased = [c for batch in batches for c in batch]
    assert Counter(str(c.endpoint_id) for c in leased) == {e1["id"]: 2, e2["id"]: 2}
    assert len({c.id for c in leased}) == 4
