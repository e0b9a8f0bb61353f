from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.conftest import TenantKey
from tests.factories import create_person
from tests.factories_conversations import create_conversation, create_note


def _path(conversation: dict[str, Any], note_id: str | None = None, **query: str) -> str:
    path = f"/v1/conversations/{conversation['id']}/notes"
    if note_id:
        path += f"/{note_id}"
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return path


def _as(headers: dict[str, str], person_id: str) -> dict[str, str]:
    return {**headers, "Acting-Person": person_id}


async def _bodies(
    client: httpx.AsyncClient, headers: dict[str, str], conversation: dict[str, Any], **query: str
) -> list[str]:
    response = await client.get(_path(conversation, **query), headers=headers)
    assert response.status_code == 200
    return [n["body"] for n in response.json()["data"]]


async def test_shared_note_lifecycle_with_events(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    conversation = await create_conversation(client, auth)
    response = await client.post(
        _path(conversation),
        json={
            "author_id": conversation["facilitator_id"],
            "body": "Ada wants to lead the billing migration.",
            "external_id": "N-1",
            "metadata": {"k": "v"},
        },
        headers=auth,
    )
    assert response.status_code == 201
    note = response.json()
    assert response.headers["Location"] == _path(conversation, note["id"])
    assert note == {
        "id": note["id"],
        "external_id": "N-1",
        "metadata": {"k": "v"},
        "created_at": note["created_at"],
        "updated_at": note["updated_at"],
        "conversation_id": conversation["id"],
        "author_id": conversation["facilitator_id"],
        "visibility": "shared",
        "body": "Ada wants to lead the billing migration.",
    }
    fetched = await client.get(_path(conversation, note["id"]), headers=auth)
    assert fetched.status_code == 200
    assert fetched.json() == note
    assert fetched.headers["ETag"] == response.headers["ETag"]

    await asyncio.sleep(0.001)
    updated = await client.patch(
        _path(conversation, note["id"]),
        json={"body": "Ada will lead the billing migration."},
        headers={**auth, "If-Match": fetched.headers["ETag"]},
    )
    assert updated.status_code == 200
    assert updated.json()["body"] == "Ada will lead the billing migration."
    stale = await client.patch(
        _path(conversation, note["id"]),
        json={"body": "x"},
        headers={**auth, "If-Match": fetched.headers["ETag"]},
    )
    assert stale.status_code == 412
    stale_delete = await client.delete(
        _path(conversation, note["id"]), headers={**auth, "If-Match": fetched.headers["ETag"]}
    )
    assert stale_delete.status_code == 412

    assert await _bodies(client, auth, conversation) == ["Ada will lead the billing migration."]
    deleted = await client.delete(_path(conversation, note["id"]), headers=auth)
    assert deleted.status_code == 204
    assert (await client.get(_path(conversation, note["id"]), headers=auth)).status_code == 404

    events = (
        await client.get(
            "/v1/events?type=note.created&type=note.updated&type=note.deleted", headers=auth
        )
    ).json()["data"]
    assert [e["type"] for e in events] == ["note.created", "note.updated", "note.deleted"]
    assert {e["subject_type"] for e in events} == {"note"}
    assert events[0]["data"] == note
    assert events[1]["data"] == updated.json()


async def test_private_notes_are_visible_only_to_their_author(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    conversation = await create_conversation(client, auth)
    employee, facilitator = conversation["employee_id"], conversation["facilitator_id"]
    await create_note(client, auth, conversation, author_id=facilitator, body="shared")
    mine = await create_note(
        client, auth, conversation, author_id=employee, visibility="private", body="ada-private"
    )
    theirs = await create_note(
        client,
        auth,
        conversation,
        author_id=facilitator,
        visibility="private",
        body="grace-private",
    )
    assert mine["visibility"] == "private"

    assert await _bodies(client, auth, conversation) == ["shared"]
    assert await _bodies(client, _as(auth, employee), conversation) == ["ada-private", "shared"]
    assert await _bodies(client, _as(auth, facilitator), conversation) == [
        "grace-private",
        "shared",
    ]
    stranger = await create_person(client, auth, name="Stranger")
    unseen = await client.get(_path(conversation), headers=_as(auth, stranger["id"]))
    assert unseen.status_code == 404
    assert unseen.json()["detail"] == f"No conversation with id {conversation['id']}."

    # Reading, changing or deleting a private note: its author only; the platform and the
    # other party get 404, as for a missing note.
    hidden = [
        await client.get(_path(conversation, mine["id"]), headers=auth),
        await client.get(_path(conversation, mine["id"]), headers=_as(auth, facilitator)),
        await client.patch(_path(conversation, mine["id"]), json={"body": "x"}, headers=auth),
        await client.patch(
            _path(conversation, mine["id"]), json={"body": "x"}, headers=_as(auth, facilitator)
        ),
        await client.delete(_path(conversation, mine["id"]), headers=auth),
        await client.delete(_path(conversation, mine["id"]), headers=_as(auth, facilitator)),
    ]
    assert [r.status_code for r in hidden] == [404] * 6
    assert hidden[0].json()["detail"] == f"No note with id {mine['id']} on this conversation."

    own = await client.get(_path(conversation, mine["id"]), headers=_as(auth, employee))
    assert own.status_code == 200
    assert own.json() == mine
    edited = await client.patch(
        _path(conversation, mine["id"]), json={"body": "ada-private-2"}, headers=_as(auth, employee)
    )
    assert edited.status_code == 200
    assert edited.json()["body"] == "ada-private-2"
    removed = await client.delete(_path(conversation, theirs["id"]), headers=_as(auth, facilitator))
    assert removed.status_code == 204
    assert await _bodies(client, _as(auth, facilitator), conversation) == ["shared"]


async def test_private_notes_never_reach_events_or_conversations(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    conversation = await create_conversation(client, auth)
    employee = conversation["employee_id"]
    note = await create_note(
        client, auth, conversation, visibility="private", body="PRIVATE-thinking-of-leaving"
    )
    await client.patch(
        _path(conversation, note["id"]),
        json={"body": "PRIVATE-still-thinking"},
        headers=_as(auth, employee),
    )
    await client.delete(_path(conversation, note["id"]), headers=_as(auth, employee))
    await create_note(client, auth, conversation, visibility="private", body="PRIVATE-again")

    events = await client.get("/v1/events?limit=100", headers=auth)
    assert "PRIVATE" not in events.text
    assert [e["type"] for e in events.json()["data"] if not e["type"].startswith("person.")] == [
        "conversation.created"
    ]
    for path in (f"/v1/conversations/{conversation['id']}", "/v1/conversations"):
        response = await client.get(path, headers=auth)
        assert response.status_code == 200
        assert "PRIVATE" not in response.text
    listed = await client.get(_path(conversation), headers=auth)
    assert "PRIVATE" not in listed.text


async def test_visibility_is_fixed_and_author_must_be_a_party(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    conversation = await create_conversation(client, auth)
    note = await create_note(client, auth, conversation, visibility="private")
    switched = await client.patch(
        _path(conversation, note["id"]),
        json={"visibility": "shared"},
        headers=_as(auth, conversation["employee_id"]),
    )
    assert switched.status_code == 422
    assert switched.json()["errors"][0]["pointer"] == "/body/visibility"

    stranger = await create_person(client, auth, name="Stranger")
    for author in (stranger["id"], str(uuid.uuid4())):
        refused = await client.post(
            _path(conversation), json={"author_id": author, "body": "hi"}, headers=auth
        )
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["pointer"] == "/body/author_id"
        assert refused.json()["errors"][0]["code"] == "not_a_party"
    invalid = await client.post(
        _path(conversation),
        json={"author_id": conversation["employee_id"], "body": "", "visibility": "public"},
        headers=auth,
    )
    assert invalid.status_code == 422
    errors = {e["code"]: e["pointer"] for e in invalid.json()["errors"]}
    assert errors["literal_error"] == "/body/visibility"
    # The empty `body` field is refused too (its pointer is app/core/errors.py's to render).
    assert set(errors) == {"literal_error", "string_too_short"}
    nulled = await client.patch(
        _path(conversation, note["id"]),
        json={"body": None},
        headers=_as(auth, conversation["employee_id"]),
    )
    assert nulled.status_code == 422


async def test_another_tenants_note_under_my_conversation_is_404(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    # All of another tenant's ids: tests/test_isolation.py, for every operation.
    theirs = await create_conversation(client, other_tenant.headers)
    their_note = await create_note(client, other_tenant.headers, theirs)
    mine = await create_conversation(client, tenant.headers)
    headers = tenant.headers
    responses = [
        await client.get(_path(mine, their_note["id"]), headers=headers),
        await client.patch(_path(mine, their_note["id"]), json={"body": "x"}, headers=headers),
        await client.delete(_path(mine, their_note["id"]), headers=headers),
    ]
    assert [r.status_code for r in responses] == [404] * 3
    unchanged = await client.get(_path(theirs, their_note["id"]), headers=other_tenant.headers)
    assert unchanged.json() == their_note


async def test_idempotent_create_and_external_id(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    conversation = await create_conversation(client, auth)
    body = {"author_id": conversation["employee_id"], "body": "Once", "external_id": "N-7"}
    headers = {**auth, "Idempotency-Key": "note-1"}
    first = await client.post(_path(conversation), json=body, headers=headers)
    replay = await client.post(_path(conversation), json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert await _bodies(client, auth, conversation) == ["Once"]
    reused = await client.post(_path(conversation), json={**body, "body": "Twice"}, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    taken = await client.post(_path(conversation), json={**body, "body": "Dup"}, headers=auth)
    assert taken.status_code == 409


async def test_list_pages_and_updated_since(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    conversation = await create_conversation(client, auth)
    notes = [await create_note(client, auth, conversation, body=f"n{i}") for i in range(3)]
    page1 = (await client.get(_path(conversation, limit="2"), headers=auth)).json()
    assert [n["body"] for n in page1["data"]] == ["n2", "n1"]
    assert page1["has_more"] is True
    page2 = (
        await client.get(_path(conversation, limit="2", cursor=page1["next_cursor"]), headers=auth)
    ).json()
    assert [n["body"] for n in page2["data"]] == ["n0"]
    assert page2["has_more"] is False

    await asyncio.sleep(0.001)
    edited = await client.patch(
        _path(conversation, notes[0]["id"]), json={"body": "n0 edited"}, headers=auth
    )
    since = edited.json()["updated_at"].replace("Z", "%2B00:00")
    assert await _bodies(client, auth, conversation, updated_since=since) == ["n0 edited"]
