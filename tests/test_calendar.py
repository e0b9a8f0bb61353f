"""A conversation's calendar invitation: GET /v1/conversations/{id}/calendar.ics and the
``data.ics`` of the scheduled, rescheduled and canceled events (app/services/calendars.py).
Every text is parsed back with the ``icalendar`` library."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.factories import create_person
from tests.factories_conversations import create_agenda_item, create_conversation, create_team
from tests.factories_goals import count_statements

Client = httpx.AsyncClient
BERLIN = ZoneInfo("Europe/Berlin")


async def ics(client: Client, headers: dict[str, str], cid: str) -> tuple[str, icalendar.Calendar]:
    response = await client.get(f"/v1/conversations/{cid}/calendar.ics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["etag"].startswith('"')
    return response.text, icalendar.Calendar.from_ical(response.text)


def vevent(calendar: icalendar.Calendar) -> icalendar.Event:
    [event] = calendar.walk("VEVENT")
    assert isinstance(event, icalendar.Event)
    return event


def line(text: str, name: str) -> str:
    """The VEVENT's unfolded content line named ``name`` (e.g. ``DTSTART``)."""
    unfolded = text.replace("\r\n ", "").split("BEGIN:VEVENT", 1)[1]
    [found] = [
        entry for entry in unfolded.split("\r\n") if entry.split(":")[0].split(";")[0] == name
    ]
    return found


async def events_of(client: Client, headers: dict[str, str], cid: str) -> list[dict[str, Any]]:
    page = (await client.get("/v1/events?limit=100", headers=headers)).json()["data"]
    return [e for e in page if e["subject_id"] == cid]


async def berlin_pair(client: Client, auth: dict[str, str]) -> dict[str, Any]:
    ada = await create_person(client, auth, name="Ada Lovelace", email="ada@example.com")
    grace = await create_person(client, auth, name="Grace Hopper", email="grace@example.com")
    return await create_conversation(
        client,
        auth,
        employee_id=ada["id"],
        facilitator_id=grace["id"],
        timezone="Europe/Berlin",
        duration_minutes=45,
        location="Room 4",
        meeting_url="https://meet.example.com/ada-grace",
        employee_objectives="Grow into a staff role",
    )


