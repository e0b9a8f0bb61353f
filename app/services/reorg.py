"""Re-orgs: what follows when a person's manager or status changes.

Every path that changes a person (``PATCH /v1/people/{id}``, the upsert by external id, the
batch sync, SCIM) calls ``person_changed`` after writing the person, in the same
transaction. It records ``person.manager_changed`` and, with the tenant's
``on_manager_change`` = ``reassign``, moves the open work the *old manager* held *as
manager* for that person to the new one:

- unstarted conversations (``draft``, or ``scheduled`` with a start still ahead) of the
  person as employee, facilitated by the old manager, of kind ``career``, ``skip_level`` or
  ``stay`` (a ``mentorship`` is held as mentor, not as manager: it stays);
- active or paused series of the person facilitated by the old manager, of those kinds;
- pending follow-ups assigned to the old manager on the person's conversations (of those
  kinds);
- open action items (not ``done``) assigned to the old manager in active plans the person
  owns.

Each moved record gets its resource's own ``.updated`` event. A new manager of ``null``
moves nothing (there is nobody to hand the work to); neither does ``keep``.

Deactivation (``status`` → ``inactive``) cancels the person's unstarted conversations (as
employee or facilitator) with the reason ``"The person was deactivated."`` and ends their
active or paused series (as either party). Cadence events only consider active people
(app/services/cadence.py), and a canceled conversation has no reminders.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.auth import Principal
from app.models.action_plan import ActionItem, ActionPlan
from app.models.base import utcnow
from app.models.conversation import Conversation
from app.models.conversation_series import ConversationSeries
from app.models.follow_up import FollowUp
from app.models.tenant import Tenant
from app.schemas.conversations import ConversationCancel
from app.services import action_plans, conversations, events, follow_ups, series

# The kinds a manager holds as manager (a mentorship is held as mentor).
MANAGER_KINDS = ("career", "skip_level", "stay")
DEACTIVATED_REASON = "The person was deactivated."


def _unstarted(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        col(Conversation.status) == "draft",
        sa.and_(
            col(Conversation.status) == "scheduled",
            sa.or_(
                col(Conversation.scheduled_start).is_(None),
                col(Conversation.scheduled_start) > now,
            ),
        ),
    )


async def person_changed(
    session: AsyncSession,
    principal: Principal,
    person_id: uuid.UUID,
    *,
    from_manager_id: uuid.UUID | None,
    to_manager_id: uuid.UUID | None,
    from_status: str,
    to_status: str,
) -> None:
    """What a change of a person's manager or status sets off (see the module's doc)."""
    if from_manager_id != to_manager_id:
        await events.record(
            session,
            tenant_id=principal.tenant_id,
            type="person.manager_changed",
            subject_type="person",
            subject_id=person_id,
            data={
                "person_id": str(person_id),
                "from_manager_id": None if from_manager_id is None else str(from_manager_id),
                "to_manager_id": None if to_manager_id is None else str(to_manager_id),
            },
            actor=principal,
        )
        if from_manager_id is not None and to_manager_id is not None:
            setting = await session.scalar(
                select(col(Tenant.on_manager_change)).where(Tenant.id == principal.tenant_id)
            )
            if setting == "reassign":
                await _reassign(session, principal, person_id, from_manager_id, to_manager_id)
    if from_status == "active" and to_status == "inactive":
        await _deactivate(session, principal, person_id)


async def _reassign(
    session: AsyncSession,
    principal: Principal,
    person_id: uuid.UUID,
    old: uuid.UUID,
    new: uuid.UUID,
) -> None:
    tenant_id = principal.tenant_id
    now = utcnow()
    moved = await session.scalars(
        select(Conversation)
        .where(
            Conversation.tenant_id == tenant_id,
            Conversation.employee_id == person_id,
            Conversation.facilitator_id == old,
            col(Conversation.kind).in_(MANAGER_KINDS),
            _unstarted(now),
        )
        .order_by(col(Conversation.id))
        .with_for_update()
    )
    for conversation in moved.all():
        await conversations.reassign_facilitator(session, principal, conversation, new)
    held = await session.scalars(
        select(ConversationSeries)
        .where(
            ConversationSeries.tenant_id == tenant_id,
            ConversationSeries.employee_id == person_id,
            ConversationSeries.facilitator_id == old,
            col(ConversationSeries.kind).in_(MANAGER_KINDS),
            col(ConversationSeries.status).in_(("active", "paused")),
        )
        .order_by(col(ConversationSeries.id))
        .with_for_update()
    )
    for one in held.all():
        await series.reassign_facilitator(session, principal, one, new)
    pending = await session.scalars(
        select(FollowUp)
        .join(Conversation, col(Conversation.id) == col(FollowUp.conversation_id))
        .where(
            FollowUp.tenant_id == tenant_id,
            FollowUp.assignee_id == old,
            FollowUp.status == "pending",
            Conversation.employee_id == person_id,
            col(Conversation.kind).in_(MANAGER_KINDS),
        )
        .order_by(col(FollowUp.id))
        .with_for_update(of=FollowUp)
    )
    for follow_up in pending.all():
        await follow_ups.reassign(session, principal, follow_up, new)
    items = await session.scalars(
        select(ActionItem)
        .join(ActionPlan, col(ActionPlan.id) == col(ActionItem.plan_id))
        .where(
            ActionItem.tenant_id == tenant_id,
            ActionItem.assignee_id == old,
            ActionItem.status != "done",
            ActionPlan.owner_id == person_id,
            ActionPlan.status == "active",
        )
        .order_by(col(ActionItem.id))
        .with_for_update(of=ActionItem)
    )
    for item in items.all():
        await action_plans.reassign_item(session, principal, item, new)


async def _deactivate(session: AsyncSession, principal: Principal, person_id: uuid.UUID) -> None:
    tenant_id = principal.tenant_id
    party = sa.or_(
        col(Conversation.employee_id) == person_id, col(Conversation.facilitator_id) == person_id
    )
    future = await session.scalars(
        select(Conversation)
        .where(Conversation.tenant_id == tenant_id, party, _unstarted(utcnow()))
        .order_by(col(Conversation.id))
        .with_for_update()
    )
    reason = ConversationCancel(reason=DEACTIVATED_REASON)
    for conversation in future.all():
        await conversations.cancel(session, principal, conversation, reason)
    held = await session.scalars(
        select(ConversationSeries)
        .where(
            ConversationSeries.tenant_id == tenant_id,
            sa.or_(
                col(ConversationSeries.employee_id) == person_id,
                col(ConversationSeries.facilitator_id) == person_id,
            ),
            col(ConversationSeries.status).in_(("active", "paused")),
        )
        .order_by(col(ConversationSeries.id))
        .with_for_update()
    )
    for one in held.all():
        await series.transition(session, principal, one, "end")
