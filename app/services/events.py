"""The transactional outbox: events are written in the transaction of the change.

Polling order is commit-safe: an event is listed only once every transaction that
started before its own has finished, and events are ordered by (writing transaction
id, event id). So a client that resumes ``after`` the last event it saw never misses
one that commits later.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import NotFound, ValidationFailed
from app.core.event_types import EVENT_TYPES
from app.core.metrics import EVENTS_WRITTEN
from app.core.rows import Record, Shape
from app.core.sql import Where
from app.models.base import utcnow, uuid7
from app.models.event import Event
from app.schemas.events import EventRead
from app.services import visibility

EventHook = Callable[[AsyncSession, Event], Awaitable[None]]
# Called for every event, in its transaction (webhook deliveries are enqueued here).
_hooks: list[EventHook] = []


def on_event(hook: EventHook) -> EventHook:
    """Register ``hook`` for events written by ``record`` (the ORM path); registering it
    again changes nothing. Events written by ``record_sql`` run the fan-outs registered with
    ``on_event_sql`` instead: a hook that must see every event registers both (as webhook
    delivery does, in ``webhooks.register_hooks``, called where the app and the background
    workers are built)."""
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


async def record(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    type: str,
    subject_type: str,
    subject_id: uuid.UUID,
    data: dict[str, Any],
    actor: Principal | None = None,
) -> Event:
    """Write one event in the current transaction."""
    assert type in EVENT_TYPES, f"unknown event type {type}"
    # txid is left to its server default: the writing transaction's id.
    event = Event(  # type: ignore[call-arg]
        tenant_id=tenant_id,
        type=type,
        subject_type=subject_type,
        subject_id=subject_id,
        data=data,
        api_key_id=actor.api_key_id if actor else None,
        person_id=actor.person_id if actor else None,
    )
    session.add(event)
    await session.flush()
    EVENTS_WRITTEN.labels(type).inc()
    for hook in _hooks:
        await hook(session, event)
    return event


@dataclass(frozen=True)
class EventSql:
    """An event about to be written by ``record_sql``: what a fan-out may put in its rows."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    occurred_at: datetime
    subject_type: str
    subject_id: uuid.UUID
    data: bytes


# Rows written in the event's own statement (webhook deliveries are enqueued there): given
# the event and a function that numbers parameters, a fan-out returns a data-modifying
# statement (run as a CTE) and an expression over that CTE, named ``{cte}``, that the
# statement selects last (e.g. waking the workers when it wrote a row).
FanOut = Callable[[EventSql, Callable[[Any], str]], tuple[str, str]]
_fan_outs: list[FanOut] = []


def on_event_sql(fan_out: FanOut) -> FanOut:
    """Register ``fan_out`` for events written by ``record_sql``; again changes nothing."""
    if fan_out not in _fan_outs:
        _fan_outs.append(fan_out)
    return fan_out


async def record_sql(
    db: RequestDb,
    *,
    tenant_id: uuid.UUID,
    type: str,
    subject_type: str,
    subject_id: uuid.UUID,
    data: bytes,
    actor: Principal | None = None,
    along: str | None = None,
    along_params: Sequence[Any] = (),
) -> EventSql:
    """Write one event (``data``: the resource's JSON, as the API returns it) and its
    fan-out in one statement, in the request's transaction.

    ``along`` is a data-modifying statement (numbered ``$1…`` over ``along_params``) run
    in the same statement, e.g. the ``INSERT`` of the resource the event is about: a create
    costs one round trip for the row, its event and its webhook deliveries.
    """
    assert type in EVENT_TYPES, f"unknown event type {type}"
    event = EventSql(uuid7(), tenant_id, type, utcnow(), subject_type, subject_id, data)
    statement, params = _statement(event, actor, along, along_params)
    raw = await db.begin()
    await raw.execute(statement, *params)
    EVENTS_WRITTEN.labels(type).inc()
    return event


