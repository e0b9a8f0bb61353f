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

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import NotFound, ValidationFailed
from app.core.metrics import EVENTS_WRITTEN
from app.models.base import utcnow, uuid7
from app.models.event import Event
from app.services.event_types import EVENT_TYPES

EventHook = Callable[[AsyncSession, Event], Awaitable[None]]
# Called for every event, in its transaction (webhook deliveries are enqueued here).
_hooks: list[EventHook] = []


def on_event(hook: EventHook) -> EventHook:
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
    params: list[Any] = list(along_params)

    def arg(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    ctes = [f"_along AS ({along})"] if along else []
    ctes.append(
        "_event AS (INSERT INTO events (id, tenant_id, type, occurred_at, subject_type, "
        f"subject_id, data, api_key_id) VALUES ({arg(event.id)}, {arg(tenant_id)}, "
        f"{arg(type)}, {arg(event.occurred_at)}, {arg(subject_type)}, {arg(subject_id)}, "
        f"{arg(data.decode())}, {arg(actor.api_key_id if actor else None)}::uuid))"
    )
    tails = []
    for n, fan_out in enumerate(_fan_outs):
        statement, tail = fan_out(event, arg)
        ctes.append(f"_fan_out_{n} AS ({statement})")
        tails.append(tail.format(cte=f"_fan_out_{n}"))
    raw = await db.begin()
    await raw.execute(f"WITH {', '.join(ctes)} SELECT {', '.join(tails) or '1'}", *params)
    EVENTS_WRITTEN.labels(type).inc()
    return event


_VISIBLE = sa.or_(
    col(Event.txid) < sa.text("(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint"),
    col(Event.txid) == sa.text("(pg_current_xact_id_if_assigned()::text)::bigint"),
)


async def list_events(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    after: uuid.UUID | None,
    types: Sequence[str],
    limit: int,
) -> Sequence[Event]:
    stmt = select(Event).where(Event.tenant_id == tenant_id, _VISIBLE)
    if types:
        unknown = sorted(set(types) - set(EVENT_TYPES))
        if unknown:
            raise ValidationFailed.field(
                "/query/type", f"Unknown event type(s): {', '.join(unknown)}.", "unknown_type"
            )
        stmt = stmt.where(Event.type.in_(types))  # type: ignore[attr-defined]
    if after is not None:
        anchor = await session.scalar(
            select(col(Event.txid)).where(Event.tenant_id == tenant_id, Event.id == after)
        )
        if anchor is None:
            raise ValidationFailed.field("/query/after", "No event with this id.", "not_found")
        stmt = stmt.where(sa.tuple_(Event.txid, Event.id) > sa.tuple_(anchor, after))
    stmt = stmt.order_by(col(Event.txid), col(Event.id)).limit(limit + 1)
    return (await session.scalars(stmt)).all()


async def get_event(session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID) -> Event:
    event = await session.get(Event, event_id)
    if event is None or event.tenant_id != tenant_id:
        raise NotFound("No event with this id.")
    return event
