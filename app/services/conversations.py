"""Conversations: create, read, update, list, delete and the lifecycle actions.

``draft → scheduled → completed | canceled``; a scheduled conversation may be rescheduled
(counted, with history) and either party may mark themselves prepared before it happens.
A conversation is always read with its agenda and reschedule history, loaded with one
query each (``IN`` over a page's ids), so the cost does not grow with the agenda's size.
Notes are separate resources and never part of a conversation's payload.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select

from app.core.auth import Principal
from app.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from app.core.pagination import PageParams, keyset
from app.models.base import utcnow
from app.models.conversation import AgendaItem, Conversation, ConversationReschedule
from app.models.person import Person
from app.schemas.conversations import (
    AgendaItemRead,
    CancelRequest,
    CompleteRequest,
    ConversationCreate,
    ConversationRead,
    ConversationUpdate,
    Preparation,
    PrepareRequest,
    RescheduleRead,
    RescheduleRequest,
    ScheduleRequest,
)
from app.services import events
from app.services.common import (
    apply_changes,
    check_external_id_free,
    check_reference,
    get_owned,
    in_ids,
    reject_nulls,
)

# Rows that belong to a conversation and go with it when it is deleted.
OWN_TABLES = frozenset({"agenda_items", "conversation_notes", "conversation_reschedules"})

_ALL_FIELDS = frozenset(ConversationUpdate.model_fields)
# Which PATCH fields each status accepts: the record of a past conversation stays put.
EDITABLE: dict[str, frozenset[str]] = {
    "draft": _ALL_FIELDS,
    "scheduled": _ALL_FIELDS - {"scheduled_start"},
    "completed": frozenset({"summary", "external_id", "metadata"}),
    "canceled": frozenset({"external_id", "metadata"}),
}


class ConversationClosed(Conflict):
    """A write the conversation's status no longer allows (not itself a transition)."""

    code, title = "conversation_closed", "Conversation closed"

    def __init__(self, detail: str, current: str) -> None:
        super().__init__(detail, extra={"current_status": current})


# Reading ---------------------------------------------------------------------------------


ConversationRow = Conversation | sa.Row[Any]


def to_read(
    conversation: ConversationRow,
    agenda: Sequence[AgendaItem] = (),
    reschedules: Sequence[ConversationReschedule] = (),
) -> ConversationRead:
    """The read schema of a conversation, from its table model or a Core row (lists)."""
    fields: dict[str, Any] = (
        conversation.model_dump()
        if isinstance(conversation, Conversation)
        else dict(conversation._mapping)
    )
    parties = (
        (fields["employee_id"], fields["employee_prepared_at"]),
        (fields["facilitator_id"], fields["facilitator_prepared_at"]),
    )
    fields["preparation"] = Preparation(
        employee_prepared_at=fields["employee_prepared_at"],
        facilitator_prepared_at=fields["facilitator_prepared_at"],
        unprepared=[person for person, at in parties if at is None],
    )
    fields["agenda_items"] = [AgendaItemRead.model_validate(i) for i in agenda]
    fields["reschedules"] = [RescheduleRead.model_validate(r) for r in reschedules]
    return ConversationRead.model_validate(fields)


async def to_reads(
    session: AsyncSession, conversations: Sequence[ConversationRow]
) -> list[ConversationRead]:
    """Read schemas for many conversations: at most two queries, whatever their agendas."""
    if not conversations:
        return []
    ids = [c.id for c in conversations]
    agenda: dict[uuid.UUID, list[AgendaItem]] = defaultdict(list)
    items = await session.scalars(
        select(AgendaItem)
        .where(in_ids(col(AgendaItem.conversation_id), ids))
        .order_by(col(AgendaItem.conversation_id), col(AgendaItem.position), col(AgendaItem.id))
    )
    for item in items:
        agenda[item.conversation_id].append(item)
    history: dict[uuid.UUID, list[ConversationReschedule]] = defaultdict(list)
    moved = [c.id for c in conversations if c.reschedule_count]
    if moved:  # most conversations never move: skip the query then
        moves = await session.scalars(
            select(ConversationReschedule)
            .where(in_ids(col(ConversationReschedule.conversation_id), moved))
            .order_by(
                col(ConversationReschedule.conversation_id),
                col(ConversationReschedule.created_at),
                col(ConversationReschedule.id),
            )
        )
        for move in moves:
            history[move.conversation_id].append(move)
    return [to_read(c, agenda[c.id], history[c.id]) for c in conversations]


async def read(session: AsyncSession, conversation: Conversation) -> ConversationRead:
    return (await to_reads(session, [conversation]))[0]


async def snapshot(session: AsyncSession, conversation_id: uuid.UUID) -> dict[str, Any]:
    """The conversation as the API shows it, for events written outside a request."""
    conversation = await session.get(Conversation, conversation_id, populate_existing=True)
    if conversation is None:
        raise NotFound(f"No conversation with id {conversation_id}.")
    return (await read(session, conversation)).model_dump(mode="json")


