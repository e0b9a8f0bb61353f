"""Scheduler and delivery together: a follow-up coming due reaches a real receiver once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from app.background import scheduler
from app.core.config import Settings
from tests.conftest import TenantKey
from tests.factories_conversations import create_conversation
from tests.webhook_receiver import (
    Receiver,
    create_endpoint,
    running_receiver,
    running_workers,
    worker_settings,
)

Sessionmaker = async_sessionmaker[AsyncSession]


def due_notices(rx: Receiver, secret: str) -> list[dict[str, object]]:
    return [Webhook(secret).verify(r.body, r.headers) for r in rx.at("/due")]


async def follow_up_due_in(
    client: httpx.AsyncClient, auth: dict[str, str], seconds: float
) -> dict[str, object]:
    conversation = await create_conversation(client, auth)
    response = await client.post(
        "/v1/follow-ups",
        json={
            "conversation_id": conversation["id"],
            "assignee_id": conversation["facilitator_id"],
            "due_at": (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(),
        },
        headers=auth,
    )
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


async def subscribe(client: httpx.AsyncClient, auth: dict[str, str], url: str) -> str:
    endpoint = await create_endpoint(client, auth, url, event_types=["follow_up.due"])
    secret: str = endpoint["secret"]
    return secret


async def test_follow_up_due_arrives_once_and_rescheduling_re_arms(
    committed_client: httpx.AsyncClient,
    committed_app_sessionmaker: Sessionmaker,
    engine: AsyncEngine,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    auth = tenant_c.headers
    fast = worker_settings(settings, scheduler_interval=0.2)
    async with running_receiver() as rx:
        secret = await subscribe(committed_client, auth, rx.url("/due"))
        async with running_workers(engine, committed_app_sessionmaker, fast):
            item = await follow_up_due_in(committed_client, auth, 2)
            await rx.wait_for(lambda: len(rx.at("/due")) == 1)
            # More scheduler passes find nothing left to fire for that due time.
            assert await scheduler.run_once(committed_app_sessionmaker) == 0

            new_due = datetime.now(UTC) + timedelta(seconds=2)
            moved = await committed_client.patch(
                f"/v1/follow-ups/{item['id']}",
                json={"due_at": new_due.isoformat()},
                headers=auth,
            )
            assert moved.status_code == 200
            await rx.wait_for(lambda: len(rx.at("/due")) == 2)
            assert await scheduler.run_once(committed_app_sessionmaker) == 0

    notices = due_notices(rx, secret)
    assert [n["type"] for n in notices] == ["follow_up.due", "follow_up.due"]
    assert [n["data"]["id"] for n in notices] == [item["id"], item["id"]]  # type: ignore[index]
    assert notices[1]["data"]["due_at"] == moved.json()["due_at"]  # type: ignore[index]


async def test_two_schedulers_emit_a_due_follow_up_once(
    committed_client: httpx.AsyncClient,
    committed_app_sessionmaker: Sessionmaker,
    engine: AsyncEngine,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    auth = tenant_c.headers
    fast = worker_settings(settings, scheduler_interval=0.1)
    async with running_receiver() as rx:
        secret = await subscribe(committed_client, auth, rx.url("/due"))
        async with (
            running_workers(engine, committed_app_sessionmaker, fast),
            running_workers(engine, committed_app_sessionmaker, fast),
        ):
            items = [await follow_up_due_in(committed_client, auth, 2) for _ in range(3)]
            await rx.wait_for(lambda: len(rx.at("/due")) == 3)
            assert await scheduler.run_once(committed_app_sessionmaker) == 0

    events = await committed_client.get(
        "/v1/events", params={"type": "follow_up.due"}, headers=auth
    )
    assert sorted(e["subject_id"] for e in events.json()["data"]) == sorted(
        str(i["id"]) for i in items
    )
    assert sorted(str(n["data"]["id"]) for n in due_notices(rx, secret)) == sorted(  # type: ignore[index]
        str(i["id"]) for i in items
    )
