"""Series after creation: PATCH regenerates the occurrences that have not started, one
occurrence moves alone, undiscussed items and open action items carry forward, and the
series' iCalendar gives exactly the occurrences the scheduler created (checked with
``recurring-ical-events``, across a DST change, with a moved and a canceled occurrence)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import recurring_ical_events
from icalendar import Calendar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.background import scheduler
from app.services.agenda_templates import CAREER_TEMPLATE_ID, builtin_items
from app.services.calendars import ics_rule
from tests.factories_goals import create_item, create_plan
from tests.test_series import NOW, create

BERLIN = ZoneInfo("Europe/Berlin")


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(instant: str) -> datetime:
    return datetime.fromisoformat(instant.replace("Z", "+00:00"))


async def conversations_of(
    client: httpx.AsyncClient, headers: dict[str, str], series: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/conversations",
        params={"employee_id": series["employee_id"], "limit": 100},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    found = [c for c in response.json()["data"] if c["series_id"] == series["id"]]
    return sorted(found, key=lambda c: (c["scheduled_start"], c["id"]))


async def post(client: httpx.AsyncClient, url: str, headers: dict[str, str], **body: Any) -> Any:
    response = await client.post(url, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def ics(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Calendar:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.text)


def soon() -> datetime:
    """10:00 Berlin, two days from today (real time: a PATCH regenerates from now)."""
    day = datetime.now(BERLIN).date() + timedelta(days=2)
    return datetime.combine(day, time(10, 0), BERLIN)


async def test_patch_regenerates_what_has_not_started(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first = soon()
    series = await create(
        client, auth, rrule="FREQ=WEEKLY", start=first.replace(tzinfo=None).isoformat()
    )
    await scheduler.run_once(sessionmaker)
    made = await conversations_of(client, auth, series)
    weekly = [first + timedelta(days=7 * n) for n in range(5)]
    assert [c["scheduled_start"] for c in made] == [iso(w) for w in weekly]
    done, moved = made[0], made[1]
    await post(client, f"/v1/conversations/{done['id']}/complete", auth)
    moved_to = iso(weekly[1] + timedelta(hours=4))
    await post(
        client, f"/v1/conversations/{moved['id']}/reschedule", auth, scheduled_start=moved_to
    )

    # One occurrence moves alone, and the scheduler does not bring it back.
    await scheduler.run_once(sessionmaker)
    after_move = await conversations_of(client, auth, series)
    assert [(c["scheduled_start"], c["status"]) for c in after_move] == [
        (iso(weekly[0]), "completed"),
        (moved_to, "scheduled"),
        *[(iso(w), "scheduled") for w in weekly[2:]],
    ]
    assert after_move[1]["occurrence_start"] == iso(weekly[1])

    # A new duration: the same occurrences, those not moved by hand take it.
    current = await client.get(f"/v1/conversation-series/{series['id']}", headers=auth)
    longer = await client.patch(
        f"/v1/conversation-series/{series['id']}",
        json={"duration_minutes": 60},
        headers={**auth, "If-Match": current.headers["ETag"]},
    )
    assert longer.status_code == 200, longer.text
    assert longer.json()["duration_minutes"] == 60
    kept = await conversations_of(client, auth, series)
    assert [(c["id"], c["duration_minutes"]) for c in kept] == [
        (made[0]["id"], 45),
        (made[1]["id"], 45),
        *[(c["id"], 60) for c in made[2:]],
    ]
    stale = await client.patch(
        f"/v1/conversation-series/{series['id']}",
        json={"duration_minutes": 30},
        headers={**auth, "If-Match": current.headers["ETag"]},
    )
    assert (stale.status_code, stale.json()["code"]) == (412, "precondition_failed")

    # A new time of day: every occurrence ahead is canceled and the new rule's are created.
    later = first.replace(hour=11)
    retimed = await client.patch(
        f"/v1/conversation-series/{series['id']}",
        json={"start": later.replace(tzinfo=None).isoformat()},
        headers=auth,
    )
    assert retimed.status_code == 200, retimed.text
    now_all = await conversations_of(client, auth, series)
    canceled = [c for c in now_all if c["status"] == "canceled"]
    assert sorted(c["id"] for c in canceled) == sorted(c["id"] for c in made[1:])
    assert {(c["cancel_reason"], c["occurrence_start"]) for c in canceled} == {
        ("The series' schedule changed.", None)
    }
    live = [c for c in now_all if c["status"] == "scheduled"]
    assert [(c["scheduled_start"], c["duration_minutes"]) for c in live] == [
        (iso(later + timedelta(days=7 * n)), 60) for n in range(5)
    ]
    untouched = await client.get(f"/v1/conversations/{done['id']}", headers=auth)
    assert (untouched.json()["status"], untouched.json()["scheduled_start"]) == (
        "completed",
        iso(weekly[0]),
    )
    types = await client.get(
        "/v1/events",
        params={"type": ["conversation_series.updated", "conversation.canceled"], "limit": 100},
        headers=auth,
    )
    got = sorted(e["type"] for e in types.json()["data"])
    assert got == ["conversation.canceled"] * 4 + ["conversation_series.updated"] * 2
    cancels = [e for e in types.json()["data"] if e["type"] == "conversation.canceled"]
    assert all("METHOD:CANCEL" in e["data"]["ics"] for e in cancels)
    assert all(f"UID:{series['id']}@ccapi" in e["data"]["ics"] for e in cancels)

    # Ended: no more changes.
    await post(client, f"/v1/conversation-series/{series['id']}/end", auth)
    refused = await client.patch(
        f"/v1/conversation-series/{series['id']}", json={"duration_minutes": 30}, headers=auth
    )
    assert (refused.status_code, refused.json()["current_status"]) == (409, "ended")


async def test_patch_validates_and_unchanged_writes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    series = await create(client, auth)
    url = f"/v1/conversation-series/{series['id']}"
    for body, pointer in (
        ({"rrule": "FREQ=SOMETIMES"}, "/body/rrule"),
        ({"start": "2030-02-30T10:00:00"}, "/body/start"),
        ({"timezone": "Mars/Olympus"}, "/body/timezone"),
        ({"duration_minutes": None}, "/body/duration_minutes"),
        (
            {"agenda_template_id": "00000000-0000-7000-8000-00000000ffff"},
            "/body/agenda_template_id",
        ),
        ({"employee_id": series["facilitator_id"]}, "/body/employee_id"),
    ):
        response = await client.patch(url, json=body, headers=auth)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["pointer"] == pointer, body
    same = await client.patch(url, json={"duration_minutes": 45}, headers=auth)
    assert same.json() == series
    events = await client.get(
        "/v1/events", params={"type": "conversation_series.updated"}, headers=auth
    )
    assert events.json()["data"] == []


async def test_carry_forward_and_open_action_items(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    series = await create(client, auth, agenda_template_id=str(CAREER_TEMPLATE_ID))
    assert series["agenda_template_id"] == str(CAREER_TEMPLATE_ID)
    await scheduler.run_once(sessionmaker, now=NOW)
    first, second, *_ = await conversations_of(client, auth, series)
    template_topics = [i["title"] for i in builtin_items(CAREER_TEMPLATE_ID) or []]
    assert [a["topic"] for a in first["agenda_items"]] == template_topics
    assert {a["author_id"] for a in first["agenda_items"]} == {series["facilitator_id"]}
    url = f"/v1/conversations/{first['id']}/agenda-items"
    open_item = await post(
        client, url, auth, author_id=series["employee_id"], topic="Conference budget"
    )
    talked = await post(client, url, auth, author_id=series["employee_id"], topic="Mentoring")
    patched = await client.patch(f"{url}/{talked['id']}", json={"discussed": True}, headers=auth)
    assert patched.status_code == 200, patched.text
    plan = await create_plan(client, auth, series["employee_id"], conversation_id=first["id"])
    todo = await create_item(client, auth, plan["id"], series["employee_id"], title="Apply")
    done = await create_item(client, auth, plan["id"], series["facilitator_id"], title="Ask")
    finished = await client.patch(
        f"/v1/action-plans/{plan['id']}/items/{done['id']}", json={"status": "done"}, headers=auth
    )
    assert finished.status_code == 200, finished.text

    await post(client, f"/v1/conversations/{first['id']}/complete", auth)
    after = (await client.get(f"/v1/conversations/{second['id']}", headers=auth)).json()
    carried = [a for a in after["agenda_items"] if a["carried_from_id"] is not None]
    assert [(a["topic"], a["carried_from_id"], a["author_id"]) for a in carried] == [
        ("Conference budget", open_item["id"], series["employee_id"])
    ]
    # Template items are not carried (each occurrence has its own).
    assert [a["topic"] for a in after["agenda_items"]] == [*template_topics, "Conference budget"]
    assert [a["position"] for a in after["agenda_items"]] == list(range(len(template_topics) + 1))
    assert [i["id"] for i in after["open_action_items"]] == [todo["id"]]
    assert after["open_action_items"][0]["title"] == "Apply"
    as_employee = await client.get(
        f"/v1/conversations/{second['id']}",
        headers={**auth, "Acting-Person": series["employee_id"]},
    )
    assert [i["id"] for i in as_employee.json()["open_action_items"]] == [todo["id"]]
    # Once carried, never again: completing the next one carries the copy on (not both).
    await post(client, f"/v1/conversations/{second['id']}/complete", auth)
    third = (await conversations_of(client, auth, series))[2]
    again = [a for a in third["agenda_items"] if a["carried_from_id"] is not None]
    assert [(a["topic"], a["carried_from_id"]) for a in again] == [
        ("Conference budget", carried[0]["id"])
    ]
    events = await client.get(
        "/v1/events", params={"type": "agenda_item.created", "limit": 100}, headers=auth
    )
    ids = {e["subject_id"] for e in events.json()["data"]}
    assert {carried[0]["id"], again[0]["id"]} <= ids


async def test_carry_waits_for_the_next_occurrence(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """No occurrence ahead yet: the items go to the next one the scheduler creates."""
    patched = await client.patch(
        "/v1/tenant", json={"settings": {"series_horizon_days": 3}}, headers=auth
    )
    assert patched.status_code == 200
    series = await create(client, auth)
    await scheduler.run_once(sessionmaker, now=NOW)
    (only,) = await conversations_of(client, auth, series)
    item = await post(
        client,
        f"/v1/conversations/{only['id']}/agenda-items",
        auth,
        author_id=series["facilitator_id"],
        topic="Promotion case",
    )
    await post(client, f"/v1/conversations/{only['id']}/cancel", auth, reason="Sick")
    await scheduler.run_once(sessionmaker, now=NOW + timedelta(days=7))
    _, nxt = await conversations_of(client, auth, series)
    assert [(a["topic"], a["carried_from_id"]) for a in nxt["agenda_items"]] == [
        ("Promotion case", item["id"])
    ]


def computed(calendar: Calendar, start: datetime, end: datetime) -> list[tuple[str, str]]:
    return sorted(
        (iso(e.start), iso(e.end)) for e in recurring_ical_events.of(calendar).between(start, end)
    )


def live(conversations: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted(
        (c["scheduled_start"], c["scheduled_end"])
        for c in conversations
        if c["status"] != "canceled"
    )


async def test_series_calendar_equals_the_created_occurrences(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Tuesdays 10:00 Berlin across the switch to CEST (31 March 2030), one occurrence
    moved and one canceled: recurring-ical-events computes exactly the live ones."""
    series = await create(client, auth)
    await scheduler.run_once(sessionmaker, now=NOW)
    made = await conversations_of(client, auth, series)
    moved, dropped = made[1], made[3]
    await post(
        client,
        f"/v1/conversations/{moved['id']}/reschedule",
        auth,
        scheduled_start="2030-03-20T15:00:00Z",
        duration_minutes=30,
    )
    await post(client, f"/v1/conversations/{dropped['id']}/cancel", auth, reason="Holiday")
    url = f"/v1/conversation-series/{series['id']}/calendar.ics"
    calendar = await ics(client, url, auth)
    everything = await conversations_of(client, auth, series)
    window = (datetime(2030, 3, 1, tzinfo=UTC), datetime(2030, 4, 10, tzinfo=UTC))
    assert computed(calendar, *window) == live(everything)
    assert computed(calendar, *window) == [
        ("2030-03-12T09:00:00Z", "2030-03-12T09:45:00Z"),
        ("2030-03-20T15:00:00Z", "2030-03-20T15:30:00Z"),
        ("2030-03-26T09:00:00Z", "2030-03-26T09:45:00Z"),
        ("2030-04-09T08:00:00Z", "2030-04-09T08:45:00Z"),  # CEST: 10:00 local
    ]
    (master,) = [e for e in calendar.walk("VEVENT") if "RRULE" in e]
    assert master["UID"] == f"{series['id']}@ccapi"
    assert master["RRULE"].to_ical() == b"FREQ=WEEKLY;BYDAY=TU"
    assert [d.dt for d in master["EXDATE"].dts] == [datetime(2030, 4, 2, 10, tzinfo=BERLIN)]
    (override,) = [e for e in calendar.walk("VEVENT") if "RECURRENCE-ID" in e]
    assert override["RECURRENCE-ID"].dt == datetime(2030, 3, 19, 10, tzinfo=BERLIN)
    assert override["SEQUENCE"] == 2
    # Each occurrence's own invitation is an instance of the series' event.
    single = await ics(client, f"/v1/conversations/{moved['id']}/calendar.ics", auth)
    (event,) = single.walk("VEVENT")
    assert (event["UID"], event["RECURRENCE-ID"].dt) == (
        master["UID"],
        override["RECURRENCE-ID"].dt,
    )
    # An active series goes on beyond its horizon; paused, it stops at its last occurrence.
    later = (datetime(2030, 4, 10, tzinfo=UTC), datetime(2030, 4, 30, tzinfo=UTC))
    assert len(computed(calendar, *later)) == 2  # 16 and 23 April
    await post(client, f"/v1/conversation-series/{series['id']}/pause", auth)
    paused = await ics(client, url, auth)
    assert computed(paused, window[0], later[1]) == live(everything)
    assert paused.walk("VEVENT")[0]["SEQUENCE"] == 1