async def get(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Conversation:
    """The conversation (404 if missing or another tenant's); writes lock it."""
    return await get_owned(session, Conversation, tenant_id, conversation_id, for_update=for_update)


async def list_conversations(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    params: PageParams,
    *,
    employee_id: uuid.UUID | None = None,
    facilitator_id: uuid.UUID | None = None,
    person_id: uuid.UUID | None = None,
    status: str | None = None,
    kind: str | None = None,
    scheduled_after: datetime | None = None,
    scheduled_before: datetime | None = None,
    updated_since: datetime | None = None,
) -> tuple[Sequence[sa.Row[Any]], list[ConversationRead]]:
    """A page of conversations (newest first) and their read schemas: three queries."""
    table: sa.Table = Conversation.__table__  # type: ignore[attr-defined]
    stmt = sa.select(table).where(col(Conversation.tenant_id) == tenant_id)
    if employee_id is not None:
        stmt = stmt.where(col(Conversation.employee_id) == employee_id)
    if facilitator_id is not None:
        stmt = stmt.where(col(Conversation.facilitator_id) == facilitator_id)
    if person_id is not None:
        stmt = stmt.where(
            sa.or_(
                col(Conversation.employee_id) == person_id,
                col(Conversation.facilitator_id) == person_id,
            )
        )
    if status is not None:
        stmt = stmt.where(col(Conversation.status) == status)
    if kind is not None:
        stmt = stmt.where(col(Conversation.kind) == kind)
    if scheduled_after is not None:
        stmt = stmt.where(col(Conversation.scheduled_start) >= scheduled_after)
    if scheduled_before is not None:
        stmt = stmt.where(col(Conversation.scheduled_start) < scheduled_before)
    if updated_since is not None:
        stmt = stmt.where(col(Conversation.updated_at) >= updated_since)
    # Core rows, not table models: a page needs no identity map, and rows are much cheaper.
    rows = (await session.execute(keyset(stmt, table.c.created_at, table.c.id, params))).all()
    return rows, await to_reads(session, rows[: params.limit])


# Writing ---------------------------------------------------------------------------------


async def _emit(
    session: AsyncSession, principal: Principal, type: str, data: ConversationRead
) -> None:
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=type,
        subject_type="conversation",
        subject_id=data.id,
        data=data.model_dump(mode="json"),
        actor=principal,
    )


async def _changed(
    session: AsyncSession, principal: Principal, type: str, conversation: Conversation
) -> ConversationRead:
    """Flush a change, write its event and return the conversation as the API shows it."""
    await session.flush()
    data = await read(session, conversation)
    await _emit(session, principal, type, data)
    return data


async def create(
    session: AsyncSession, principal: Principal, body: ConversationCreate
) -> ConversationRead:
    tenant_id = principal.tenant_id
    employee = await check_reference(
        session, Person, tenant_id, body.employee_id, "/body/employee_id"
    )
    await check_reference(session, Person, tenant_id, body.facilitator_id, "/body/facilitator_id")
    if body.employee_id == body.facilitator_id:
        raise ValidationFailed.field(
            "/body/facilitator_id",
            "The facilitator must be another person than the employee.",
            "same_person",
        )
    await check_external_id_free(session, Conversation, tenant_id, body.external_id)
    fields = body.model_dump(exclude={"metadata", "timezone"})
    assert employee is not None
    conversation = Conversation(
        tenant_id=tenant_id,
        metadata_=body.metadata,
        timezone=body.timezone or employee.timezone,
        **fields,
    )
    session.add(conversation)
    await session.flush()
    data = to_read(conversation)
    await _emit(session, principal, "conversation.created", data)
    return data


async def update(
    session: AsyncSession,
    principal: Principal,
    conversation: Conversation,
    body: ConversationUpdate,
) -> ConversationRead:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    reject_nulls(changes, ("kind", "duration_minutes", "timezone", "metadata"))
    allowed = EDITABLE[conversation.status]
    for field in changes:
        current = getattr(conversation, "metadata_" if field == "metadata" else field)
        if field not in allowed and changes[field] != current:
            hint = (
                " Use POST /v1/conversations/{id}/reschedule to move it."
                if field == "scheduled_start" and conversation.status == "scheduled"
                else ""
            )
            raise ConversationClosed(
                f"{field} cannot be changed while the conversation is "
                f"'{conversation.status}'.{hint}",
                conversation.status,
            )
    if "external_id" in changes:
        await check_external_id_free(
            session,
            Conversation,
            principal.tenant_id,
            changes["external_id"],
            exclude=conversation.id,
        )
    if apply_changes(conversation, changes):
        return await _changed(session, principal, "conversation.updated", conversation)
    return await read(session, conversation)


def _require(conversation: Conversation, action: str, *statuses: str) -> None:
    if conversation.status not in statuses:
        raise InvalidTransition("conversation", conversation.status, action)