async def test_invitation_across_a_reschedule_over_the_dst_change(
    client: Client, auth: dict[str, str]
) -> None:
    conversation = await berlin_pair(client, auth)
    cid, url = conversation["id"], f"/v1/conversations/{conversation['id']}"
    await create_agenda_item(client, auth, conversation, topic="Next role", category="aspirations")

    # a draft without a start has no calendar entry
    none = await client.get(f"{url}/calendar.ics", headers=auth)
    assert none.status_code == 409
    assert none.json()["code"] == "no_scheduled_start"
    assert none.json()["current_status"] == "draft"

    # 10:00 in Berlin, winter time (CET, +01:00), before the change of 2030-03-31
    scheduled = await client.post(
        f"{url}/schedule", json={"scheduled_start": "2030-03-28T09:00:00Z"}, headers=auth
    )
    assert scheduled.status_code == 200, scheduled.text
    text, calendar = await ics(client, auth, cid)
    assert calendar["METHOD"] == "REQUEST"
    event = vevent(calendar)
    assert event["UID"] == f"{cid}@ccapi"
    assert event["SEQUENCE"] == 1  # the draft had no start: scheduling set it
    assert line(text, "DTSTART") == "DTSTART;TZID=Europe/Berlin:20300328T100000"
    assert line(text, "DTEND") == "DTEND;TZID=Europe/Berlin:20300328T104500"
    assert event.decoded("DTSTART") == datetime(2030, 3, 28, 10, 0, tzinfo=BERLIN)
    assert event["STATUS"] == "CONFIRMED"
    assert event["SUMMARY"] == "Career conversation: Ada Lovelace and Grace Hopper"
    assert event["DESCRIPTION"] == (
        "Employee objectives:\nGrow into a staff role\n\nAgenda:\n- Aspirations: Next role"
    )
    assert event["LOCATION"] == "Room 4"
    assert event["URL"] == "https://meet.example.com/ada-grace"
    assert event["ORGANIZER"] == "mailto:grace@example.com"
    assert event["ORGANIZER"].params["CN"] == "Grace Hopper"
    assert event["ATTENDEE"] == "mailto:ada@example.com"
    assert event["ATTENDEE"].params["CN"] == "Ada Lovelace"
    assert event["ATTENDEE"].params["ROLE"] == "REQ-PARTICIPANT"
    stamp = datetime.fromisoformat(scheduled.json()["updated_at"]).replace(microsecond=0)
    assert event.decoded("DTSTAMP") == stamp
    [zone] = calendar.walk("VTIMEZONE")
    assert zone["TZID"] == "Europe/Berlin"
    assert {str(c["TZNAME"]) for c in zone.walk("DAYLIGHT")} == {"CEST"}

    # the same state gives the same text, so the same ETag
    again = await client.get(f"{url}/calendar.ics", headers=auth)
    assert again.text == text

    # 10:00 in Berlin again a week later, now summer time (CEST, +02:00): SEQUENCE bumps
    moved = await client.post(
        f"{url}/reschedule", json={"scheduled_start": "2030-04-04T08:00:00Z"}, headers=auth
    )
    assert moved.status_code == 200, moved.text
    moved_text, calendar = await ics(client, auth, cid)
    event = vevent(calendar)
    assert event["UID"] == f"{cid}@ccapi"
    assert event["SEQUENCE"] == 2
    assert line(moved_text, "DTSTART") == "DTSTART;TZID=Europe/Berlin:20300404T100000"
    assert event.decoded("DTSTART").astimezone(UTC) == datetime(2030, 4, 4, 8, 0, tzinfo=UTC)
    assert (
        again.headers["etag"]
        != (await client.get(f"{url}/calendar.ics", headers=auth)).headers["etag"]
    )

    # a change of place bumps it; a change of the objectives does not
    await client.patch(url, json={"location": "Room 5"}, headers=auth)
    await client.patch(url, json={"facilitator_objectives": "Plan the move"}, headers=auth)
    _, calendar = await ics(client, auth, cid)
    event = vevent(calendar)
    assert (event["SEQUENCE"], event["LOCATION"]) == (3, "Room 5")
    assert "Facilitator objectives:\nPlan the move" in event["DESCRIPTION"]

    # cancel: METHOD:CANCEL, STATUS:CANCELLED, the same UID, SEQUENCE bumped
    canceled = await client.post(f"{url}/cancel", json={"reason": "Moved teams"}, headers=auth)
    assert canceled.status_code == 200, canceled.text
    canceled_text, calendar = await ics(client, auth, cid)
    assert calendar["METHOD"] == "CANCEL"
    event = vevent(calendar)
    assert (event["UID"], event["SEQUENCE"], event["STATUS"]) == (f"{cid}@ccapi", 4, "CANCELLED")

    # the events carry the same text as the platform's GET at that moment
    events = await events_of(client, auth, cid)
    by_type = {e["type"]: e for e in events}
    assert by_type["conversation.canceled"]["data"]["ics"] == canceled_text
    assert (
        vevent(icalendar.Calendar.from_ical(by_type["conversation.rescheduled"]["data"]["ics"]))[
            "SEQUENCE"
        ]
        == 2
    )
    scheduled_ics = by_type["conversation.scheduled"]["data"]["ics"]
    assert scheduled_ics == text
    # the rest of the data is the conversation exactly as the write answered it
    assert {k: v for k, v in by_type["conversation.scheduled"]["data"].items() if k != "ics"} == (
        scheduled.json()
    )
    # only those three carry the invitation
    assert {e["type"] for e in events if "ics" in e["data"]} == {
        "conversation.scheduled",
        "conversation.rescheduled",
        "conversation.canceled",
    }
    assert {e["type"] for e in events if "ics" not in e["data"]} == {
        "conversation.created",
        "conversation.updated",
    }


