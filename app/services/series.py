"""Conversation series: create, read, list, pause, resume, end, and the scheduler's pass.

``active ⇄ paused → ended`` (``active → ended`` too). The scheduler keeps the occurrences
of every active series that start within the tenant's ``series_horizon_days`` created as
scheduled conversations (``conversations.create_occurrence``: the usual
``conversation.created`` and ``conversation.scheduled`` events and webhooks). Occurrences
are expanded from the local start in the series' zone (app/schemas/rrules.py), so 10:00
Europe/Berlin stays 10:00 across daylight-saving changes. Exactly once: the pass locks each
series row (``FOR UPDATE SKIP LOCKED``: a second scheduler skips it, or finds its
occurrences once the first committed) and the unique ``(series_id, occurrence_start)``
of ``conversations`` refuses any second copy. Paused and ended series create nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import InvalidTransition, NotPermitted, ValidationFailed
from app.core.pagination import PageParams
from app.core.rows import Shape
from app.models.agenda_template import AgendaTemplate
from app.models.base import sql_value, utcnow
from app.models.conversation import Conversation
from app.models.conversation_series import ConversationSeries, SeriesStatus
from app.models.person import Person
from app.models.tenant import Tenant
from app.schemas.rrules import expand
from app.schemas.series import (
    ConversationSeriesCreate,
    ConversationSeriesRead,
    ConversationSeriesUpdate,
)
from app.services import (
    agenda_templates,
    calendars,
    conversations,
    events,
    series_agenda,
    visibility,
)
from app.services.common import (
    Reader,
    apply_changes,
    check_external_id_free,
    check_if_match,
    check_reference,
    get_owned,
    reject_nulls,
    unknown_reference,
)

READER = Reader(ConversationSeries, Shape(ConversationSeriesRead), visible=visibility.SERIES)
# The most occurrences one series gets per pass (a daily rule over the longest horizon).
MAX_PER_PASS = 400
# Series per transaction of the scheduler's pass (each batch commits on its own).
SERIES_PER_BATCH = 200
_ACTIVE = sql_value(SeriesStatus, "active")


async def fetch_page(
    db: RequestDb,
    principal: Principal,
    params: PageParams,
    *,
    employee_id: uuid.UUID | None = None,
    facilitator_id: uuid.UUID | None = None,
    status: str | None = None,
    updated_since: datetime | None = None,
) -> list[asyncpg.Record]:
    """A page of series rows, newest first (one more than the limit): one statement."""
    where = READER.where(principal)
    where.filter("t.employee_id = {}", employee_id)
    where.filter("t.facilitator_id = {}", facilitator_id)
    where.filter("t.status = {}", status)
    where.filter("t.updated_at >= {}", updated_since)
    return await READER.page(db, where, params, principal)


async def read(session: AsyncSession, series: ConversationSeries) -> ConversationSeriesRead:
    return ConversationSeriesRead.model_validate(await READER.reread(session, series.id))


async def _emit(
    session: AsyncSession, principal: Principal, type: str, series: ConversationSeries
) -> ConversationSeriesRead:
    """Record the event (its data: the series with its calendar, ``ics``) and answer the
    series."""
    data = await read(session, series)
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=type,
        subject_type="conversation_series",
        subject_id=series.id,
        data={
            **data.model_dump(mode="json"),
            "ics": await calendars.series_event_text(session, series.id),
        },
        actor=principal,
    )
    return data


async def _check_template(
    session: AsyncSession, tenant_id: uuid.UUID, template_id: uuid.UUID | None
) -> None:
    if template_id is not None and (
        await agenda_templates.template_items(session, tenant_id, template_id) is None
    ):
        raise unknown_reference("/body/agenda_template_id", AgendaTemplate, template_id)


async def create(
    session: AsyncSession, principal: Principal, body: ConversationSeriesCreate
) -> ConversationSeriesRead:
    """A new active series; its occurrences come with the scheduler's next pass. A party
    or a manager of the employee may create it (403)."""
    tenant_id = principal.tenant_id
    await check_reference(session, Person, tenant_id, body.employee_id, "/body/employee_id")
    await check_reference(session, Person, tenant_id, body.facilitator_id, "/body/facilitator_id")
    if body.employee_id == body.facilitator_id:
        raise ValidationFailed.field(
            "/body/facilitator_id",
            "The facilitator must be another person than the employee.",
            "same_person",
        )
    if principal.person_id not in (None, body.employee_id, body.facilitator_id) and not (
        await visibility.manages(session, principal, body.employee_id)
    ):
        raise NotPermitted(
            "A series is created by its employee, its facilitator or a manager of the employee."
        )
    await check_external_id_free(session, ConversationSeries, tenant_id, body.external_id)
    await _check_template(session, tenant_id, body.agenda_template_id)
    now = utcnow()
    series = ConversationSeries(
        tenant_id=tenant_id,
        external_id=body.external_id,
        metadata_=body.metadata,
        created_at=now,
        updated_at=now,
        employee_id=body.employee_id,
        facilitator_id=body.facilitator_id,
        kind=body.kind,
        status="active",
        rrule=body.rrule,
        start=body.start,
        timezone=body.timezone,
        duration_minutes=body.duration_minutes,
        agenda_template_id=body.agenda_template_id,
    )
    session.add(series)
    await session.flush()
    return await _emit(session, principal, "conversation_series.created", series)


async def get_for_action(
    session: AsyncSession, principal: Principal, series_id: uuid.UUID, action: str
) -> ConversationSeries:
    """The series for an action by a party: loaded (404), visible (404), locked, the acting
    person its employee or facilitator (403, before any state rule)."""
    series = await get_owned(
        session, ConversationSeries, principal.tenant_id, series_id, for_update=True
    )
    await visibility.require_visible(
        session, principal, visibility.SERIES, series_id, "conversation series"
    )
    visibility.permit(
        principal,
        (series.employee_id, series.facilitator_id),
        f"Only the series' employee or facilitator may {action} it.",
    )
    return series


async def get_for_write(
    session: AsyncSession, principal: Principal, series_id: uuid.UUID, if_match: str | None
) -> ConversationSeries:
    """The series for a PATCH: as ``get_for_action``, then checked against ``If-Match``
    (412)."""
    return check_if_match(if_match, await get_for_action(session, principal, series_id, "change"))


# What a calendar follows: a change regenerates the occurrences that have not started.
_TIMING = ("rrule", "start", "timezone", "duration_minutes")


async def update(
    session: AsyncSession,
    principal: Principal,
    series: ConversationSeries,
    body: ConversationSeriesUpdate,
) -> ConversationSeriesRead:
    """Change an active or paused series (409 once ended). A new rule, start, zone or
    duration regenerates the occurrences that have not started (``regenerate``)."""
    if series.status == "ended":
        raise InvalidTransition("conversation series", series.status, "change")
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    reject_nulls(changes, ConversationSeriesUpdate.non_null)
    if "agenda_template_id" in changes:
        await _check_template(session, principal.tenant_id, changes["agenda_template_id"])
    if "external_id" in changes:
        await check_external_id_free(
            session,
            ConversationSeries,
            principal.tenant_id,
            changes["external_id"],
            exclude=series.id,
        )
    retimed = any(f in changes and changes[f] != getattr(series, f) for f in _TIMING)
    if not apply_changes(series, changes):
        return await read(session, series)
    if retimed:
        series.calendar_sequence += 1
        await session.flush()
        await regenerate(session, principal, series, utcnow())
    return await _emit(session, principal, "conversation_series.updated", series)


async def regenerate(
    session: AsyncSession, principal: Principal, series: ConversationSeries, now: datetime
) -> None:
    """After a change of rule or time: each occurrence that has not started (draft or
    scheduled, start ahead) and that the new rule still has at its ``occurrence_start``
    stays (one that was not moved by hand takes the new duration and zone); every other
    is canceled (``conversation.canceled``, its invitation a ``METHOD:CANCEL``) and leaves
    the rule; an active series then gets the new rule's occurrences within the horizon,
    and the canceled ones' undiscussed items move to the next of them. Completed and
    started occurrences are not touched."""
    future = (
        await session.scalars(
            select(Conversation)
            .where(
                col(Conversation.series_id) == series.id,
                col(Conversation.status).in_(("draft", "scheduled")),
                col(Conversation.scheduled_start) > now,
            )
            .order_by(col(Conversation.scheduled_start), col(Conversation.id))
            .with_for_update()
        )
    ).all()
    horizon = await _horizon(session, series.tenant_id)
    until = max(
        [now + horizon]
        + [c.occurrence_start + timedelta(seconds=1) for c in future if c.occurrence_start]
    )
    # From the earliest rule slot among them: one moved by hand into the future may have a
    # slot already past, which the new rule may still have.
    since = min([now] + [c.occurrence_start for c in future if c.occurrence_start])
    wanted = set(occurrences(series, since, until))
    for conversation in future:
        if conversation.occurrence_start not in wanted:
            await conversations.cancel_occurrence(
                session, principal, conversation, "The series' schedule changed."
            )
        elif conversation.reschedule_count == 0:
            await conversations.retime_occurrence(
                session, principal, conversation, series.duration_minutes, series.timezone
            )
    if series.status == "active":
        await fill_series(session, series, now, horizon)
    await series_agenda.carry_forward(session, principal, series.tenant_id, series.id, now)


async def _horizon(session: AsyncSession, tenant_id: uuid.UUID) -> timedelta:
    days = await session.scalar(
        select(col(Tenant.series_horizon_days)).where(col(Tenant.id) == tenant_id)
    )
    return timedelta(days=days or 35)


# action: (allowed from, new status, event)
_ACTIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "pause": (("active",), "paused", "conversation_series.paused"),
    "resume": (("paused",), "active", "conversation_series.resumed"),
    "end": (("active", "paused"), "ended", "conversation_series.ended"),
}


async def transition(
    session: AsyncSession, principal: Principal, series: ConversationSeries, action: str
) -> ConversationSeriesRead:
    allowed, status, type_ = _ACTIONS[action]
    if series.status not in allowed:
        raise InvalidTransition("conversation series", series.status, action)
    series.status = status
    series.calendar_sequence += 1
    series.updated_at = utcnow()
    await session.flush()
    return await _emit(session, principal, type_, series)


async def reassign_facilitator(
    session: AsyncSession, principal: Principal, series: ConversationSeries, to: uuid.UUID
) -> None:
    """A re-org moves a series (and so its future occurrences) to the employee's new manager
    (``conversation_series.updated``)."""
    series.facilitator_id = to
    series.calendar_sequence += 1
    series.updated_at = utcnow()
    await session.flush()
    await _emit(session, principal, "conversation_series.updated", series)


# The scheduler's pass -----------------------------------------------------------------


def occurrences(series: ConversationSeries, after: datetime, before: datetime) -> list[datetime]:
    """The series' occurrences (UTC) with ``after <= start < before``, at most
    ``MAX_PER_PASS``: expanded in the series' zone from its local start."""
    found: list[datetime] = []
    for local in expand(series.rrule, series.start, series.timezone, after):
        start = local.astimezone(UTC)
        if start >= before or len(found) >= MAX_PER_PASS:
            break
        if start >= after:
            found.append(start)
    return found


