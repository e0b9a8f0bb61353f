"""Conversations: create, read, update, list, delete and the lifecycle actions.

``draft → scheduled → completed | canceled``; a scheduled conversation may be rescheduled
(counted, with history) and either party may mark themselves prepared before it happens.
Sealed agenda items stay with their author until the preparation is revealed: when both
parties have prepared, when the conversation is completed, or when its scheduled start
passes (the scheduler), whichever comes first; then they become shared for good and one
``conversation.preparation_revealed`` event is written. A conversation without sealed items
has nothing to reveal: no event, ``preparation.revealed_at`` stays null.
Events carry the conversation as the platform sees it (never a sealed item); a write answers
it as the acting person sees it. ``conversation.scheduled``, ``.rescheduled`` and
``.canceled`` add its calendar invitation (``ics``, app/services/calendars.py), whose
``calendar_sequence`` every change of time or place and the cancellation bump here.
A conversation is always read with its agenda and reschedule history, as row arrays in the
one statement that reads it (``READER``), so the cost does not grow with the agenda's size;
writes answer through the same statement.
Notes are separate resources and never part of a conversation's payload.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    NotPermitted,
    ValidationFailed,
)
from app.core.pagination import PageParams
from app.core.rows import Record, Shape, dumps
from app.models.action_plan import ItemStatus
from app.models.base import sql_value, utcnow, uuid7
from app.models.conversation import Conversation, ConversationStatus
from app.models.conversation import ConversationReschedule as RescheduleRecord
from app.models.conversation_series import ConversationSeries
from app.models.person import Person
from app.models.tenant import Tenant
from app.schemas.action_plans import ActionItemRead
from app.schemas.conversations import (
    AgendaItemRead,
    ConversationCancel,
    ConversationComplete,
    ConversationCreate,
    ConversationPrepare,
    ConversationRead,
    ConversationReschedule,
    ConversationSchedule,
    ConversationUpdate,
    RescheduleRead,
)
from app.services import agenda_templates, calendars, events, series_agenda, visibility
from app.services.common import (
    Reader,
    apply_changes,
    check_external_id_free,
    check_if_match,
    external_id_taken,
    get_owned,
    reject_nulls,
    unknown_reference,
)
from app.services.scheduling import Rule, not_fired

REVEALED = "conversation.preparation_revealed"
THRESHOLD = "conversation.reschedule_threshold_reached"
_SEALED = "sealed"

# Rows that belong to a conversation and go with it when it is deleted.
OWN_TABLES = frozenset({"agenda_items", "conversation_notes", "conversation_reschedules"})

_ALL_FIELDS = frozenset(ConversationUpdate.model_fields)
# Which PATCH fields each status accepts: the record of a past conversation stays put.
EDITABLE: dict[str, frozenset[str]] = {
    "draft": _ALL_FIELDS,
    "scheduled": _ALL_FIELDS - {"scheduled_start"},
    "completed": frozenset(
        {"summary", "aspiration_version_id", "assessment_version_id", "external_id", "metadata"}
    ),
    "canceled": frozenset({"external_id", "metadata"}),
}


class ConversationClosed(Conflict):
    """A write the conversation's status no longer allows (not itself a transition)."""

    code, title = "conversation_closed", "Conversation closed"

    def __init__(self, detail: str, current: str) -> None:
        super().__init__(detail, extra={"current_status": current})


# Reading: one statement for a conversation or a page, also behind every write's answer ----


def _preparation(row: Record) -> dict[str, Any]:
    employee_at, facilitator_at = row["employee_prepared_at"], row["facilitator_prepared_at"]
    unprepared = []
    if employee_at is None:
        unprepared.append(row["employee_id"])
    if facilitator_at is None:
        unprepared.append(row["facilitator_id"])
    return {
        "employee_prepared_at": employee_at,
        "facilitator_prepared_at": facilitator_at,
        "unprepared": unprepared,
        "revealed_at": row["preparation_revealed_at"],
    }


