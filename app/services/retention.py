"""Retention: the scheduler deletes what a tenant's ``settings.retention`` no longer keeps.

Each kind is purged in batches of ``BATCH`` rows, one short transaction per batch (a
``DELETE … WHERE ctid = ANY(ARRAY(SELECT … LIMIT n))`` that walks an index of the tenant's
rows by age), so no purge holds locks for long, and a pass stops after ``MAX_BATCHES`` per
kind (the next pass goes on). Ages: a private note from its ``created_at``, a webhook
delivery from its ``created_at``, an event from its ``occurred_at``. An export's document
(its chunks) goes once the export's ``expires_at`` (24 hours after completion) has passed.

Never purged: a webhook delivery that is not ``succeeded`` (pending ones are the queue;
failed ones may still be resent with ``retry``/``recover``), whatever its age, and an event
such a delivery carries (``webhook_deliveries.event_id`` cascades: deleting the event would
delete the delivery).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.metrics import RETENTION_PURGED
from app.models.base import sql_value
from app.models.webhook import DeliveryStatus

BATCH = 1000
MAX_BATCHES = 50

Kind = Literal["private_note", "webhook_delivery", "event", "export_chunk"]

_SUCCEEDED = sql_value(DeliveryStatus, "succeeded")

# Each statement: the rows of every tenant past its setting, through the index named beside
# it (tests/test_retention.py checks the plan). Tenants without a setting are skipped.
_NOW = "CAST(:now AS timestamptz)"


def _per_tenant(alias: str, table: str, condition: str, days: str, column: str) -> str:
    """Up to ``:limit`` row ids of ``table`` older than each tenant's ``days``: per tenant
    (LATERAL), a range scan of the tenant's index on ``column`` (``tenant_id = t.id AND
    column < cutoff`` as the index condition), never the whole table."""
    # B608: constants of this module, no input
    return (
        f"SELECT x.ctid FROM tenants t CROSS JOIN LATERAL (SELECT {alias}.ctid "  # nosec B608
        f"FROM {table} {alias} WHERE {alias}.tenant_id = t.id AND {condition} "
        f"{alias}.{column} < {_NOW} - make_interval(days => t.{days}) LIMIT :limit) x "
        f"WHERE t.{days} IS NOT NULL LIMIT :limit"
    )


_SELECT: dict[Kind, str] = {
    # ix_conversation_notes_tenant_private_created
    "private_note": _per_tenant(
        "n",
        "conversation_notes",
        "n.visibility = 'private' AND",
        "retention_private_notes_days",
        "created_at",
    ),
    # ix_webhook_deliveries_tenant_succeeded_created
    "webhook_delivery": _per_tenant(
        "d",
        "webhook_deliveries",
        f"d.status = {_SUCCEEDED} AND",
        "retention_webhook_deliveries_days",
        "created_at",
    ),
    # ix_events_tenant_occurred (and ix_webhook_deliveries_event for the guard)
    "event": _per_tenant(
        "e",
        "events",
        # B608: a checked status literal of the model
        "NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id "  # nosec B608
        f"AND d.status <> {_SUCCEEDED}) AND",
        "retention_events_days",
        "occurred_at",
    ),
    # ix_export_jobs_expires, then export_chunks' primary key: expired exports' documents
    "export_chunk": "SELECT c.ctid FROM export_jobs j JOIN export_chunks c "  # nosec B608
    f"ON c.job_id = j.id WHERE j.expires_at < {_NOW} LIMIT :limit",
}
_TABLE: dict[Kind, str] = {
    "private_note": "conversation_notes",
    "webhook_delivery": "webhook_deliveries",
    "event": "events",
    "export_chunk": "export_chunks",
}
KINDS: tuple[Kind, ...] = ("private_note", "webhook_delivery", "event", "export_chunk")


def select_sql(kind: Kind) -> str:
    return _SELECT[kind]


def delete_sql(kind: Kind) -> str:
    # B608: the table and sub-select are constants of this module, never input.
    return f"DELETE FROM {_TABLE[kind]} WHERE ctid = ANY(ARRAY({_SELECT[kind]}))"  # nosec B608


async def purge_batch(session: AsyncSession, kind: Kind, now: datetime, limit: int = BATCH) -> int:
    """Delete up to ``limit`` rows of ``kind`` past their tenant's retention; returns how many."""
    result = await session.execute(sa.text(delete_sql(kind)), {"now": now, "limit": limit})
    count = int(result.rowcount)  # type: ignore[attr-defined]
    if count:
        RETENTION_PURGED.labels(kind=kind).inc(count)
    return count


async def purge(
    sessionmaker: async_sessionmaker[AsyncSession],
    now: datetime,
    limit: int = BATCH,
) -> dict[str, int]:
    """One retention pass: each kind in batches, one transaction per batch."""
    purged: dict[str, int] = {}
    for kind in KINDS:
        total = 0
        for _ in range(MAX_BATCHES):
            async with sessionmaker() as session:
                count = await purge_batch(session, kind, now, limit)
                await session.commit()
            total += count
            if count < limit:
                break
        purged[kind] = total
    return purged
