"""``GET /v1/events`` with ``Acting-Person``: only events whose subject the person sees now.

The platform (no header) keeps seeing every event of its tenant; a person sees events about
what they may see (``app/services/visibility.py`` ``EVENT_SUBJECTS``), person snapshots
redacted like the people directory, and never an event about a deleted subject or a
webhook endpoint. Writes made as a person record ``actor.person_id``.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from tests.conftest import TenantKey
from tests.factories import create_person
from tests.factories_conversations import create_agenda_item, create_conversation, create_note
from tests.factories_feedback import create_feedback, create_follow_up
from tests.factories_goals import count_statements, create_goal
from tests.webhook_receiver import create_endpoint


def acting(tenant: TenantKey, person: dict[str, Any]) -> dict[str, str]:
    return {**tenant.headers, "Acting-Person": person["id"]}


async def all_events(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/v1/events?limit=100", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["has_more"] is False
    data: list[dict[str, Any]] = body["data"]
    return data


def subjects(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["subject_id"]) for e in events]


async def _world(client: httpx.AsyncClient, tenant: TenantKey) -> dict[str, Any]:
    """The employee Emma (managed by Max) and an unrelated pair, Sam managing Cole; each
    pair has a conversation with an agenda item, a shared note, a goal, a follow-up and a
    feedback, all written by the platform."""
    auth = tenant.headers
    max_ = await create_person(client, auth, name="Max", external_id="HR-1", metadata={"k": 1})
    emma = await create_person(client, auth, name="Emma", manager_id=max_["id"])
    sam = await create_person(client, auth, name="Sam")
    cole = await create_person(client, auth, name="Cole", manager_id=sam["id"])
    world: dict[str, Any] = {"max": max_, "emma": emma, "sam": sam, "cole": cole}
    for side, employee, manager in (("mine", emma, max_), ("theirs", cole, sam)):
        conversation = await create_conversation(
            client, auth, employee_id=employee["id"], facilitator_id=manager["id"]
        )
        world[side] = {
            "conversation": conversation,
            "agenda_item": await create_agenda_item(client, auth, conversation),
            "note": await create_note(client, auth, conversation),
            "goal": await create_goal(client, auth, employee["id"]),
            "follow_up": await create_follow_up(client, auth, conversation["id"], manager["id"]),
            "feedback": await create_feedback(client, auth, manager["id"], employee["id"]),
        }
    return world


async def test_a_person_sees_only_events_about_what_they_see(
    client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    world = await _world(client, tenant)
    everything = await all_events(client, tenant.headers)
    mine = {str(v["id"]) for v in world["mine"].values()}
    people = {world[name]["id"] for name in ("max", "emma", "sam", "cole")}
    assert len(everything) == 4 + 2 * 6

    for who in ("emma", "max"):
        seen = await all_events(client, acting(tenant, world[who]))
        expected = [e for e in everything if e["subject_id"] in mine | people]
        assert subjects(seen) == subjects(expected), who
        assert len(seen) == 4 + 6

    # Sam sees his own pair's events and the directory, nothing of Emma's.
    theirs = {str(v["id"]) for v in world["theirs"].values()}
    seen = await all_events(client, acting(tenant, world["sam"]))
    assert subjects(seen) == subjects([e for e in everything if e["subject_id"] in theirs | people])

    # The platform's answer is unchanged: every event.
    assert len(await all_events(client, tenant.headers)) == 16


async def test_person_snapshots_are_redacted_for_a_person(
    client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    world = await _world(client, tenant)
    platform = await client.get("/v1/events?type=person.created", headers=tenant.headers)
    [max_event] = [e for e in platform.json()["data"] if e["subject_id"] == world["max"]["id"]]
    assert max_event["data"]["external_id"] == "HR-1"
    assert max_event["data"]["metadata"] == {"k": 1}

    as_sam = acting(tenant, world["sam"])
    listed = await client.get("/v1/events?type=person.created", headers=as_sam)
    redacted = {**max_event["data"], "external_id": None, "metadata": {}}
    assert [e["data"] for e in listed.json()["data"]] == [
        redacted if e["subject_id"] == world["max"]["id"] else e["data"]
        for e in platform.json()["data"]
    ]
    one = await client.get(f"/v1/events/{max_event['id']}", headers=as_sam)
    assert one.status_code == 200
    assert one.json() == {**max_event, "data": redacted}
    # Other subjects' snapshots are not touched.
    conversation = world["theirs"]["conversation"]
    listed = await client.get("/v1/events?type=conversation.created", headers=as_sam)
    assert [e["data"] for e in listed.json()["data"]] == [conversation]


async def test_get_one_event_of_an_invisible_subject_is_404(
    client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    world = await _world(client, tenant)
    everything = await all_events(client, tenant.headers)
    theirs = {str(v["id"]) for v in world["theirs"].values()}
    as_emma = acting(tenant, world["emma"])
    for event in everything:
        platform = await client.get(f"/v1/events/{event['id']}", headers=tenant.headers)
        assert platform.status_code == 200
        assert platform.json() == event
        response = await client.get(f"/v1/events/{event['id']}", headers=as_emma)
        if event["subject_id"] in theirs:
            assert response.status_code == 404, event["type"]
            assert response.json()["detail"] == "No event with this id."
        else:
            assert response.status_code == 200, event["type"]
            assert response.json()["id"] == event["id"]


async def test_private_notes_deleted_subjects_and_webhook_events_are_the_platforms(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    auth = tenant.headers
    emma = await create_person(client, auth, name="Emma")
    max_ = await create_person(client, auth, name="Max")
    kept = await create_conversation(
        client, auth, employee_id=emma["id"], facilitator_id=max_["id"]
    )
    shared = await create_note(client, auth, kept, author_id=emma["id"])
    # Private notes write no events, and a note cannot turn private through the API: a row
    # forced private shows the rule holds whatever the event log holds about it.
    private = await create_note(client, auth, kept, author_id=emma["id"])
    await session.execute(
        sa.text("UPDATE conversation_notes SET visibility = 'private' WHERE id = :id"),
        {"id": uuid.UUID(private["id"])},
    )
    await session.commit()
    gone = await create_conversation(
        client, auth, employee_id=emma["id"], facilitator_id=max_["id"]
    )
    deleted = await client.delete(f"/v1/conversations/{gone['id']}", headers=auth)
    assert deleted.status_code == 204
    endpoint = await create_endpoint(client, auth, "http://127.0.0.1:8080/hook")
    tested = await client.post(f"/v1/webhook-endpoints/{endpoint['id']}/test", headers=auth)
    assert tested.status_code in (200, 201, 202), tested.text

    everything = await all_events(client, auth)
    assert [(e["type"], e["subject_id"]) for e in everything[2:]] == [
        ("conversation.created", kept["id"]),
        ("note.created", shared["id"]),
        ("note.created", private["id"]),
        ("conversation.created", gone["id"]),
        ("conversation.deleted", gone["id"]),
        ("webhook.test", endpoint["id"]),
    ]
    for person in (emma, max_):
        seen = await all_events(client, acting(tenant, person))
        assert subjects(seen) == [
            ("person.created", emma["id"]),
            ("person.created", max_["id"]),
            ("conversation.created", kept["id"]),
            ("note.created", shared["id"]),
        ]
        for event in everything[4:]:
            response = await client.get(f"/v1/events/{event['id']}", headers=acting(tenant, person))
            assert response.status_code == 404, event["type"]


async def test_pages_and_cursors_stay_exact_under_the_filter(
    client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    """12 events, 5 of them Emma's to see, interleaved and the last ones not hers: limit 2
    gives exactly three pages, the last without ``has_more``."""
    auth = tenant.headers
    emma = await create_person(client, auth, name="Emma")
    cole = await create_person(client, auth, name="Cole")
    for owner in "CECCECCECC":
        await create_goal(client, auth, (emma if owner == "E" else cole)["id"])
    everything = await all_events(client, auth)
    assert len(everything) == 12
    mine = {emma["id"], cole["id"]} | {
        e["subject_id"] for e in everything if e["data"].get("owner_id") == emma["id"]
    }
    expected = [e["id"] for e in everything if e["subject_id"] in mine]
    assert len(expected) == 5

    as_emma = acting(tenant, emma)
    pages, url = [], "/v1/events?limit=2"
    while True:
        response = await client.get(url, headers=as_emma)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([e["id"] for e in body["data"]])
        assert body["next_cursor"] == pages[-1][-1]
        if not body["has_more"]:
            assert "Link" not in response.headers
            break
        assert f"after={body['next_cursor']}" in response.headers["Link"]
        url = f"/v1/events?after={body['next_cursor']}&limit=2"
    assert pages == [expected[0:2], expected[2:4], expected[4:5]]

    # Polling on from the last cursor: nothing new for Emma, though Cole's goals follow.
    idle = await client.get(f"/v1/events?after={expected[4]}&limit=2", headers=as_emma)
    assert idle.json() == {"data": [], "next_cursor": expected[4], "has_more": False}
    # The type filter combines with the rule.
    goals = await client.get("/v1/events?type=goal.created&limit=2", headers=as_emma)
    assert [e["id"] for e in goals.json()["data"]] == expected[2:4]
    assert goals.json()["has_more"] is True


async def test_after_may_name_an_event_the_person_does_not_see(
    client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    auth = tenant.headers
    emma = await create_person(client, auth, name="Emma")
    cole = await create_person(client, auth, name="Cole")
    goal = await create_goal(client, auth, cole["id"])
    everything = await all_events(client, auth)
    [hidden] = [e["id"] for e in everything if e["subject_id"] == goal["id"]]

    platform = await client.get(f"/v1/events?after={everything[0]['id']}", headers=auth)
    assert [e["id"] for e in platform.json()["data"]] == [e["id"] for e in everything[1:]]
    assert (await client.get(f"/v1/events?after={hidden}", headers=auth)).status_code == 200

    # A person's cursor survives its subject leaving their sight: it only marks a position.
    response = await client.get(f"/v1/events?after={hidden}", headers=acting(tenant, emma))
    assert response.status_code == 200
    assert (response.json()["data"], response.json()["has_more"]) == ([], False)
    unknown = await client.get(f"/v1/events?after={uuid.uuid4()}", headers=acting(tenant, emma))
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [
        {"pointer": "/query/after", "detail": "No event with this id.", "code": "not_found"}
    ]
    seen = await client.get(f"/v1/events?after={everything[0]['id']}", headers=acting(tenant, emma))
    assert [e["subject_id"] for e in seen.json()["data"]] == [cole["id"]]


async def test_writes_as_a_person_record_the_acting_person(
    client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    """``actor.person_id`` names who acted; webhook payloads carry no actor (unchanged)."""
    auth = tenant.headers
    max_ = await create_person(client, auth, name="Max")
    emma = await create_person(client, auth, name="Emma", manager_id=max_["id"])
    conversation = await create_conversation(
        client, auth, employee_id=emma["id"], facilitator_id=max_["id"]
    )
    as_emma = acting(tenant, emma)
    item = await create_agenda_item(client, as_emma, conversation, author_id=emma["id"])
    note = await create_note(client, as_emma, conversation, author_id=emma["id"])

    for headers in (auth, as_emma, acting(tenant, max_)):
        events = await all_events(client, headers)
        actors = {e["subject_id"]: e["actor"] for e in events}
        assert actors[conversation["id"]] == {"api_key_id": str(tenant.key_id), "person_id": None}
        for subject in (item, note):
            assert actors[subject["id"]] == {
                "api_key_id": str(tenant.key_id),
                "person_id": emma["id"],
            }
            [event] = [e for e in events if e["subject_id"] == subject["id"]]
            one = await client.get(f"/v1/events/{event['id']}", headers=headers)
            assert one.json()["actor"] == actors[subject["id"]]


async def test_the_acting_person_is_looked_up_once_per_process_and_ttl(
    client: httpx.AsyncClient,
    tenant: TenantKey,
    engine: AsyncEngine,
    connection: AsyncConnection,
) -> None:
    """The hot path: ``Acting-Person`` costs one lookup, then none while it is cached; a
    change of ``managers_see_reports`` through this process applies at once, and an unknown
    person is never cached."""
    auth = tenant.headers
    boss = await create_person(client, auth, name="Boss")
    max_ = await create_person(client, auth, name="Max", manager_id=boss["id"])
    emma = await create_person(client, auth, name="Emma", manager_id=max_["id"])
    await create_goal(client, auth, emma["id"])
    as_boss = acting(tenant, boss)

    async def goal_events() -> tuple[int, list[str]]:
        async with count_statements(engine, connection) as statements:
            response = await client.get("/v1/events?type=goal.created", headers=as_boss)
        assert response.status_code == 200
        return len(response.json()["data"]), statements

    seen, first = await goal_events()
    assert seen == 1
    assert sum("FROM people p JOIN tenants" in s for s in first) == 1
    seen, again = await goal_events()
    assert seen == 1
    assert len(again) == len(first) - 1
    assert not any("FROM people p JOIN tenants" in s for s in again)

    direct = await client.patch(
        "/v1/tenant", json={"settings": {"managers_see_reports": "direct"}}, headers=auth
    )
    assert direct.status_code == 200, direct.text
    seen, after = await goal_events()
    assert seen == 0  # Emma reports to Max, not to the boss directly
    assert len(after) == len(first)

    unknown = {**auth, "Acting-Person": str(uuid.uuid4())}
    for _ in range(2):
        response = await client.get("/v1/events", headers=unknown)
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/header/Acting-Person"
