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

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import InvalidTransition, NotPermitted, ValidationFailed
from app.core.pagination import PageParams
from app.core.rows import Shape
from app.models.base import sql_value, utcnow
from app.models.conversation import Conversation
from app.models.conversation_series import ConversationSeries, SeriesStatus
from app.models.person import Person
from app.models.tenant import Tenant
from app.schemas.rrules import expand
from app.schemas.series import ConversationSeriesCreate, ConversationSeriesRead
from app.services import conversations, events, visibility
from app.services.common import (
    Reader,
    check_external_id_free,
    check_reference,
    get_owned,
)

READER = Reader(ConversationSeries, Shape(ConversationSeriesRead), visible=visibility.SERIES)
# The most occurrences one series gets per pass (a daily rule over the longest horizon).
MAX_PER_PASS = 400
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
    data = await read(session, series)
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=type,
        subject_type="conversation_series",
        subject_id=series.id,
        data=data.model_dump(mode="json"),
        actor=principal,
    )
    return data


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
    series.updated_at = utcnow()
    await session.flush()
    return await _emit(session, principal, type_, series)


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


async def fill_horizon(session: AsyncSession, now: datetime) -> int:
    """Create the missing occurrences of active series within their tenant's horizon;
    returns how many were created. Locked series (another scheduler's) are skipped."""
    rows = (
        await session.execute(
            select(ConversationSeries, col(Tenant.series_horizon_days))
            .join(Tenant, col(Tenant.id) == col(ConversationSeries.tenant_id))
            .where(sa.text(f"conversation_series.status = {_ACTIVE}"))
            .order_by(col(ConversationSeries.id))
            .with_for_update(of=ConversationSeries, skip_locked=True)
        )
    ).all()
    created = 0
    for series, horizon_days in rows:
        wanted = occurrences(series, now, now + timedelta(days=horizon_days))
        if not wanted:
            continue
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
        for start in wanted:
            if start not in existing:
                await conversations.create_occurrence(session, series, start)
                created += 1
    return created
