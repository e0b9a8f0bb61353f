"""The hot read paths (plain SQL shaped into JSON by orjson, app/services/common.py
``Reader``) answer exactly what the writes answer: a write returns its resource through the
ORM and pydantic (reading it back with the Reader's statement where the schema nests rows),
and the following GET one, list page and event must carry the same JSON and ETag."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import create_person
from tests.factories_feedback import (
    create_feedback,
    create_feedback_request,
    create_follow_up,
    create_mentorship,
    in_days,
)
from tests.factories_goals import create_goal, create_item, create_plan

Client = httpx.AsyncClient


async def same_as_read(
    client: Client, auth: dict[str, str], written: httpx.Response, url: str, list_url: str
) -> dict[str, Any]:
    """Assert GET ``url`` and the first item of GET ``list_url`` equal ``written``."""
    assert written.status_code in (200, 201), written.text
    one = await client.get(url, headers=auth)
    assert one.status_code == 200, one.text
    assert one.json() == written.json()
    assert one.headers["etag"] == written.headers["etag"]
    assert one.headers["content-type"] == "application/json"
    page = await client.get(list_url, headers=auth)
    assert page.status_code == 200, page.text
    assert page.json()["data"][0] == written.json()
    body: dict[str, Any] = one.json()
    return body


async def last_event(client: Client, auth: dict[str, str]) -> dict[str, Any]:
    events = (await client.get("/v1/events?limit=100", headers=auth)).json()["data"]
    one = await client.get(f"/v1/events/{events[-1]['id']}", headers=auth)
    assert one.json() == events[-1]
    event: dict[str, Any] = events[-1]
    return event


async def test_people(client: Client, auth: dict[str, str]) -> None:
    manager = await create_person(client, auth, name="Grace")
    created = await client.post(
        "/v1/people",
        json={
            "name": "Ada",
            "email": "ada@example.com",
            "title": "Engineer",
            "manager_id": manager["id"],
            "timezone": "Europe/Paris",
            "external_id": "HR-1",
            "metadata": {
                "level": 3,
                "tags": ["a", "é"],
                "nested": {"x": None, "f": 1.5},
                "big": 10**30,  # beyond orjson's 64 bits: still answered, never a 500
            },
        },
        headers=auth,
    )
    url = f"/v1/people/{created.json()['id']}"
    body = await same_as_read(client, auth, created, url, "/v1/people")
    assert body["metadata"]["big"] == 10**30
    assert (await last_event(client, auth))["data"] == body
    patched = await client.patch(url, json={"title": None, "status": "inactive"}, headers=auth)
    await same_as_read(client, auth, patched, url, "/v1/people")


async def test_conversations(client: Client, auth: dict[str, str]) -> None:
    employee = await create_person(client, auth, name="Ada")
    facilitator = await create_person(client, auth, name="Grace")
    created = await client.post(
        "/v1/conversations",
        json={
            "employee_id": employee["id"],
            "facilitator_id": facilitator["id"],
            "kind": "stay",
            "scheduled_start": "2030-03-04T09:30:00.123456+01:00",
            "location": "Room 4",
            "meeting_url": "https://meet.example.com/x",
            "employee_objectives": "Grow",
            "metadata": {"k": "v", "big": -(10**25)},
        },
        headers=auth,
    )
    url = f"/v1/conversations/{created.json()['id']}"
    body = await same_as_read(client, auth, created, url, "/v1/conversations")
    assert (await last_event(client, auth))["data"] == body
    for topic in ("Scope", "Timeline"):
        added = await client.post(
            f"{url}/agenda-items", json={"author_id": employee["id"], "topic": topic}, headers=auth
        )
        assert added.status_code == 201, added.text
    scheduled = await client.post(f"{url}/schedule", json={}, headers=auth)
    await same_as_read(client, auth, scheduled, url, "/v1/conversations")
    prepared = await client.post(f"{url}/prepare", json={"person_id": employee["id"]}, headers=auth)
    await same_as_read(client, auth, prepared, url, "/v1/conversations")
    moved = await client.post(
        f"{url}/reschedule",
        json={"scheduled_start": "2030-03-05T10:00:00Z", "reason": "Travel"},
        headers=auth,
    )
    body = await same_as_read(client, auth, moved, url, "/v1/conversations")
    assert [i["topic"] for i in body["agenda_items"]] == ["Scope", "Timeline"]
    assert len(body["reschedules"]) == 1
    assert body["preparation"]["unprepared"] == [facilitator["id"]]

    # A party's own sealed item: their writes and reads carry it, the platform's do not.
    as_ada = {**auth, "Acting-Person": employee["id"]}
    sealed = await client.post(
        f"{url}/agenda-items",
        json={"author_id": employee["id"], "topic": "Raise", "visibility": "sealed"},
        headers=as_ada,
    )
    assert sealed.status_code == 201, sealed.text
    patched = await client.patch(url, json={"location": "Room 5"}, headers=as_ada)
    body = await same_as_read(client, as_ada, patched, url, "/v1/conversations")
    assert [i["topic"] for i in body["agenda_items"]] == ["Scope", "Timeline", "Raise"]
    platform = (await client.get(url, headers=auth)).json()
    assert platform == {**body, "agenda_items": body["agenda_items"][:2]}
    assert (await last_event(client, auth))["data"] == platform


async def test_conversation_from_templates(client: Client, auth: dict[str, str]) -> None:
    """The create's fast path with a template's items, and a schedule adding another's."""
    employee = await create_person(client, auth, name="Ada")
    facilitator = await create_person(client, auth, name="Grace")
    created = await client.post(
        "/v1/conversations",
        json={
            "employee_id": employee["id"],
            "facilitator_id": facilitator["id"],
            "template_id": "00000000-0000-7000-8000-00000000a003",
            "scheduled_start": "2030-03-04T09:30:00Z",
        },
        headers=auth,
    )
    url = f"/v1/conversations/{created.json()['id']}"
    body = await same_as_read(client, auth, created, url, "/v1/conversations")
    assert (await last_event(client, auth))["data"] == body
    assert len(body["agenda_items"]) == 4
    template = await client.post(
        "/v1/agenda-templates",
        json={"name": "Ours", "items": [{"category": "feedback", "title": "Kudos"}]},
        headers=auth,
    )
    scheduled = await client.post(
        f"{url}/schedule", json={"template_id": template.json()["id"]}, headers=auth
    )
    body = await same_as_read(client, auth, scheduled, url, "/v1/conversations")
    event = (await last_event(client, auth))["data"]
    assert event == {**body, "ics": event["ics"]}  # scheduling carries the invitation too
    assert [i["position"] for i in body["agenda_items"]] == [0, 1, 2, 3, 4]


