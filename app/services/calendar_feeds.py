"""Calendar feeds: a person's conversations as one subscribable calendar.

``POST /v1/people/{id}/calendar-feed`` mints a secret token (``ccf_…``, shown once; only
its SHA-256 is stored, like API keys); a person has one feed, so creating it again
rotates the token (the old URL stops working at once), and ``DELETE`` revokes it. The
platform may manage anyone's feed, a person acting for themselves their own (403
``not_permitted`` for anyone else: a feed shows what its person sees).

``GET /v1/calendar-feeds/{token}.ics`` needs no credentials (calendar apps cannot send
headers): the token is the credential. It lists the conversations where the person is
the employee or the facilitator, starting from ``WINDOW_BACK`` ago to ``WINDOW_AHEAD``
ahead (a draft without a start has no time, so it is not there), as that person sees
them: shared agenda items and their own sealed ones, never notes. Each VEVENT is the one
of ``calendars.vevent`` (same SEQUENCE and times as the conversation's own invitation;
a series' occurrence stands alone here, with its own UID, as a feed holds no series
event); a canceled conversation stays listed with ``STATUS:CANCELLED`` so
subscribed calendars drop it. One statement reads the feed and its rows.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from icalendar import Timezone
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.db import RequestDb
from app.core.errors import NotFound
from app.core.keycache import Principal
from app.core.security import FEED_PREFIX, generate_feed_token, hash_api_key
from app.models.base import utcnow, uuid7
from app.models.calendar_feed import CalendarFeed
from app.models.person import Person
from app.services import calendars, visibility
from app.services.common import get_owned

WINDOW_BACK = timedelta(days=30)
WINDOW_AHEAD = timedelta(days=180)
# A feed lists at most this many conversations (the earliest first): a bound on the work
# an unauthenticated request can cause.
MAX_EVENTS = 1000
# How often calendar apps are asked to poll (REFRESH-INTERVAL, X-PUBLISHED-TTL).
REFRESH = timedelta(hours=1)
FEED_PATH = "/v1/calendar-feeds/{token}.ics"
NOT_FOUND_DETAIL = "No calendar feed at this address."
_PERMIT_DETAIL = "A person manages only their own calendar feed."

# The feed (by its token's hash), its person's name, and their conversations in the
# window with the agenda items that person sees and both parties: one statement. The LEFT
# JOIN keeps the feed's row when it lists nothing.
FEED_SQL = (
    # B608: constants of ours; every value is a bind parameter
    "SELECT f.id AS feed_id, f.person_id AS feed_person_id, "  # nosec B608
    "(SELECT p.name FROM people p WHERE p.id = f.person_id) AS feed_person_name, c.*, "
    f"{visibility.seen_agenda('c.id', 'f.person_id')} AS agenda, "
    "ARRAY(SELECT p FROM people p WHERE p.id IN (c.employee_id, c.facilitator_id)) AS parties "
    "FROM calendar_feeds f LEFT JOIN conversations c ON c.tenant_id = f.tenant_id "
    "AND (c.employee_id = f.person_id OR c.facilitator_id = f.person_id) "
    "AND c.scheduled_start >= statement_timestamp() - $2::interval "
    "AND c.scheduled_start < statement_timestamp() + $3::interval "
    "WHERE f.token_hash = $1 ORDER BY c.scheduled_start, c.id LIMIT $4"
)


def feed_url(base: str, token: str) -> str:
    return base.rstrip("/") + FEED_PATH.format(token=token)


async def _person(session: AsyncSession, principal: Principal, person_id: uuid.UUID) -> None:
    """404 for a missing or foreign person; 403 unless the platform or that person acts
    (everyone in the tenant sees the person: ``visibility.PEOPLE``)."""
    await get_owned(session, Person, principal.tenant_id, person_id)
    visibility.permit(principal, [person_id], _PERMIT_DETAIL)


async def create(
    session: AsyncSession, principal: Principal, person_id: uuid.UUID
) -> tuple[CalendarFeed, str]:
    """The person's feed with a new token (returned, never stored): created, or rotated if
    the person had one (a new id; the old token stops working in the same transaction)."""
    await _person(session, principal, person_id)
    token = generate_feed_token()
    now = utcnow()
    feed = CalendarFeed(
        id=uuid7(),
        tenant_id=principal.tenant_id,
        person_id=person_id,
        token_hash=hash_api_key(token),
        created_at=now,
        updated_at=now,
    )
    statement = insert(CalendarFeed).values(feed.model_dump())
    statement = statement.on_conflict_do_update(
        index_elements=[col(CalendarFeed.person_id)],
        set_={
            name: statement.excluded[name]
            for name in ("id", "token_hash", "created_at", "updated_at")
        },
    )
    await session.execute(statement)
    return feed, token


async def revoke(session: AsyncSession, principal: Principal, person_id: uuid.UUID) -> None:
    """Delete the person's feed: its URL answers 404 from now on (404 if there is none)."""
    await _person(session, principal, person_id)
    result = await session.execute(
        delete(CalendarFeed)
        .where(col(CalendarFeed.person_id) == person_id)
        .where(col(CalendarFeed.tenant_id) == principal.tenant_id)
        .returning(col(CalendarFeed.id))
    )
    if result.first() is None:
        raise NotFound(f"Person {person_id} has no calendar feed.")


def valid_token(token: str) -> bool:
    """Shaped like a feed token (anything else is a 404 without a lookup)."""
    return token.startswith(FEED_PREFIX) and len(token) <= 100


async def read(db: RequestDb, token: str) -> tuple[uuid.UUID, bytes] | None:
    """The feed's id and ICS text, or None for an unknown or revoked token."""
    if not valid_token(token):
        return None
    rows = await (await db.raw()).fetch(
        FEED_SQL, hash_api_key(token), WINDOW_BACK, WINDOW_AHEAD, MAX_EVENTS
    )
    if not rows:
        return None
    calendar = calendars.new_calendar(None)
    calendar.add("name", f"Career conversations: {rows[0]['feed_person_name']}")
    calendar.add("x-wr-calname", f"Career conversations: {rows[0]['feed_person_name']}")
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH)
    zones: dict[str, Timezone] = {}
    events = []
    for row in rows:
        if row["id"] is None:  # the feed's own row: nothing in the window
            continue
        event, zone = calendars.vevent(row, standalone=True)
        events.append(event)
        if zone is not None:
            zones.setdefault(str(zone["TZID"]), zone)  # rows come earliest first
    for zone in zones.values():
        calendar.add_component(zone)
    for event in events:
        calendar.add_component(event)
    text: bytes = calendar.to_ical()
    return rows[0]["feed_id"], text
