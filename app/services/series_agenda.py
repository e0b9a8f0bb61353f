"""Carry-forward: what a series' occurrence did not get to goes to the next occurrence.

An agenda item of a completed or canceled occurrence that was not marked ``discussed`` is
copied (``carried_from_id`` naming it) to the series' next occurrence that has not started,
after the items already there: once per item (an item already carried is not carried
again; a copy that is itself not discussed is carried on from its own occurrence). Not
carried: items from the series' own agenda template (every occurrence gets those anew) and
sealed items (a canceled occurrence's private preparation stays with it). When no
occurrence is ahead yet, the items wait for the next one the scheduler creates.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.auth import Principal
from app.models.base import sql_value, utcnow, uuid7
from app.models.conversation import AgendaItem, Conversation, ConversationStatus
from app.schemas.conversations import AgendaItemRead
from app.services import events

MAX_AGENDA_ITEMS = 100  # as app/services/agenda_items.py
_STATUS = {
    s: sql_value(ConversationStatus, s) for s in ("draft", "scheduled", "completed", "canceled")
}

_CLOSED = f"({_STATUS['completed']}, {_STATUS['canceled']})"
_OPEN = f"({_STATUS['draft']}, {_STATUS['scheduled']})"
_PENDING = sa.text(
    # B608: status literals checked against the model's set
    "SELECT a.id, a.author_id, a.topic, a.category, a.notes, a.template_id, a.prompt "  # nosec B608
    "FROM agenda_items a JOIN conversations c ON c.id = a.conversation_id "
    "JOIN conversation_series s ON s.id = c.series_id "
    "WHERE c.series_id = :series AND c.tenant_id = :tenant AND NOT a.discussed "
    f"AND a.visibility = 'shared' AND c.status IN {_CLOSED} "
    "AND (s.agenda_template_id IS NULL OR a.template_id IS DISTINCT FROM s.agenda_template_id) "
    "AND NOT EXISTS (SELECT 1 FROM agenda_items b WHERE b.carried_from_id = a.id) "
    "ORDER BY c.scheduled_start, c.id, a.position, a.id"
)
_NEXT = sa.text(
    # B608: status literals checked against the model's set
    "SELECT id FROM conversations WHERE series_id = :series AND tenant_id = :tenant "  # nosec B608
    f"AND status IN {_OPEN} AND scheduled_start > :now "
    "ORDER BY scheduled_start, id LIMIT 1 FOR UPDATE"
)
_LAST_POSITION = sa.text(
    "SELECT count(*), coalesce(max(position) + 1, 0) FROM agenda_items "
    "WHERE conversation_id = :conversation"
)


async def carry_forward(
    session: AsyncSession,
    actor: Principal | None,
    tenant_id: uuid.UUID,
    series_id: uuid.UUID,
    now: datetime | None = None,
) -> int:
    """Carry the series' pending items to its next occurrence (locked); how many moved.
    ``actor``: who caused it (None: the scheduler)."""
    await session.flush()
    params = {"series": series_id, "tenant": tenant_id}
    pending = (await session.execute(_PENDING, params)).all()
    if not pending:
        return 0
    target_id = await session.scalar(_NEXT, {**params, "now": now or utcnow()})
    if target_id is None:
        return 0
    count, position = (await session.execute(_LAST_POSITION, {"conversation": target_id})).one()
    stamp = utcnow()
    rows = []
    for row in pending[: max(0, MAX_AGENDA_ITEMS - count)]:
        rows.append(
            {
                "id": uuid7(),
                "tenant_id": tenant_id,
                "created_at": stamp,
                "updated_at": stamp,
                "conversation_id": target_id,
                "author_id": row.author_id,
                "topic": row.topic,
                "category": row.category,
                "position": position,
                "discussed": False,
                "notes": row.notes,
                "visibility": "shared",
                "template_id": row.template_id,
                "prompt": row.prompt,
                "carried_from_id": row.id,
            }
        )
        position += 1
    if not rows:
        return 0
    # A concurrent carry (the scheduler and a request) that copied an item first wins: the
    # unique carried_from_id makes this one skip it.
    inserted = (
        await session.scalars(
            insert(AgendaItem)
            .values(rows)
            .on_conflict_do_nothing(
                index_elements=["carried_from_id"],
                index_where=sa.text("carried_from_id IS NOT NULL"),
            )
            .returning(col(AgendaItem.id))
        )
    ).all()
    if not inserted:
        return 0
    target = await session.get(Conversation, target_id)
    assert target is not None
    target.updated_at = stamp  # its ETag changes with its agenda
    await session.flush()
    copies = (
        await session.scalars(
            select(AgendaItem)
            .where(col(AgendaItem.id).in_(inserted))
            .order_by(col(AgendaItem.position))
            .execution_options(populate_existing=True)
        )
    ).all()
    for item in copies:
        await events.record(
            session,
            tenant_id=tenant_id,
            type="agenda_item.created",
            subject_type="agenda_item",
            subject_id=item.id,
            data=AgendaItemRead.model_validate(item).model_dump(mode="json"),
            actor=actor,
        )
    return len(copies)