def _scheduled_end(row: Record) -> datetime | None:
    start = row["scheduled_start"]
    return None if start is None else start + timedelta(minutes=row["duration_minutes"])


_DONE = sql_value(ItemStatus, "done")
AGENDA_ITEM = Shape(AgendaItemRead)
RESCHEDULE = Shape(RescheduleRead)
ACTION_ITEM = Shape(ActionItemRead)
CONVERSATION = Shape(
    ConversationRead,
    reschedules=lambda row: RESCHEDULE.many(row["moves"]),
    open_action_items=lambda row: (
        None if row["open_items"] is None else ACTION_ITEM.many(row["open_items"])
    ),
    preparation=_preparation,
    agenda_items=lambda row: AGENDA_ITEM.many(row["agenda"]),
    scheduled_end=_scheduled_end,
)
# A conversation with its agenda and reschedule history as arrays of rows, in one statement
# (asyncpg decodes the row arrays); a consistent snapshot without a transaction. The agenda
# holds the shared items and the viewer's own sealed ones (the platform: shared only).
READER = Reader(
    Conversation,
    CONVERSATION,
    # B608: constants of ours; {viewer} becomes a bind parameter
    extra=f", {visibility.seen_agenda('t.id', '{viewer}')} AS agenda, "  # nosec B608
    "CASE WHEN t.reschedule_count > 0 THEN ARRAY(SELECT r FROM conversation_reschedules r "
    "WHERE r.conversation_id = t.id ORDER BY r.created_at, r.id) END AS moves, "
    # A series' occurrence: the open action items of the plans tied to its occurrences, those
    # the viewer owns, is assigned or facilitates (the platform: all).
    "CASE WHEN t.series_id IS NOT NULL THEN ARRAY(SELECT i FROM conversations o "
    "JOIN action_plans p ON p.tenant_id = o.tenant_id AND p.conversation_id = o.id "
    "JOIN action_items i ON i.plan_id = p.id "
    f"WHERE o.series_id = t.series_id AND i.status <> {_DONE} AND ({{viewer}} IS NULL "
    "OR {viewer} IN (p.owner_id, i.assignee_id, o.facilitator_id)) "
    "ORDER BY p.created_at, p.id, i.position, i.id) END AS open_items",
    visible=visibility.CONVERSATIONS,
)


async def fetch_page(
    db: RequestDb,
    principal: Principal,
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
) -> list[asyncpg.Record]:
    """A page of conversation rows, newest first (one more than the limit): one statement."""
    where = READER.where(principal)
    where.filter("t.employee_id = {}", employee_id)
    where.filter("t.facilitator_id = {}", facilitator_id)
    where.filter("(t.employee_id = {0} OR t.facilitator_id = {0})", person_id)
    where.filter("t.status = {}", status)
    where.filter("t.kind = {}", kind)
    where.filter("t.scheduled_start >= {}", scheduled_after)
    where.filter("t.scheduled_start < {}", scheduled_before)
    where.filter("t.updated_at >= {}", updated_since)
    return await READER.page(db, where, params, principal)


async def read(
    session: AsyncSession, conversation: Conversation, principal: Principal | None = None
) -> ConversationRead:
    """The conversation as the API shows it to ``principal`` (default: as the platform sees
    it, as events carry it), after the session's changes (flushed)."""
    return ConversationRead.model_validate(await READER.reread(session, conversation.id, principal))


async def snapshot(session: AsyncSession, conversation_id: uuid.UUID) -> dict[str, Any]:
    """The conversation as the API shows it, for events written outside a request."""
    conversation = await session.get(Conversation, conversation_id, populate_existing=True)
    if conversation is None:
        raise NotFound(f"No conversation with id {conversation_id}.")
    return (await read(session, conversation)).model_dump(mode="json")


