from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.background import scheduler
from tests.factories import create_person
from tests.factories_conversations import create_conversation
from tests.factories_feedback import create_follow_up, events_of, in_days
from tests.factories_goals import create_item, create_plan

SERIES = {
    "kind": "career",
    "rrule": "FREQ=WEEKLY;BYDAY=TU",
    "start": "2030-03-12T10:00:00",
    "timezone": "Europe/Berlin",
    "duration_minutes": 45,
}


async def _get(client: httpx.AsyncClient, auth: dict[str, str], path: str) -> dict[str, Any]:
    response = await client.get(path, headers=auth)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _world(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    """Ada reports to Grace; Bob (another report of Grace) has work with Grace too."""
    grace = await create_person(client, auth, name="Grace", external_id="G")
    linus = await create_person(client, auth, name="Linus", external_id="L")
    ada = await create_person(client, auth, name="Ada", manager_id=grace["id"], external_id="A")
    bob = await create_person(client, auth, name="Bob", manager_id=grace["id"])
    mentor = await create_person(client, auth, name="Mentor")
    w: dict[str, Any] = {"grace": grace, "linus": linus, "ada": ada, "bob": bob}
    w["draft"] = await create_conversation(
        client, auth, employee_id=ada["id"], facilitator_id=grace["id"]
    )
    scheduled = await create_conversation(
        client, auth, employee_id=ada["id"], facilitator_id=grace["id"], kind="stay"
    )
    response = await client.post(
        f"/v1/conversations/{scheduled['id']}/schedule",
        json={"scheduled_start": in_days(10)},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    w["scheduled"] = scheduled
    w["mentoring"] = await create_conversation(
        client, auth, employee_id=ada["id"], facilitator_id=grace["id"], kind="mentorship"
    )
    w["mentor_talk"] = await create_conversation(
        client, auth, employee_id=ada["id"], facilitator_id=mentor["id"]
    )
    w["bobs"] = await create_conversation(
        client, auth, employee_id=bob["id"], facilitator_id=grace["id"]
    )
    w["follow_up"] = await create_follow_up(client, auth, w["draft"]["id"], grace["id"])
    w["adas_follow_up"] = await create_follow_up(client, auth, w["draft"]["id"], ada["id"])
    w["bobs_follow_up"] = await create_follow_up(client, auth, w["bobs"]["id"], grace["id"])
    plan = await create_plan(client, auth, ada["id"])
    w["item"] = await create_item(client, auth, plan["id"], grace["id"])
    w["plan"] = plan
    bobs_plan = await create_plan(client, auth, bob["id"])
    w["bobs_item"] = await create_item(client, auth, bobs_plan["id"], grace["id"])
    series = await client.post(
        "/v1/conversation-series",
        json={"employee_id": ada["id"], "facilitator_id": grace["id"], **SERIES},
        headers=auth,
    )
    assert series.status_code == 201, series.text
    w["series"] = series.json()
    return w


async def test_a_reorg_moves_the_old_managers_open_work(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    w = await _world(client, auth)
    grace, linus, ada = w["grace"]["id"], w["linus"]["id"], w["ada"]["id"]
    before = await events_of(client, auth)
    moved = await client.patch(f"/v1/people/{ada}", json={"manager_id": linus}, headers=auth)
    assert moved.status_code == 200, moved.text
    assert moved.json()["manager_id"] == linus

    def facilitator(c: dict[str, Any]) -> str:
        return str(c["facilitator_id"])

    for name in ("draft", "scheduled"):
        now = await _get(client, auth, f"/v1/conversations/{w[name]['id']}")
        assert facilitator(now) == linus, name
    for name in ("mentoring", "bobs"):
        now = await _get(client, auth, f"/v1/conversations/{w[name]['id']}")
        assert facilitator(now) == grace, name
    mentor_talk = await _get(client, auth, f"/v1/conversations/{w['mentor_talk']['id']}")
    assert mentor_talk["facilitator_id"] == w["mentor_talk"]["facilitator_id"]
    assert (await _get(client, auth, f"/v1/follow-ups/{w['follow_up']['id']}"))[
        "assignee_id"
    ] == linus
    assert (await _get(client, auth, f"/v1/follow-ups/{w['adas_follow_up']['id']}"))[
        "assignee_id"
    ] == ada
    assert (await _get(client, auth, f"/v1/follow-ups/{w['bobs_follow_up']['id']}"))[
        "assignee_id"
    ] == grace
    item = await _get(client, auth, f"/v1/action-plans/{w['plan']['id']}/items/{w['item']['id']}")
    assert item["assignee_id"] == linus
    series = await _get(client, auth, f"/v1/conversation-series/{w['series']['id']}")
    assert series["facilitator_id"] == linus

    after = (await events_of(client, auth))[len(before) :]
    assert [(e["type"], e["subject_id"]) for e in after] == [
        ("person.updated", ada),
        ("person.manager_changed", ada),
        ("conversation.updated", w["draft"]["id"]),
        ("conversation.updated", w["scheduled"]["id"]),
        ("conversation_series.updated", w["series"]["id"]),
        ("follow_up.updated", w["follow_up"]["id"]),
        ("action_item.updated", w["item"]["id"]),
    ]
    assert after[1]["data"] == {"person_id": ada, "from_manager_id": grace, "to_manager_id": linus}
    assert after[2]["data"]["facilitator_id"] == linus
    assert after[5]["data"]["assignee_id"] == linus
    assert after[6]["data"]["assignee_id"] == linus


async def test_keep_moves_nothing_and_null_manager_moves_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    setting = await client.patch(
        "/v1/tenant", json={"settings": {"on_manager_change": "keep"}}, headers=auth
    )
    assert setting.status_code == 200, setting.text
    assert setting.json()["settings"]["on_manager_change"] == "keep"
    w = await _world(client, auth)
    grace, linus, ada = w["grace"]["id"], w["linus"]["id"], w["ada"]["id"]
    before = await events_of(client, auth)
    # The upsert by external id is a path too.
    moved = await client.put(
        "/v1/people/by-external-id/A", json={"name": "Ada", "manager_id": linus}, headers=auth
    )
    assert moved.status_code == 200, moved.text
    after = (await events_of(client, auth))[len(before) :]
    assert [e["type"] for e in after] == ["person.updated", "person.manager_changed"]
    draft = await _get(client, auth, f"/v1/conversations/{w['draft']['id']}")
    assert draft["facilitator_id"] == grace
    follow_up = await _get(client, auth, f"/v1/follow-ups/{w['follow_up']['id']}")
    assert follow_up["assignee_id"] == grace

    # reassign, but to nobody: nothing moves either.
    await client.patch(
        "/v1/tenant", json={"settings": {"on_manager_change": "reassign"}}, headers=auth
    )
    before = await events_of(client, auth)
    cleared = await client.patch(f"/v1/people/{ada}", json={"manager_id": None}, headers=auth)
    assert cleared.status_code == 200
    after = (await events_of(client, auth))[len(before) :]
    assert [e["type"] for e in after] == ["person.updated", "person.manager_changed"]
    assert after[1]["data"] == {"person_id": ada, "from_manager_id": linus, "to_manager_id": None}


async def test_the_batch_moves_work_too(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    w = await _world(client, auth)
    response = await client.post(
        "/v1/people/batch",
        json={"people": [{"external_id": "A", "name": "Ada", "manager_external_id": "L"}]},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["result"] == "updated"
    draft = await _get(client, auth, f"/v1/conversations/{w['draft']['id']}")
    assert draft["facilitator_id"] == w["linus"]["id"]
    changed = await events_of(client, auth, "person.manager_changed")
    assert [e["data"]["to_manager_id"] for e in changed] == [w["linus"]["id"]]


async def test_deactivation_cancels_future_conversations_and_ends_series(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    w = await _world(client, auth)
    ada = w["ada"]["id"]
    before = await events_of(client, auth)
    gone = await client.patch(f"/v1/people/{ada}", json={"status": "inactive"}, headers=auth)
    assert gone.status_code == 200, gone.text
    for name in ("draft", "scheduled", "mentoring", "mentor_talk"):
        now = await _get(client, auth, f"/v1/conversations/{w[name]['id']}")
        assert (now["status"], now["cancel_reason"]) == (
            "canceled",
            "The person was deactivated.",
        ), name
    bobs = await _get(client, auth, f"/v1/conversations/{w['bobs']['id']}")
    assert bobs["status"] == "draft"
    series = await _get(client, auth, f"/v1/conversation-series/{w['series']['id']}")
    assert series["status"] == "ended"
    after = (await events_of(client, auth))[len(before) :]
    assert sorted(e["type"] for e in after) == [
        "conversation.canceled",
        "conversation.canceled",
        "conversation.canceled",
        "conversation.canceled",
        "conversation_series.ended",
        "person.updated",
    ]
    # Deactivating again changes nothing more.
    again = await client.patch(f"/v1/people/{ada}", json={"status": "inactive"}, headers=auth)
    assert again.status_code == 200
    assert len(await events_of(client, auth)) == len(before) + len(after)


async def test_a_deactivated_assignee_gets_no_follow_up_reminder(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    conversation = await create_conversation(client, auth)
    assignee = conversation["facilitator_id"]
    await create_follow_up(client, auth, conversation["id"], assignee, due_at=due.isoformat())
    gone = await client.patch(f"/v1/people/{assignee}", json={"status": "inactive"}, headers=auth)
    assert gone.status_code == 200
    assert await scheduler.run_once(sessionmaker, now=due - timedelta(hours=23)) == 0
    assert await scheduler.run_once(sessionmaker, now=due + timedelta(seconds=1)) == 1
    fired = await events_of(client, auth, "follow_up.reminder", "follow_up.due")
    assert [e["type"] for e in fired] == ["follow_up.due"]


async def test_erasure_deactivates_too(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    w = await _world(client, auth)
    erased = await client.delete(f"/v1/people/{w['ada']['id']}?erase=true", headers=auth)
    assert erased.status_code == 200, erased.text
    draft = await _get(client, auth, f"/v1/conversations/{w['draft']['id']}")
    assert (draft["status"], draft["cancel_reason"]) == ("canceled", "The person was deactivated.")
    series = await _get(client, auth, f"/v1/conversation-series/{w['series']['id']}")
    assert series["status"] == "ended"
