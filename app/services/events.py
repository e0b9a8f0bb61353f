"""The transactional outbox: events are written in the transaction of the change.

Polling order is commit-safe: an event is listed only once every transaction that
started before its own has finished, and events are ordered by (writing transaction
id, event id). So a client that resumes ``after`` the last event it saw never misses
one that commits later.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.auth import Principal
from app.core.errors import NotFound, ValidationFailed
from app.core.metrics import EVENTS_WRITTEN
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