async def get(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Conversation:
    """The conversation, if the acting person sees it (404 if missing, another tenant's or
    invisible); writes lock it."""
    conversation = await get_owned(
        session, Conversation, principal.tenant_id, conversation_id, for_update=for_update
    )
    await visibility.require_visible(
        session, principal, visibility.CONVERSATIONS, conversation_id, "conversation"
    )
    return conversation


def permit_party(principal: Principal, conversation: Conversation, action: str) -> None:
    """403 unless the platform acts or the acting person is a party (employee or
    facilitator)."""
    visibility.permit(
        principal,
        (conversation.employee_id, conversation.facilitator_id),
        f"Only the conversation's employee or facilitator may {action} it.",
    )


async def get_for_action(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, action: str
) -> Conversation:
    """The conversation for a lifecycle action by a party: loaded (404), locked
    ``FOR UPDATE``, the acting person a party (403, before any state rule)."""
    conversation = await get(session, principal, conversation_id, for_update=True)
    permit_party(principal, conversation, action)
    return conversation


async def get_for_write(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    if_match: str | None,
    action: str = "change",
) -> Conversation:
    """The conversation for a PATCH or DELETE: loaded (404), locked ``FOR UPDATE``, the acting
    person a party (403) and checked against ``If-Match`` (412)."""
    conversation = await get_for_action(session, principal, conversation_id, action)
    return check_if_match(if_match, conversation)


# Writing ---------------------------------------------------------------------------------


async def _emit(
    session: AsyncSession,
    principal: Principal | None,
    type: str,
    data: ConversationRead,
    more: dict[str, Any] | None = None,
    *,
    tenant_id: uuid.UUID | None = None,
) -> None:
    """Write the event (``principal`` None: the scheduler acts, ``tenant_id`` given)."""
    payload = data.model_dump(mode="json")
    if more:
        payload.update(more)
    if principal is not None:
        tenant_id = principal.tenant_id
    assert tenant_id is not None
    await events.record(
        session,
        tenant_id=tenant_id,
        type=type,
        subject_type="conversation",
        subject_id=data.id,
        data=payload,
        actor=principal,
    )


async def _changed(
    session: AsyncSession, principal: Principal | None, type: str, conversation: Conversation
) -> ConversationRead:
    """Flush a change, write its event (the conversation as the platform sees it) and return
    the conversation as the acting person sees it."""
    await session.flush()
    data = await read(session, conversation)
    if type in calendars.CALENDAR_EVENTS:
        # the invitation goes along, as the platform sees it (null: a draft without a start)
        ics = None
        if conversation.scheduled_start is not None:
            ics = await calendars.event_text(session, conversation.id)
        await _emit(session, principal, type, data, {"ics": ics}, tenant_id=conversation.tenant_id)
    else:
        await _emit(session, principal, type, data, tenant_id=conversation.tenant_id)
    return await _answer(session, principal, conversation, data)


async def _answer(
    session: AsyncSession,
    principal: Principal | None,
    conversation: Conversation,
    platform: ConversationRead | None = None,
) -> ConversationRead:
    """The conversation as the acting person sees it (``platform``: the platform's view,
    already read)."""
    if (principal is None or principal.person_id is None) and platform is not None:
        return platform
    return await read(session, conversation, principal)


_CREATE_CHECKS = (
    "SELECT (SELECT timezone FROM people WHERE id = $1 AND tenant_id = $3) AS employee_tz, "
    "EXISTS (SELECT FROM people WHERE id = $2 AND tenant_id = $3) AS facilitator_found, "
    "(SELECT id FROM conversations WHERE tenant_id = $3 AND external_id = $4) AS holder, "
    # $5: a tenant template's id (NULL without one, or for a built-in)
    "(SELECT items FROM agenda_templates WHERE id = $5 AND tenant_id = $3) AS template_items, "
    # $6, $7: the aspiration and assessment versions it discusses (NULL: none), by owner
    "(SELECT person_id FROM aspirations WHERE id = $6 AND tenant_id = $3) AS aspiration_of, "
    "(SELECT person_id FROM assessments WHERE id = $7 AND tenant_id = $3) AS assessment_of"
)
_COLUMNS: tuple[str, ...] = tuple(Conversation.__table__.columns.keys())  # type: ignore[attr-defined]
_INSERT = (
    # B608: column names of our table; values are bind parameters
    f"INSERT INTO conversations ({', '.join(_COLUMNS)}) "  # nosec B608
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_COLUMNS) + 1))})"
)


