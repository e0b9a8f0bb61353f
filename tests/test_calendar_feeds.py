"""Calendar feeds: POST/DELETE /v1/people/{id}/calendar-feed and the unauthenticated
GET /v1/calendar-feeds/{token}.ics (app/services/calendar_feeds.py). Every feed is parsed
back with the ``icalendar`` library."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import icalendar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import hash_api_key
from tests.factories import create_person
from tests.factories_conversations import create_agenda_item, create_conversation, create_team

Client = httpx.AsyncClient


def days(n: float) -> str:
    return (datetime.now(UTC) + timedelta(days=n)).replace(microsecond=0).isoformat()


async def create_feed(client: Client, headers: dict[str, str], person_id: str) -> dict[str, Any]:
    response = await client.post(f"/v1/people/{person_id}/calendar-feed", headers=headers)
    assert response.status_code == 201, response.text
    feed: dict[str, Any] = response.json()
    return feed


async def fetch(client: Client, url: str) -> httpx.Response:
    """The feed as a calendar app asks for it: the URL alone, no header."""
    return await client.get(url.replace("http://test", ""))


async def events(client: Client, url: str) -> dict[str, icalendar.Event]:
    response = await fetch(client, url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.text)
    assert "METHOD" not in calendar
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


async def single(client: Client, headers: dict[str, str], cid: str) -> icalendar.Event:
    response = await client.get(f"/v1/conversations/{cid}/calendar.ics", headers=headers)
    assert response.status_code == 200, response.text
    [event] = icalendar.Calendar.from_ical(response.text).walk("VEVENT")
    assert isinstance(event, icalendar.Event)
    return event


async def test_feed_lists_the_persons_conversations_in_the_window(
    client: Client, auth: dict[str, str], session: AsyncSession
) -> None:
    ada = await create_person(client, auth, name="Ada Lovelace", email="ada@example.com")
    grace = await create_person(client, auth, name="Grace Hopper", email="grace@example.com")
    other = await create_person(client, auth, name="Other")

    async def conversation(**fields: Any) -> dict[str, Any]:
        return await create_conversation(client, auth, **fields)

    pair = {"employee_id": ada["id"], "facilitator_id": grace["id"]}
    soon = await conversation(**pair, scheduled_start=days(7), timezone="Europe/Berlin")
    past = await conversation(**pair, scheduled_start=days(-20))
    too_old = await conversation(**pair, scheduled_start=days(-40))
    too_far = await conversation(**pair, scheduled_start=days(200))
    draft = await conversation(**pair)  # no start: no calendar entry
    facilitating = await conversation(
        employee_id=other["id"], facilitator_id=ada["id"], scheduled_start=days(30)
    )
    not_hers = await conversation(
        employee_id=other["id"], facilitator_id=grace["id"], scheduled_start=days(8)
    )
    canceled = await conversation(**pair, scheduled_start=days(14))
    cancel = await client.post(
        f"/v1/conversations/{canceled['id']}/schedule", json={}, headers=auth
    )
    assert cancel.status_code == 200, cancel.text
    cancel = await client.post(
        f"/v1/conversations/{canceled['id']}/cancel", json={"reason": "Away"}, headers=auth
    )
    assert cancel.status_code == 200, cancel.text
    moved = await client.post(f"/v1/conversations/{soon['id']}/schedule", json={}, headers=auth)
    assert moved.status_code == 200, moved.text
    moved = await client.post(
        f"/v1/conversations/{soon['id']}/reschedule",
        json={"scheduled_start": days(9)},
        headers=auth,
    )
    assert moved.status_code == 200, moved.text

    feed = await create_feed(client, auth, ada["id"])
    assert set(feed) == {"id", "person_id", "url", "token", "created_at"}
    assert feed["person_id"] == ada["id"]
    assert feed["token"].startswith("ccf_")
    assert feed["url"] == f"http://test/v1/calendar-feeds/{feed['token']}.ics"

    # stored hashed: the token itself is nowhere in the table
    stored = (
        await session.execute(
            text("SELECT id::text, person_id::text, token_hash FROM calendar_feeds")
        )
    ).all()
    assert [tuple(r) for r in stored] == [(feed["id"], ada["id"], hash_api_key(feed["token"]))]

    found = await events(client, feed["url"])
    wanted = [soon, past, facilitating, canceled]
    assert sorted(found) == sorted(f"{c['id']}@ccapi" for c in wanted)
    for c in (too_old, too_far, draft, not_hers):
        assert f"{c['id']}@ccapi" not in found
    for c in wanted:
        mine = found[f"{c['id']}@ccapi"]
        theirs = await single(client, auth, c["id"])
        for name in ("UID", "SEQUENCE", "DTSTART", "DTEND", "STATUS", "SUMMARY"):
            assert mine.get(name) is not None
            assert mine[name].to_ical() == theirs[name].to_ical(), name
    assert found[f"{soon['id']}@ccapi"]["SEQUENCE"] == 1
    assert str(found[f"{canceled['id']}@ccapi"]["STATUS"]) == "CANCELLED"
    assert str(found[f"{soon['id']}@ccapi"]["DTSTART"].params["TZID"]) == "Europe/Berlin"
    response = await fetch(client, feed["url"])
    calendar = icalendar.Calendar.from_ical(response.text)
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert str(calendar["X-WR-CALNAME"]) == "Career conversations: Ada Lovelace"
    assert response.headers["etag"].startswith('"')


async def test_rotate_and_revoke(client: Client, auth: dict[str, str]) -> None:
    conversation = await create_conversation(client, auth, scheduled_start=days(3))
    person = conversation["employee_id"]
    first = await create_feed(client, auth, person)
    assert len(await events(client, first["url"])) == 1

    second = await create_feed(client, auth, person)  # rotates
    assert second["token"] != first["token"] and second["id"] != first["id"]
    old = await fetch(client, first["url"])
    assert (old.status_code, old.json()["code"]) == (404, "not_found")
    assert old.json()["detail"] == "No calendar feed at this address."
    assert len(await events(client, second["url"])) == 1

    revoked = await client.delete(f"/v1/people/{person}/calendar-feed", headers=auth)
    assert revoked.status_code == 204
    gone = await fetch(client, second["url"])
    assert (gone.status_code, gone.json()["detail"]) == (404, "No calendar feed at this address.")
    again = await client.delete(f"/v1/people/{person}/calendar-feed", headers=auth)
    assert (again.status_code, again.json()["detail"]) == (
        404,
        f"Person {person} has no calendar feed.",
    )
    # malformed or made-up tokens: the same 404
    for token in ("nope", "ccf_" + "x" * 43, "ccf_" + "x" * 200):
        response = await client.get(f"/v1/calendar-feeds/{token}.ics")
        assert (response.status_code, response.json()["detail"]) == (
            404,
            "No calendar feed at this address.",
        )


async def test_a_feed_with_nothing_in_it(client: Client, auth: dict[str, str]) -> None:
    person = await create_person(client, auth, name="Idle")
    feed = await create_feed(client, auth, person["id"])
    assert await events(client, feed["url"]) == {}


async def test_the_feed_shows_what_its_person_sees(client: Client, auth: dict[str, str]) -> None:
    team = await create_team(client, auth)
    conversation = await create_conversation(
        client,
        auth,
        employee_id=team.ids["ada"],
        facilitator_id=team.ids["grace"],
        scheduled_start=days(5),
    )
    await create_agenda_item(client, auth, conversation, topic="Shared topic")
    for author, topic in (("grace", "Grace sealed"), ("ada", "Ada sealed")):
        sealed = await client.post(
            f"/v1/conversations/{conversation['id']}/agenda-items",
            json={"author_id": team.ids[author], "topic": topic, "visibility": "sealed"},
            headers=auth,
        )
        assert sealed.status_code == 201, sealed.text
    note = await client.post(
        f"/v1/conversations/{conversation['id']}/notes",
        json={"author_id": team.ids["ada"], "body": "Private thought", "visibility": "private"},
        headers=auth,
    )
    assert note.status_code == 201, note.text

    # Ada creates her own feed, acting for herself
    feed = await create_feed(client, team.as_("ada"), team.ids["ada"])
    [event] = (await events(client, feed["url"])).values()
    assert str(event["DESCRIPTION"]) == "Agenda:\n- Other: Shared topic\n- Other: Ada sealed"
    text_ = (await fetch(client, feed["url"])).text
    assert "Grace sealed" not in text_ and "Private thought" not in text_


async def test_who_may_manage_a_feed(client: Client, auth: dict[str, str]) -> None:
    team = await create_team(client, auth)
    ada = team.ids["ada"]
    for who in ("grace", "skip", "colleague"):
        response = await client.post(f"/v1/people/{ada}/calendar-feed", headers=team.as_(who))
        assert (response.status_code, response.json()["code"]) == (403, "not_permitted")
    await create_feed(client, team.as_("ada"), ada)
    refused = await client.delete(f"/v1/people/{ada}/calendar-feed", headers=team.as_("grace"))
    assert (refused.status_code, refused.json()["code"]) == (403, "not_permitted")
    mine = await client.delete(f"/v1/people/{ada}/calendar-feed", headers=team.as_("ada"))
    assert mine.status_code == 204


async def test_unknown_tokens_count_as_failed_authentications(
    client: Client, auth: dict[str, str]
) -> None:
    response = await client.get("/v1/calendar-feeds/ccf_unknown.ics")
    assert response.status_code == 404
    assert response.headers["ratelimit-policy"].startswith('"auth";')
    person = await create_person(client, auth, name="Polled")
    feed = await create_feed(client, auth, person["id"])
    ok = await fetch(client, feed["url"])
    assert ok.status_code == 200
    assert ok.headers["ratelimit-policy"].startswith('"default";')
