"""A conversation as an iCalendar invitation (RFC 5545, built with the ``icalendar`` library).

One VEVENT per conversation: its ``UID`` (``<id>@ccapi``) never changes and its
``SEQUENCE`` is the conversation's ``calendar_sequence``, which the conversation services
bump on every change of start, duration, time zone, location or meeting URL and on the
cancellation, so a calendar that imported an earlier version takes the new one as an
update. ``DTSTART``/``DTEND`` are local times of the conversation's zone (``TZID``) with a
matching VTIMEZONE (a conversation in UTC: UTC times, no zone). ``DTSTAMP`` is the
conversation's ``updated_at``, so the same state always gives the same text (and ETag).
``METHOD:REQUEST`` (``STATUS:TENTATIVE`` for a draft with a start, ``CONFIRMED`` once
scheduled) until it is canceled, then ``METHOD:CANCEL`` with ``STATUS:CANCELLED``.
ORGANIZER (the facilitator) and ATTENDEE (the employee) appear when their email is known.

The DESCRIPTION holds the objectives and the agenda's topics as the viewer sees them (a
person: shared items and their own sealed ones; the platform and events: shared only);
never notes. GET reads it with one statement (``READER``); the events
``conversation.scheduled``, ``.rescheduled`` and ``.canceled`` carry the platform's text.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from icalendar import Calendar, Event, Timezone, vCalAddress, vRecur
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import Conflict
from app.core.rows import Record, Shape
from app.models.conversation import Conversation
from app.models.conversation_series import ConversationSeries
from app.schemas.rrules import expand
from app.services import visibility
from app.services.common import Reader

# The events whose data carries the invitation as ``ics``.
CALENDAR_EVENTS = frozenset(
    {"conversation.scheduled", "conversation.rescheduled", "conversation.canceled"}
)
MEDIA_TYPE = "text/calendar; charset=utf-8"
PRODID = "-//Career Conversations API//ccapi//EN"
UID_DOMAIN = "ccapi"

_KIND_TITLES = {
    "career": "Career conversation",
    "mentorship": "Mentorship conversation",
    "skip_level": "Skip-level conversation",
    "stay": "Stay conversation",
}
_CATEGORY_TITLES = {
    "aspirations": "Aspirations",
    "strengths": "Strengths",
    "growth_areas": "Growth areas",
    "opportunities": "Opportunities",
    "feedback": "Feedback",
    "other": "Other",
}
_STATUSES = {
    "draft": "TENTATIVE",
    "scheduled": "CONFIRMED",
    "completed": "CONFIRMED",
    "canceled": "CANCELLED",
}


class NotOnCalendar(Conflict):
    """The conversation has no start yet: a draft without ``scheduled_start``."""

    code, title = "no_scheduled_start", "No scheduled start"

    def __init__(self, current: str) -> None:
        super().__init__(
            "This conversation has no scheduled_start yet, so it has no calendar entry; "
            "schedule it (or give the draft a start) first.",
            extra={"current_status": current},
        )


class _Subject(BaseModel):
    id: uuid.UUID


# The conversation with the agenda items the viewer sees and both parties, in one
# statement (``{viewer}``: the acting person, NULL for the platform).
READER = Reader(
    Conversation,
    Shape(_Subject),  # unused: the row becomes text (``render``), not JSON
    # B608: constants of ours; {viewer} becomes a bind parameter
    extra=f", {visibility.seen_agenda('t.id', '{viewer}')} AS agenda, "  # nosec B608
    "ARRAY(SELECT p FROM people p WHERE p.id IN (t.employee_id, t.facilitator_id)) AS parties",
    visible=visibility.CONVERSATIONS,
)


@lru_cache(maxsize=256)
def _vtimezone(tzid: str, year: int) -> Timezone:
    """The zone's rules from the year before ``year`` to two years after (enough for any
    event starting in ``year``); built once per zone and year."""
    return Timezone.from_tzinfo(
        ZoneInfo(tzid), tzid=tzid, first_date=date(year - 1, 1, 1), last_date=date(year + 2, 1, 1)
    )


def _address(person: Record | None, **params: str) -> vCalAddress | None:
    if person is None or not person["email"]:
        return None
    address = vCalAddress(f"mailto:{person['email']}")
    address.params["CN"] = person["name"]
    for name, value in params.items():
        address.params[name.replace("_", "-").upper()] = value
    return address


def _description(row: Record, agenda: Iterable[Record]) -> str:
    parts = []
    if row["employee_objectives"]:
        parts.append(f"Employee objectives:\n{row['employee_objectives']}")
    if row["facilitator_objectives"]:
        parts.append(f"Facilitator objectives:\n{row['facilitator_objectives']}")
    lines = [f"- {_CATEGORY_TITLES.get(a['category'], 'Other')}: {a['topic']}" for a in agenda]
    if lines:
        parts.append("Agenda:\n" + "\n".join(lines))
    return "\n\n".join(parts)


def _add_parties(event: Event, row: Record) -> None:
    """SUMMARY (the kind and both parties' names), ORGANIZER (the facilitator) and ATTENDEE
    (the employee), each party only when known (an address only with an email): for a
    conversation's row and a series' alike (``kind``, ``employee_id``, ``facilitator_id``
    and ``parties``)."""
    parties: dict[Any, Record] = {p["id"]: p for p in row["parties"] or ()}
    employee, facilitator = parties.get(row["employee_id"]), parties.get(row["facilitator_id"])
    title = _KIND_TITLES.get(row["kind"], "Conversation")
    names = " and ".join(p["name"] for p in (employee, facilitator) if p is not None)
    event.add("summary", f"{title}: {names}" if names else title)
    organizer = _address(facilitator)
    if organizer is not None:
        event.add("organizer", organizer)
    attendee = _address(
        employee, role="REQ-PARTICIPANT", partstat="NEEDS-ACTION", rsvp="TRUE", cutype="INDIVIDUAL"
    )
    if attendee is not None:
        event.add("attendee", attendee)


def vevent(row: Record, *, standalone: bool = False) -> tuple[Event, Timezone | None]:
    """The VEVENT of a conversation row (the columns of ``conversations`` with ``agenda``
    and ``parties`` as ``READER`` reads them), and the VTIMEZONE its times need (None for
    UTC). The single invitation and the calendar feeds (``calendar_feeds``) both use it, so
    a conversation's SEQUENCE and times are the same in either. A series' occurrence is,
    in an invitation, an instance of the series' event (its ``UID`` and a
    ``RECURRENCE-ID``, the occurrence's start by the rule); ``standalone`` (a feed, which
    holds no series' event) gives it its own ``UID`` like any conversation."""
    start: datetime | None = row["scheduled_start"]
    if start is None:
        raise NotOnCalendar(row["status"])
    zone = ZoneInfo(row["timezone"])
    tzid: str = row["timezone"]
    local_start = start.astimezone(zone)
    local_end = (start + timedelta(minutes=row["duration_minutes"])).astimezone(zone)
    event = Event()
    occurrence: datetime | None = row["occurrence_start"]
    if occurrence is not None and not standalone:
        event.add("uid", f"{row['series_id']}@{UID_DOMAIN}")
        event.add("recurrence-id", occurrence.astimezone(zone))
    else:
        event.add("uid", f"{row['id']}@{UID_DOMAIN}")
    event.add("sequence", row["calendar_sequence"])
    event.add("dtstamp", row["updated_at"])
    event.add("dtstart", local_start)
    event.add("dtend", local_end)
    _add_parties(event, row)
    description = _description(row, row["agenda"] or ())
    if description:
        event.add("description", description)
    if row["location"]:
        event.add("location", row["location"])
    if row["meeting_url"]:
        event.add("url", row["meeting_url"])
    event.add("status", _STATUSES[row["status"]])
    zone_component = None
    if "TZID" in event["DTSTART"].params:  # UTC is written as UTC times (…Z), no zone
        zone_component = _vtimezone(tzid, local_start.year)
    return event, zone_component


def new_calendar(method: str | None) -> Calendar:
    """An empty VCALENDAR of this API (``method``: an invitation's; a feed has none)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method is not None:
        calendar.add("method", method)
    return calendar


def render(row: Record) -> bytes:
    """The ICS text of a conversation row read by ``READER``."""
    event, zone_component = vevent(row)
    calendar = new_calendar("CANCEL" if row["status"] == "canceled" else "REQUEST")
    if zone_component is not None:
        calendar.add_component(zone_component)
    calendar.add_component(event)
    text: bytes = calendar.to_ical()
    return text


def etag(text: bytes) -> str:
    """A strong validator of the text itself (each viewer's agenda may differ)."""
    return '"' + hashlib.sha256(text).hexdigest()[:32] + '"'


async def get(db: RequestDb, principal: Principal, conversation_id: uuid.UUID) -> bytes:
    """The conversation's invitation as the acting person sees it: one statement (404 if
    missing, another tenant's or invisible; 409 without a start)."""
    row: asyncpg.Record = await READER.one(db, principal, conversation_id)
    return render(row)


async def event_text(session: AsyncSession, conversation_id: uuid.UUID) -> str:
    """The invitation as the platform sees it (shared agenda only), after the session's
    changes: what events carry as ``data.ics``."""
    return render(await READER.row(session, conversation_id)).decode()


# A series ------------------------------------------------------------------------------

_PARTIES = "ARRAY(SELECT p FROM people p WHERE p.id IN (t.employee_id, t.facilitator_id))"
SERIES_READER = Reader(
    ConversationSeries,
    Shape(_Subject),  # unused: the row becomes text (``render_series``)
    extra=f", {_PARTIES} AS parties",
    visible=visibility.SERIES,
)
# Its occurrences (ever created, canceled ones included) with the agenda the viewer ($3)
# sees: the overriding and standalone VEVENTs.
_OCCURRENCES = (
    # B608: constants of ours; values are bind parameters
    f"SELECT t.*, {visibility.seen_agenda('t.id', '$3::uuid')} AS agenda, "  # nosec B608
    f"{_PARTIES} AS parties FROM conversations t WHERE t.series_id = $1 AND t.tenant_id = $2 "
    "ORDER BY t.scheduled_start, t.id"
)
# The most rule instances written out (EXDATEs) before the last occurrence created.
MAX_INSTANCES = 5000


def ics_rule(rule: str, zone: ZoneInfo, until: datetime | None) -> vRecur:
    """The series' rule for a VEVENT whose DTSTART has a TZID: ``UNTIL`` in UTC (a local
    one converted); ``until`` (UTC) replaces any COUNT or UNTIL (a paused or ended series
    stops at its last occurrence)."""
    parts = [part.split("=", 1) for part in rule.upper().split(";")]
    kept = [(k, v) for k, v in parts if k not in ("COUNT", "UNTIL") or until is None]
    out = []
    for name, value in kept:
        if name == "UNTIL" and not value.endswith("Z"):
            local = datetime.strptime(value, "%Y%m%dT%H%M%S" if "T" in value else "%Y%m%d")
            value = local.replace(tzinfo=zone).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        out.append(f"{name}={value}")
    if until is not None:
        out.append(f"UNTIL={until.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}")
    recur: vRecur = vRecur.from_ical(";".join(out))
    return recur


def render_series(series: Record, rows: Sequence[Record]) -> bytes:
    """The series as one recurring VEVENT (``UID`` the series', ``RRULE`` from its first
    instance in its zone), with an ``EXDATE`` for each instance up to its last occurrence
    that was canceled or never created (paused), an overriding VEVENT (``RECURRENCE-ID``)
    for each occurrence whose time or place changed, and a VEVENT of its own for an
    occurrence the current rule no longer has (created under an earlier rule). A paused or
    ended series' rule stops at its last occurrence (one with none: ``METHOD:CANCEL``)."""
    tzid: str = series["timezone"]
    zone = ZoneInfo(tzid)
    local_start = series["start"].replace(tzinfo=zone)
    first = next(iter(expand(series["rrule"], series["start"], tzid, local_start)), None)
    attached = {r["occurrence_start"]: r for r in rows if r["occurrence_start"] is not None}
    last = max(attached) if attached else None
    instances: set[datetime] = set()
    exdates: list[datetime] = []
    if first is not None and last is not None:
        for local in expand(series["rrule"], series["start"], tzid, first):
            instant = local.astimezone(UTC)
            if instant > last or len(instances) >= MAX_INSTANCES:
                break
            instances.add(instant)
            row = attached.get(instant)
            if row is None or row["status"] == "canceled":
                exdates.append(local)
    active = series["status"] == "active"
    canceled = first is None or (not active and last is None)
    calendar = new_calendar("CANCEL" if canceled else "REQUEST")
    zones: dict[str, Timezone] = {}
    components: list[Event] = []
    if first is not None:
        master = Event()
        master.add("uid", f"{series['id']}@{UID_DOMAIN}")
        master.add("sequence", series["calendar_sequence"])
        master.add("dtstamp", series["updated_at"])
        master.add("dtstart", first)
        master.add("dtend", first + timedelta(minutes=series["duration_minutes"]))
        master.add("rrule", ics_rule(series["rrule"], zone, None if active else last))
        if exdates:
            master.add("exdate", exdates)
        _add_parties(master, series)
        master.add("status", "CANCELLED" if canceled else "CONFIRMED")
        if "TZID" in master["DTSTART"].params:
            # An open rule: the zone's rules five years past its last occurrence.
            years = [first.year] + [i.year for i in (last,) if i is not None]
            zones[tzid] = _vtimezone_span(tzid, min(years), max(years) + (5 if active else 0))
        components.append(master)
    for row in rows:
        if row["status"] == "canceled" or row["scheduled_start"] is None:
            continue
        occurrence = row["occurrence_start"]
        if occurrence in instances:
            if row["calendar_sequence"] <= 1:  # as the rule has it: no override
                continue
            event, zone_component = vevent(row)
        else:
            event, zone_component = vevent(row, standalone=True)
        if zone_component is not None:
            zones.setdefault(str(zone_component["TZID"]), zone_component)
        components.append(event)
    for zone_part in zones.values():
        calendar.add_component(zone_part)
    for component in components:
        calendar.add_component(component)
    text: bytes = calendar.to_ical()
    return text


@lru_cache(maxsize=256)
def _vtimezone_span(tzid: str, first_year: int, last_year: int) -> Timezone:
    return Timezone.from_tzinfo(
        ZoneInfo(tzid),
        tzid=tzid,
        first_date=date(first_year - 1, 1, 1),
        last_date=date(last_year + 2, 1, 1),
    )


async def get_series(db: RequestDb, principal: Principal, series_id: uuid.UUID) -> bytes:
    """The series' calendar as the acting person sees it (404 if missing, another
    tenant's or invisible): two statements."""
    series = await SERIES_READER.one(db, principal, series_id)
    rows = await (await db.raw()).fetch(
        _OCCURRENCES, series_id, principal.tenant_id, principal.person_id
    )
    return render_series(series, rows)


async def series_event_text(session: AsyncSession, series_id: uuid.UUID) -> str:
    """The series' calendar as the platform sees it, after the session's changes: what the
    series' events carry as ``data.ics``."""
    series = await SERIES_READER.row(session, series_id)
    raw = await visibility.session_raw(session)
    rows = await raw.fetch(_OCCURRENCES, series_id, series["tenant_id"], None)
    return render_series(series, rows).decode()
