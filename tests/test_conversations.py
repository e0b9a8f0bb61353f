from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.models.goal import Goal, GoalConversation
from tests.conftest import TenantKey
from tests.factories import create_person
from tests.factories_conversations import (
    create_agenda_item,
    create_conversation,
    create_note,
    create_team,
)
from tests.factories_goals import count_statements

START = "2030-03-04T09:30:00+01:00"
START_UTC = "2030-03-04T08:30:00Z"
LATER_UTC = "2030-03-11T08:30:00Z"


async def _events(
    client: httpx.AsyncClient, headers: dict[str, str], prefix: str = "conversation."
) -> list[dict[str, Any]]:
    response = await client.get("/v1/events?limit=100", headers=headers)
    assert response.status_code == 200
    return [e for e in response.json()["data"] if e["type"].startswith(prefix)]


async def _act(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    conversation_id: str,
    action: str,
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    return await client.post(
        f"/v1/conversations/{conversation_id}/{action}", json=body, headers=headers
    )


async def test_create_and_get_conversation(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    employee = await create_person(client, auth, name="Ada", timezone="Europe/Paris")
    manager = await create_person(client, auth, name="Grace")
    response = await client.post(
        "/v1/conversations",
        json={
            "employee_id": employee["id"],
            "facilitator_id": manager["id"],
            "kind": "stay",
            "scheduled_start": START,
            "duration_minutes": 45,
            "location": "Room 4",
            "meeting_url": "https://meet.example.com/ada",
            "employee_objectives": "Talk about the staff path",
            "facilitator_objectives": "Share promotion criteria",
            "external_id": "HR-C-1",
            "metadata": {"cycle": "2030-H1"},
        },
        headers=auth,
    )
    assert response.status_code == 201
    created = response.json()
    assert response.headers["Location"] == f"/v1/conversations/{created['id']}"
    assert created == {
        "id": created["id"],
        "external_id": "HR-C-1",
        "metadata": {"cycle": "2030-H1"},
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
        "employee_id": employee["id"],
        "facilitator_id": manager["id"],
        "kind": "stay",
        "status": "draft",
        "scheduled_start": START_UTC,
        "scheduled_end": "2030-03-04T09:15:00Z",
        "series_id": None,
        "occurrence_start": None,
        "open_action_items": None,
        "aspiration_version_id": None,
        "assessment_version_id": None,
        "duration_minutes": 45,
        "timezone": "Europe/Paris",
        "location": "Room 4",
        "meeting_url": "https://meet.example.com/ada",
        "employee_objectives": "Talk about the staff path",
        "facilitator_objectives": "Share promotion criteria",
        "summary": None,
        "reschedule_count": 0,
        "reschedules": [],
        "preparation": {
            "employee_prepared_at": None,
            "facilitator_prepared_at": None,
            "unprepared": [employee["id"], manager["id"]],
            "revealed_at": None,
        },
        "completed_at": None,
        "canceled_at": None,
        "cancel_reason": None,
        "agenda_items": [],
    }

    fetched = await client.get(f"/v1/conversations/{created['id']}", headers=auth)
    assert fetched.status_code == 200
    assert fetched.json() == created
    assert fetched.headers["ETag"] == response.headers["ETag"]

    [created_event] = await _events(client, auth)
    assert created_event["type"] == "conversation.created"
    assert created_event["subject_type"] == "conversation"
    assert created_event["subject_id"] == created["id"]
    assert created_event["data"] == created


async def test_defaults_and_explicit_timezone(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    conversation = await create_conversation(client, auth)
    assert conversation["kind"] == "career"
    assert conversation["duration_minutes"] == 30
    assert conversation["timezone"] == "UTC"
    assert conversation["scheduled_start"] is None
    assert conversation["scheduled_end"] is None

    other = await create_conversation(client, auth, timezone="America/New_York")
    assert other["timezone"] == "America/New_York"


async def test_invalid_conversation_is_refused_with_pointers(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    employee = await create_person(client, auth, name="Ada")
    manager = await create_person(client, auth, name="Grace")
    response = await client.post(
        "/v1/conversations",
        json={
            "employee_id": employee["id"],
            "facilitator_id": manager["id"],
            "kind": "chat",
            "scheduled_start": "2030-03-04T09:30:00",
            "duration_minutes": 4,
            "timezone": "Mars/Olympus",
            "meeting_url": "ftp://files.example.com",
            "status": "completed",
        },
        headers=auth,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    pointers = sorted(e["pointer"] for e in response.json()["errors"])
    assert pointers == [
        "/body/duration_minutes",
        "/body/kind",
        "/body/meeting_url",
        "/body/scheduled_start",
        "/body/status",
        "/body/timezone",
    ]
    too_long = await client.post(
        "/v1/conversations",
        json={
            "employee_id": employee["id"],
            "facilitator_id": manager["id"],
            "duration_minutes": 481,
        },
        headers=auth,
    )
    assert too_long.status_code == 422
    assert [e["pointer"] for e in too_long.json()["errors"]] == ["/body/duration_minutes"]
    listed = await client.get("/v1/conversations", headers=auth)
    assert listed.json()["data"] == []


async def test_people_must_be_of_the_tenant_and_differ(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    mine = await create_person(client, tenant.headers, name="Ada")
    theirs = await create_person(client, other_tenant.headers, name="Other")

    foreign = await client.post(
        "/v1/conversations",
        json={"employee_id": theirs["id"], "facilitator_id": mine["id"]},
        headers=tenant.headers,
    )
    assert foreign.status_code == 422
    assert foreign.json()["errors"] == [
        {
            "pointer": "/body/employee_id",
            "detail": f"No person with id {theirs['id']} in this tenant.",
            "code": "unknown_reference",
        }
    ]

    unknown = str(uuid.uuid4())
    missing = await client.post(
        "/v1/conversations",
        json={"employee_id": mine["id"], "facilitator_id": unknown},
        headers=tenant.headers,
    )
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["pointer"] == "/body/facilitator_id"
    assert missing.json()["errors"][0]["code"] == "unknown_reference"

    same = await client.post(
        "/v1/conversations",
        json={"employee_id": mine["id"], "facilitator_id": mine["id"]},
        headers=tenant.headers,
    )
    assert same.status_code == 422
    assert same.json()["errors"][0]["pointer"] == "/body/facilitator_id"
    assert same.json()["errors"][0]["code"] == "same_person"


async def test_schedule_reschedule_complete_with_history_and_events(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    conversation = await create_conversation(client, auth)
    cid = conversation["id"]

    scheduled = await _act(
        client,
        auth,
        cid,
        "schedule",
        {"scheduled_start": START, "duration_minutes": 60, "timezone": "Europe/Berlin"},
    )
    assert scheduled.status_code == 200
    body = scheduled.json()
    assert body["status"] == "scheduled"
    assert body["scheduled_start"] == START_UTC
    assert body["scheduled_end"] == "2030-03-04T09:30:00Z"
    assert body["duration_minutes"] == 60
    assert body["timezone"] == "Europe/Berlin"
    assert body["reschedule_count"] == 0
    assert scheduled.headers["ETag"] != ""

    moved = await _act(
        client,
        auth,
        cid,
        "reschedule",
        {"scheduled_start": "2030-03-11T08:30:00Z", "reason": "Travelling"},
    )
    assert moved.status_code == 200
    moved_again = await _act(
        client, auth, cid, "reschedule", {"scheduled_start": "2030-03-12T10:00:00+02:00"}
    )
    assert moved_again.status_code == 200
    body = moved_again.json()
    assert body["status"] == "scheduled"
    assert body["reschedule_count"] == 2
    assert body["scheduled_start"] == "2030-03-12T08:00:00Z"
    history = [{k: v for k, v in r.items() if k != "created_at"} for r in body["reschedules"]]
    assert history == [
        {"previous_start": START_UTC, "new_start": LATER_UTC, "reason": "Travelling"},
        {"previous_start": LATER_UTC, "new_start": "2030-03-12T08:00:00Z", "reason": None},
    ]
    assert body["reschedules"][0]["created_at"] <= body["reschedules"][1]["created_at"]

    completed = await _act(client, auth, cid, "complete", {"summary": "Agreed two goals."})
    assert completed.status_code == 200
    done = completed.json()
    assert done["status"] == "completed"
    assert done["summary"] == "Agreed two goals."
    assert done["completed_at"] == done["updated_at"]
    assert done["reschedules"] == body["reschedules"]

    fetched = await client.get(f"/v1/conversations/{cid}", headers=auth)
    assert fetched.json() == done

    events = await _events(client, auth)
    assert [e["type"] for e in events] == [
        "conversation.created",
        "conversation.scheduled",
        "conversation.rescheduled",
        "conversation.rescheduled",
        "conversation.completed",
    ]
    # scheduled and rescheduled events also carry the invitation (tests/test_calendar.py)
    assert events[1]["data"] == {**scheduled.json(), "ics": events[1]["data"]["ics"]}
    assert events[3]["data"] == {**moved_again.json(), "ics": events[3]["data"]["ics"]}
    assert events[4]["data"] == done


async def test_schedule_uses_the_drafts_start_or_requires_one(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    bare = await create_conversation(client, auth)
    refused = await _act(client, auth, bare["id"], "schedule")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/body/scheduled_start"
    assert (await client.get(f"/v1/conversations/{bare['id']}", headers=auth)).json() == bare

    planned = await create_conversation(client, auth, scheduled_start=START)
    scheduled = await _act(client, auth, planned["id"], "schedule")
    assert scheduled.status_code == 200
    assert scheduled.json()["status"] == "scheduled"
    assert scheduled.json()["scheduled_start"] == START_UTC

    naive = await _act(
        client, auth, bare["id"], "schedule", {"scheduled_start": "2030-03-04T09:30:00"}
    )
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["pointer"] == "/body/scheduled_start"


async def test_invalid_transitions_name_the_current_status(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    draft = await create_conversation(client, auth)
    scheduled = await create_conversation(client, auth, scheduled_start=START)
    await _act(client, auth, scheduled["id"], "schedule")
    completed = await create_conversation(client, auth, scheduled_start=START)
    await _act(client, auth, completed["id"], "schedule")
    await _act(client, auth, completed["id"], "complete")
    canceled = await create_conversation(client, auth)
    await _act(client, auth, canceled["id"], "cancel", {"reason": "Left the company"})

    cases = [
        (draft, "reschedule", {"scheduled_start": START}, "draft", "reschedule"),
        (draft, "complete", {}, "draft", "complete"),
        (scheduled, "schedule", {"scheduled_start": START}, "scheduled", "schedule"),
        (completed, "cancel", {"reason": "x"}, "completed", "cancel"),
        (completed, "complete", {}, "completed", "complete"),
        (completed, "reschedule", {"scheduled_start": START}, "completed", "reschedule"),
        (
            completed,
            "prepare",
            {"person_id": completed["employee_id"]},
            "completed",
            "prepare for",
        ),
        (canceled, "schedule", {"scheduled_start": START}, "canceled", "schedule"),
        (canceled, "cancel", {"reason": "again"}, "canceled", "cancel"),
        (canceled, "prepare", {"person_id": canceled["employee_id"]}, "canceled", "prepare for"),
    ]
    for conversation, action, body, current, verb in cases:
        response = await _act(client, auth, conversation["id"], action, body)
        assert response.status_code == 409, (action, current)
        problem = response.json()
        assert problem["code"] == "invalid_transition"
        assert problem["current_status"] == current
        assert problem["detail"] == f"Cannot {verb} a conversation whose status is '{current}'."

    statuses = {
        c["id"]: (await client.get(f"/v1/conversations/{c['id']}", headers=auth)).json()["status"]
        for c in (draft, scheduled, completed, canceled)
    }
    assert statuses == {
        draft["id"]: "draft",
        scheduled["id"]: "scheduled",
        completed["id"]: "completed",
        canceled["id"]: "canceled",
    }


async def test_cancel_from_draft_and_scheduled(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    draft = await create_conversation(client, auth)
    no_reason = await _act(client, auth, draft["id"], "cancel", {})
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["pointer"] == "/body/reason"
    canceled = await _act(client, auth, draft["id"], "cancel", {"reason": "Reorg"})
    assert canceled.status_code == 200
    body = canceled.json()
    assert body["status"] == "canceled"
    assert body["cancel_reason"] == "Reorg"
    assert body["canceled_at"] == body["updated_at"]

    scheduled = await create_conversation(client, auth, scheduled_start=START)
    await _act(client, auth, scheduled["id"], "schedule")
    canceled = await _act(client, auth, scheduled["id"], "cancel", {"reason": "Sick leave"})
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    assert [e["type"] for e in await _events(client, auth)] == [
        "conversation.created",
        "conversation.canceled",
        "conversation.created",
        "conversation.scheduled",
        "conversation.canceled",
    ]


async def test_reschedule_to_the_same_time_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    conversation = await create_conversation(client, auth, scheduled_start=START)
    await _act(client, auth, conversation["id"], "schedule")
    same = await _act(
        client, auth, conversation["id"], "reschedule", {"scheduled_start": START_UTC}
    )
    assert same.status_code == 422
    assert same.json()["errors"][0]["code"] == "unchanged"
    current = await client.get(f"/v1/conversations/{conversation['id']}", headers=auth)
    assert current.json()["reschedule_count"] == 0


async def test_prepare_reports_who_is_unprepared(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    conversation = await create_conversation(client, auth)
    cid, employee, facilitator = (
        conversation["id"],
        conversation["employee_id"],
        conversation["facilitator_id"],
    )
    stranger = await create_person(client, auth, name="Stranger")
    refused = await _act(client, auth, cid, "prepare", {"person_id": stranger["id"]})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/body/person_id"
    assert refused.json()["errors"][0]["code"] == "not_a_party"

    first = await _act(client, auth, cid, "prepare", {"person_id": facilitator})
    assert first.status_code == 200
    preparation = first.json()["preparation"]
    assert preparation["employee_prepared_at"] is None
    assert preparation["facilitator_prepared_at"] == first.json()["updated_at"]
    assert preparation["unprepared"] == [employee]

    again = await _act(client, auth, cid, "prepare", {"person_id": facilitator})
    assert again.status_code == 200
    assert again.json() == first.json()

    await _act(client, auth, cid, "schedule", {"scheduled_start": START})
    both = await _act(client, auth, cid, "prepare", {"person_id": employee})
    assert both.status_code == 200
    assert both.json()["preparation"]["unprepared"] == []
    assert (
        both.json()["preparation"]["facilitator_prepared_at"]
        == (preparation["facilitator_prepared_at"])
    )
    assert [e["type"] for e in await _events(client, auth)] == [
        "conversation.created",
        "conversation.prepared",
        "conversation.scheduled",
        "conversation.prepared",
    ]


async def test_patch_follows_the_status(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    conversation = await create_conversation(client, auth)
    path = f"/v1/conversations/{conversation['id']}"

    draft = await client.patch(
        path,
        json={"scheduled_start": START, "location": "Café", "kind": "mentorship"},
        headers=auth,
    )
    assert draft.status_code == 200
    assert draft.json()["scheduled_start"] == START_UTC
    assert draft.json()["location"] == "Café"
    assert draft.json()["kind"] == "mentorship"
    assert draft.json()["updated_at"] > conversation["updated_at"]

    await _act(client, auth, conversation["id"], "schedule")
    moved = await client.patch(path, json={"scheduled_start": "2030-05-01T10:00:00Z"}, headers=auth)
    assert moved.status_code == 409
    assert moved.json()["code"] == "conversation_closed"
    assert moved.json()["current_status"] == "scheduled"
    same_time = await client.patch(
        path, json={"scheduled_start": START, "duration_minutes": 90}, headers=auth
    )
    assert same_time.status_code == 200
    assert same_time.json()["duration_minutes"] == 90

    await _act(client, auth, conversation["id"], "complete")
    summary = await client.patch(path, json={"summary": "Went well."}, headers=auth)
    assert summary.status_code == 200
    assert summary.json()["summary"] == "Went well."
    frozen = await client.patch(path, json={"location": "Elsewhere"}, headers=auth)
    assert frozen.status_code == 409
    assert frozen.json()["current_status"] == "completed"
    assert frozen.json()["detail"] == (
        "location cannot be changed while the conversation is 'completed'."
    )

    nulled = await client.patch(path, json={"kind": None}, headers=auth)
    assert nulled.status_code == 422
    assert nulled.json()["errors"][0]["pointer"] == "/body/kind"
    unknown = await client.patch(path, json={"employee_id": str(uuid.uuid4())}, headers=auth)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["pointer"] == "/body/employee_id"

    events = await _events(client, auth)
    assert [e["type"] for e in events] == [
        "conversation.created",
        "conversation.updated",
        "conversation.scheduled",
        "conversation.updated",
        "conversation.completed",
        "conversation.updated",
    ]
    assert events[-1]["data"] == summary.json()


async def test_patch_with_if_match(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    conversation = await create_conversation(client, auth)
    path = f"/v1/conversations/{conversation['id']}"
    etag = (await client.get(path, headers=auth)).headers["ETag"]

    await asyncio.sleep(0.001)
    first = await client.patch(
        path, json={"summary": "Draft notes"}, headers={**auth, "If-Match": etag}
    )
    assert first.status_code == 200
    assert first.headers["ETag"] != etag

    stale = await client.patch(path, json={"summary": "Other"}, headers={**auth, "If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    stale_delete = await client.delete(path, headers={**auth, "If-Match": etag})
    assert stale_delete.status_code == 412
    current = await client.get(path, headers=auth)
    assert current.json()["summary"] == "Draft notes"


async def test_external_id_is_unique_per_tenant(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    first = await create_conversation(client, tenant.headers, external_id="HR-C-9")
    await create_conversation(client, other_tenant.headers, external_id="HR-C-9")
    employee, facilitator = first["employee_id"], first["facilitator_id"]
    duplicate = await client.post(
        "/v1/conversations",
        json={"employee_id": employee, "facilitator_id": facilitator, "external_id": "HR-C-9"},
        headers=tenant.headers,
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["conflicting_id"] == first["id"]

    second = await create_conversation(
        client, tenant.headers, employee_id=employee, facilitator_id=facilitator
    )
    taken = await client.patch(
        f"/v1/conversations/{second['id']}", json={"external_id": "HR-C-9"}, headers=tenant.headers
    )
    assert taken.status_code == 409


async def test_list_filters_and_pages(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    ada = await create_person(client, auth, name="Ada")
    bob = await create_person(client, auth, name="Bob")
    grace = await create_person(client, auth, name="Grace")
    c1 = await create_conversation(
        client, auth, employee_id=ada["id"], facilitator_id=grace["id"], scheduled_start=START
    )
    c2 = await create_conversation(
        client,
        auth,
        employee_id=bob["id"],
        facilitator_id=grace["id"],
        kind="mentorship",
        scheduled_start="2030-04-01T09:00:00Z",
    )
    c3 = await create_conversation(client, auth, employee_id=grace["id"], facilitator_id=ada["id"])
    await _act(client, auth, c2["id"], "schedule")

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/v1/conversations?{query}", headers=auth)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["data"]]

    assert await ids("") == [c3["id"], c2["id"], c1["id"]]
    assert await ids(f"employee_id={ada['id']}") == [c1["id"]]
    assert await ids(f"facilitator_id={grace['id']}") == [c2["id"], c1["id"]]
    assert await ids(f"person_id={ada['id']}") == [c3["id"], c1["id"]]
    assert await ids("status=scheduled") == [c2["id"]]
    assert await ids("status=draft") == [c3["id"], c1["id"]]
    assert await ids("kind=mentorship") == [c2["id"]]
    assert await ids("scheduled_after=2030-03-05T00:00:00Z") == [c2["id"]]
    assert await ids("scheduled_before=2030-03-05T00:00:00Z") == [c1["id"]]
    assert await ids(
        "scheduled_after=2030-03-04T08:30:00Z&scheduled_before=2030-04-01T09:00:00Z"
    ) == [c1["id"]]
    scheduled_at = (await client.get(f"/v1/conversations/{c2['id']}", headers=auth)).json()
    assert await ids(f"updated_since={scheduled_at['updated_at'].replace('Z', '%2B00:00')}") == [
        c2["id"]
    ]

    naive = await client.get("/v1/conversations?scheduled_after=2030-03-05T00:00:00", headers=auth)
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["pointer"] == "/query/scheduled_after"
    bad_status = await client.get("/v1/conversations?status=done", headers=auth)
    assert bad_status.status_code == 422

    page1 = (await client.get("/v1/conversations?limit=2", headers=auth)).json()
    assert [c["id"] for c in page1["data"]] == [c3["id"], c2["id"]]
    assert page1["has_more"] is True
    page2 = (
        await client.get(f"/v1/conversations?limit=2&cursor={page1['next_cursor']}", headers=auth)
    ).json()
    assert page2 == {"data": [page2["data"][0]], "next_cursor": None, "has_more": False}
    assert page2["data"][0]["id"] == c1["id"]


async def test_delete_draft_and_canceled_only(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    draft = await create_conversation(client, auth)
    await create_agenda_item(client, auth, draft)
    await create_note(client, auth, draft, visibility="private")
    deleted = await client.delete(f"/v1/conversations/{draft['id']}", headers=auth)
    assert deleted.status_code == 204
    assert (await client.get(f"/v1/conversations/{draft['id']}", headers=auth)).status_code == 404
    gone = await client.get(f"/v1/conversations/{draft['id']}/agenda-items", headers=auth)
    assert gone.status_code == 404

    scheduled = await create_conversation(client, auth, scheduled_start=START)
    await _act(client, auth, scheduled["id"], "schedule")
    refused = await client.delete(f"/v1/conversations/{scheduled['id']}", headers=auth)
    assert refused.status_code == 409
    assert refused.json()["current_status"] == "scheduled"
    assert refused.json()["detail"] == ("Cannot delete a conversation whose status is 'scheduled'.")

    await _act(client, auth, scheduled["id"], "cancel", {"reason": "Duplicate"})
    rescheduled_then_canceled = await client.delete(
        f"/v1/conversations/{scheduled['id']}", headers=auth
    )
    assert rescheduled_then_canceled.status_code == 204

    completed = await create_conversation(client, auth, scheduled_start=START)
    await _act(client, auth, completed["id"], "schedule")
    await _act(client, auth, completed["id"], "complete")
    kept = await client.delete(f"/v1/conversations/{completed['id']}", headers=auth)
    assert kept.status_code == 409
    assert kept.json()["current_status"] == "completed"

    events = await _events(client, auth)
    deleted_events = [e for e in events if e["type"] == "conversation.deleted"]
    assert [e["subject_id"] for e in deleted_events] == [draft["id"], scheduled["id"]]
    assert deleted_events[0]["data"]["id"] == draft["id"]
    assert len(deleted_events[0]["data"]["agenda_items"]) == 1
    assert "notes" not in deleted_events[0]["data"]


async def test_delete_is_refused_while_other_records_refer_to_it(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    conversation = await create_conversation(client, tenant.headers)
    goal = Goal(tenant_id=tenant.tenant_id, owner_id=conversation["employee_id"], title="Staff")
    session.add(goal)
    await session.flush()
    session.add(
        GoalConversation(
            goal_id=goal.id,
            conversation_id=uuid.UUID(conversation["id"]),
            tenant_id=tenant.tenant_id,
        )
    )
    await session.commit()

    refused = await client.delete(f"/v1/conversations/{conversation['id']}", headers=tenant.headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "conflict"
    still = await client.get(f"/v1/conversations/{conversation['id']}", headers=tenant.headers)
    assert still.status_code == 200


async def test_idempotent_create_and_action_replay(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    employee = await create_person(client, auth, name="Ada")
    manager = await create_person(client, auth, name="Grace")
    body = {"employee_id": employee["id"], "facilitator_id": manager["id"]}
    headers = {**auth, "Idempotency-Key": "conv-1"}
    first = await client.post("/v1/conversations", json=body, headers=headers)
    replay = await client.post("/v1/conversations", json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Location"] == first.headers["Location"]
    listed = await client.get("/v1/conversations", headers=auth)
    assert len(listed.json()["data"]) == 1

    reused = await client.post("/v1/conversations", json={**body, "kind": "stay"}, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"

    cid = first.json()["id"]
    action_headers = {**auth, "Idempotency-Key": "schedule-1"}
    schedule = {"scheduled_start": START}
    scheduled = await client.post(
        f"/v1/conversations/{cid}/schedule", json=schedule, headers=action_headers
    )
    again = await client.post(
        f"/v1/conversations/{cid}/schedule", json=schedule, headers=action_headers
    )
    assert scheduled.status_code == again.status_code == 200
    assert again.json() == scheduled.json()
    assert [e["type"] for e in await _events(client, auth)] == [
        "conversation.created",
        "conversation.scheduled",
    ]


async def test_private_notes_never_appear_in_conversation_payloads(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    conversation = await create_conversation(client, auth, scheduled_start=START)
    await create_agenda_item(client, auth, conversation, topic="Growth")
    await create_note(
        client, auth, conversation, visibility="private", body="SECRET-Grace-is-leaving"
    )
    cid = conversation["id"]
    await _act(client, auth, cid, "schedule")
    await _act(client, auth, cid, "complete", {"summary": "Good talk"})

    one = await client.get(f"/v1/conversations/{cid}", headers=auth)
    listed = await client.get("/v1/conversations", headers=auth)
    events = await client.get("/v1/events?limit=100", headers=auth)
    for response in (one, listed, events):
        assert response.status_code == 200
        assert "SECRET" not in response.text
    assert "notes" not in one.json()
    assert [e["type"] for e in events.json()["data"] if e["subject_type"] == "note"] == []


async def test_a_conversation_loads_in_a_fixed_number_of_queries(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    engine: AsyncEngine,
    connection: AsyncConnection,
) -> None:
    small = await create_conversation(client, auth, scheduled_start=START)
    large = await create_conversation(
        client,
        auth,
        employee_id=small["employee_id"],
        facilitator_id=small["facilitator_id"],
        scheduled_start=START,
    )
    for _ in range(2):
        await create_agenda_item(client, auth, small)
    for i in range(30):
        await create_agenda_item(client, auth, large, topic=f"Topic {i}")
    for conversation in (small, large):
        await _act(client, auth, conversation["id"], "schedule")
        await _act(client, auth, conversation["id"], "reschedule", {"scheduled_start": LATER_UTC})

    # Warm up: the first read on a connection introspects the row types (once per connection).
    await client.get(f"/v1/conversations/{small['id']}", headers=auth)
    async with count_statements(engine, connection) as small_statements:
        small_read = await client.get(f"/v1/conversations/{small['id']}", headers=auth)
    async with count_statements(engine, connection) as large_statements:
        large_read = await client.get(f"/v1/conversations/{large['id']}", headers=auth)
    assert len(small_read.json()["agenda_items"]) == 2
    assert len(large_read.json()["agenda_items"]) == 30
    assert [i["position"] for i in large_read.json()["agenda_items"]] == list(range(30))
    assert [i["topic"] for i in large_read.json()["agenda_items"]][:2] == ["Topic 0", "Topic 1"]
    assert len(small_statements) == len(large_statements) == 1


async def test_a_list_page_loads_in_a_fixed_number_of_queries(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    tenant: TenantKey,
    engine: AsyncEngine,
    connection: AsyncConnection,
) -> None:
    employee = await create_person(client, auth, name="Ada")
    manager = await create_person(client, auth, name="Grace")
    pair = {"employee_id": employee["id"], "facilitator_id": manager["id"]}
    for i in range(20):
        conversation = await create_conversation(
            client, auth, **pair, scheduled_start=START, external_id=f"c-{i}"
        )
        await create_agenda_item(client, auth, conversation)
        await create_agenda_item(client, auth, conversation, author_id=manager["id"])
        await _act(client, auth, conversation["id"], "schedule")
        await _act(client, auth, conversation["id"], "reschedule", {"scheduled_start": LATER_UTC})

    await client.get("/v1/conversations?limit=1", headers=auth)  # warm up (type introspection)
    async with count_statements(engine, connection) as two_statements:
        two = await client.get("/v1/conversations?limit=2", headers=auth)
    async with count_statements(engine, connection) as twenty_statements:
        twenty = await client.get("/v1/conversations?limit=20", headers=auth)
    assert len(two.json()["data"]) == 2
    assert len(twenty.json()["data"]) == 20
    assert {len(c["agenda_items"]) for c in twenty.json()["data"]} == {2}
    assert {c["reschedule_count"] for c in twenty.json()["data"]} == {1}
    assert {len(c["reschedules"]) for c in twenty.json()["data"]} == {1}
    assert len(two_statements) == len(twenty_statements) == 1


# Acting as a person ------------------------------------------------------------------------


async def test_a_person_creates_as_a_party_or_a_manager_of_the_employee(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    team = await create_team(client, auth)
    mentor = await create_person(client, auth, name="Mentor")
    body = {"employee_id": team.ids["ada"], "facilitator_id": mentor["id"]}
    for who in ("ada", "grace", "skip"):  # the employee, her manager, the manager above
        created = await client.post("/v1/conversations", json=body, headers=team.as_(who))
        assert created.status_code == 201, (who, created.text)
    as_mentor = {**auth, "Acting-Person": mentor["id"]}
    created = await client.post(
        "/v1/conversations", json={**body, "external_id": "C-1"}, headers=as_mentor
    )
    assert created.status_code == 201
    events = await _events(client, auth)
    assert events[-1]["actor"]["person_id"] == mentor["id"]

    # Anyone else: 403, before the taken external_id's 409.
    for headers in (team.as_("colleague"), {**auth, "Acting-Person": team.ids["colleague"]}):
        refused = await client.post(
            "/v1/conversations", json={**body, "external_id": "C-1"}, headers=headers
        )
        assert refused.status_code == 403
        assert refused.json()["code"] == "not_permitted"
    # With managers_see_reports = direct, the skip-level manager is no longer one.
    direct = await client.patch(
        "/v1/tenant", json={"settings": {"managers_see_reports": "direct"}}, headers=auth
    )
    assert direct.status_code == 200
    skip = await client.post("/v1/conversations", json=body, headers=team.as_("skip"))
    assert skip.status_code == 403
    grace = await client.post("/v1/conversations", json=body, headers=team.as_("grace"))
    assert grace.status_code == 201


async def test_only_a_party_changes_or_acts_and_403_comes_first(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    team = await create_team(client, auth)
    conversation = await create_conversation(
        client, auth, employee_id=team.ids["ada"], facilitator_id=team.ids["grace"]
    )
    cid = conversation["id"]
    path = f"/v1/conversations/{cid}"
    etag = (await client.get(path, headers=auth)).headers["ETag"]
    skip = team.as_("skip")  # sees it (Ada's manager's manager), is no party

    writes: list[tuple[str, str, dict[str, Any] | None, dict[str, str]]] = [
        ("PATCH", path, {"location": "Room 1"}, {"If-Match": '"stale"'}),
        ("DELETE", path, None, {"If-Match": '"stale"'}),
        ("POST", f"{path}/schedule", {"scheduled_start": START}, {}),
        ("POST", f"{path}/reschedule", {"scheduled_start": START}, {}),  # a draft: 409
        ("POST", f"{path}/complete", None, {}),  # a draft: 409
        ("POST", f"{path}/cancel", {"reason": "No"}, {}),
        ("POST", f"{path}/prepare", None, {}),
    ]
    for method, url, body, extra in writes:
        refused = await client.request(method, url, json=body, headers={**skip, **extra})
        assert refused.status_code == 403, (method, url, refused.text)
        assert refused.json()["code"] == "not_permitted"
        hidden = await client.request(
            method, url, json=body, headers={**team.as_("colleague"), **extra}
        )
        assert hidden.status_code == 404, (method, url)
    assert (await client.get(path, headers=auth)).headers["ETag"] == etag
    assert [e["type"] for e in await _events(client, auth)] == ["conversation.created"]

    # A party: the state rules and If-Match apply as before.
    ada = team.as_("ada")
    stale = await client.patch(
        path, json={"location": "Room 1"}, headers={**ada, "If-Match": '"stale"'}
    )
    assert stale.status_code == 412
    early = await client.post(f"{path}/complete", headers=ada)
    assert early.status_code == 409
    assert early.json()["code"] == "invalid_transition"
    changed = await client.patch(path, json={"location": "Room 1"}, headers=ada)
    assert changed.status_code == 200
    scheduled = await _act(client, team.as_("grace"), cid, "schedule", {"scheduled_start": START})
    assert scheduled.status_code == 200
    canceled = await _act(client, ada, cid, "cancel", {"reason": "Moved teams"})
    assert canceled.status_code == 200
    deleted = await client.delete(path, headers=team.as_("grace"))
    assert deleted.status_code == 204
    events = await _events(client, auth)
    assert [e["actor"]["person_id"] for e in events[1:]] == [
        team.ids["ada"],
        team.ids["grace"],
        team.ids["ada"],
        team.ids["grace"],
    ]


async def test_a_person_prepares_only_themselves(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    team = await create_team(client, auth)
    conversation = await create_conversation(
        client, auth, employee_id=team.ids["ada"], facilitator_id=team.ids["grace"]
    )
    cid = conversation["id"]

    # The platform must name the party: a missing person_id is a 422 on the field.
    for body in (None, {}):
        missing = await _act(client, auth, cid, "prepare", body)
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["pointer"] == "/body/person_id"
        assert missing.json()["errors"][0]["code"] == "required_as_platform"

    # A person: no body needed; naming the other party, or not being one, is a 403.
    other = await _act(client, team.as_("grace"), cid, "prepare", {"person_id": team.ids["ada"]})
    assert other.status_code == 403
    assert other.json()["code"] == "not_permitted"
    manager = await _act(client, team.as_("skip"), cid, "prepare", {"person_id": team.ids["skip"]})
    assert manager.status_code == 403
    ada = await _act(client, team.as_("ada"), cid, "prepare")
    assert ada.status_code == 200
    assert ada.json()["preparation"]["unprepared"] == [team.ids["grace"]]
    grace = await _act(client, team.as_("grace"), cid, "prepare", {"person_id": team.ids["grace"]})
    assert grace.status_code == 200
    assert grace.json()["preparation"]["unprepared"] == []

    # 403 before the state rule's 409.
    assert (await _act(client, auth, cid, "cancel", {"reason": "Off"})).status_code == 200
    late = await _act(client, team.as_("skip"), cid, "prepare")
    assert late.status_code == 403
    closed = await _act(client, team.as_("ada"), cid, "prepare")
    assert closed.status_code == 409
