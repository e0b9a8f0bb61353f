"""Feedback: constructive feedback and guidance from one person to another."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import ValidationFailed
from app.core.pagination import PageParams
from app.core.rows import Shape
from app.models.conversation import Conversation
from app.models.feedback import Feedback
from app.models.goal import Goal
from app.models.person import Person
from app.schemas.feedback import FeedbackCreate, FeedbackRead, FeedbackUpdate
from app.services import career_framework, events, visibility
from app.services.common import (
    Reader,
    apply_changes,
    check_external_id_free,
    check_if_match,
    check_reference,
    get_owned,
    reject_nulls,
)


async def _emit(session: AsyncSession, principal: Principal, type: str, feedback: Feedback) -> None:
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=type,
        subject_type="feedback",
        subject_id=feedback.id,
        data=FeedbackRead.model_validate(feedback).model_dump(mode="json"),
        actor=principal,
    )


async def insert(session: AsyncSession, principal: Principal, feedback: Feedback) -> Feedback:
    """Store already-validated feedback and record ``feedback.created``."""
    session.add(feedback)
    await session.flush()
    await _emit(session, principal, "feedback.created", feedback)
    return feedback


async def check_links(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID | None,
    goal_id: uuid.UUID | None,
) -> None:
    """The body's ``conversation_id`` and ``goal_id``: of the tenant and, acting for a person,
    visible to them (422 naming the field otherwise, exactly like an unknown id)."""
    tenant_id = principal.tenant_id
    pointer = "/body/conversation_id"
    await check_reference(session, Conversation, tenant_id, conversation_id, pointer)
    await visibility.check_visible_reference(
        session, principal, visibility.CONVERSATIONS, conversation_id, pointer, "conversation"
    )
    pointer = "/body/goal_id"
    await check_reference(session, Goal, tenant_id, goal_id, pointer)
    await visibility.check_visible_reference(
        session, principal, visibility.GOALS, goal_id, pointer, "goal"
    )


async def create(session: AsyncSession, principal: Principal, body: FeedbackCreate) -> Feedback:
    """Feedback from ``giver_id``; acting for a person, that person (403 otherwise)."""
    visibility.permit(principal, (body.giver_id,), "A person gives feedback as themselves only.")
    tenant_id = principal.tenant_id
    await check_reference(session, Person, tenant_id, body.giver_id, "/body/giver_id")
    await check_reference(session, Person, tenant_id, body.recipient_id, "/body/recipient_id")
    if body.giver_id == body.recipient_id:
        raise ValidationFailed.field(
            "/body/recipient_id", "Feedback goes to someone other than its giver.", "same_person"
        )
    await check_links(session, principal, body.conversation_id, body.goal_id)
    await check_external_id_free(session, Feedback, tenant_id, body.external_id)
    competency_ids = await career_framework.check_competencies(
        session, tenant_id, body.competency_ids, "/body/competency_ids"
    )
    feedback = Feedback(
        tenant_id=tenant_id,
        metadata_=body.metadata,
        competency_ids=competency_ids,
        **body.model_dump(exclude={"metadata", "competency_ids"}),
    )
    return await insert(session, principal, feedback)


async def get(
    session: AsyncSession, principal: Principal, feedback_id: uuid.UUID, *, for_update: bool = False
) -> Feedback:
    """The feedback, if the acting person sees it (404 if missing, another tenant's or
    invisible); writes lock it."""
    feedback = await get_owned(
        session, Feedback, principal.tenant_id, feedback_id, for_update=for_update
    )
    await visibility.require_visible(
        session, principal, visibility.FEEDBACK, feedback_id, "feedback"
    )
    return feedback


async def get_for_write(
    session: AsyncSession, principal: Principal, feedback_id: uuid.UUID, if_match: str | None
) -> Feedback:
    """The feedback for a PATCH or DELETE: loaded (404), locked ``FOR UPDATE``, its giver's
    only (403 to another person) and checked against ``If-Match`` (412)."""
    feedback = await get(session, principal, feedback_id, for_update=True)
    visibility.permit(
        principal, (feedback.giver_id,), "Only its giver changes or deletes a piece of feedback."
    )
    return check_if_match(if_match, feedback)


READER = Reader(Feedback, Shape(FeedbackRead), visible=visibility.FEEDBACK)


async def fetch_page(
    db: RequestDb,
    principal: Principal,
    params: PageParams,
    *,
    recipient_id: uuid.UUID | None = None,
    giver_id: uuid.UUID | None = None,
    conversation_id: uuid.UUID | None = None,
    goal_id: uuid.UUID | None = None,
    request_id: uuid.UUID | None = None,
    kind: str | None = None,
    competency_id: uuid.UUID | None = None,
    visible_to: uuid.UUID | None = None,
    updated_since: datetime | None = None,
) -> list[asyncpg.Record]:
    """A page of rows, newest first (one more than the limit): one statement."""
    where = READER.where(principal)
    where.filter("t.recipient_id = {}", recipient_id)
    where.filter("t.giver_id = {}", giver_id)
    where.filter("t.conversation_id = {}", conversation_id)
    where.filter("t.goal_id = {}", goal_id)
    where.filter("t.request_id = {}", request_id)
    where.filter("t.kind = {}", kind)
    where.filter("t.competency_ids @> ARRAY[{}::uuid]", competency_id)
    # Giver, recipient, or the recipient's manager when visibility includes the manager.
    where.filter(
        "(t.giver_id = {0} OR t.recipient_id = {0} OR (t.visibility = "
        "'recipient_and_manager' AND t.recipient_id IN (SELECT id FROM people "
        "WHERE tenant_id = t.tenant_id AND manager_id = {0})))",
        visible_to,
    )
    where.filter("t.updated_at >= {}", updated_since)
    return await READER.page(db, where, params, principal)


async def update(
    session: AsyncSession, principal: Principal, feedback: Feedback, body: FeedbackUpdate
) -> Feedback:
    changes = body.model_dump(exclude_unset=True)
    reject_nulls(changes, FeedbackUpdate.non_null)
    if "competency_ids" in changes:
        changes["competency_ids"] = await career_framework.check_competencies(
            session, principal.tenant_id, changes["competency_ids"], "/body/competency_ids"
        )
    if "external_id" in changes:
        await check_external_id_free(
            session, Feedback, principal.tenant_id, changes["external_id"], exclude=feedback.id
        )
    if apply_changes(feedback, changes):
        await session.flush()
        await _emit(session, principal, "feedback.updated", feedback)
    return feedback


async def delete(session: AsyncSession, principal: Principal, feedback: Feedback) -> None:
    await _emit(session, principal, "feedback.deleted", feedback)
    await session.delete(feedback)
    await session.flush()