def _check_version(
    kind: str, ident: uuid.UUID | None, owner: uuid.UUID | None, employee_id: uuid.UUID
) -> None:
    """A referenced aspiration or assessment version is the employee's (422 otherwise)."""
    if ident is not None and owner != employee_id:
        raise ValidationFailed.field(
            f"/body/{kind}_version_id",
            f"No {kind} version with id {ident} of employee {employee_id} in this tenant.",
            "unknown_reference",
        )


_VERSION_OWNERS = (
    "SELECT (SELECT person_id FROM aspirations WHERE id = $1 AND tenant_id = $3), "
    "(SELECT person_id FROM assessments WHERE id = $2 AND tenant_id = $3)"
)


async def _check_versions(
    session: AsyncSession, conversation: Conversation, changes: dict[str, Any]
) -> None:
    """A PATCH's aspiration and assessment versions are the employee's (422 otherwise)."""
    aspiration = changes.get("aspiration_version_id")
    assessment = changes.get("assessment_version_id")
    if aspiration is None and assessment is None:
        return
    raw = await visibility.session_raw(session)
    owners = await raw.fetchrow(_VERSION_OWNERS, aspiration, assessment, conversation.tenant_id)
    assert owners is not None
    _check_version("aspiration", aspiration, owners[0], conversation.employee_id)
    _check_version("assessment", assessment, owners[1], conversation.employee_id)


