"""Follow-ups: dated check-ins after a conversation.

The scheduler emits ``follow_up.due`` / ``follow_up.overdue`` from ``due_at`` and
``status``; keeping both accurate (and ``updated_at`` bumped) is what re-arms it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import InvalidTransition, NotFound
from app.core.pagination import PageParams
from app.core.rows import Shape
from app.models.base import sql_value, utcnow
from app.models.conversation import Conversation
from app.models.follow_up import FollowUp, FollowUpStatus
from app.models.person import Person, PersonStatus
from app.schemas.follow_ups import FollowUpCancel, FollowUpCreate, FollowUpRead, FollowUpUpdate
from app.services import events, visibility
from app.services.common import (
    Reader,
    apply_changes,
    check_external_id_free,
    check_if_match,
    check_reference,
    get_owned,
    reject_nulls,
)
from app.services.scheduling import Rule, not_fired

LABEL = "follow-up"
PENDING_ONLY_FIELDS = ("due_at", "note", "assignee_id")


async def _emit(
    session: AsyncSession, principal: Principal, type: str, follow_up: FollowUp
) -> None:
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=type,
        subject_type="follow_up",
        subject_id=follow_up.id,
        data=FollowUpRead.model_validate(follow_up).model_dump(mode="json"),
        actor=principal,
    )


async def _permit(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    assignee_id: uuid.UUID | None,
    detail: str,
) -> None:
    """403 unless the platform acts or the acting person is a party of the conversation (or
    ``assignee_id``)."""
    if principal.person_id is None or principal.person_id == assignee_id:
        return
    parties = (
        await session.execute(
            select(col(Conversation.employee_id), col(Conversation.facilitator_id)).where(
                col(Conversation.id) == conversation_id
            )
        )
    ).one()
    visibility.permit(principal, parties, detail)


async def create(session: AsyncSession, principal: Principal, body: FollowUpCreate) -> FollowUp:
    """A person may create a follow-up of a conversation they are a party of (403 otherwise;
    422 for one they do not see)."""
    tenant_id = principal.tenant_id
    conversation = await check_reference(
        session, Conversation, tenant_id, body.conversation_id, "/body/conversation_id"
    )
    assert conversation is not None
    await visibility.check_visible_reference(
        session,
        principal,
        visibility.CONVERSATIONS,
        body.conversation_id,
        "/body/conversation_id",
        "conversation",
    )
    visibility.permit(
        principal,
        (conversation.employee_id, conversation.facilitator_id),
        "Only a party of the conversation (its employee or facilitator) may create its follow-ups.",
    )
    await check_reference(session, Person, tenant_id, body.assignee_id, "/body/assignee_id")
    await check_external_id_free(session, FollowUp, tenant_id, body.external_id)
    follow_up = FollowUp(
        tenant_id=tenant_id, metadata_=body.metadata, **body.model_dump(exclude={"metadata"})
    )
    session.add(follow_up)
    await session.flush()
    await _emit(session, principal, "follow_up.created", follow_up)
    return follow_up


async def get(
    session: AsyncSession,
    principal: Principal,
    follow_up_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> FollowUp:
    """The follow-up, if the acting person sees it (404 if missing, another tenant's or
    invisible); writes lock it."""
    follow_up = await get_owned(
        session, FollowUp, principal.tenant_id, follow_up_id, for_update=for_update
    )
    await visibility.require_visible(session, principal, visibility.FOLLOW_UPS, follow_up_id, LABEL)
    return follow_up


async def get_for_change(
    session: AsyncSession, principal: Principal, follow_up_id: uuid.UUID
) -> FollowUp:
    """The follow-up for an action (``complete``, ``cancel``): loaded (404), locked ``FOR
    UPDATE``, and the acting person a party of its conversation or its assignee (403)."""
    follow_up = await get(session, principal, follow_up_id, for_update=True)
    await _permit(
        session,
        principal,
        follow_up.conversation_id,
        follow_up.assignee_id,
        "Only a party of the conversation (its employee or facilitator) or the assignee may "
        "change this follow-up.",
    )
    return follow_up


async def get_for_write(
    session: AsyncSession, principal: Principal, follow_up_id: uuid.UUID, if_match: str | None
) -> FollowUp:
    """The follow-up for a PATCH or DELETE: loaded (404), locked ``FOR UPDATE``, the acting
    person allowed to change it (403) and checked against ``If-Match`` (412)."""
    return check_if_match(if_match, await get_for_change(session, principal, follow_up_id))


async def snapshot(session: AsyncSession, follow_up_id: uuid.UUID) -> dict[str, Any]:
    """The follow-up as the API returns it, for events the scheduler writes."""
    follow_up = await session.get(FollowUp, follow_up_id, populate_existing=True)
    if follow_up is None:
        raise NotFound(f"No follow-up with id {follow_up_id}.")
    return FollowUpRead.model_validate(follow_up).model_dump(mode="json")


READER = Reader(FollowUp, Shape(FollowUpRead), visible=visibility.FOLLOW_UPS)


async def fetch_page(
    db: RequestDb,
    principal: Principal,
    params: PageParams,
    *,
    conversation_id: uuid.UUID | None = None,
    assignee_id: uuid.UUID | None = None,
    status: str | None = None,
    due_before: datetime | None = None,
    due_after: datetime | None = None,
    updated_since: datetime | None = None,
) -> list[asyncpg.Record]:
    """A page of rows, newest first (one more than the limit): one statement."""
    where = READER.where(principal)
    where.filter("t.conversation_id = {}", conversation_id)
    where.filter("t.assignee_id = {}", assignee_id)
    where.filter("t.status = {}", status)
    where.filter("t.due_at < {}", due_before)
    where.filter("t.due_at >= {}", due_after)
    where.filter("t.updated_at >= {}", updated_since)
    return await READER.page(db, where, params, principal)


async def update(
    session: AsyncSession, principal: Principal, follow_up: FollowUp, body: FollowUpUpdate
) -> FollowUp:
    changes = body.model_dump(exclude_unset=True)
    reject_nulls(changes, FollowUpUpdate.non_null)
    if follow_up.status != "pending" and any(f in changes for f in PENDING_ONLY_FIELDS):
        raise InvalidTransition(LABEL, follow_up.status, "change the due_at, note or assignee of")
    if "assignee_id" in changes:
        await check_reference(
            session, Person, principal.tenant_id, changes["assignee_id"], "/body/assignee_id"
        )
    if "external_id" in changes:
        await check_external_id_free(
            session, FollowUp, principal.tenant_id, changes["external_id"], exclude=follow_up.id
        )
    if apply_changes(follow_up, changes):
        await session.flush()
        await _emit(session, principal, "follow_up.updated", follow_up)
    return follow_up


async def reassign(
    session: AsyncSession, principal: Principal, follow_up: FollowUp, to: uuid.UUID
) -> None:
    """A re-org moves a pending follow-up to the employee's new manager (``follow_up.updated``)."""
    follow_up.assignee_id = to
    follow_up.updated_at = utcnow()
    await session.flush()
    await _emit(session, principal, "follow_up.updated", follow_up)