async def test_agenda_templates(client: Client, auth: dict[str, str]) -> None:
    created = await client.post(
        "/v1/agenda-templates",
        json={
            "name": "Quarterly",
            "kind": "mentorship",
            "description": "Ours",
            "items": [
                {"category": "aspirations", "title": "Next", "prompt": "Where to?"},
                {"title": "Other"},
            ],
            "external_id": "T-1",
            "metadata": {"k": "v", "big": -(10**25)},
        },
        headers=auth,
    )
    url = f"/v1/agenda-templates/{created.json()['id']}"
    await same_as_read(client, auth, created, url, "/v1/agenda-templates")
    patched = await client.patch(url, json={"items": [{"title": "Only"}]}, headers=auth)
    await same_as_read(client, auth, patched, url, "/v1/agenda-templates")
    copied = await client.post(f"{url}/copy", json={"name": "Copy"}, headers=auth)
    await same_as_read(
        client, auth, copied, f"/v1/agenda-templates/{copied.json()['id']}", "/v1/agenda-templates"
    )


async def test_career_framework(client: Client, auth: dict[str, str]) -> None:
    created = await client.post(
        "/v1/competencies",
        json={
            "name": "Design",
            "description": "Designs",
            "category": "Eng",
            "external_id": "C-1",
            "metadata": {"k": "v", "big": -(10**25)},
        },
        headers=auth,
    )
    url = f"/v1/competencies/{created.json()['id']}"
    await same_as_read(client, auth, created, url, "/v1/competencies")
    assert (await last_event(client, auth))["data"] == created.json()
    patched = await client.patch(url, json={"category": None}, headers=auth)
    await same_as_read(client, auth, patched, url, "/v1/competencies")
    expectation = {"competency_id": created.json()["id"], "expectation": "Leads a design."}
    track = await client.post(
        "/v1/career-tracks",
        json={
            "name": "Engineering",
            "levels": [{"name": "Engineer"}, {"name": "Senior", "expectations": [expectation]}],
            "metadata": {"k": "v"},
        },
        headers=auth,
    )
    url = f"/v1/career-tracks/{track.json()['id']}"
    await same_as_read(client, auth, track, url, "/v1/career-tracks")
    assert (await last_event(client, auth))["data"] == track.json()
    kept = track.json()["levels"][1]["id"]
    patched = await client.patch(
        url, json={"levels": [{"name": "Staff"}, {"id": kept, "name": "Senior+"}]}, headers=auth
    )
    await same_as_read(client, auth, patched, url, "/v1/career-tracks")
    assert (await last_event(client, auth))["data"] == patched.json()