async def create(
    db: RequestDb, principal: Principal, body: ConversationCreate
) -> tuple[dict[str, Any], bytes]:
    """A new draft: its row and its JSON. One statement checks the references and the
    external id; one more writes the row, its event and its webhook deliveries."""
    tenant_id = principal.tenant_id
    template_items = None
    stored_template = None
    if body.template_id is not None:
        template_items = agenda_templates.builtin_items(body.template_id)
        stored_template = body.template_id if template_items is None else None
    checks = await (await db.raw()).fetchrow(
        _CREATE_CHECKS,
        body.employee_id,
        body.facilitator_id,
        tenant_id,
        body.external_id,
        stored_template,
        body.aspiration_version_id,
        body.assessment_version_id,
    )
    assert checks is not None
    if checks["employee_tz"] is None:
        raise unknown_reference("/body/employee_id", Person, body.employee_id)
    if not checks["facilitator_found"]:
        raise unknown_reference("/body/facilitator_id", Person, body.facilitator_id)
    _check_version(
        "aspiration", body.aspiration_version_id, checks["aspiration_of"], body.employee_id
    )
    _check_version(
        "assessment", body.assessment_version_id, checks["assessment_of"], body.employee_id
    )
    if body.employee_id == body.facilitator_id:
        raise ValidationFailed.field(
            "/body/facilitator_id",
            "The facilitator must be another person than the employee.",
            "same_person",
        )
    if principal.person_id not in (None, body.employee_id, body.facilitator_id) and not (
        await visibility.manages_raw(await db.raw(), principal, body.employee_id)
    ):
        raise NotPermitted(
            "A conversation is created by its employee, its facilitator or a manager of the "
            "employee."
        )
    if checks["holder"] is not None:
        assert body.external_id is not None
        raise external_id_taken(Conversation, body.external_id, checks["holder"])
    if stored_template is not None:
        template_items = checks["template_items"]
        if template_items is None:
            raise agenda_templates.unknown_template(stored_template)
    now = utcnow()
    row: dict[str, Any] = {
        "id": uuid7(),
        "tenant_id": tenant_id,
        "external_id": body.external_id,
        "metadata": body.metadata,
        "created_at": now,
        "updated_at": now,
        "employee_id": body.employee_id,
        "facilitator_id": body.facilitator_id,
        "kind": body.kind,
        "status": "draft",
        "scheduled_start": body.scheduled_start,
        "duration_minutes": body.duration_minutes,
        "timezone": body.timezone or checks["employee_tz"],
        "location": body.location,
        "meeting_url": body.meeting_url,
        "employee_objectives": body.employee_objectives,
        "facilitator_objectives": body.facilitator_objectives,
        "summary": body.summary,
        "reschedule_count": 0,
        "scheduled_at": None,
        "calendar_sequence": 0,
        "employee_prepared_at": None,
        "facilitator_prepared_at": None,
        "preparation_revealed_at": None,
        "completed_at": None,
        "canceled_at": None,
        "cancel_reason": None,
        "series_id": None,
        "occurrence_start": None,
        "aspiration_version_id": body.aspiration_version_id,
        "assessment_version_id": body.assessment_version_id,
    }
    agenda: list[dict[str, Any]] = []
    if body.template_id is not None and template_items is not None:
        agenda = agenda_templates.agenda_rows(
            tenant_id, row["id"], body.facilitator_id, body.template_id, template_items
        )
    data = dumps(CONVERSATION({**row, "agenda": agenda, "moves": None, "open_items": None}))
    values = [row[column] for column in _COLUMNS]
    values[_COLUMNS.index("metadata")] = dumps(body.metadata).decode()
    await events.record_sql(
        db,
        tenant_id=tenant_id,
        type="conversation.created",
        subject_type="conversation",
        subject_id=row["id"],
        data=data,
        actor=principal,
        along=_INSERT,
        along_params=values,
    )
    if agenda:  # only with a template: the fast path stays at two statements
        raw = await db.begin()
        await raw.executemany(agenda_templates.INSERT_ITEMS, agenda_templates.insert_params(agenda))
    return row, data


async def create_occurrence(
    session: AsyncSession, series: ConversationSeries, start: datetime
) -> Conversation:
    """A series' occurrence at ``start`` (UTC), made by the scheduler: created as a draft
    and scheduled, with ``conversation.created`` and ``conversation.scheduled`` (and their
    webhooks) like any other. The unique ``(series_id, occurrence_start)`` refuses a second
    copy of the same occurrence."""
    now = utcnow()
    conversation = Conversation(
        tenant_id=series.tenant_id,
        created_at=now,
        updated_at=now,
        employee_id=series.employee_id,
        facilitator_id=series.facilitator_id,
        kind=series.kind,
        status="draft",
        duration_minutes=series.duration_minutes,
        timezone=series.timezone,
        series_id=series.id,
        occurrence_start=start,
    )
    session.add(conversation)
    if series.agenda_template_id is not None:
        await session.flush()
        await agenda_templates.add_to_agenda(
            session, series.tenant_id, conversation, series.agenda_template_id, missing_ok=True
        )
    await _changed(session, None, "conversation.created", conversation)
    await schedule(session, None, conversation, ConversationSchedule(scheduled_start=start))
    return conversation


async def update(
    session: AsyncSession,
    principal: Principal,
    conversation: Conversation,
    body: ConversationUpdate,
) -> ConversationRead:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    reject_nulls(changes, ConversationUpdate.non_null)
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
    await _check_versions(session, conversation, changes)
    before = _placement(conversation)
    if apply_changes(conversation, changes):
        _bump_sequence(conversation, before)
        return await _changed(session, principal, "conversation.updated", conversation)
    return await _answer(session, principal, conversation)