async def fill_horizon(
    session: AsyncSession, now: datetime, after: uuid.UUID | None = None
) -> tuple[int, uuid.UUID | None]:
    """Create the missing occurrences of up to ``SERIES_PER_BATCH`` active series (ids
    after ``after``) within their tenant's horizon: how many were created, and the last
    series id looked at (None when no series was left). Locked series (another
    scheduler's, or one a request is changing) are skipped."""
    query = (
        select(ConversationSeries, col(Tenant.series_horizon_days))
        .join(Tenant, col(Tenant.id) == col(ConversationSeries.tenant_id))
        .where(sa.text(f"conversation_series.status = {_ACTIVE}"))
        .order_by(col(ConversationSeries.id))
        .limit(SERIES_PER_BATCH)
        .with_for_update(of=ConversationSeries, skip_locked=True)
    )
    if after is not None:
        query = query.where(col(ConversationSeries.id) > after)
    rows = (await session.execute(query)).all()
    created = 0
    for series, horizon_days in rows:
        made = await fill_series(session, series, now, timedelta(days=horizon_days))
        if made:
            await series_agenda.carry_forward(session, None, series.tenant_id, series.id, now)
        created += made
    return created, (rows[-1][0].id if rows else None)


async def fill_series(
    session: AsyncSession, series: ConversationSeries, now: datetime, horizon: timedelta
) -> int:
    """Create the (locked) series' missing occurrences from ``now`` to ``now + horizon``;
    how many. An occurrence moved or canceled by hand keeps its ``occurrence_start``, so
    it is never created again."""
    wanted = occurrences(series, now, now + horizon)
    if not wanted:
        return 0
    existing = set(
        (
            await session.scalars(
                select(col(Conversation.occurrence_start)).where(
                    col(Conversation.series_id) == series.id,
                    col(Conversation.occurrence_start) >= wanted[0],
                    col(Conversation.occurrence_start) <= wanted[-1],
                )
            )
        ).all()
    )
    created = 0
    for start in wanted:
        if start not in existing:
            await conversations.create_occurrence(session, series, start)
            created += 1
    return created