def _set_time(
    conversation: Conversation, duration_minutes: int | None, timezone: str | None
) -> None:
    if duration_minutes is not None:
        conversation.duration_minutes = duration_minutes
    if timezone is not None:
        conversation.timezone = timezone


async def schedule(
    session: AsyncSession, principal: Principal, conversation: Conversation, body: ScheduleRequest
) -> ConversationRead:
    """``draft → scheduled``, at the time sent or the one the draft already holds."""
    _require(conversation, "schedule", "draft")
    start = body.scheduled_start or conversation.scheduled_start
    if start is None:
        raise ValidationFailed.field(
            "/body/scheduled_start",
            "This draft has no scheduled_start yet; send one.",
            "missing",
        )
    conversation.scheduled_start = start
    _set_time(conversation, body.duration_minutes, body.timezone)
    conversation.status = "scheduled"
    conversation.updated_at = utcnow()
    return await _changed(session, principal, "conversation.scheduled", conversation)


async def reschedule(
    session: AsyncSession,
    principal: Principal,
    conversation: Conversation,
    body: RescheduleRequest,
) -> ConversationRead:
    """Move a scheduled conversation: counts it and keeps the previous time in the history."""
    _require(conversation, "reschedule", "scheduled")
    if body.scheduled_start == conversation.scheduled_start:
        raise ValidationFailed.field(
            "/body/scheduled_start",
            "The conversation is already scheduled at this time.",
            "unchanged",
        )
    now = utcnow()
    session.add(
        ConversationReschedule(
            tenant_id=conversation.tenant_id,
            conversation_id=conversation.id,
            created_at=now,
            previous_start=conversation.scheduled_start,
            new_start=body.scheduled_start,
            reason=body.reason,
        )
    )
    conversation.scheduled_start = body.scheduled_start
    _set_time(conversation, body.duration_minutes, body.timezone)
    conversation.reschedule_count += 1
    conversation.updated_at = now
    return await _changed(session, principal, "conversation.rescheduled", conversation)


async def complete(
    session: AsyncSession, principal: Principal, conversation: Conversation, body: CompleteRequest
) -> ConversationRead:
    """``scheduled → completed``; the summary may be sent along."""
    _require(conversation, "complete", "scheduled")
    now = utcnow()
    if body.summary is not None:
        conversation.summary = body.summary
    conversation.status = "completed"
    conversation.completed_at = now
    conversation.updated_at = now
    return await _changed(session, principal, "conversation.completed", conversation)


async def cancel(
    session: AsyncSession, principal: Principal, conversation: Conversation, body: CancelRequest
) -> ConversationRead:
    """``draft | scheduled → canceled``, with the reason."""
    _require(conversation, "cancel", "draft", "scheduled")
    now = utcnow()
    conversation.status = "canceled"
    conversation.canceled_at = now
    conversation.cancel_reason = body.reason
    conversation.updated_at = now
    return await _changed(session, principal, "conversation.canceled", conversation)


async def prepare(
    session: AsyncSession, principal: Principal, conversation: Conversation, body: PrepareRequest
) -> ConversationRead:
    """Mark one party prepared. Preparing again keeps the first time and writes no event."""
    _require(conversation, "prepare for", "draft", "scheduled")
    if body.person_id == conversation.employee_id:
        attr = "employee_prepared_at"
    elif body.person_id == conversation.facilitator_id:
        attr = "facilitator_prepared_at"
    else:
        raise ValidationFailed.field(
            "/body/person_id",
            "Only the conversation's employee or facilitator can prepare for it.",
            "not_a_party",
        )
    if getattr(conversation, attr) is not None:
        return await read(session, conversation)
    now = utcnow()
    setattr(conversation, attr, now)
    conversation.updated_at = now
    return await _changed(session, principal, "conversation.prepared", conversation)


async def _referenced_elsewhere(session: AsyncSession, conversation_id: uuid.UUID) -> bool:
    """Whether a row outside the conversation's own tables (goals, plans, …) points at it."""
    checks = [
        sa.exists().where(fk.parent == conversation_id)
        for table in SQLModel.metadata.tables.values()
        if table.name not in OWN_TABLES
        for fk in table.foreign_keys
        if fk.column.table.name == "conversations" and fk.column.name == "id"
    ]
    if not checks:
        return False
    return bool(await session.scalar(sa.select(sa.or_(*checks))))


async def delete(session: AsyncSession, principal: Principal, conversation: Conversation) -> None:
    """Delete a draft or canceled conversation with its agenda, notes and history."""
    _require(conversation, "delete", "draft", "canceled")
    if await _referenced_elsewhere(session, conversation.id):
        raise Conflict(
            "Other records (goals, action plans, feedback or follow-ups) refer to this "
            "conversation; remove those links first, or keep it canceled."
        )
    data = await read(session, conversation)
    await _emit(session, principal, "conversation.deleted", data)
    await session.delete(conversation)
    await session.flush()