def _placement(conversation: Conversation) -> tuple[Any, ...]:
    """What the calendar invitation's SEQUENCE follows: time, duration, zone and place."""
    return (
        conversation.scheduled_start,
        conversation.duration_minutes,
        conversation.timezone,
        conversation.location,
        conversation.meeting_url,
    )


def _bump_sequence(conversation: Conversation, before: tuple[Any, ...] | None = None) -> None:
    """Bump ``calendar_sequence`` (unless ``before``, the placement before the change, is
    still the placement: nothing a calendar cares about moved)."""
    if before is None or before != _placement(conversation):
        conversation.calendar_sequence += 1


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
    session: AsyncSession,
    principal: Principal | None,
    conversation: Conversation,
    body: ConversationSchedule,
) -> ConversationRead:
    """``draft → scheduled``, at the time sent or the one the draft already holds
    (``principal`` None: the scheduler, for a series' occurrence)."""
    _require(conversation, "schedule", "draft")
    start = body.scheduled_start or conversation.scheduled_start
    if start is None:
        raise ValidationFailed.field(
            "/body/scheduled_start",
            "This draft has no scheduled_start yet; send one.",
            "no_scheduled_start",
        )
    if body.template_id is not None:
        assert principal is not None
        await agenda_templates.add_to_agenda(
            session, principal.tenant_id, conversation, body.template_id
        )
    before = _placement(conversation)
    conversation.scheduled_start = start
    _set_time(conversation, body.duration_minutes, body.timezone)
    _bump_sequence(conversation, before)
    conversation.status = "scheduled"
    conversation.updated_at = conversation.scheduled_at = utcnow()
    return await _changed(session, principal, "conversation.scheduled", conversation)