async def test_goals(client: Client, auth: dict[str, str]) -> None:
    manager = await create_person(client, auth, name="Grace")
    employee = await create_person(client, auth, name="Ada", manager_id=manager["id"])
    conversations = []
    for _ in range(2):
        made = await client.post(
            "/v1/conversations",
            json={"employee_id": employee["id"], "facilitator_id": manager["id"]},
            headers=auth,
        )
        conversations.append(made.json()["id"])
    goal = await create_goal(
        client, auth, employee["id"], conversation_ids=conversations, target_date="2031-01-31"
    )
    url = f"/v1/goals/{goal['id']}"
    agreed = await client.post(
        f"{url}/agree", json={"party": "facilitator", "person_id": manager["id"]}, headers=auth
    )
    body = await same_as_read(client, auth, agreed, url, "/v1/goals")
    assert body["conversation_ids"] == conversations
    assert body["agreement"]["facilitator_id"] == manager["id"]


async def test_action_items(client: Client, auth: dict[str, str]) -> None:
    employee = await create_person(client, auth, name="Ada")
    plan = await create_plan(client, auth, employee["id"])
    item = await create_item(client, auth, plan["id"], employee["id"], due_date="2031-02-01")
    url = f"/v1/action-plans/{plan['id']}/items/{item['id']}"
    done = await client.patch(url, json={"status": "done"}, headers=auth)
    await same_as_read(client, auth, done, url, "/v1/action-items")
    await create_item(client, auth, plan["id"], employee["id"], title="Second")
    plan_url = f"/v1/action-plans/{plan['id']}"
    renamed = await client.patch(plan_url, json={"title": "Renamed"}, headers=auth)
    body = await same_as_read(client, auth, renamed, plan_url, "/v1/action-plans")
    assert body["completion"] == {"done": 1, "total": 2, "ratio": 0.5}
    assert [i["title"] for i in body["items"]] == ["Shadow on-call", "Second"]
    other = await create_plan(client, auth, employee["id"])
    elsewhere = await client.get(f"/v1/action-plans/{other['id']}/items/{item['id']}", headers=auth)
    assert elsewhere.status_code == 404
    assert elsewhere.json()["detail"] == (
        f"No action item with id {item['id']} in action plan {other['id']}."
    )


async def test_feedback_and_follow_ups(client: Client, auth: dict[str, str]) -> None:
    ada = await create_person(client, auth, name="Ada")
    grace = await create_person(client, auth, name="Grace")
    feedback = await create_feedback(client, auth, grace["id"], ada["id"])
    url = f"/v1/feedback/{feedback['id']}"
    edited = await client.patch(url, json={"visibility": "recipient_and_manager"}, headers=auth)
    await same_as_read(client, auth, edited, url, "/v1/feedback")

    made = await client.post(
        "/v1/conversations",
        json={"employee_id": ada["id"], "facilitator_id": grace["id"]},
        headers=auth,
    )
    follow_up = await create_follow_up(client, auth, made.json()["id"], ada["id"])
    url = f"/v1/follow-ups/{follow_up['id']}"
    moved = await client.patch(url, json={"due_at": in_days(3), "note": "Check"}, headers=auth)
    await same_as_read(client, auth, moved, url, "/v1/follow-ups")


async def test_mentorships_and_feedback_requests(client: Client, auth: dict[str, str]) -> None:
    ada = await create_person(client, auth, name="Ada")
    grace = await create_person(client, auth, name="Grace")
    mentorship = await create_mentorship(client, auth, grace["id"], ada["id"], focus="Design")
    url = f"/v1/mentorships/{mentorship['id']}"
    edited = await client.patch(url, json={"metadata": {"cohort": 3}}, headers=auth)
    await same_as_read(client, auth, edited, url, "/v1/mentorships")

    asked = await create_feedback_request(client, auth, ada["id"], grace["id"])
    url = f"/v1/feedback-requests/{asked['id']}"
    declined = await client.post(f"{url}/decline", json={"reason": "Busy"}, headers=auth)
    await same_as_read(client, auth, declined, url, "/v1/feedback-requests")


