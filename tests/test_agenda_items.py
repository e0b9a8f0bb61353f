from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.conftest import TenantKey
from tests.factories import create_person
from tests.factories_conversations import create_agenda_item, create_conversation, create_team

START = "2030-03-04T09:30:00+01:00"


def _path(conversation: dict[str, Any], item_id: str | None = None) -> str:
    base = f"/v1/conversations/{conversation['id']}/agenda-items"
    return f"{base}/{item_id}" if item_id else base


async def _topics(
    client: httpx.AsyncClient, headers: dict[str, str], conversation: dict[str, Any]
) -> list[tuple[str, int]]:
    response = await client.get(_path(conversation), headers=headers)
    assert response.status_code == 200
    return [(i["topic"], i["position"]) for i in response.json()["data"]]


async def _act(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    conversation: dict[str, Any],
    action: str,
    body: dict[str, Any] | None = None,
) -> None:
    response = await client.post(
        f"/v1/conversations/{conversation['id']}/{action}", json=body, headers=headers
    )
    assert response.status_code == 200, response.text


async def test_create_get_update_delete_agenda_item(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    conversation = await create_conversation(client, auth)
    response = await client.post(
        _path(conversation),
        json={
            "author_id": conversation["facilitator_id"],
            "topic": "Path to staff engineer",
            "category": "aspirations",
            "notes": "Bring the career ladder",
            "external_id": "AG-1",
            "metadata": {"source": "hris"},
        },
        headers=auth,
    )
    assert response.status_code == 201
    item = response.json()
    assert response.headers["Location"] == _path(conversation, item["id"])
    assert item == {
        "id": item["id"],
        "external_id": "AG-1",
        "metadata": {"source": "hris"},
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
        "conversation_id": conversation["id"],
        "author_id": conversation["facilitator_id"],
        "topic": "Path to staff engineer",
        "category": "aspirations",
        "position": 0,
        "discussed": False,
        "notes": "Bring the career ladder",
        "visibility": "shared",
        "template_id": None,
        "prompt": None,
        "carried_from_id": None,
    }

    fetched = await client.get(_path(conversation, item["id"]), headers=auth)
    assert fetched.status_code == 200
    assert fetched.json() == item
    assert fetched.headers["ETag"] == response.headers["ETag"]

    parent = (await client.get(f"/v1/conversations/{conversation['id']}", headers=auth)).json()
    assert parent["agenda_items"] == [item]
    assert parent["updated_at"] > conversation["updated_at"]

    updated = await client.patch(
        _path(conversation, item["id"]),
        json={"discussed": True, "category": "growth_areas", "topic": "Staff path"},
        headers={**auth, "If-Match": fetched.headers["ETag"]},
    )
    assert updated.status_code == 200
    assert updated.json() == {
        **item,
        "discussed": True,
        "category": "growth_areas",
        "topic": "Staff path",
        "updated_at": updated.json()["updated_at"],
    }
    assert updated.json()["updated_at"] > item["updated_at"]

    deleted = await client.delete(_path(conversation, item["id"]), headers=auth)
    assert deleted.status_code == 204
    missing = await client.get(_path(conversation, item["id"]), headers=auth)
    assert missing.status_code == 404

    events = (
        await client.get(
            "/v1/events?type=agenda_item.created&type=agenda_item.updated&type=agenda_item.deleted",
            headers=auth,
        )
    ).json()["data"]
    assert [e["type"] for e in events] == [
        "agenda_item.created",
        "agenda_item.updated",
        "agenda_item.deleted",
    ]
    assert {e["subject_type"] for e in events} == {"agenda_item"}
    assert events[0]["data"] == item
    assert events[1]["data"] == updated.json()
    assert events[2]["data"] == updated.json()


async def test_positions_stay_contiguous_when_inserting_moving_and_deleting(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    conversation = await create_conversation(client, auth)
    a = await create_agenda_item(client, auth, conversation, topic="A")
    b = await create_agenda_item(client, auth, conversation, topic="B")
    c = await create_agenda_item(client, auth, conversation, topic="C")
    assert [a["position"], b["position"], c["position"]] == [0, 1, 2]

    first = await create_agenda_item(client, auth, conversation, topic="First", position=0)
    assert first["position"] == 0
    assert await _topics(client, auth, conversation) == [
        ("First", 0),
        ("A", 1),
        ("B", 2),
        ("C", 3),
    ]
    beyond = await create_agenda_item(client, auth, conversation, topic="Last", position=99)
    assert beyond["position"] == 4

    b_before = (await client.get(_path(conversation, b["id"]), headers=auth)).json()
    await asyncio.sleep(0.001)
    moved = await client.patch(_path(conversation, c["id"]), json={"position": 1}, headers=auth)
    assert moved.status_code == 200
    assert moved.json()["position"] == 1
    assert await _topics(client, auth, conversation) == [
        ("First", 0),
        ("C", 1),
        ("A", 2),
        ("B", 3),
        ("Last", 4),
    ]
    b_after = (await client.get(_path(conversation, b["id"]), headers=auth)).json()
    assert b_after["position"] == 3
    assert b_after["updated_at"] > b_before["updated_at"]

    to_end = await client.patch(
        _path(conversation, first["id"]), json={"position": 50}, headers=auth
    )
    assert to_end.json()["position"] == 4
    assert await _topics(client, auth, conversation) == [
        ("C", 0),
        ("A", 1),
        ("B", 2),
        ("Last", 3),
        ("First", 4),
    ]

    await client.delete(_path(conversation, a["id"]), headers=auth)
    assert await _topics(client, auth, conversation) == [
        ("C", 0),
        ("B", 1),
        ("Last", 2),
        ("First", 3),
    ]
    parent = (await client.get(f"/v1/conversations/{conversation['id']}", headers=auth)).json()
    assert [(i["topic"], i["position"]) for i in parent["agenda_items"]] == [
        ("C", 0),
        ("B", 1),
        ("Last", 2),
        ("First", 3),
    ]

    nulled = await client.patch(_path(conversation, b["id"]), json={"position": None}, headers=auth)
    assert nulled.status_code == 422
    negative = await client.patch(_path(conversation, b["id"]), json={"position": -1}, headers=auth)
    assert negative.status_code == 422
    assert negative.json()["errors"][0]["pointer"] == "/body/position"


async def test_list_pages_in_agenda_order(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    conversation = await create_conversation(client, auth)
    for topic in ("A", "B", "C"):
        await create_agenda_item(client, auth, conversation, topic=topic)
    page1 = await client.get(f"{_path(conversation)}?limit=2", headers=auth)
    body1 = page1.json()
    assert [i["topic"] for i in body1["data"]] == ["A", "B"]
    assert body1["has_more"] is True
    assert 'rel="next"' in page1.headers["Link"]
    page2 = await client.get(
        f"{_path(conversation)}?limit=2&cursor={body1['next_cursor']}", headers=auth
    )
    body2 = page2.json()
    assert [i["topic"] for i in body2["data"]] == ["C"]
    assert body2["next_cursor"] is None
    assert body2["has_more"] is False

    bad = await client.get(f"{_path(conversation)}?cursor=not-a-cursor", headers=auth)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/query/cursor"


async def test_author_must_be_a_party(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    conversation = await create_conversation(client, auth)
    stranger = await create_person(client, auth, name="Stranger")
    for author in (stranger["id"], str(uuid.uuid4())):
        response = await client.post(
            _path(conversation), json={"author_id": author, "topic": "Hi"}, headers=auth
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/body/author_id"
        assert response.json()["errors"][0]["code"] == "not_a_party"
    invalid = await client.post(
        _path(conversation),
        json={"author_id": conversation["employee_id"], "topic": "", "category": "gossip"},
        headers=auth,
    )
    assert invalid.status_code == 422
    assert sorted(e["pointer"] for e in invalid.json()["errors"]) == [
        "/body/category",
        "/body/topic",
    ]
    assert await _topics(client, auth, conversation) == []


async def test_another_tenants_item_under_my_conversation_is_404(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    # All of another tenant's ids: tests/test_isolation.py, for every operation.
    theirs = await create_conversation(client, other_tenant.headers)
    their_item = await create_agenda_item(client, other_tenant.headers, theirs)
    mine = await create_conversation(client, tenant.headers)
    headers = tenant.headers
    responses = [
        await client.get(_path(mine, their_item["id"]), headers=headers),
        await client.patch(_path(mine, their_item["id"]), json={"topic": "x"}, headers=headers),
        await client.delete(_path(mine, their_item["id"]), headers=headers),
    ]
    assert [r.status_code for r in responses] == [404] * 3
    unchanged = await client.get(_path(theirs, their_item["id"]), headers=other_tenant.headers)
    assert unchanged.json() == their_item


async def test_item_of_another_conversation_is_404(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    first = await create_conversation(client, auth)
    second = await create_conversation(
        client, auth, employee_id=first["employee_id"], facilitator_id=first["facilitator_id"]
    )
    item = await create_agenda_item(client, auth, first)
    response = await client.get(_path(second, item["id"]), headers=auth)
    assert response.status_code == 404
    moved = await client.patch(_path(second, item["id"]), json={"position": 0}, headers=auth)
    assert moved.status_code == 404


async def test_completed_and_canceled_agendas(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    completed = await create_conversation(client, auth, scheduled_start=START)
    item = await create_agenda_item(client, auth, completed, topic="Growth")
    await _act(client, auth, completed, "schedule")
    await _act(client, auth, completed, "complete")

    discussed = await client.patch(
        _path(completed, item["id"]),
        json={"discussed": True, "notes": "Covered", "topic": "Growth"},
        headers=auth,
    )
    assert discussed.status_code == 200
    assert discussed.json()["discussed"] is True
    assert discussed.json()["notes"] == "Covered"

    retitled = await client.patch(_path(completed, item["id"]), json={"topic": "X"}, headers=auth)
    assert retitled.status_code == 409
    assert retitled.json()["code"] == "conversation_closed"
    assert retitled.json()["current_status"] == "completed"
    added = await client.post(
        _path(completed), json={"author_id": completed["employee_id"], "topic": "x"}, headers=auth
    )
    assert added.status_code == 409
    assert added.json()["current_status"] == "completed"
    removed = await client.delete(_path(completed, item["id"]), headers=auth)
    assert removed.status_code == 409

    canceled = await create_conversation(client, auth)
    kept = await create_agenda_item(client, auth, canceled)
    await _act(client, auth, canceled, "cancel", {"reason": "Reorg"})
    refused = await client.post(
        _path(canceled), json={"author_id": canceled["employee_id"], "topic": "x"}, headers=auth
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "conversation_closed"
    assert refused.json()["current_status"] == "canceled"
    assert refused.json()["detail"] == (
        "Cannot add to the agenda of a conversation whose status is 'canceled'."
    )
    flagged = await client.patch(
        _path(canceled, kept["id"]), json={"discussed": True}, headers=auth
    )
    assert flagged.status_code == 409
    tagged = await client.patch(
        _path(canceled, kept["id"]), json={"metadata": {"archived": True}}, headers=auth
    )
    assert tagged.status_code == 200


async def test_if_match_and_idempotency(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    conversation = await create_conversation(client, auth)
    item = await create_agenda_item(client, auth, conversation)
    etag = (await client.get(_path(conversation, item["id"]), headers=auth)).headers["ETag"]
    await asyncio.sleep(0.001)
    first = await client.patch(
        _path(conversation, item["id"]), json={"notes": "n"}, headers={**auth, "If-Match": etag}
    )
    assert first.status_code == 200
    stale = await client.patch(
        _path(conversation, item["id"]), json={"notes": "m"}, headers={**auth, "If-Match": etag}
    )
    assert stale.status_code == 412
    stale_delete = await client.delete(
        _path(conversation, item["id"]), headers={**auth, "If-Match": etag}
    )
    assert stale_delete.status_code == 412

    headers = {**auth, "Idempotency-Key": "agenda-1"}
    body = {"author_id": conversation["employee_id"], "topic": "Once"}
    created = await client.post(_path(conversation), json=body, headers=headers)
    replay = await client.post(_path(conversation), json=body, headers=headers)
    assert created.status_code == replay.status_code == 201
    assert replay.json() == created.json()
    assert await _topics(client, auth, conversation) == [("Next role", 0), ("Once", 1)]
    reused = await client.post(
        _path(conversation), json={**body, "topic": "Twice"}, headers=headers
    )
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"

    duplicate = await client.post(
        _path(conversation), json={**body, "external_id": "X"}, headers=auth
    )
    assert duplicate.status_code == 201
    taken = await client.post(_path(conversation), json={**body, "external_id": "X"}, headers=auth)
    assert taken.status_code == 409


async def test_a_person_adds_items_as_their_author_and_changes_only_their_own(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    team = await create_team(client, auth)
    conversation = await create_conversation(
        client, auth, employee_id=team.ids["ada"], facilitator_id=team.ids["grace"]
    )
    ada, grace, skip = team.as_("ada"), team.as_("grace"), team.as_("skip")

    # Adding: as oneself (author_id), and as a party.
    for headers, author in ((ada, "grace"), (grace, "ada"), (skip, "skip"), (skip, "ada")):
        refused = await client.post(
            _path(conversation),
            json={"author_id": team.ids[author], "topic": "Next role"},
            headers=headers,
        )
        assert refused.status_code == 403, (headers, author)
        assert refused.json()["code"] == "not_permitted"
    hidden = await client.post(
        _path(conversation),
        json={"author_id": team.ids["colleague"], "topic": "Next role"},
        headers=team.as_("colleague"),
    )
    assert hidden.status_code == 404
    item = await create_agenda_item(client, ada, conversation, author_id=team.ids["ada"])
    assert item["visibility"] == "shared"
    assert (await client.get(_path(conversation, item["id"]), headers=skip)).status_code == 200

    # Changing or deleting: the author only, 403 before 412 and before 409.
    etag = (await client.get(_path(conversation, item["id"]), headers=ada)).headers["ETag"]
    for headers in (grace, skip):
        for method in ("PATCH", "DELETE"):
            refused = await client.request(
                method,
                _path(conversation, item["id"]),
                json={"discussed": True} if method == "PATCH" else None,
                headers={**headers, "If-Match": '"stale"'},
            )
            assert refused.status_code == 403, (method, refused.text)
    sealing = await client.patch(
        _path(conversation, item["id"]), json={"visibility": "sealed"}, headers=ada
    )
    assert sealing.status_code == 422
    moved = await client.patch(
        _path(conversation, item["id"]),
        json={"topic": "Staff path"},
        headers={**ada, "If-Match": etag},
    )
    assert moved.status_code == 200
    await _act(client, auth, conversation, "cancel", {"reason": "Off"})
    for method in ("PATCH", "DELETE"):
        refused = await client.request(
            method,
            _path(conversation, item["id"]),
            json={"topic": "Other"} if method == "PATCH" else None,
            headers=grace,
        )
        assert refused.status_code == 403
        closed = await client.request(
            method,
            _path(conversation, item["id"]),
            json={"topic": "Other"} if method == "PATCH" else None,
            headers=ada,
        )
        assert closed.status_code == 409
    late = await client.post(
        _path(conversation), json={"author_id": team.ids["skip"], "topic": "x"}, headers=skip
    )
    assert late.status_code == 403
    events = await client.get("/v1/events?type=agenda_item.updated", headers=auth)
    assert [e["actor"]["person_id"] for e in events.json()["data"]] == [team.ids["ada"]]
