from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from app.models.webhook import WebhookDelivery
from tests.conftest import TenantKey
from tests.factories import create_person
from tests.factories_conversations import create_conversation, create_note


async def test_create_and_get_person(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    manager = await create_person(client, auth, name="Grace Hopper", email="grace@example.com")
    response = await client.post(
        "/v1/people",
        json={
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "title": "Engineer",
            "manager_id": manager["id"],
            "timezone": "Europe/London",
            "external_id": "HR-1",
            "metadata": {"department": "R&D"},
        },
        headers=auth,
    )
    assert response.status_code == 201
    person = response.json()
    assert response.headers["Location"] == f"/v1/people/{person['id']}"
    assert person["manager_id"] == manager["id"]
    assert person["status"] == "active"
    assert person["metadata"] == {"department": "R&D"}

    fetched = await client.get(f"/v1/people/{person['id']}", headers=auth)
    assert fetched.status_code == 200
    assert fetched.json() == person
    assert fetched.headers["ETag"] == response.headers["ETag"]


async def test_invalid_person_is_refused_with_pointers(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/people",
        json={"name": "", "email": "not-an-email", "timezone": "Mars/Olympus", "rank": 3},
        headers=auth,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    pointers = sorted(e["pointer"] for e in response.json()["errors"])
    assert pointers == ["/body/email", "/body/name", "/body/rank", "/body/timezone"]
    listed = await client.get("/v1/people", headers=auth)
    assert listed.json()["data"] == []


async def test_foreign_manager_is_a_422(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    # Another tenant's person in the path: tests/test_isolation.py, for every operation.
    theirs = await create_person(client, other_tenant.headers, name="Other")
    response = await client.post(
        "/v1/people", json={"name": "Ada", "manager_id": theirs["id"]}, headers=tenant.headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/body/manager_id"


async def test_manager_cycle_is_refused(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    ceo = await create_person(client, auth, name="CEO")
    vp = await create_person(client, auth, name="VP", manager_id=ceo["id"])
    eng = await create_person(client, auth, name="Eng", manager_id=vp["id"])

    cycle = await client.patch(
        f"/v1/people/{ceo['id']}", json={"manager_id": eng["id"]}, headers=auth
    )
    assert cycle.status_code == 422
    assert cycle.json()["errors"][0]["code"] == "cycle"

    self_managed = await client.patch(
        f"/v1/people/{eng['id']}", json={"manager_id": eng["id"]}, headers=auth
    )
    assert self_managed.status_code == 422
    unchanged = await client.get(f"/v1/people/{ceo['id']}", headers=auth)
    assert unchanged.json()["manager_id"] is None


async def test_patch_with_if_match(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    person = await create_person(client, auth)
    read = await client.get(f"/v1/people/{person['id']}", headers=auth)
    etag = read.headers["ETag"]

    await asyncio.sleep(0.001)
    first = await client.patch(
        f"/v1/people/{person['id']}",
        json={"title": "Staff Engineer"},
        headers={**auth, "If-Match": etag},
    )
    assert first.status_code == 200
    assert first.json()["title"] == "Staff Engineer"
    assert first.headers["ETag"] != etag

    stale = await client.patch(
        f"/v1/people/{person['id']}", json={"title": "CTO"}, headers={**auth, "If-Match": etag}
    )
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    current = await client.get(f"/v1/people/{person['id']}", headers=auth)
    assert current.json()["title"] == "Staff Engineer"

    nulled = await client.patch(f"/v1/people/{person['id']}", json={"name": None}, headers=auth)
    assert nulled.status_code == 422


async def test_list_filters_and_pages(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    boss = await create_person(client, auth, name="Boss")
    reports = [
        await create_person(client, auth, name=f"Report {i}", manager_id=boss["id"])
        for i in range(5)
    ]
    await create_person(client, auth, name="Gone", status="inactive", email="Gone@Example.com")

    page1 = await client.get(f"/v1/people?manager_id={boss['id']}&limit=3", headers=auth)
    body1 = page1.json()
    assert [p["name"] for p in body1["data"]] == ["Report 4", "Report 3", "Report 2"]
    assert body1["has_more"] is True
    assert 'rel="next"' in page1.headers["Link"]
    page2 = await client.get(
        f"/v1/people?manager_id={boss['id']}&limit=3&cursor={body1['next_cursor']}", headers=auth
    )
    body2 = page2.json()
    assert [p["name"] for p in body2["data"]] == ["Report 1", "Report 0"]
    assert body2 == {"data": body2["data"], "next_cursor": None, "has_more": False}
    assert len(reports) == 5

    inactive = await client.get("/v1/people?status=inactive", headers=auth)
    assert [p["name"] for p in inactive.json()["data"]] == ["Gone"]
    by_email = await client.get("/v1/people?email=gone@example.com", headers=auth)
    assert [p["name"] for p in by_email.json()["data"]] == ["Gone"]


async def test_upsert_by_external_id(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    created = await client.put(
        "/v1/people/by-external-id/HR-77", json={"name": "Ada", "title": "Engineer"}, headers=auth
    )
    assert created.status_code == 201
    assert created.json()["external_id"] == "HR-77"

    updated = await client.put(
        "/v1/people/by-external-id/HR-77", json={"name": "Ada L.", "title": "Lead"}, headers=auth
    )
    assert updated.status_code == 200
    assert updated.json()["id"] == created.json()["id"]
    assert updated.json()["title"] == "Lead"
    listed = await client.get("/v1/people", headers=auth)
    assert len(listed.json()["data"]) == 1


async def test_duplicate_external_id_is_a_conflict(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await create_person(client, auth, external_id="HR-1")
    response = await client.post(
        "/v1/people", json={"name": "B", "external_id": "HR-1"}, headers=auth
    )
    assert response.status_code == 409


async def test_delete_without_history_and_erase_with_history(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    loner = await create_person(client, auth, name="Loner")
    deleted = await client.delete(f"/v1/people/{loner['id']}", headers=auth)
    assert deleted.status_code == 204
    assert (await client.get(f"/v1/people/{loner['id']}", headers=auth)).status_code == 404

    boss = await create_person(client, auth, name="Boss", email="boss@example.com", external_id="B")
    report = await create_person(client, auth, name="Report", manager_id=boss["id"])
    refused = await client.delete(f"/v1/people/{boss['id']}", headers=auth)
    assert refused.status_code == 409

    erased = await client.delete(f"/v1/people/{boss['id']}?erase=true", headers=auth)
    assert erased.status_code == 200
    body = erased.json()
    assert body["name"] == "Erased person"
    assert body["email"] is None
    assert body["external_id"] is None
    assert body["erased_at"] is not None
    still = await client.get(f"/v1/people/{report['id']}", headers=auth)
    assert still.json()["manager_id"] == boss["id"]


async def test_idempotent_create_replays_and_refuses_reuse(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    headers = {**auth, "Idempotency-Key": "create-ada-1"}
    first = await client.post("/v1/people", json={"name": "Ada"}, headers=headers)
    replay = await client.post("/v1/people", json={"name": "Ada"}, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    listed = await client.get("/v1/people", headers=auth)
    assert len(listed.json()["data"]) == 1

    reused = await client.post("/v1/people", json={"name": "Grace"}, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"


async def test_person_changes_are_in_the_event_log(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    person = await create_person(client, auth, name="Ada")
    await client.patch(f"/v1/people/{person['id']}", json={"title": "Lead"}, headers=auth)
    events = (await client.get("/v1/events", headers=auth)).json()["data"]
    assert [e["type"] for e in events] == ["person.created", "person.updated"]
    assert events[1]["data"]["title"] == "Lead"
    assert events[1]["subject_id"] == person["id"]


async def test_erasure_scrubs_the_event_log_and_webhook_bodies(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession
) -> None:
    endpoint = await client.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hook"}, headers=auth
    )
    assert endpoint.status_code == 201
    person = await create_person(client, auth, name="Ada Lovelace", email="ada@example.com")
    await client.patch(f"/v1/people/{person['id']}", json={"title": "Lead"}, headers=auth)
    erased = await client.delete(f"/v1/people/{person['id']}?erase=true", headers=auth)
    assert erased.status_code == 200

    events = (await client.get("/v1/events", headers=auth)).json()["data"]
    assert [e["type"] for e in events] == ["person.created", "person.updated", "person.erased"]
    assert {e["data"]["name"] for e in events} == {"Erased person"}
    assert "ada@example.com" not in str(events)
    bodies = (await session.scalars(select(WebhookDelivery.payload))).all()
    assert len(bodies) == 3
    assert not [b for b in bodies if b"ada@example.com" in b or b"Ada Lovelace" in b]


async def test_erasure_keeps_records_and_drops_private_notes(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    conversation = await create_conversation(client, auth)
    ada = conversation["employee_id"]
    shared = await create_note(client, auth, conversation, visibility="shared", body="Agreed")
    await create_note(client, auth, conversation, visibility="private", body="My worries")

    refused = await client.delete(f"/v1/people/{ada}", headers=auth)
    assert refused.status_code == 409
    erased = await client.delete(f"/v1/people/{ada}?erase=true", headers=auth)
    assert erased.status_code == 200

    still = await client.get(f"/v1/conversations/{conversation['id']}", headers=auth)
    assert still.json()["employee_id"] == ada
    notes = await client.get(
        f"/v1/conversations/{conversation['id']}/notes", headers={**auth, "Acting-Person": ada}
    )
    assert [n["id"] for n in notes.json()["data"]] == [shared["id"]]