async def test_a_meeting_across_the_dst_change_lasts_its_duration(
    client: Client, auth: dict[str, str]
) -> None:
    conversation = await berlin_pair(client, auth)
    cid, url = conversation["id"], f"/v1/conversations/{conversation['id']}"
    # 01:30 CET on 2030-03-31; an hour later the clocks jump from 02:00 to 03:00
    scheduled = await client.post(
        f"{url}/schedule",
        json={"scheduled_start": "2030-03-31T00:30:00Z", "duration_minutes": 60},
        headers=auth,
    )
    assert scheduled.status_code == 200, scheduled.text
    text, calendar = await ics(client, auth, cid)
    assert line(text, "DTSTART") == "DTSTART;TZID=Europe/Berlin:20300331T013000"
    assert line(text, "DTEND") == "DTEND;TZID=Europe/Berlin:20300331T033000"
    event = vevent(calendar)
    start, end = (event.decoded(name).astimezone(UTC) for name in ("DTSTART", "DTEND"))
    assert (start, end - start) == (datetime(2030, 3, 31, 0, 30, tzinfo=UTC), timedelta(hours=1))
    assert event["SEQUENCE"] == 1


async def test_as_a_person(client: Client, auth: dict[str, str]) -> None:
    team = await create_team(client, auth)
    conversation = await create_conversation(
        client,
        auth,
        employee_id=team.ids["ada"],
        facilitator_id=team.ids["grace"],
        scheduled_start="2030-06-03T09:00:00Z",
        timezone="UTC",
    )
    cid, url = conversation["id"], f"/v1/conversations/{conversation['id']}"
    await create_agenda_item(client, auth, conversation, topic="Shared topic")
    sealed = await client.post(
        f"{url}/agenda-items",
        json={"author_id": team.ids["grace"], "topic": "Grace's sealed", "visibility": "sealed"},
        headers=team.as_("grace"),
    )
    assert sealed.status_code == 201, sealed.text
    await client.post(
        f"{url}/notes",
        json={"author_id": team.ids["ada"], "body": "Private thought", "visibility": "private"},
        headers=team.as_("ada"),
    )
    scheduled = await client.post(f"{url}/schedule", json={}, headers=auth)
    assert scheduled.status_code == 200, scheduled.text

    # the colleague does not see the conversation: 404, like a missing one
    hidden = await client.get(f"{url}/calendar.ics", headers=team.as_("colleague"))
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "not_found"

    def agenda(text: str) -> str:
        return str(vevent(icalendar.Calendar.from_ical(text))["DESCRIPTION"])

    as_ada, _ = await ics(client, team.as_("ada"), cid)
    as_grace, _ = await ics(client, team.as_("grace"), cid)
    as_skip, _ = await ics(client, team.as_("skip"), cid)
    platform, _ = await ics(client, auth, cid)
    assert agenda(as_ada) == "Agenda:\n- Other: Shared topic"
    assert agenda(as_skip) == agenda(platform) == agenda(as_ada)
    assert agenda(as_grace) == "Agenda:\n- Other: Shared topic\n- Other: Grace's sealed"
    for text in (as_ada, as_skip, platform):
        assert "sealed" not in text and "Private thought" not in text
    assert "Private thought" not in as_grace
    # no emails known: no ORGANIZER or ATTENDEE; UTC is written as UTC times, no zone
    for text in (as_ada, as_grace, platform):
        assert "ORGANIZER" not in text and "ATTENDEE" not in text
        assert line(text, "DTSTART") == "DTSTART:20300603T090000Z"
        assert "VTIMEZONE" not in text
    # the event carries the platform's view: the sealed item is absent
    [event] = [e for e in await events_of(client, auth, cid) if e["type"].endswith(".scheduled")]
    assert event["data"]["ics"] == platform
    assert "sealed" not in event["data"]["ics"]


