"""The event log API: ``/v1/events`` polling, one event, and the event-type catalog."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.event_types import EVENT_TYPES
from tests.conftest import TenantKey, make_tenant
from tests.factories import create_person


async def _history(client: httpx.AsyncClient, tenant: TenantKey) -> list[dict[str, Any]]:
    """Three people created, the first renamed: four events."""
    ada = await create_person(client, tenant.headers, name="Ada")
    await create_person(client, tenant.headers, name="Grace")
    await create_person(client, tenant.headers, name="Edsger")
    renamed = await client.patch(
        f"/v1/people/{ada['id']}", json={"name": "Ada L."}, headers=tenant.headers
    )
    assert renamed.status_code == 200
    response = await client.get("/v1/events", headers=tenant.headers)
    assert response.status_code == 200
    events: list[dict[str, Any]] = response.json()["data"]
    return events


async def test_events_are_listed_in_order_with_snapshots(
    client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    events = await _history(client, tenant)
    assert [(e["type"], e["data"]["name"]) for e in events] == [
        ("person.created", "Ada"),
        ("person.created", "Grace"),
        ("person.created", "Edsger"),
        ("person.updated", "Ada L."),
    ]
    first = events[0]
    assert set(first) == {
        "id",
        "type",
        "occurred_at",
        "subject_type",
        "subject_id",
        "data",
        "actor",
        "api_key_id",
    }
    assert first["subject_type"] == "person"
    assert first["subject_id"] == first["data"]["id"]
    assert events[3]["subject_id"] == first["subject_id"]
    assert first["api_key_id"] == str(tenant.key_id)
    assert first["actor"] == {"api_key_id": str(tenant.key_id), "person_id": None}
    person = await client.get(f"/v1/people/{first['subject_id']}", headers=tenant.headers)
    assert events[3]["data"] == person.json()


async def test_polling_with_after_and_limit(client: httpx.AsyncClient, tenant: TenantKey) -> None:
    events = await _history(client, tenant)
    ids = [e["id"] for e in events]

    page1 = await client.get("/v1/events?limit=2", headers=tenant.headers)
    body1 = page1.json()
    assert [e["id"] for e in body1["data"]] == ids[:2]
    assert body1["has_more"] is True
    assert body1["next_cursor"] == ids[1]
    assert page1.headers["Link"].endswith('>; rel="next"')
    assert f"after={ids[1]}" in page1.headers["Link"]

    page2 = await client.get(
        f"/v1/events?limit=2&after={body1['next_cursor']}", headers=tenant.headers
    )
    body2 = page2.json()
    assert [e["id"] for e in body2["data"]] == ids[2:]
    assert body2["has_more"] is False
    assert body2["next_cursor"] == ids[3]
    assert "Link" not in page2.headers

    # Nothing new yet: the cursor stays where it was, ready for the next poll.
    idle = await client.get(f"/v1/events?after={ids[3]}", headers=tenant.headers)
    assert idle.json() == {"data": [], "next_cursor": ids[3], "has_more": False}

    await create_person(client, tenant.headers, name="Barbara")
    later = await client.get(f"/v1/events?after={ids[3]}", headers=tenant.headers)
    assert [(e["type"], e["data"]["name"]) for e in later.json()["data"]] == [
        ("person.created", "Barbara")
    ]


async def test_empty_log(client: httpx.AsyncClient, tenant: TenantKey) -> None:
    response = await client.get("/v1/events", headers=tenant.headers)
    assert response.json() == {"data": [], "next_cursor": None, "has_more": False}


async def test_type_filter(client: httpx.AsyncClient, tenant: TenantKey) -> None:
    events = await _history(client, tenant)

    updated = await client.get("/v1/events?type=person.updated", headers=tenant.headers)
    assert [e["id"] for e in updated.json()["data"]] == [events[3]["id"]]

    both = await client.get(
        "/v1/events",
        params=[("type", "person.updated"), ("type", "person.created")],
        headers=tenant.headers,
    )
    assert [e["id"] for e in both.json()["data"]] == [e["id"] for e in events]

    none = await client.get("/v1/events?type=person.deleted", headers=tenant.headers)
    assert none.json()["data"] == []

    created_after = await client.get(
        f"/v1/events?type=person.created&after={events[0]['id']}", headers=tenant.headers
    )
    assert [e["id"] for e in created_after.json()["data"]] == [events[1]["id"], events[2]["id"]]


async def test_unknown_type_is_422(client: httpx.AsyncClient, tenant: TenantKey) -> None:
    response = await client.get(
        "/v1/events",
        params=[("type", "person.created"), ("type", "person.exploded")],
        headers=tenant.headers,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {
            "pointer": "/query/type",
            "detail": "Unknown event type(s): person.exploded.",
            "code": "unknown_type",
        }
    ]


async def test_unknown_after_is_422(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    missing = await client.get(f"/v1/events?after={uuid.uuid4()}", headers=tenant.headers)
    assert missing.status_code == 422
    assert missing.json()["errors"] == [
        {"pointer": "/query/after", "detail": "No event with this id.", "code": "not_found"}
    ]

    # Another tenant's event is as unknown as a missing one.
    await create_person(client, other_tenant.headers, name="Theirs")
    theirs = (await client.get("/v1/events", headers=other_tenant.headers)).json()["data"]
    foreign = await client.get(f"/v1/events?after={theirs[0]['id']}", headers=tenant.headers)
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["pointer"] == "/query/after"

    malformed = await client.get("/v1/events?after=yesterday", headers=tenant.headers)
    assert malformed.status_code == 422
    assert [e["pointer"] for e in malformed.json()["errors"]] == ["/query/after"]


async def test_limit_bounds(client: httpx.AsyncClient, tenant: TenantKey) -> None:
    for limit in (0, 101):
        response = await client.get(f"/v1/events?limit={limit}", headers=tenant.headers)
        assert response.status_code == 422
        assert [e["pointer"] for e in response.json()["errors"]] == ["/query/limit"]


async def test_get_one_event(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    events = await _history(client, tenant)
    one = await client.get(f"/v1/events/{events[3]['id']}", headers=tenant.headers)
    assert one.status_code == 200
    assert one.json() == events[3]

    foreign = await client.get(f"/v1/events/{events[3]['id']}", headers=other_tenant.headers)
    missing = await client.get(f"/v1/events/{uuid.uuid4()}", headers=tenant.headers)
    for response in (foreign, missing):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"
        assert response.json()["detail"] == "No event with this id."


async def test_tenants_see_only_their_events(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    await _history(client, tenant)
    await create_person(client, other_tenant.headers, name="Theirs")
    theirs = (await client.get("/v1/events", headers=other_tenant.headers)).json()["data"]
    assert [(e["type"], e["data"]["name"]) for e in theirs] == [("person.created", "Theirs")]
    assert theirs[0]["api_key_id"] == str(other_tenant.key_id)


async def test_events_need_the_read_scope(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    hooks = await make_tenant(sessionmaker, "Hooks", scopes=("webhooks",))
    for path in ("/v1/events", f"/v1/events/{uuid.uuid4()}", "/v1/event-types"):
        response = await client.get(path, headers=hooks.headers)
        assert response.status_code == 403, path
    assert (await client.get("/v1/events")).status_code == 401


async def test_event_type_catalog(client: httpx.AsyncClient, tenant: TenantKey) -> None:
    response = await client.get("/v1/event-types", headers=tenant.headers)
    assert response.status_code == 200
    catalog = response.json()["data"]
    types = [entry["type"] for entry in catalog]
    assert types == sorted(EVENT_TYPES)
    for entry in catalog:
        assert set(entry) == {"type", "description"}
        assert entry["description"] == EVENT_TYPES[entry["type"]]
        assert entry["description"]
    for expected in ("person.created", "conversation.completed", "follow_up.due", "webhook.test"):
        assert expected in types
