"""Sealed agenda items: seen by their author only, in no event, until the preparation is
revealed (both parties prepared, the conversation completed, or its start passed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.background import scheduler
from tests.factories_conversations import Team, create_team

SENTINEL = "SEALED-SENTINEL-7f3a"
NOW = datetime.now(UTC).replace(microsecond=0)


def _items(conversation_id: str, item_id: str | None = None) -> str:
    base = f"/v1/conversations/{conversation_id}/agenda-items"
    return f"{base}/{item_id}" if item_id else base


async def _conversation(client: httpx.AsyncClient, team: Team, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/conversations",
        json={"employee_id": team.ids["ada"], "facilitator_id": team.ids["grace"], **fields},
        headers=team.headers,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _sealed(
    client: httpx.AsyncClient, team: Team, conversation: dict[str, Any], author: str, topic: str
) -> dict[str, Any]:
    response = await client.post(
        _items(conversation["id"]),
        json={
            "author_id": team.ids[author],
            "topic": topic,
            "notes": f"{topic} notes",
            "visibility": "sealed",
        },
        headers=team.as_(author),
    )
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    assert item["visibility"] == "sealed"
    return item


async def _events(
    client: httpx.AsyncClient, headers: dict[str, str], *types: str
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"limit": 100}
    if types:
        params["type"] = list(types)
    response = await client.get("/v1/events", params=params, headers=headers)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def _prepare(
    client: httpx.AsyncClient, team: Team, conversation: dict[str, Any], who: str
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/conversations/{conversation['id']}/prepare", headers=team.as_(who)
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_a_sealed_item_is_seen_by_its_author_only(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    team = await create_team(client, auth)
    conversation = await _conversation(client, team)
    cid = conversation["id"]
    shared = await client.post(
        _items(cid),
        json={"author_id": team.ids["grace"], "topic": "Shared topic"},
        headers=team.as_("grace"),
    )
    assert shared.status_code == 201
    item = await _sealed(client, team, conversation, "ada", SENTINEL)
    assert item["position"] == 1
    assert item["author_id"] == team.ids["ada"]

    # The author: GET one, the list, the conversation's agenda, the conversations list.
    own = team.as_("ada")
    fetched = await client.get(_items(cid, item["id"]), headers=own)
    assert fetched.status_code == 200
    assert fetched.json() == item
    listed = await client.get(_items(cid), headers=own)
    assert [i["id"] for i in listed.json()["data"]] == [shared.json()["id"], item["id"]]
    parent = await client.get(f"/v1/conversations/{cid}", headers=own)
    assert parent.json()["agenda_items"] == [shared.json(), item]
    page = await client.get("/v1/conversations", headers=own)
    assert page.json()["data"][0]["agenda_items"] == [shared.json(), item]

    # Everyone else, the platform included: as if it did not exist.
    for headers in (team.as_("grace"), team.as_("skip"), team.headers):
        missing = await client.get(_items(cid, item["id"]), headers=headers)
        assert missing.status_code == 404
        assert missing.json()["code"] == "not_found"
        listed = await client.get(_items(cid), headers=headers)
        assert listed.json()["data"] == [shared.json()]
        parent = await client.get(f"/v1/conversations/{cid}", headers=headers)
        assert parent.json()["agenda_items"] == [shared.json()]
        page = await client.get("/v1/conversations", headers=headers)
        assert page.json()["data"][0]["agenda_items"] == [shared.json()]
        for method in ("PATCH", "DELETE"):
            refused = await client.request(
                method,
                _items(cid, item["id"]),
                json={"topic": "x"} if method == "PATCH" else None,
                headers=headers,
            )
            assert refused.status_code == 404
    colleague = await client.get(_items(cid, item["id"]), headers=team.as_("colleague"))
    assert colleague.status_code == 404

    # The author edits it, still sealed; a conversation change's event carries the
    # conversation as the platform sees it, while the party's answer has their own item.
    edited = await client.patch(
        _items(cid, item["id"]), json={"notes": f"{SENTINEL} more"}, headers=own
    )
    assert edited.status_code == 200
    assert edited.json()["visibility"] == "sealed"
    changed = await client.patch(
        f"/v1/conversations/{cid}", json={"location": "Room 4"}, headers=own
    )
    assert changed.status_code == 200
    assert [i["id"] for i in changed.json()["agenda_items"]] == [
        shared.json()["id"],
        item["id"],
    ]
    for headers in (team.headers, own, team.as_("grace")):
        events = await client.get("/v1/events?limit=100", headers=headers)
        assert SENTINEL not in events.text
    types = [e["type"] for e in await _events(client, team.headers)]
    assert types.count("agenda_item.created") == 1  # the shared item's only
    assert "agenda_item.updated" not in types
    updated = await _events(client, team.headers, "conversation.updated")
    assert [i["id"] for i in updated[0]["data"]["agenda_items"]] == [shared.json()["id"]]

    # A sealed item deleted before the reveal leaves no trace.
    gone = await client.delete(_items(cid, item["id"]), headers=own)
    assert gone.status_code == 204
    assert "agenda_item.deleted" not in [e["type"] for e in await _events(client, team.headers)]


async def test_both_parties_preparing_reveals_once(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    team = await create_team(client, auth)
    conversation = await _conversation(client, team)
    cid = conversation["id"]
    ada_item = await _sealed(client, team, conversation, "ada", f"{SENTINEL} Ada")
    grace_item = await _sealed(client, team, conversation, "grace", f"{SENTINEL} Grace")

    first = await _prepare(client, team, conversation, "ada")
    assert first["preparation"]["revealed_at"] is None
    assert [i["id"] for i in first["agenda_items"]] == [ada_item["id"]]
    assert SENTINEL not in (await client.get("/v1/events?limit=100", headers=auth)).text

    second = await _prepare(client, team, conversation, "grace")
    revealed_at = second["preparation"]["revealed_at"]
    assert revealed_at == second["updated_at"]
    assert second["preparation"]["unprepared"] == []
    assert [(i["id"], i["visibility"]) for i in second["agenda_items"]] == [
        (ada_item["id"], "shared"),
        (grace_item["id"], "shared"),
    ]
    assert second["agenda_items"][0]["updated_at"] == revealed_at

    # Shared for good: everyone who sees the conversation sees both items.
    for headers in (team.headers, team.as_("skip"), team.as_("ada"), team.as_("grace")):
        parent = await client.get(f"/v1/conversations/{cid}", headers=headers)
        assert parent.json() == second
        one = await client.get(_items(cid, grace_item["id"]), headers=headers)
        assert one.status_code == 200
        assert one.json()["visibility"] == "shared"

    revealed = await _events(client, auth, "conversation.preparation_revealed")
    assert len(revealed) == 1
    assert revealed[0]["subject_id"] == cid
    assert revealed[0]["data"] == second
    assert revealed[0]["actor"] == {
        "api_key_id": revealed[0]["actor"]["api_key_id"],
        "person_id": team.ids["grace"],
    }
    prepared = await _events(client, auth, "conversation.prepared")
    assert len(prepared) == 2
    assert prepared[1]["data"]["agenda_items"] == []  # written before the reveal
    assert SENTINEL not in str(prepared)

    # Preparing again, completing: no second reveal. No sealed item once revealed.
    await _prepare(client, team, conversation, "grace")
    late = await client.post(
        _items(cid),
        json={"author_id": team.ids["ada"], "topic": "Late", "visibility": "sealed"},
        headers=team.as_("ada"),
    )
    assert late.status_code == 409
    assert late.json()["code"] == "preparation_revealed"
    scheduled = await client.post(
        f"/v1/conversations/{cid}/schedule",
        json={"scheduled_start": (NOW + timedelta(days=1)).isoformat()},
        headers=auth,
    )
    assert scheduled.status_code == 200
    done = await client.post(f"/v1/conversations/{cid}/complete", headers=auth)
    assert done.status_code == 200
    assert done.json()["preparation"]["revealed_at"] == revealed_at
    assert len(await _events(client, auth, "conversation.preparation_revealed")) == 1


async def test_the_start_passing_reveals_once(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    team = await create_team(client, auth)
    start = NOW + timedelta(days=2)
    conversation = await _conversation(client, team)
    cid = conversation["id"]
    item = await _sealed(client, team, conversation, "grace", SENTINEL)
    scheduled = await client.post(
        f"/v1/conversations/{cid}/schedule",
        json={"scheduled_start": start.isoformat()},
        headers=team.as_("grace"),
    )
    assert scheduled.status_code == 200
    await _prepare(client, team, conversation, "grace")  # one party only: still sealed

    await scheduler.run_once(sessionmaker, now=start - timedelta(minutes=30))  # the reminder
    await scheduler.run_once(sessionmaker, now=start - timedelta(seconds=1))
    assert await _events(client, auth, "conversation.preparation_revealed") == []
    reminder = await _events(client, auth, "conversation.reminder")
    assert len(reminder) == 1
    assert reminder[0]["data"]["agenda_items"] == []
    assert SENTINEL not in (await client.get("/v1/events?limit=100", headers=auth)).text

    assert await scheduler.run_once(sessionmaker, now=start + timedelta(seconds=1)) == 1
    assert await scheduler.run_once(sessionmaker, now=start + timedelta(minutes=5)) == 0

    revealed = await _events(client, auth, "conversation.preparation_revealed")
    assert len(revealed) == 1
    assert revealed[0]["actor"] == {"api_key_id": None, "person_id": None}
    data = revealed[0]["data"]
    assert data["preparation"]["revealed_at"] is not None
    assert [(i["id"], i["visibility"], i["topic"]) for i in data["agenda_items"]] == [
        (item["id"], "shared", SENTINEL)
    ]
    parent = await client.get(f"/v1/conversations/{cid}", headers=team.as_("ada"))
    assert parent.json() == data

    # Moving the start later re-arms nothing: the reveal is for good.
    moved = await client.post(
        f"/v1/conversations/{cid}/reschedule",
        json={"scheduled_start": (start + timedelta(days=7)).isoformat()},
        headers=auth,
    )
    assert moved.status_code == 200
    await scheduler.run_once(sessionmaker, now=start + timedelta(days=8))
    assert len(await _events(client, auth, "conversation.preparation_revealed")) == 1


async def test_completing_reveals_and_nothing_sealed_reveals_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    team = await create_team(client, auth)
    start = (NOW + timedelta(hours=3)).isoformat()
    sealed = await _conversation(client, team, scheduled_start=start)
    item = await _sealed(client, team, sealed, "ada", SENTINEL)
    plain = await _conversation(client, team, scheduled_start=start)
    for conversation in (sealed, plain):
        path = f"/v1/conversations/{conversation['id']}"
        assert (await client.post(f"{path}/schedule", headers=auth)).status_code == 200

    # Completed before its start (the meeting took place): revealed then.
    done = await client.post(
        f"/v1/conversations/{sealed['id']}/complete", headers=team.as_("grace")
    )
    assert done.status_code == 200
    assert done.json()["preparation"]["revealed_at"] == done.json()["updated_at"]
    assert [(i["id"], i["visibility"]) for i in done.json()["agenda_items"]] == [
        (item["id"], "shared")
    ]
    types = [e["type"] for e in await _events(client, auth) if e["subject_id"] == sealed["id"]]
    assert types[-2:] == ["conversation.completed", "conversation.preparation_revealed"]

    # Without sealed items there is nothing to reveal: no event, revealed_at stays null.
    await _prepare(client, team, plain, "ada")
    both = await _prepare(client, team, plain, "grace")
    assert both["preparation"]["revealed_at"] is None
    await scheduler.run_once(sessionmaker, now=NOW + timedelta(hours=4))
    revealed = await _events(client, auth, "conversation.preparation_revealed")
    assert [e["subject_id"] for e in revealed] == [sealed["id"]]
    # …but both are prepared, so a sealed item cannot be added any more.
    late = await client.post(
        _items(plain["id"]),
        json={"author_id": team.ids["ada"], "topic": "Late", "visibility": "sealed"},
        headers=team.as_("ada"),
    )
    assert late.status_code == 409
    assert late.json()["code"] == "preparation_revealed"


async def test_a_sealed_item_after_the_start_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    team = await create_team(client, auth)
    past = await _conversation(client, team, scheduled_start=(NOW - timedelta(hours=1)).isoformat())
    late = await client.post(
        _items(past["id"]),
        json={"author_id": team.ids["grace"], "topic": "Late", "visibility": "sealed"},
        headers=team.as_("grace"),
    )
    assert late.status_code == 409
    assert late.json()["code"] == "preparation_revealed"
    shared = await client.post(
        _items(past["id"]),
        json={"author_id": team.ids["grace"], "topic": "Late"},
        headers=team.as_("grace"),
    )
    assert shared.status_code == 201
    assert shared.json()["visibility"] == "shared"
