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
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.core.errors import database_unavailable
from app.models.base import utcnow
from app.models.scheduled_firing import ScheduledFiring
from app.services import (
    action_plans,
    cadence,
    conversations,
    events,
    exports,
    feedback_requests,
    follow_ups,
    retention,
    series,
    webhooks,
)
from app.services.scheduling import Rule

log = logging.getLogger(__name__)

BATCH = 200
# The longest lead time a tenant may set (schemas/tenants.py): reminders look no further
# ahead, so their scans stay an index range however many future items exist.
MAX_LEAD = timedelta(days=30)
EXPORTS_PER_PASS = 5

# Each domain owns its rules (app/services/scheduling.py); the scheduler runs these.
RULES: tuple[Rule, ...] = (
    *follow_ups.SCHEDULED,
    *conversations.SCHEDULED,
    *action_plans.SCHEDULED,
    *feedback_requests.SCHEDULED,
    *cadence.SCHEDULED,
)


async def fire_rule(session: AsyncSession, rule: Rule, now: datetime) -> int:
    """Fire one rule's due events in the session's transaction; returns how many fired."""
    params = {"now": now, "horizon": now + MAX_LEAD, "limit": BATCH}
    rows = (await session.execute(sa.text(rule.candidates), params)).all()
    fired = 0
    for tenant_id, subject_id, due_at in rows:
        claimed = await session.scalar(
            insert(ScheduledFiring)
            .values(type=rule.key, subject_id=subject_id, due_at=due_at, tenant_id=tenant_id)
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
                col(ScheduledFiring.type) == rule.key,
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
    # Series: their occurrences within the horizon (exactly once: app/services/series.py).
    # In batches of series, each its own transaction (no pass-long locks).
    last = None
    while True:
        async with sessionmaker() as session:
            _, last = await series.fill_horizon(session, now, last)
            await session.commit()
        if last is None:
            break
    # Exports queued (app/services/exports.py): a few per pass, each its own transactions.
    for _ in range(EXPORTS_PER_PASS):
        if not await exports.run_one(sessionmaker, now):
            break
    # Retention: what tenants no longer keep, in batches, each its own transaction. Ages are
    # real ones: a pass run at another time (a test's ``now`` years ahead) purges nothing
    # early.
    await retention.purge(sessionmaker, utcnow())
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