async def complete(session: AsyncSession, principal: Principal, follow_up: FollowUp) -> FollowUp:
    if follow_up.status != "pending":
        raise InvalidTransition(LABEL, follow_up.status, "complete")
    now = utcnow()
    follow_up.status = "completed"
    follow_up.completed_at = now
    follow_up.updated_at = now
    await session.flush()
    await _emit(session, principal, "follow_up.completed", follow_up)
    return follow_up


async def cancel(
    session: AsyncSession, principal: Principal, follow_up: FollowUp, body: FollowUpCancel
) -> FollowUp:
    if follow_up.status != "pending":
        raise InvalidTransition(LABEL, follow_up.status, "cancel")
    now = utcnow()
    follow_up.status = "canceled"
    follow_up.canceled_at = now
    follow_up.cancel_reason = body.reason
    follow_up.updated_at = now
    await session.flush()
    await _emit(session, principal, "follow_up.canceled", follow_up)
    return follow_up


async def delete(session: AsyncSession, principal: Principal, follow_up: FollowUp) -> None:
    await _emit(session, principal, "follow_up.deleted", follow_up)
    await session.delete(follow_up)
    await session.flush()


# Time-driven events (run by app/background/scheduler.py): a pending follow-up's reminder
# (the tenant's lead time before it is due), its due moment and its overdue notice (the
# tenant's grace after it).
_PENDING = f"f.status = {sql_value(FollowUpStatus, 'pending')}"
_ACTIVE_PERSON = f"p.status = {sql_value(PersonStatus, 'active')}"
SCHEDULED: tuple[Rule, ...] = (
    Rule(
        "follow_up.reminder",
        "follow_up",
        # B608: built from constants; values are bind parameters
        "SELECT f.tenant_id, f.id, f.due_at FROM follow_ups f JOIN tenants t ON t.id = f.tenant_id "  # nosec B608
        f"WHERE {_PENDING} AND f.due_at > :now AND f.due_at <= :horizon "
        "AND f.due_at - make_interval(mins => t.follow_up_reminder_lead_minutes) <= :now "
        # a deactivated assignee is not reminded (due and overdue still tell the platform)
        f"AND EXISTS (SELECT 1 FROM people p WHERE p.id = f.assignee_id AND {_ACTIVE_PERSON}) "
        f"AND {not_fired('f', 'f.due_at', 'follow_up.reminder')} ORDER BY f.due_at LIMIT :limit",
        snapshot,
    ),
    Rule(
        "follow_up.due",
        "follow_up",
        # B608: built from constants; values are bind parameters
        "SELECT f.tenant_id, f.id, f.due_at FROM follow_ups f "  # nosec B608
        f"WHERE {_PENDING} AND f.due_at <= :now "
        f"AND {not_fired('f', 'f.due_at', 'follow_up.due')} ORDER BY f.due_at LIMIT :limit",
        snapshot,
    ),
    Rule(
        "follow_up.overdue",
        "follow_up",
        # B608: built from constants; values are bind parameters
        "SELECT f.tenant_id, f.id, f.due_at FROM follow_ups f JOIN tenants t ON t.id = f.tenant_id "  # nosec B608
        f"WHERE {_PENDING} "
        "AND f.due_at + make_interval(mins => t.follow_up_overdue_grace_minutes) <= :now "
        f"AND {not_fired('f', 'f.due_at', 'follow_up.overdue')} ORDER BY f.due_at LIMIT :limit",
        snapshot,
    ),
)