async def test_tenant(client: Client, auth: dict[str, str]) -> None:
    patched = await client.patch(
        "/v1/tenant",
        json={
            "metadata": {"plan": "pro"},
            "settings": {
                "conversation_reminder_lead_minutes": 30,
                "retention": {"private_notes_days": 90},
            },
        },
        headers=auth,
    )
    assert patched.status_code == 200, patched.text
    read = await client.get("/v1/tenant", headers=auth)
    assert read.json() == patched.json()
    assert read.json()["settings"]["conversation_reminder_lead_minutes"] == 30
    assert read.json()["settings"]["retention"]["private_notes_days"] == 90


async def test_exports(client: Client, auth: dict[str, str]) -> None:
    ada = await create_person(client, auth, name="Ada")
    created = await client.post(f"/v1/people/{ada['id']}/exports", headers=auth)
    assert created.status_code == 202, created.text
    one = await client.get(created.headers["location"], headers=auth)
    assert one.status_code == 200
    assert one.json() == created.json()
    assert one.headers["etag"] == created.headers["etag"]
    assert one.headers["content-type"] == "application/json"


async def test_person_sessions(client: Client, auth: dict[str, str]) -> None:
    ada = await create_person(client, auth, name="Ada")
    created = await client.post("/v1/person-sessions", json={"person_id": ada["id"]}, headers=auth)
    assert created.status_code == 201, created.text
    one = await client.get(created.headers["location"], headers=auth)
    assert one.status_code == 200
    assert one.json() == {k: v for k, v in created.json().items() if k != "token"}
    assert one.headers["etag"] == created.headers["etag"]
    assert one.headers["content-type"] == "application/json"


async def test_conversation_series(client: Client, auth: dict[str, str]) -> None:
    ada = await create_person(client, auth, name="Ada")
    grace = await create_person(client, auth, name="Grace")
    created = await client.post(
        "/v1/conversation-series",
        json={
            "employee_id": ada["id"],
            "facilitator_id": grace["id"],
            "rrule": "FREQ=WEEKLY;BYDAY=TU",
            "start": "2030-03-12T10:00:00",
            "timezone": "Europe/Berlin",
            "metadata": {"k": "v"},
        },
        headers=auth,
    )
    url = f"/v1/conversation-series/{created.json()['id']}"
    await same_as_read(client, auth, created, url, "/v1/conversation-series")
    paused = await client.post(f"{url}/pause", headers=auth)
    await same_as_read(client, auth, paused, url, "/v1/conversation-series")


async def test_aspirations_and_assessments(client: Client, auth: dict[str, str]) -> None:
    manager = await create_person(client, auth, name="Grace")
    person = await create_person(client, auth, name="Ada", manager_id=manager["id"])
    base = f"/v1/people/{person['id']}"
    written = await client.put(
        f"{base}/aspiration",
        json={
            "target_role": "Staff Engineer",
            "target_level": "L6",
            "horizon_months": 18,
            "mobility": "anywhere",
            "wants_to_learn": ["Design", "Négociation"],
            "notes": "Soon",
        },
        headers=auth,
    )
    aspiration = await same_as_read(
        client, auth, written, f"{base}/aspiration", f"{base}/aspiration/history"
    )
    assert (await last_event(client, auth))["data"] == aspiration
    written = await client.put(
        f"{base}/assessment",
        json={
            "assessed_by": manager["id"],
            "realistic_role": "Staff Engineer",
            "readiness": "ready_in_2_years",
            "pathway": "Lead",
            "gaps": ["Scope"],
            "opportunities": [],
        },
        headers=auth,
    )
    assessment = await same_as_read(
        client, auth, written, f"{base}/assessment", f"{base}/assessment/history"
    )
    alignment = await client.get(f"{base}/alignment", headers=auth)
    body = alignment.json()
    assert body == {
        "person_id": person["id"],
        "status": "gap",
        "differences": ["horizon"],
        "aspiration_id": aspiration["id"],
        "assessment_id": assessment["id"],
        "computed_at": body["computed_at"],
    }
    assert (await last_event(client, auth))["data"] == {
        "person_id": person["id"],
        "differences": ["horizon"],
        "aspiration_id": aspiration["id"],
        "assessment_id": assessment["id"],
    }