def _statement(
    event: EventSql, actor: Principal | None, along: str | None, along_params: Sequence[Any]
) -> tuple[str, list[Any]]:
    """The one statement that writes ``event``, its fan-out and ``along``; its text depends
    only on ``along`` and the registered fan-outs, never on the values."""
    params: list[Any] = list(along_params)

    def arg(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    ctes = [f"_along AS ({along})"] if along else []
    ctes.append(
        # B608: only $n placeholders are interpolated; values are bind parameters
        "_event AS (INSERT INTO events (id, tenant_id, type, occurred_at, subject_type, "  # nosec B608
        f"subject_id, data, api_key_id, person_id) VALUES ({arg(event.id)}, "
        f"{arg(event.tenant_id)}, {arg(event.type)}, {arg(event.occurred_at)}, "
        f"{arg(event.subject_type)}, {arg(event.subject_id)}, {arg(event.data.decode())}, "
        f"{arg(actor.api_key_id if actor else None)}::uuid, "
        f"{arg(actor.person_id if actor else None)}::uuid))"
    )
    tails = []
    for n, fan_out in enumerate(_fan_outs):
        statement, tail = fan_out(event, arg)
        ctes.append(f"_fan_out_{n} AS ({statement})")
        tails.append(tail.format(cte=f"_fan_out_{n}"))
    return f"WITH {', '.join(ctes)} SELECT {', '.join(tails) or '1'}", params


async def record_many_sql(
    db: RequestDb,
    *,
    tenant_id: uuid.UUID,
    type: str,
    subject_type: str,
    actor: Principal | None,
    along: str,
    rows: Sequence[tuple[uuid.UUID, bytes, Sequence[Any]]],
) -> None:
    """``record_sql`` for many subjects at once: per row (subject id, its JSON, ``along``'s
    parameters) the same statement, sent in one pipelined ``executemany`` (set-based writes
    of a batch: one round trip, not one per row). Rows run in order."""
    assert type in EVENT_TYPES, f"unknown event type {type}"
    if not rows:
        return
    statement = ""
    batches: list[list[Any]] = []
    for subject_id, data, along_params in rows:
        event = EventSql(uuid7(), tenant_id, type, utcnow(), subject_type, subject_id, data)
        text, params = _statement(event, actor, along, along_params)
        assert not statement or text == statement
        statement = text
        batches.append(params)
    raw = await db.begin()
    await raw.executemany(statement, batches)
    EVENTS_WRITTEN.labels(type).inc(len(rows))


def _actor(row: Record) -> dict[str, str | None]:
    key, person = row["api_key_id"], row["person_id"]
    return {
        "api_key_id": None if key is None else str(key),
        "person_id": None if person is None else str(person),
    }


EVENT = Shape(EventRead, actor=_actor)

# What a person sees of a person's snapshot (like ``GET /v1/people``): no ``external_id``,
# no ``metadata``; those are the platform's.
_PERSON_REDACTED: dict[str, Any] = {"external_id": None, "metadata": {}}


def _data_for_person(row: Record) -> Any:
    data = row["data"]
    # (``person.manager_changed`` carries ids only: nothing to redact)
    if row["subject_type"] == "person" and isinstance(data, dict) and "external_id" in data:
        return {**data, **_PERSON_REDACTED}
    return data


EVENT_FOR_PERSON = Shape(EventRead, actor=_actor, data=_data_for_person)


def shape_for(principal: Principal) -> Shape:
    """How events are shown to ``principal``: person snapshots redacted for a person."""
    return EVENT if principal.person_id is None else EVENT_FOR_PERSON


# Listed only once every transaction that started before its own has finished (see above).
_VISIBLE_SQL = (
    "(e.txid < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint "
    "OR e.txid = (pg_current_xact_id_if_assigned()::text)::bigint)"
)


async def fetch_events(
    db: RequestDb,
    principal: Principal,
    *,
    after: uuid.UUID | None,
    types: Sequence[str],
    limit: int,
) -> list[asyncpg.Record]:
    """Events in commit order after ``after`` (one more than ``limit``), only those whose
    subject the acting person sees: one statement, which also tells whether ``after`` names
    an event of the tenant (else 422). ``after`` may name an event the person does not see
    (any more): a poll's cursor must survive its subject being deleted or hidden; it gives
    away only a position in the log."""
    where = Where("e.tenant_id = {}", principal.tenant_id)
    where.clauses.append(_VISIBLE_SQL)
    visibility.add_events_rule(where, principal)
    if types:
        unknown = sorted(set(types) - set(EVENT_TYPES))
        if unknown:
            raise ValidationFailed.field(
                "/query/type", f"Unknown event type(s): {', '.join(unknown)}.", "unknown_type"
            )
        where.add("e.type = ANY({}::text[])", list(types))
    raw = await db.raw()
    # The limit is written into the text (an int of 1..100), as in ``keyset_sql``: with it
    # known, the generic plan is kept, and the long filter is not planned on every poll.
    limit_arg = int(limit) + 1
    if after is None:
        return await raw.fetch(
            # B608: the Where clause is our text with $n placeholders
            f"SELECT e.* FROM events e WHERE {where.sql} ORDER BY e.txid, e.id LIMIT {limit_arg}",  # nosec B608
            *where.params,
        )
    anchor = where.arg(after)
    # B608: the Where clause is our text with $n placeholders
    where.add(f"(e.txid, e.id) > ((SELECT txid FROM anchor), {anchor})")  # nosec B608
    rows = await raw.fetch(
        # B608: the Where clauses are our text with $n placeholders
        f"WITH anchor AS (SELECT e.txid FROM events e WHERE e.tenant_id = $1 "  # nosec B608
        f"AND e.id = {anchor}) "
        "SELECT (SELECT txid FROM anchor) AS anchor_txid, e.* FROM (SELECT) AS one "
        f"LEFT JOIN LATERAL (SELECT * FROM events e WHERE {where.sql} "
        f"ORDER BY e.txid, e.id LIMIT {limit_arg}) e ON true",
        *where.params,
    )
    if rows[0]["anchor_txid"] is None:
        raise ValidationFailed.field("/query/after", "No event with this id.", "not_found")
    return [row for row in rows if row["id"] is not None]


async def fetch_event(db: RequestDb, principal: Principal, event_id: uuid.UUID) -> asyncpg.Record:
    """One event of the tenant whose subject the acting person sees (else 404)."""
    where = Where("e.id = {}", event_id)
    where.add("e.tenant_id = {}", principal.tenant_id)
    visibility.add_events_rule(where, principal, one=True)
    # B608: the Where clause is our text with $n placeholders
    sql = f"SELECT e.* FROM events e WHERE {where.sql}"  # nosec B608
    row = await (await db.raw()).fetchrow(sql, *where.params)
    if row is None:
        raise NotFound("No event with this id.")
    return row
