from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import TenantKey
from tests.factories import create_person
from tests.factories_feedback import (
    create_feedback,
    event_types,
    events_of,
    insert_conversation,
    insert_goal,
    people,
)


async def test_create_and_get_feedback(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    auth = tenant.headers
    grace, ada = await people(client, auth, "Grace", "Ada")
    conversation = await insert_conversation(session, tenant.tenant_id, ada["id"], grace["id"])
    goal = await insert_goal(session, tenant.tenant_id, ada["id"])
    response = await client.post(
        "/v1/feedback",
        json={
            "giver_id": grace["id"],
            "recipient_id": ada["id"],
            "kind": "growth_area",
            "body": "Share design drafts earlier.",
            "visibility": "recipient_and_manager",
            "conversation_id": str(conversation.id),
            "goal_id": str(goal.id),
            "external_id": "FB-1",
            "metadata": {"source": "1:1"},
        },
        headers=auth,
    )
    assert response.status_code == 201
    created = response.json()
    assert response.headers["Location"] == f"/v1/feedback/{created['id']}"
    assert created == {
        "id": created["id"],
        "external_id": "FB-1",
        "metadata": {"source": "1:1"},
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
        "giver_id": grace["id"],
        "recipient_id": ada["id"],
        "kind": "growth_area",
        "body": "Share design drafts earlier.",
        "visibility": "recipient_and_manager",
        "conversation_id": str(conversation.id),
        "goal_id": str(goal.id),
        "request_id": None,
        "competency_ids": [],
    }
    fetched = await client.get(f"/v1/feedback/{created['id']}", headers=auth)
    assert fetched.status_code == 200
    assert fetched.json() == created
    assert fetched.headers["ETag"] == response.headers["ETag"]

    (event,) = await events_of(client, auth, "feedback.created")
    assert event["subject_type"] == "feedback"
    assert event["subject_id"] == created["id"]
    assert event["data"] == created

    minimal = await create_feedback(client, auth, ada["id"], grace["id"])
    assert minimal["visibility"] == "recipient"
    assert minimal["conversation_id"] is None
    assert minimal["goal_id"] is None


async def test_references_and_fields_are_validated(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, session: AsyncSession
) -> None:
    auth = tenant.headers
    grace, ada = await people(client, auth, "Grace", "Ada")
    o1, o2 = await people(client, other_tenant.headers, "Other 1", "Other 2")
    their_conversation = await insert_conversation(
        session, other_tenant.tenant_id, o1["id"], o2["id"]
    )
    their_goal = await insert_goal(session, other_tenant.tenant_id, o1["id"])
    base = {"giver_id": grace["id"], "recipient_id": ada["id"], "kind": "strength", "body": "Hi"}

    async def refused(**changes: object) -> list[tuple[str, str]]:
        response = await client.post("/v1/feedback", json={**base, **changes}, headers=auth)
        assert response.status_code == 422, response.text
        return [(e["pointer"], e["code"]) for e in response.json()["errors"]]

    assert await refused(giver_id=o1["id"]) == [("/body/giver_id", "unknown_reference")]
    assert await refused(recipient_id=o1["id"]) == [("/body/recipient_id", "unknown_reference")]
    assert await refused(recipient_id=grace["id"]) == [("/body/recipient_id", "same_person")]
    assert await refused(conversation_id=str(their_conversation.id)) == [
        ("/body/conversation_id", "unknown_reference")
    ]
    assert await refused(goal_id=str(their_goal.id)) == [("/body/goal_id", "unknown_reference")]
    assert await refused(goal_id="0193a1c0-0000-7000-8000-000000000009") == [
        ("/body/goal_id", "unknown_reference")
    ]
    # The pointer of the `body` field itself: see test_body_field_pointer_names_the_field.
    assert [c for _, c in await refused(body="")] == ["string_too_short"]
    assert [c for _, c in await refused(body="x" * 20_001)] == ["string_too_long"]
    assert await refused(kind="praise", visibility="everyone") == [
        ("/body/kind", "literal_error"),
        ("/body/visibility", "literal_error"),
    ]
    assert await refused(request_id=ada["id"]) == [("/body/request_id", "extra_forbidden")]

    longest = await create_feedback(client, auth, grace["id"], ada["id"], body="x" * 20_000)
    assert len(longest["body"]) == 20_000
    listed = await client.get("/v1/feedback", headers=auth)
    assert [f["id"] for f in listed.json()["data"]] == [longest["id"]]


async def test_body_field_pointer_names_the_field(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    grace, ada = await people(client, auth, "Grace", "Ada")
    response = await client.post(
        "/v1/feedback",
        json={"giver_id": grace["id"], "recipient_id": ada["id"], "kind": "strength", "body": ""},
        headers=auth,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/body/body"


async def test_update_with_if_match(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    grace, ada = await people(client, auth, "Grace", "Ada")
    feedback = await create_feedback(client, auth, grace["id"], ada["id"])
    path = f"/v1/feedback/{feedback['id']}"
    etag = (await client.get(path, headers=auth)).headers["ETag"]

    updated = await client.patch(
        path,
        json={
            "body": "Clear, calm and fast incident write-up.",
            "kind": "recognition",
            "visibility": "recipient_and_manager",
            "metadata": {"edited": True},
        },
        headers={**auth, "If-Match": etag},
    )
    assert updated.status_code == 200
    assert updated.json() == {
        **feedback,
        "body": "Clear, calm and fast incident write-up.",
        "kind": "recognition",
        "visibility": "recipient_and_manager",
        "metadata": {"edited": True},
        "updated_at": updated.json()["updated_at"],
    }
    assert updated.json()["updated_at"] != feedback["updated_at"]
    assert updated.headers["ETag"] != etag

    stale = await client.patch(path, json={"body": "Nope"}, headers={**auth, "If-Match": etag})
    assert stale.status_code == 412
    nulled = await client.patch(path, json={"body": None}, headers=auth)
    assert nulled.status_code == 422
    assert nulled.json()["errors"][0]["pointer"] == "/body/body"
    fixed_people = await client.patch(path, json={"giver_id": ada["id"]}, headers=auth)
    assert fixed_people.status_code == 422
    assert fixed_people.json()["errors"][0]["pointer"] == "/body/giver_id"

    current = await client.get(path, headers=auth)
    assert current.json() == updated.json()
    events = await events_of(client, auth, "feedback.updated")
    assert [e["data"] for e in events] == [updated.json()]


async def test_list_filters_and_pages(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    auth = tenant.headers
    grace, ada, alan = await people(client, auth, "Grace", "Ada", "Alan")
    conversation = await insert_conversation(session, tenant.tenant_id, ada["id"], grace["id"])
    goal = await insert_goal(session, tenant.tenant_id, ada["id"])
    f1 = await create_feedback(
        client, auth, grace["id"], ada["id"], conversation_id=str(conversation.id)
    )
    f2 = await create_feedback(client, auth, alan["id"], ada["id"], kind="guidance")
    f3 = await create_feedback(client, auth, ada["id"], alan["id"], goal_id=str(goal.id))
    f4 = await create_feedback(client, auth, grace["id"], alan["id"], kind="recognition")

    async def ids(**params: str) -> list[str]:
        response = await client.get("/v1/feedback", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return [f["id"] for f in response.json()["data"]]

    assert await ids() == [f4["id"], f3["id"], f2["id"], f1["id"]]
    assert await ids(recipient_id=ada["id"]) == [f2["id"], f1["id"]]
    assert await ids(giver_id=grace["id"]) == [f4["id"], f1["id"]]
    assert await ids(conversation_id=str(conversation.id)) == [f1["id"]]
    assert await ids(goal_id=str(goal.id)) == [f3["id"]]
    assert await ids(kind="guidance") == [f2["id"]]
    assert await ids(giver_id=grace["id"], kind="recognition") == [f4["id"]]

    touched = await client.patch(f"/v1/feedback/{f2['id']}", json={"body": "More"}, headers=auth)
    assert await ids(updated_since=touched.json()["updated_at"]) == [f2["id"]]

    page1 = (await client.get("/v1/feedback?limit=3", headers=auth)).json()
    assert [f["id"] for f in page1["data"]] == [f4["id"], f3["id"], f2["id"]]
    assert page1["has_more"] is True
    page2 = (
        await client.get(f"/v1/feedback?limit=3&cursor={page1['next_cursor']}", headers=auth)
    ).json()
    assert page2 == {"data": [f1], "next_cursor": None, "has_more": False}

    bad = await client.get("/v1/feedback?kind=praise", headers=auth)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/query/kind"


async def test_visible_to_filter(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    manager = await create_person(client, auth, name="Manager")
    other_manager = await create_person(client, auth, name="Other manager")
    report = await create_person(client, auth, name="Report", manager_id=manager["id"])
    peer = await create_person(client, auth, name="Peer", manager_id=other_manager["id"])
    outsider = await create_person(client, auth, name="Outsider")
    stranger = await create_person(client, auth, name="Stranger")

    private = await create_feedback(client, auth, peer["id"], report["id"])
    shared = await create_feedback(
        client, auth, outsider["id"], report["id"], visibility="recipient_and_manager"
    )
    to_peer = await create_feedback(
        client, auth, report["id"], peer["id"], visibility="recipient_and_manager"
    )
    from_manager = await create_feedback(client, auth, manager["id"], outsider["id"])

    async def visible(person: dict[str, str], **params: str) -> list[str]:
        response = await client.get(
            "/v1/feedback", params={"visible_to": person["id"], **params}, headers=auth
        )
        assert response.status_code == 200, response.text
        return [f["id"] for f in response.json()["data"]]

    # The manager sees what they gave and what their report got with the manager included.
    assert await visible(manager) == [from_manager["id"], shared["id"]]
    assert await visible(report) == [to_peer["id"], shared["id"], private["id"]]
    assert await visible(other_manager) == [to_peer["id"]]
    assert await visible(peer) == [to_peer["id"], private["id"]]
    assert await visible(outsider) == [from_manager["id"], shared["id"]]
    assert await visible(stranger) == []
    assert await visible(report, giver_id=peer["id"]) == [private["id"]]

    widened = await client.patch(
        f"/v1/feedback/{private['id']}", json={"visibility": "recipient_and_manager"}, headers=auth
    )
    assert widened.status_code == 200
    assert await visible(manager) == [from_manager["id"], shared["id"], private["id"]]

    # A new manager sees the report's shared feedback; the old one no longer does.
    await client.patch(
        f"/v1/people/{report['id']}", json={"manager_id": other_manager["id"]}, headers=auth
    )
    assert await visible(manager) == [from_manager["id"]]
    assert await visible(other_manager) == [to_peer["id"], shared["id"], private["id"]]


async def test_delete_with_if_match(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    grace, ada = await people(client, auth, "Grace", "Ada")
    feedback = await create_feedback(client, auth, grace["id"], ada["id"])
    path = f"/v1/feedback/{feedback['id']}"
    stale = await client.delete(path, headers={**auth, "If-Match": '"stale"'})
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    etag = (await client.get(path, headers=auth)).headers["ETag"]
    deleted = await client.delete(path, headers={**auth, "If-Match": etag})
    assert deleted.status_code == 204
    assert (await client.get(path, headers=auth)).status_code == 404
    assert await event_types(client, auth, "feedback.created", "feedback.deleted") == [
        "feedback.created",
        "feedback.deleted",
    ]
    (event,) = await events_of(client, auth, "feedback.deleted")
    assert event["data"] == feedback


async def test_duplicate_external_id_is_a_conflict(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    grace, ada = await people(client, auth, "Grace", "Ada")
    first = await create_feedback(client, auth, grace["id"], ada["id"], external_id="FB-1")
    dup = await client.post(
        "/v1/feedback",
        json={
            "giver_id": ada["id"],
            "recipient_id": grace["id"],
            "kind": "strength",
            "body": "Thanks",
            "external_id": "FB-1",
        },
        headers=auth,
    )
    assert dup.status_code == 409
    assert dup.json()["conflicting_id"] == first["id"]


async def test_idempotent_create(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    grace, ada = await people(client, auth, "Grace", "Ada")
    body = {"giver_id": grace["id"], "recipient_id": ada["id"], "kind": "strength", "body": "Hi"}
    headers = {**auth, "Idempotency-Key": "fb-1"}
    first = await client.post("/v1/feedback", json=body, headers=headers)
    replay = await client.post("/v1/feedback", json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["ETag"] == first.headers["ETag"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    listed = await client.get("/v1/feedback", headers=auth)
    assert [f["id"] for f in listed.json()["data"]] == [first.json()["id"]]
    assert await event_types(client, auth, "feedback.created") == ["feedback.created"]

    reused = await client.post("/v1/feedback", json={**body, "body": "Other"}, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