async def reschedule(
    session: AsyncSession,
    principal: Principal,
    conversation: Conversation,
    body: ConversationReschedule,
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
        RescheduleRecord(
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
    _bump_sequence(conversation)
    conversation.reschedule_count += 1
    conversation.updated_at = now
    data = await _changed(session, principal, "conversation.rescheduled", conversation)
    threshold = await session.scalar(
        select(col(Tenant.reschedule_alert_threshold)).where(
            col(Tenant.id) == conversation.tenant_id
        )
    )
    if conversation.reschedule_count == threshold:  # counts only go up: once
        await _emit(session, principal, THRESHOLD, await read(session, conversation))
    return data


async def complete(
    session: AsyncSession,
    principal: Principal,
    conversation: Conversation,
    body: ConversationComplete,
) -> ConversationRead:
    """``scheduled → completed``; the summary may be sent along. The meeting took place, so
    sealed agenda items are revealed (if the scheduler has not done it already)."""
    _require(conversation, "complete", "scheduled")
    now = utcnow()
    # A past ``completed_at`` imports history; without it the conversation completes now,
    # even before its scheduled start (it happened early).
    completed_at = body.completed_at or now
    if completed_at > now:
        raise ValidationFailed.field(
            "/body/completed_at", "completed_at may not be in the future.", "in_future"
        )
    start = conversation.scheduled_start
    if body.completed_at is not None and start is not None and completed_at < start:
        raise ValidationFailed.field(
            "/body/completed_at",
            "completed_at may not be before the conversation's scheduled_start.",
            "before_start",
        )
    if body.summary is not None:
        conversation.summary = body.summary
    conversation.status = "completed"
    conversation.completed_at = completed_at
    conversation.updated_at = now
    data = await _changed(session, principal, "conversation.completed", conversation)
    if await reveal(session, conversation, now):
        data = await _changed(session, principal, REVEALED, conversation)
    if conversation.series_id is not None:
        await series_agenda.carry_forward(
            session, principal, conversation.tenant_id, conversation.series_id, now
        )
    return data


async def cancel(
    session: AsyncSession,
    principal: Principal,
    conversation: Conversation,
    body: ConversationCancel,
) -> ConversationRead:
    """``draft | scheduled → canceled``, with the reason."""
    _require(conversation, "cancel", "draft", "scheduled")
    now = utcnow()
    data = await _cancel(session, principal, conversation, body.reason, now)
    if conversation.series_id is not None:
        await series_agenda.carry_forward(
            session, principal, conversation.tenant_id, conversation.series_id, now
        )
    return data


async def reassign_facilitator(
    session: AsyncSession, principal: Principal, conversation: Conversation, to: uuid.UUID
) -> None:
    """A re-org moves an unstarted conversation to the employee's new manager
    (``conversation.updated``; the invitation's SEQUENCE goes up: its organiser changed)."""
    conversation.facilitator_id = to
    conversation.calendar_sequence += 1
    conversation.updated_at = utcnow()
    await _changed(session, principal, "conversation.updated", conversation)


async def _cancel(
    session: AsyncSession,
    principal: Principal,
    conversation: Conversation,
    reason: str | None,
    now: datetime,
) -> ConversationRead:
    """Mark the (locked) conversation canceled and record ``conversation.canceled`` (its
    invitation a ``METHOD:CANCEL``)."""
    conversation.status = "canceled"
    _bump_sequence(conversation)
    conversation.canceled_at = now
    conversation.cancel_reason = reason
    conversation.updated_at = now
    return await _changed(session, principal, "conversation.canceled", conversation)


async def cancel_occurrence(
    session: AsyncSession, principal: Principal, conversation: Conversation, reason: str
) -> None:
    """A series' occurrence its new rule no longer has (``series.regenerate``): canceled
    like any (its event carries the ``METHOD:CANCEL`` invitation), then detached from the
    rule (``occurrence_start`` null) so the new rule may have an occurrence at that time."""
    await _cancel(session, principal, conversation, reason, utcnow())
    conversation.occurrence_start = None
    await session.flush()


async def retime_occurrence(
    session: AsyncSession,
    principal: Principal,
    conversation: Conversation,
    duration_minutes: int,
    timezone: str,
) -> None:
    """A series' occurrence its new rule keeps, not moved by hand: it takes the series'
    duration and zone (``conversation.updated`` when either changed)."""
    before = _placement(conversation)
    _set_time(conversation, duration_minutes, timezone)
    if before != _placement(conversation):
        _bump_sequence(conversation)
        conversation.updated_at = utcnow()
        await _changed(session, principal, "conversation.updated", conversation)


async def prepare(
    session: AsyncSession,
    principal: Principal,
    conversation: Conversation,
    body: ConversationPrepare,
) -> ConversationRead:
    """Mark one party prepared (a person: themselves). Preparing again keeps the first time
    and writes no event. The second party's preparation reveals the sealed agenda items."""
    person_id = body.person_id or principal.person_id
    if person_id is None:
        raise ValidationFailed.field(
            "/body/person_id",
            "Send the person_id of the party who prepared (optional with Acting-Person).",
            "required_as_platform",
        )
    visibility.permit(principal, (person_id,), "A party marks only themselves prepared.")
    visibility.permit(
        principal,
        (conversation.employee_id, conversation.facilitator_id),
        "Only the conversation's employee or facilitator can prepare for it.",
    )
    _require(conversation, "prepare for", "draft", "scheduled")
    if person_id == conversation.employee_id:
        attr = "employee_prepared_at"
    elif person_id == conversation.facilitator_id:
        attr = "facilitator_prepared_at"
    else:
        raise ValidationFailed.field(
            "/body/person_id",
            "Only the conversation's employee or facilitator can prepare for it.",
            "not_a_party",
        )
    if getattr(conversation, attr) is not None:
        return await _answer(session, principal, conversation)
    now = utcnow()
    setattr(conversation, attr, now)
    conversation.updated_at = now
    data = await _changed(session, principal, "conversation.prepared", conversation)
    both = conversation.employee_prepared_at and conversation.facilitator_prepared_at
    if both and await reveal(session, conversation, now):
        data = await _changed(session, principal, REVEALED, conversation)
    return data


# Sealed preparation ----------------------------------------------------------------------

_REVEAL_ITEMS = sa.text(
    "UPDATE agenda_items SET visibility = 'shared', updated_at = :now "
    "WHERE conversation_id = :id AND visibility = 'sealed' RETURNING id"
)


async def reveal(
    session: AsyncSession, conversation: Conversation, now: datetime, *, always: bool = False
) -> bool:
    """Make the conversation's sealed agenda items shared for good and stamp
    ``preparation_revealed_at``; whether it did. A conversation without sealed items is
    left as it is (unless ``always``), and one already revealed always. ``conversation`` is
    locked; the caller writes the ``conversation.preparation_revealed`` event."""
    if conversation.preparation_revealed_at is not None:
        return False
    await session.flush()
    revealed = (await session.execute(_REVEAL_ITEMS, {"id": conversation.id, "now": now})).all()
    if not revealed and not always:
        return False
    conversation.preparation_revealed_at = now
    conversation.updated_at = now
    await session.flush()
    return True


def sealing_open(conversation: Conversation, now: datetime) -> bool:
    """Whether a sealed agenda item may still be added: not revealed, not both prepared,
    and the scheduled start (if any) still ahead."""
    return (
        conversation.preparation_revealed_at is None
        and not (conversation.employee_prepared_at and conversation.facilitator_prepared_at)
        and (conversation.scheduled_start is None or conversation.scheduled_start > now)
    )


async def _reveal_due(session: AsyncSession, conversation_id: uuid.UUID, now: datetime) -> None:
    """The scheduler's transition: the start passed (the row is locked by the candidates'
    ``FOR UPDATE``, which found sealed items; its event is written whatever happens here)."""
    conversation = await session.get(Conversation, conversation_id, populate_existing=True)
    assert conversation is not None
    await reveal(session, conversation, now, always=True)


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


# Time-driven events (run by app/background/scheduler.py): a scheduled conversation's
# reminder, the tenant's lead time before it starts; the reveal of its sealed agenda items
# once its start has passed (candidates are locked, skipping those a request holds, so a
# concurrent prepare or complete and the scheduler never both reveal).
SCHEDULED: tuple[Rule, ...] = (
    Rule(
        "conversation.reminder",
        "conversation",
        # B608: built from constants; values are bind parameters
        "SELECT c.tenant_id, c.id, c.scheduled_start FROM conversations c "  # nosec B608
        "JOIN tenants t ON t.id = c.tenant_id "
        f"WHERE c.status = {sql_value(ConversationStatus, 'scheduled')} "
        "AND c.scheduled_start > :now AND c.scheduled_start <= :horizon "
        "AND c.scheduled_start - make_interval(mins => t.conversation_reminder_lead_minutes) "
        "<= :now "
        f"AND {not_fired('c', 'c.scheduled_start', 'conversation.reminder')} "
        "ORDER BY c.scheduled_start LIMIT :limit",
        snapshot,
    ),
    Rule(
        REVEALED,
        "conversation",
        # B608: built from constants; values are bind parameters
        "SELECT c.tenant_id, c.id, c.scheduled_start FROM conversations c "  # nosec B608
        f"WHERE c.status = {sql_value(ConversationStatus, 'scheduled')} "
        "AND c.scheduled_start <= :now AND c.preparation_revealed_at IS NULL "
        "AND EXISTS (SELECT 1 FROM agenda_items a WHERE a.conversation_id = c.id "
        f"AND a.visibility = '{_SEALED}') "
        f"AND {not_fired('c', 'c.scheduled_start', REVEALED)} "
        "ORDER BY c.scheduled_start LIMIT :limit FOR UPDATE OF c SKIP LOCKED",
        snapshot,
        _reveal_due,
    ),
)
