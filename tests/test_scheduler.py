"""The scheduler's time-driven events, driven with an explicit clock (``run_once(now=…)``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.background import scheduler
from tests.conftest import make_tenant
from tests.factories import create_person
from tests.factories_conversations import create_conversation

NOW = datetime.now(UTC).replace(microsecond=0)


async def events_of(
    client: httpx.AsyncClient, auth: dict[str, str], *types: str
) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/events", params={"type": list(types), "limit": 100}, headers=auth
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def follow_up(
    client: httpx.AsyncClient, auth: dict[str, str], due_at: datetime
) -> dict[str, Any]:
    conversation = await create_conversation(client, auth)
    response = await client.post(
        "/v1/follow-ups",
        json={
            "conversation_id": conversation["id"],
            "assignee_id": conversation["facilitator_id"],
            "due_at": due_at.isoformat(),
            "note": "Check in on the plan",
        },
        headers=auth,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_follow_up_reminder_due_and_overdue_fire_once_each(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    due = NOW + timedelta(days=3)
    item = await follow_up(client, auth, due)
    kinds = ("follow_up.reminder", "follow_up.due", "follow_up.overdue")

    assert await scheduler.run_once(sessionmaker, now=due - timedelta(days=2)) == 0
    assert await scheduler.run_once(sessionmaker, now=due - timedelta(hours=23)) == 1
    assert await scheduler.run_once(sessionmaker, now=due - timedelta(hours=22)) == 0
    assert await scheduler.run_once(sessionmaker, now=due + timedelta(seconds=1)) == 1
    assert await scheduler.run_once(sessionmaker, now=due + timedelta(hours=1)) == 0
    assert await scheduler.run_once(sessionmaker, now=due + timedelta(hours=25)) == 1
    assert await scheduler.run_once(sessionmaker, now=due + timedelta(hours=26)) == 0

    fired = await events_of(client, auth, *kinds)
    assert [e["type"] for e in fired] == list(kinds)
    assert {e["subject_id"] for e in fired} == {item["id"]}
    assert fired[1]["data"]["due_at"] == item["due_at"]
    assert {e["api_key_id"] for e in fired} == {None}


async def test_rescheduling_re_arms_and_completing_disarms(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first_due = NOW + timedelta(hours=1)
    item = await follow_up(client, auth, first_due)
    await scheduler.run_once(sessionmaker, now=first_due + timedelta(minutes=1))
    assert len(await events_of(client, auth, "follow_up.due")) == 1

    new_due = NOW + timedelta(days=2)
    moved = await client.patch(
        f"/v1/follow-ups/{item['id']}", json={"due_at": new_due.isoformat()}, headers=auth
    )
    assert moved.status_code == 200
    await scheduler.run_once(sessionmaker, now=new_due + timedelta(minutes=1))
    due_events = await events_of(client, auth, "follow_up.due")
    assert [e["data"]["due_at"] for e in due_events] == [
        first_due.isoformat().replace("+00:00", "Z"),
        new_due.isoformat().replace("+00:00", "Z"),
    ]

    other = await follow_up(client, auth, NOW + timedelta(hours=3))
    done = await client.post(f"/v1/follow-ups/{other['id']}/complete", headers=auth)
    assert done.status_code == 200
    await scheduler.run_once(sessionmaker, now=NOW + timedelta(days=10))
    assert [e["subject_id"] for e in await events_of(client, auth, "follow_up.due")] == [
        item["id"],
        item["id"],
    ]


async def test_overdue_grace_is_a_tenant_setting(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await client.patch(
        "/v1/tenant",
        json={
            "settings": {
                "follow_up_overdue_grace_minutes": 30,
                "follow_up_reminder_lead_minutes": 0,
            }
        },
        headers=auth,
    )
    due = NOW + timedelta(hours=1)
    await follow_up(client, auth, due)
    await scheduler.run_once(sessionmaker, now=due + timedelta(minutes=29))
    assert [
        e["type"]
        for e in await events_of(
            client, auth, "follow_up.due", "follow_up.overdue", "follow_up.reminder"
        )
    ] == ["follow_up.due"]
    await scheduler.run_once(sessionmaker, now=due + timedelta(minutes=31))
    assert [e["type"] for e in await events_of(client, auth, "follow_up.overdue")] == [
        "follow_up.overdue"
    ]


async def test_conversation_reminder_names_who_is_unprepared(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    conversation = await create_conversation(client, auth)
    cid = conversation["id"]
    start = NOW + timedelta(days=1)
    await client.post(
        f"/v1/conversations/{cid}/schedule",
        json={"scheduled_start": start.isoformat()},
        headers=auth,
    )
    await client.post(
        f"/v1/conversations/{cid}/prepare",
        json={"person_id": conversation["employee_id"]},
        headers=auth,
    )
    await scheduler.run_once(sessionmaker, now=start - timedelta(minutes=61))
    assert await events_of(client, auth, "conversation.reminder") == []
    await scheduler.run_once(sessionmaker, now=start - timedelta(minutes=59))
    await scheduler.run_once(sessionmaker, now=start - timedelta(minutes=58))
    reminders = await events_of(client, auth, "conversation.reminder")
    assert len(reminders) == 1
    assert reminders[0]["data"]["preparation"]["unprepared"] == [conversation["facilitator_id"]]

    later = start + timedelta(days=1)
    await client.post(
        f"/v1/conversations/{cid}/reschedule",
        json={"scheduled_start": later.isoformat(), "reason": "Travel"},
        headers=auth,
    )
    await scheduler.run_once(sessionmaker, now=later - timedelta(minutes=30))
    assert len(await events_of(client, auth, "conversation.reminder")) == 2


async def test_action_item_overdue_after_its_due_date(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ada = await create_person(client, auth, name="Ada")
    plan = (
        await client.post(
            "/v1/action-plans", json={"title": "Plan", "owner_id": ada["id"]}, headers=auth
        )
    ).json()
    due = date.today() + timedelta(days=1)
    late = (
        await client.post(
            f"/v1/action-plans/{plan['id']}/items",
            json={"title": "Late", "assignee_id": ada["id"], "due_date": due.isoformat()},
            headers=auth,
        )
    ).json()
    await client.post(
        f"/v1/action-plans/{plan['id']}/items",
        json={
            "title": "Done",
            "assignee_id": ada["id"],
            "due_date": due.isoformat(),
            "status": "done",
        },
        headers=auth,
    )
    end_of_due_day = datetime(due.year, due.month, due.day, tzinfo=UTC) + timedelta(days=1)
    await scheduler.run_once(sessionmaker, now=end_of_due_day - timedelta(seconds=1))
    assert await events_of(client, auth, "action_item.overdue") == []
    await scheduler.run_once(sessionmaker, now=end_of_due_day + timedelta(seconds=1))
    await scheduler.run_once(sessionmaker, now=end_of_due_day + timedelta(days=1))
    overdue = await events_of(client, auth, "action_item.overdue")
    assert [e["subject_id"] for e in overdue] == [late["id"]]


async def test_feedback_request_expires_when_due(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ada = await create_person(client, auth, name="Ada")
    alan = await create_person(client, auth, name="Alan")
    due = NOW + timedelta(hours=2)
    request = (
        await client.post(
            "/v1/feedback-requests",
            json={
                "requester_id": ada["id"],
                "responder_id": alan["id"],
                "prompt": "How did my review go?",
                "due_at": due.isoformat(),
            },
            headers=auth,
        )
    ).json()
    await scheduler.run_once(sessionmaker, now=due + timedelta(seconds=1))
    expired = await client.get(f"/v1/feedback-requests/{request['id']}", headers=auth)
    assert expired.json()["status"] == "expired"
    events = await events_of(client, auth, "feedback_request.expired")
    assert [e["data"]["status"] for e in events] == ["expired"]


async def test_two_schedulers_fire_each_event_once(
    committed_client: httpx.AsyncClient,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    tenant = await make_tenant(committed_app_sessionmaker)
    due = NOW + timedelta(hours=1)
    for _ in range(5):
        await follow_up(committed_client, tenant.headers, due)

    counts = await asyncio.gather(
        *(
            scheduler.run_once(committed_app_sessionmaker, now=due + timedelta(seconds=1))
            for _ in range(3)
        )
    )
    assert sum(counts) == 5  # past the due time: one due notice each, no late reminder
    due_events = await events_of(committed_client, tenant.headers, "follow_up.due")
    assert len(due_events) == 5
    assert len({e["subject_id"] for e in due_events}) == 5
