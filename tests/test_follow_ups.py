from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.conversation import Conversation
from tests.conftest import TenantKey
from tests.factories_feedback import (
    create_follow_up,
    event_types,
    events_of,
    in_days,
    insert_conversation,
    people,
)


def as_returned(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def setup(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> tuple[dict[str, Any], dict[str, Any], Conversation]:
    grace, ada = await people(client, tenant.headers, "Grace", "Ada")
    conversation = await insert_conversation(session, tenant.tenant_id, ada["id"], grace["id"])
    return grace, ada, conversation


async def test_create_and_get_follow_up(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    auth = tenant.headers
    grace, _, conversation = await setup(client, tenant, session)
    due = (datetime.now(UTC) + timedelta(days=30)).astimezone(timezone(timedelta(hours=-5)))
    response = await client.post(
        "/v1/follow-ups",
        json={
            "conversation_id": str(conversation.id),
            "assignee_id": grace["id"],
            "due_at": due.isoformat(),
            "note": "Check the public-speaking goal.",
            "external_id": "FU-1",
            "metadata": {"calendar_event": "abc"},
        },
        headers=auth,
    )
    assert response.status_code == 201
    created = response.json()
    assert response.headers["Location"] == f"/v1/follow-ups/{created['id']}"
    assert created == {
        "id": created["id"],
        "external_id": "FU-1",
        "metadata": {"calendar_event": "abc"},
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
        "conversation_id": str(conversation.id),
        "assignee_id": grace["id"],
        "due_at": as_returned(due),
        "note": "Check the public-speaking goal.",
        "status": "pending",
        "completed_at": None,
        "canceled_at": None,
        "cancel_reason": None,
    }
    fetched = await client.get(f"/v1/follow-ups/{created['id']}", headers=auth)
    assert fetched.json() == created
    assert fetched.headers["ETag"] == response.headers["ETag"]
    (event,) = await events_of(client, auth, "follow_up.created")
    assert event["subject_type"] == "follow_up"
    assert event["subject_id"] == created["id"]
    assert event["data"] == created


async def test_create_is_validated(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, session: AsyncSession
) -> None:
    auth = tenant.headers
    grace, _, conversation = await setup(client, tenant, session)
    o1, o2 = await people(client, other_tenant.headers, "O1", "O2")
    theirs = await insert_conversation(session, other_tenant.tenant_id, o1["id"], o2["id"])
    base = {
        "conversation_id": str(conversation.id),
        "assignee_id": grace["id"],
        "due_at": in_days(7),
    }

    async def refused(**changes: Any) -> list[tuple[str, str]]:
        body = {k: v for k, v in {**base, **changes}.items() if v is not None}
        response = await client.post("/v1/follow-ups", json=body, headers=auth)
        assert response.status_code == 422, response.text
        return [(e["pointer"], e["code"]) for e in response.json()["errors"]]

    assert await refused(conversation_id=str(theirs.id)) == [
        ("/body/conversation_id", "unknown_reference")
    ]
    assert await refused(conversation_id=str(uuid.uuid4())) == [
        ("/body/conversation_id", "unknown_reference")
    ]
    assert await refused(assignee_id=o1["id"]) == [("/body/assignee_id", "unknown_reference")]
    assert await refused(due_at="2030-05-01T10:00:00") == [("/body/due_at", "timezone_aware")]
    assert await refused(due_at="9999-12-31T23:00:00-05:00") == [("/body/due_at", "value_error")]
    assert await refused(conversation_id=None, note="x" * 5_001) == [
        ("/body/conversation_id", "missing"),
        ("/body/note", "string_too_long"),
    ]
    assert (await client.get("/v1/follow-ups", headers=auth)).json()["data"] == []


async def test_complete(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    auth = tenant.headers
    grace, _, conversation = await setup(client, tenant, session)
    follow_up = await create_follow_up(client, auth, conversation.id, grace["id"])
    path = f"/v1/follow-ups/{follow_up['id']}"

    completed = await client.post(f"{path}/complete", headers=auth)
    assert completed.status_code == 200
    body = completed.json()
    assert body == {
        **follow_up,
        "status": "completed",
        "completed_at": body["completed_at"],
        "updated_at": body["completed_at"],
    }
    assert body["completed_at"] is not None
    (event,) = await events_of(client, auth, "follow_up.completed")
    assert event["data"] == body

    for action in ("complete", "cancel"):
        refused = await client.post(f"{path}/{action}", headers=auth)
        assert refused.status_code == 409
        assert refused.json()["code"] == "invalid_transition"
        assert refused.json()["current_status"] == "completed"
        assert refused.json()["detail"] == (
            f"Cannot {action} a follow-up whose status is 'completed'."
        )
    assert (await client.get(path, headers=auth)).json() == body


async def test_cancel(client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession) -> None:
    auth = tenant.headers
    grace, _, conversation = await setup(client, tenant, session)
    follow_up = await create_follow_up(client, auth, conversation.id, grace["id"])
    path = f"/v1/follow-ups/{follow_up['id']}"

    canceled = await client.post(
        f"{path}/cancel", json={"reason": "Covered in the next 1:1"}, headers=auth
    )
    assert canceled.status_code == 200
    body = canceled.json()
    assert body == {
        **follow_up,
        "status": "canceled",
        "canceled_at": body["canceled_at"],
        "cancel_reason": "Covered in the next 1:1",
        "updated_at": body["canceled_at"],
    }
    complete = await client.post(f"{path}/complete", headers=auth)
    assert complete.status_code == 409
    assert complete.json()["detail"] == "Cannot complete a follow-up whose status is 'canceled'."
    too_long = await client.post(f"{path}/cancel", json={"reason": "x" * 2_001}, headers=auth)
    assert too_long.status_code == 422

    other = await create_follow_up(client, auth, conversation.id, grace["id"])
    no_body = await client.post(f"/v1/follow-ups/{other['id']}/cancel", headers=auth)
    assert no_body.status_code == 200
    assert no_body.json()["cancel_reason"] is None
    assert await event_types(client, auth, "follow_up.canceled") == [
        "follow_up.canceled",
        "follow_up.canceled",
    ]


async def test_update_while_pending(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, session: AsyncSession
) -> None:
    auth = tenant.headers
    grace, ada, conversation = await setup(client, tenant, session)
    follow_up = await create_follow_up(
        client, auth, conversation.id, grace["id"], note="Initial note"
    )
    path = f"/v1/follow-ups/{follow_up['id']}"
    etag = (await client.get(path, headers=auth)).headers["ETag"]

    new_due = datetime.now(UTC) + timedelta(days=3)
    moved = await client.patch(
        path,
        json={"due_at": new_due.isoformat(), "assignee_id": ada["id"], "note": None},
        headers={**auth, "If-Match": etag},
    )
    assert moved.status_code == 200
    assert moved.json() == {
        **follow_up,
        "due_at": as_returned(new_due),
        "assignee_id": ada["id"],
        "note": None,
        "updated_at": moved.json()["updated_at"],
    }
    assert moved.json()["updated_at"] > follow_up["updated_at"]
    assert moved.headers["ETag"] != etag

    stale = await client.patch(path, json={"note": "x"}, headers={**auth, "If-Match": etag})
    assert stale.status_code == 412
    (theirs,) = await people(client, other_tenant.headers, "Other")
    foreign = await client.patch(path, json={"assignee_id": theirs["id"]}, headers=auth)
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["pointer"] == "/body/assignee_id"
    nulled = await client.patch(path, json={"due_at": None}, headers=auth)
    assert nulled.status_code == 422
    assert nulled.json()["errors"][0]["pointer"] == "/body/due_at"
    moved_conversation = await client.patch(
        path, json={"conversation_id": str(conversation.id)}, headers=auth
    )
    assert moved_conversation.status_code == 422

    await client.post(f"{path}/complete", headers=auth)
    closed = await client.patch(path, json={"due_at": in_days(9)}, headers=auth)
    assert closed.status_code == 409
    assert closed.json()["current_status"] == "completed"
    tagged = await client.patch(path, json={"metadata": {"done_in": "1:1"}}, headers=auth)
    assert tagged.status_code == 200
    assert tagged.json()["due_at"] == as_returned(new_due)

    events = await events_of(client, auth, "follow_up.updated")
    assert [e["data"]["due_at"] for e in events] == [as_returned(new_due)] * 2
    assert events[0]["data"] == moved.json()


async def test_list_filters_and_pages(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    auth = tenant.headers
    grace, ada, conversation = await setup(client, tenant, session)
    other_conversation = await insert_conversation(
        session, tenant.tenant_id, grace["id"], ada["id"]
    )
    now = datetime.now(UTC)
    f1 = await create_follow_up(
        client, auth, conversation.id, grace["id"], due_at=(now + timedelta(days=1)).isoformat()
    )
    f2 = await create_follow_up(
        client, auth, conversation.id, ada["id"], due_at=(now + timedelta(days=5)).isoformat()
    )
    f3 = await create_follow_up(
        client,
        auth,
        other_conversation.id,
        grace["id"],
        due_at=(now + timedelta(days=10)).isoformat(),
    )
    await client.post(f"/v1/follow-ups/{f3['id']}/complete", headers=auth)

    async def ids(**params: str) -> list[str]:
        response = await client.get("/v1/follow-ups", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return [f["id"] for f in response.json()["data"]]

    assert await ids() == [f3["id"], f2["id"], f1["id"]]
    assert await ids(conversation_id=str(conversation.id)) == [f2["id"], f1["id"]]
    assert await ids(assignee_id=grace["id"]) == [f3["id"], f1["id"]]
    assert await ids(status="pending") == [f2["id"], f1["id"]]
    assert await ids(status="completed") == [f3["id"]]
    assert await ids(due_before=f2["due_at"]) == [f1["id"]]
    assert await ids(due_after=f2["due_at"]) == [f3["id"], f2["id"]]
    assert await ids(due_after=f1["due_at"], due_before=f3["due_at"]) == [f2["id"], f1["id"]]
    assert await ids(status="pending", assignee_id=grace["id"]) == [f1["id"]]
    f3_now = (await client.get(f"/v1/follow-ups/{f3['id']}", headers=auth)).json()
    assert await ids(updated_since=f3_now["updated_at"]) == [f3["id"]]

    page1 = (await client.get("/v1/follow-ups?limit=2", headers=auth)).json()
    assert [f["id"] for f in page1["data"]] == [f3["id"], f2["id"]]
    page2 = (
        await client.get(f"/v1/follow-ups?limit=2&cursor={page1['next_cursor']}", headers=auth)
    ).json()
    assert page2 == {"data": [f1], "next_cursor": None, "has_more": False}

    naive = await client.get("/v1/follow-ups?due_before=2030-01-01T00:00:00", headers=auth)
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["pointer"] == "/query/due_before"


async def test_delete_with_if_match(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    auth = tenant.headers
    grace, _, conversation = await setup(client, tenant, session)
    follow_up = await create_follow_up(client, auth, conversation.id, grace["id"])
    path = f"/v1/follow-ups/{follow_up['id']}"
    stale = await client.delete(path, headers={**auth, "If-Match": '"stale"'})
    assert stale.status_code == 412
    etag = (await client.get(path, headers=auth)).headers["ETag"]
    assert (await client.delete(path, headers={**auth, "If-Match": etag})).status_code == 204
    assert (await client.get(path, headers=auth)).status_code == 404
    (event,) = await events_of(client, auth, "follow_up.deleted")
    assert event["data"] == follow_up


async def test_duplicate_external_id_is_a_conflict(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    auth = tenant.headers
    grace, _, conversation = await setup(client, tenant, session)
    first = await create_follow_up(client, auth, conversation.id, grace["id"], external_id="FU-1")
    dup = await client.post(
        "/v1/follow-ups",
        json={
            "conversation_id": str(conversation.id),
            "assignee_id": grace["id"],
            "due_at": in_days(1),
            "external_id": "FU-1",
        },
        headers=auth,
    )
    assert dup.status_code == 409
    assert dup.json()["conflicting_id"] == first["id"]


async def test_idempotent_create_and_complete(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    auth = tenant.headers
    grace, _, conversation = await setup(client, tenant, session)
    body = {
        "conversation_id": str(conversation.id),
        "assignee_id": grace["id"],
        "due_at": in_days(4),
    }
    headers = {**auth, "Idempotency-Key": "fu-1"}
    first = await client.post("/v1/follow-ups", json=body, headers=headers)
    replay = await client.post("/v1/follow-ups", json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    listed = (await client.get("/v1/follow-ups", headers=auth)).json()["data"]
    assert [f["id"] for f in listed] == [first.json()["id"]]
    reused = await client.post(
        "/v1/follow-ups", json={**body, "note": "different"}, headers=headers
    )
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"

    path = f"/v1/follow-ups/{first.json()['id']}/complete"
    done_headers = {**auth, "Idempotency-Key": "fu-1-done"}
    done = await client.post(path, headers=done_headers)
    done_again = await client.post(path, headers=done_headers)
    assert done.status_code == done_again.status_code == 200
    assert done_again.json() == done.json()
    assert await event_types(client, auth, "follow_up.created", "follow_up.completed") == [
        "follow_up.created",
        "follow_up.completed",
    ]
