"""Time-driven events: reminders, due and overdue notices, expiries.

Each rule finds subjects whose due moment has come and that are still in a state that
wants the event, and claims ``(type, subject, due time)`` in ``scheduled_firings`` with
``INSERT … ON CONFLICT DO NOTHING``. Only the transaction that inserted the claim writes
the event, in that same transaction, so an event fires exactly once per due time however
many schedulers run. A new due time is a new key (rescheduling re-arms); a subject that
left the state (completed, canceled) is no longer a candidate (disarmed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.core.errors import database_unavailable
from app.models.base import utcnow
from app.models.scheduled_firing import ScheduledFiring
from app.services import events, webhooks

log = logging.getLogger(__name__)

BATCH = 200
# The longest lead time a tenant may set (schemas/tenants.py): reminders look no further
# ahead, so their scans stay an index range however many future items exist.
MAX_LEAD = timedelta(days=30)

Snapshot = Callable[[AsyncSession, uuid.UUID], Awaitable[dict[str, Any]]]
Transition = Callable[[AsyncSession, uuid.UUID, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Rule:
    type: str
    subject_type: str
    # SQL returning (tenant_id, subject_id, due_at) for due candidates at :now, at most :limit.
    candidates: str
    snapshot: Snapshot
    # Optional state change made with the event (e.g. a feedback request expiring).
    transition: Transition | None = None


def _not_fired(alias: str, due: str, type_: str) -> str:
    return (
        # B608: alias, column and event type are constants of the rules below
        f"NOT EXISTS (SELECT 1 FROM scheduled_firings s WHERE s.type = '{type_}' "  # nosec B608
        f"AND s.subject_id = {alias}.id AND s.due_at = {due})"
    )


async def _follow_up(session: AsyncSession, ident: uuid.UUID) -> dict[str, Any]:
    from app.services import follow_ups

    return await follow_ups.snapshot(session, ident)


async def _conversation(session: AsyncSession, ident: uuid.UUID) -> dict[str, Any]:
    from app.services import conversations

    return await conversations.snapshot(session, ident)


async def _action_item(session: AsyncSession, ident: uuid.UUID) -> dict[str, Any]:
    from app.services import action_plans

    return await action_plans.item_snapshot(session, ident)


async def _feedback_request(session: AsyncSession, ident: uuid.UUID) -> dict[str, Any]:
    from app.services import feedback_requests

    return await feedback_requests.snapshot(session, ident)


async def _expire_feedback_request(session: AsyncSession, ident: uuid.UUID, now: datetime) -> None:
    await session.execute(
        sa.text(
            "UPDATE feedback_requests SET status = 'expired', updated_at = :now "
            "WHERE id = :id AND status = 'open'"
        ),
        {"id": ident, "now": now},
    )


_ITEM_DUE = "(i.due_date + 1)::timestamp AT TIME ZONE 'UTC'"

RULES: tuple[Rule, ...] = (
    Rule(
        "follow_up.reminder",
        "follow_up",
        # B608: _not_fired() is built from constants; values are bind parameters
        "SELECT f.tenant_id, f.id, f.due_at FROM follow_ups f JOIN tenants t ON t.id = f.tenant_id "  # nosec B608
        "WHERE f.status = 'pending' AND f.due_at > :now AND f.due_at <= :horizon "
        "AND f.due_at - make_interval(mins => t.follow_up_reminder_lead_minutes) <= :now "
        f"AND {_not_fired('f', 'f.due_at', 'follow_up.reminder')} ORDER BY f.due_at LIMIT :limit",
        _follow_up,
    ),
    Rule(
        "follow_up.due",
        "follow_up",
        # B608: _not_fired() is built from constants; values are bind parameters
        "SELECT f.tenant_id, f.id, f.due_at FROM follow_ups f "  # nosec B608
        "WHERE f.status = 'pending' AND f.due_at <= :now "
        f"AND {_not_fired('f', 'f.due_at', 'follow_up.due')} ORDER BY f.due_at LIMIT :limit",
        _follow_up,
    ),
    Rule(
        "follow_up.overdue",
        "follow_up",
        # B608: _not_fired() is built from constants; values are bind parameters
        "SELECT f.tenant_id, f.id, f.due_at FROM follow_ups f JOIN tenants t ON t.id = f.tenant_id "  # nosec B608
        "WHERE f.status = 'pending' "
        "AND f.due_at + make_interval(mins => t.follow_up_overdue_grace_minutes) <= :now "
        f"AND {_not_fired('f', 'f.due_at', 'follow_up.overdue')} ORDER BY f.due_at LIMIT :limit",
        _follow_up,
    ),
    Rule(
        "conversation.reminder",
        "conversation",
        # B608: _not_fired() is built from constants; values are bind parameters
        "SELECT c.tenant_id, c.id, c.scheduled_start FROM conversations c "  # nosec B608
        "JOIN tenants t ON t.id = c.tenant_id "
        "WHERE c.status = 'scheduled' AND c.scheduled_start > :now "
        "AND c.scheduled_start <= :horizon "
        "AND c.scheduled_start - make_interval(mins => t.conversation_reminder_lead_minutes) "
        "<= :now "
        f"AND {_not_fired('c', 'c.scheduled_start', 'conversation.reminder')} "
        "ORDER BY c.scheduled_start LIMIT :limit",
        _conversation,
    ),
    Rule(
        "action_item.overdue",
        "action_item",
        # Overdue once its due date has ended (UTC); the key is that moment.
        # B608: _not_fired() is built from constants; values are bind parameters
        "SELECT i.tenant_id, i.id, (i.due_date + 1)::timestamp AT TIME ZONE 'UTC' AS due "  # nosec B608
        "FROM action_items i WHERE i.status <> 'done' AND i.due_date IS NOT NULL "
        "AND (i.due_date + 1)::timestamp AT TIME ZONE 'UTC' <= :now "
        f"AND {_not_fired('i', _ITEM_DUE, 'action_item.overdue')} "
        "ORDER BY i.due_date LIMIT :limit",
        _action_item,
    ),
    Rule(
        "feedback_request.expired",
        "feedback_request",
        # B608: _not_fired() is built from constants; values are bind parameters
        "SELECT r.tenant_id, r.id, r.due_at FROM feedback_requests r "  # nosec B608
        "WHERE r.status = 'open' AND r.due_at <= :now "
        f"AND {_not_fired('r', 'r.due_at', 'feedback_request.expired')} "
        "ORDER BY r.due_at LIMIT :limit",
        _feedback_request,
        _expire_feedback_request,
    ),
)


async def fire_rule(session: AsyncSession, rule: Rule, now: datetime) -> int:
    """Fire one rule's due events in the session's transaction; returns how many fired."""
    params = {"now": now, "horizon": now + MAX_LEAD, "limit": BATCH}
    rows = (await session.execute(sa.text(rule.candidates), params)).all()
    fired = 0
    for tenant_id, subject_id, due_at in rows:
        claimed = await session.scalar(
            insert(ScheduledFiring)
            .values(type=rule.type, subject_id=subject_id, due_at=due_at, tenant_id=tenant_id)
            .on_conflict_do_nothing()
            .returning(sa.literal_column("1"))
        )
        if claimed is None:
            continue  # another scheduler fired it first
        if rule.transition is not None:
            await rule.transition(session, subject_id, now)
        event = await events.record(
            session,
            tenant_id=tenant_id,
            type=rule.type,
            subject_type=rule.subject_type,
            subject_id=subject_id,
            data=await rule.snapshot(session, subject_id),
        )
        await session.execute(
            sa.update(ScheduledFiring)
            .where(
                col(ScheduledFiring.type) == rule.type,
                col(ScheduledFiring.subject_id) == subject_id,
                col(ScheduledFiring.due_at) == due_at,
            )
            .values(event_id=event.id)
        )
        fired += 1
    return fired


async def run_once(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime | None = None
) -> int:
    """One pass over every rule, one transaction per rule."""
    webhooks.register_hooks()  # the events fired queue webhook deliveries
    now = now or utcnow()
    total = 0
    for rule in RULES:
        async with sessionmaker() as session:
            fired = await fire_rule(session, rule, now)
            await session.commit()
        total += fired
    return total


async def run_forever(
    sessionmaker: async_sessionmaker[AsyncSession], interval: float, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            while await run_once(sessionmaker) >= BATCH:
                pass  # a backlog: keep going without waiting
        except Exception as exc:
            # Never ends the loop: the next pass retries (the database may be back).
            if database_unavailable(exc):
                log.warning("scheduler pass failed: database unavailable")
            else:
                log.exception("scheduler pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