async def test_the_story_of_a_series(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Series → three occurrences → an undiscussed item carries forward → a reschedule
    bumps SEQUENCE → a cancel yields METHOD:CANCEL."""
    await client.patch("/v1/tenant", json={"settings": {"series_horizon_days": 17}}, headers=auth)
    series = await create(client, auth)
    await scheduler.run_once(sessionmaker, now=NOW)
    one, two, three = await conversations_of(client, auth, series)
    assert [c["scheduled_start"] for c in (one, two, three)] == [
        "2030-03-12T09:00:00Z",
        "2030-03-19T09:00:00Z",
        "2030-03-26T09:00:00Z",
    ]
    item = await post(
        client,
        f"/v1/conversations/{one['id']}/agenda-items",
        auth,
        author_id=series["employee_id"],
        topic="Move to the platform team?",
        category="aspirations",
    )
    await post(client, f"/v1/conversations/{one['id']}/complete", auth, summary="Good talk")
    two_now = (await client.get(f"/v1/conversations/{two['id']}", headers=auth)).json()
    assert [(a["topic"], a["carried_from_id"]) for a in two_now["agenda_items"]] == [
        ("Move to the platform team?", item["id"])
    ]
    before = await ics(client, f"/v1/conversations/{two['id']}/calendar.ics", auth)
    assert before.walk("VEVENT")[0]["SEQUENCE"] == 1
    await post(
        client,
        f"/v1/conversations/{two['id']}/reschedule",
        auth,
        scheduled_start="2030-03-21T09:00:00Z",
    )
    after = await ics(client, f"/v1/conversations/{two['id']}/calendar.ics", auth)
    assert after.walk("VEVENT")[0]["SEQUENCE"] == 2
    assert "Move to the platform team?" in str(after.walk("VEVENT")[0]["DESCRIPTION"])
    await post(client, f"/v1/conversations/{three['id']}/cancel", auth, reason="Offsite")
    canceled = await ics(client, f"/v1/conversations/{three['id']}/calendar.ics", auth)
    assert canceled["METHOD"] == "CANCEL"
    assert canceled.walk("VEVENT")[0]["STATUS"] == "CANCELLED"
    whole = await ics(client, f"/v1/conversation-series/{series['id']}/calendar.ics", auth)
    (master,) = [e for e in whole.walk("VEVENT") if "RRULE" in e]
    assert [d.dt for d in master["EXDATE"].dts] == [datetime(2030, 3, 26, 10, tzinfo=BERLIN)]
    window = (datetime(2030, 3, 1, tzinfo=UTC), datetime(2030, 3, 30, tzinfo=UTC))
    assert computed(whole, *window) == live(await conversations_of(client, auth, series))


def test_a_local_until_becomes_utc() -> None:
    rule = ics_rule("FREQ=WEEKLY;UNTIL=20300401T100000", BERLIN, None)
    assert rule.to_ical() == b"FREQ=WEEKLY;UNTIL=20300401T080000Z"
    cut = ics_rule("FREQ=DAILY;COUNT=9", BERLIN, datetime(2030, 3, 12, 9, tzinfo=UTC))
    assert cut.to_ical() == b"FREQ=DAILY;UNTIL=20300312T090000Z"


async def test_calendars_answer_304_while_unchanged(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    series = await create(client, auth)
    await scheduler.run_once(sessionmaker, now=NOW)
    (first, *_) = await conversations_of(client, auth, series)
    feed = await post(client, f"/v1/people/{series['employee_id']}/calendar-feed", auth)
    urls = [
        (f"/v1/conversation-series/{series['id']}/calendar.ics", auth),
        (f"/v1/conversations/{first['id']}/calendar.ics", auth),
        (feed["url"].split("/v1/", 1)[1].join(["/v1/", ""]), {}),
    ]
    tags = []
    for url, headers in urls:
        fresh = await client.get(url, headers=headers)
        assert fresh.status_code == 200, fresh.text
        tag = fresh.headers["ETag"]
        tags.append(tag)
        for held in (tag, f'W/{tag}, "other"', "*"):
            same = await client.get(url, headers={**headers, "If-None-Match": held})
            assert (same.status_code, same.content, same.headers["ETag"]) == (304, b"", tag)
        other = await client.get(url, headers={**headers, "If-None-Match": '"other"'})
        assert other.status_code == 200
    await post(
        client,
        f"/v1/conversations/{first['id']}/reschedule",
        auth,
        scheduled_start="2030-03-12T12:00:00Z",
    )
    for (url, headers), tag in zip(urls[:2], tags[:2], strict=True):
        changed = await client.get(url, headers={**headers, "If-None-Match": tag})
        assert changed.status_code == 200, url
        assert changed.headers["ETag"] != tag
    # The feed (30 days back to 180 ahead of now) holds nothing of 2030: still current.
    (url, headers), tag = urls[2], tags[2]
    assert (await client.get(url, headers={"If-None-Match": tag})).status_code == 304


async def test_two_concurrent_carries_copy_an_item_once(
    committed_client: httpx.AsyncClient,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The scheduler and a request carrying the same series' items at once: the unique
    ``carried_from_id`` lets one copy through, the other skips it."""
    import asyncio

    from sqlalchemy import text

    from app.services import series_agenda
    from tests.conftest import make_tenant

    tenant = await make_tenant(committed_app_sessionmaker)
    series = await create(committed_client, tenant.headers)
    await scheduler.run_once(committed_app_sessionmaker, now=NOW)
    first, *_ = await conversations_of(committed_client, tenant.headers, series)
    item = await post(
        committed_client,
        f"/v1/conversations/{first['id']}/agenda-items",
        tenant.headers,
        author_id=series["employee_id"],
        topic="Once only",
    )
    async with committed_app_sessionmaker() as session:  # canceled without carrying yet
        await session.execute(
            text("UPDATE conversations SET status = 'canceled' WHERE id = :id"),
            {"id": first["id"]},
        )
        await session.commit()

    async def carry() -> int:
        async with committed_app_sessionmaker() as session:
            moved = await series_agenda.carry_forward(
                session, None, tenant.tenant_id, series["id"], NOW
            )
            await asyncio.sleep(0.2)  # hold the transaction open a moment
            await session.commit()
            return moved

    assert sorted(await asyncio.gather(carry(), carry())) == [0, 1]
    async with committed_app_sessionmaker() as session:
        copies = (
            await session.scalars(
                text("SELECT id FROM agenda_items WHERE carried_from_id = :id"), {"id": item["id"]}
            )
        ).all()
    assert len(copies) == 1


async def test_a_past_slot_moved_ahead_survives_a_patch(
    client: httpx.AsyncClient, auth: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """An occurrence whose rule slot has passed but which was moved into the future is
    still the rule's: a new duration keeps it (it was moved by hand, so keeps its own)."""
    slot = soon() - timedelta(days=4)  # two days ago
    series = await create(
        client, auth, rrule="FREQ=WEEKLY", start=slot.replace(tzinfo=None).isoformat()
    )
    await scheduler.run_once(sessionmaker, now=slot.astimezone(UTC) - timedelta(hours=1))
    past, *_ = await conversations_of(client, auth, series)
    assert past["scheduled_start"] == iso(slot)
    ahead = iso(soon() + timedelta(days=1))
    await post(client, f"/v1/conversations/{past['id']}/reschedule", auth, scheduled_start=ahead)
    patched = await client.patch(
        f"/v1/conversation-series/{series['id']}", json={"duration_minutes": 60}, headers=auth
    )
    assert patched.status_code == 200, patched.text
    kept = (await client.get(f"/v1/conversations/{past['id']}", headers=auth)).json()
    assert (kept["status"], kept["scheduled_start"], kept["duration_minutes"]) == (
        "scheduled",
        ahead,
        45,
    )