async def test_another_tenants_conversation_is_404(
    client: Client, auth: dict[str, str], other_tenant: Any
) -> None:
    conversation = await create_conversation(client, auth, scheduled_start="2030-06-03T09:00:00Z")
    response = await client.get(
        f"/v1/conversations/{conversation['id']}/calendar.ics", headers=other_tenant.headers
    )
    assert response.status_code == 404
    # a draft with a start already has a (tentative) entry
    text, calendar = await ics(client, auth, conversation["id"])
    event = vevent(calendar)
    assert (event["STATUS"], event["SEQUENCE"], calendar["METHOD"]) == ("TENTATIVE", 0, "REQUEST")
    assert line(text, "DTSTART") == "DTSTART:20300603T090000Z"


async def test_a_draft_canceled_without_a_start(client: Client, auth: dict[str, str]) -> None:
    conversation = await create_conversation(client, auth)
    url = f"/v1/conversations/{conversation['id']}"
    canceled = await client.post(f"{url}/cancel", json={"reason": "Not needed"}, headers=auth)
    assert canceled.status_code == 200, canceled.text
    [event] = [
        e for e in await events_of(client, auth, conversation["id"]) if e["type"].endswith("led")
    ]
    assert event["data"] == {**canceled.json(), "ics": None}
    none = await client.get(f"{url}/calendar.ics", headers=auth)
    assert (none.status_code, none.json()["code"]) == (409, "no_scheduled_start")


async def test_awkward_names_and_text_round_trip(client: Client, auth: dict[str, str]) -> None:
    grace = await create_person(
        client, auth, name='Grace "G" Hopper, PhD; Dept:R&D', email="grace@example.com"
    )
    conversation = await create_conversation(
        client,
        auth,
        facilitator_id=grace["id"],
        scheduled_start="2030-06-03T09:00:00Z",
        timezone="America/New_York",
        location="Room 4; floor 2, east",
        employee_objectives="Line one\nLine two, with commas; and semicolons",
    )
    _, calendar = await ics(client, auth, conversation["id"])
    event = vevent(calendar)
    assert event["ORGANIZER"].params["CN"] == grace["name"]  # RFC 6868 quoting
    assert event["LOCATION"] == "Room 4; floor 2, east"
    assert event["DESCRIPTION"] == (
        "Employee objectives:\nLine one\nLine two, with commas; and semicolons"
    )
    assert event.decoded("DTSTART") == datetime(
        2030, 6, 3, 5, 0, tzinfo=ZoneInfo("America/New_York")
    )


async def test_one_statement_whatever_the_agenda(
    client: Client, auth: dict[str, str], engine: AsyncEngine, connection: AsyncConnection
) -> None:
    conversation = await berlin_pair(client, auth)
    url = f"/v1/conversations/{conversation['id']}/calendar.ics"
    await client.post(
        f"/v1/conversations/{conversation['id']}/schedule",
        json={"scheduled_start": "2030-03-28T09:00:00Z"},
        headers=auth,
    )
    await client.get(url, headers=auth)  # warm up: row types introspected once per connection
    counts = []
    for size in (1, 25):
        while len(await agenda_of(client, auth, conversation["id"])) < size:
            await create_agenda_item(client, auth, conversation, topic="Topic")
        async with count_statements(engine, connection) as statements:
            _, calendar = await ics(client, auth, conversation["id"])
        assert str(vevent(calendar)["DESCRIPTION"]).count("- Other: Topic") == size
        counts.append(len(statements))
    assert counts == [1, 1]


async def agenda_of(client: Client, auth: dict[str, str], cid: str) -> list[Any]:
    response = await client.get(f"/v1/conversations/{cid}", headers=auth)
    items: list[Any] = response.json()["agenda_items"]
    return items
