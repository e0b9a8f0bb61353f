"""Feedback requests: someone asked for feedback by a date; answering creates the feedback."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from app.core.pagination import PageParams
from app.core.rows import Shape
from app.models.base import sql_value, utcnow
from app.models.feedback import Feedback, FeedbackRequest, FeedbackRequestStatus
from app.models.person import Person
from app.schemas.feedback import (
    FeedbackRequestAnswer,
    FeedbackRequestCreate,
    FeedbackRequestDecline,
    FeedbackRequestRead,
    FeedbackRequestUpdate,
)
from app.services import events, visibility
from app.services import feedback as feedback_service
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

LABEL = "feedback request"
OPEN_ONLY_FIELDS = ("prompt", "due_at")


class PastDue(Conflict):
    code, title = "past_due", "Feedback request past due"


async def _emit(
    session: AsyncSession, principal: Principal, type: str, request: FeedbackRequest
) -> None:
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=type,
        subject_type="feedback_request",
        subject_id=request.id,
        data=FeedbackRequestRead.model_validate(request).model_dump(mode="json"),
        actor=principal,
    )


def _check_future(due_at: datetime) -> None:
    if due_at <= utcnow():
        raise ValidationFailed.field("/body/due_at", "due_at must be in the future.", "in_past")


async def create(
    session: AsyncSession, principal: Principal, body: FeedbackRequestCreate
) -> FeedbackRequest:
    """A request by ``requester_id``; acting for a person, that person (403 otherwise)."""
    visibility.permit(
        principal, (body.requester_id,), "A person asks for feedback for themselves only."
    )
    tenant_id = principal.tenant_id
    await check_reference(session, Person, tenant_id, body.requester_id, "/body/requester_id")
    await check_reference(session, Person, tenant_id, body.responder_id, "/body/responder_id")
    if body.requester_id == body.responder_id:
        raise ValidationFailed.field(
            "/body/responder_id", "Ask someone other than the requester.", "same_person"
        )
    await feedback_service.check_links(session, principal, body.conversation_id, body.goal_id)
    _check_future(body.due_at)
    await check_external_id_free(session, FeedbackRequest, tenant_id, body.external_id)
    request = FeedbackRequest(
        tenant_id=tenant_id, metadata_=body.metadata, **body.model_dump(exclude={"metadata"})
    )
    session.add(request)
    await session.flush()
    await _emit(session, principal, "feedback_request.created", request)
    return request


async def get(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID, *, for_update: bool = False
) -> FeedbackRequest:
    """The request, if the acting person sees it (404 if missing, another tenant's or
    invisible); writes lock it."""
    request = await get_owned(
        session, FeedbackRequest, principal.tenant_id, request_id, for_update=for_update
    )
    await visibility.require_visible(
        session, principal, visibility.FEEDBACK_REQUESTS, request_id, LABEL
    )
    return request


async def get_for_write(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID, if_match: str | None
) -> FeedbackRequest:
    """The feedback request for a PATCH or DELETE: loaded (404), locked ``FOR UPDATE``, its
    requester's only (403 to another person) and checked against ``If-Match`` (412)."""
    request = await get(session, principal, request_id, for_update=True)
    visibility.permit(
        principal,
        (request.requester_id,),
        "Only its requester changes or deletes a feedback request.",
    )
    return check_if_match(if_match, request)


async def get_for_response(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID
) -> FeedbackRequest:
    """The request to answer or decline: loaded (404), locked, its responder's only (403 to
    another person, before any state rule)."""
    request = await get(session, principal, request_id, for_update=True)
    visibility.permit(
        principal,
        (request.responder_id,),
        "Only its responder answers or declines a feedback request.",
    )
    return request


async def snapshot(session: AsyncSession, request_id: uuid.UUID) -> dict[str, Any]:
    """The request as the API returns it, for events the scheduler writes (after it expires
    the row with SQL, hence ``populate_existing``)."""
    request = await session.get(FeedbackRequest, request_id, populate_existing=True)
    if request is None:
        raise NotFound(f"No feedback request with id {request_id}.")
    return FeedbackRequestRead.model_validate(request).model_dump(mode="json")


READER = Reader(FeedbackRequest, Shape(FeedbackRequestRead), visible=visibility.FEEDBACK_REQUESTS)


async def fetch_page(
    db: RequestDb,
    principal: Principal,
    params: PageParams,
    *,
    requester_id: uuid.UUID | None = None,
    responder_id: uuid.UUID | None = None,
    status: str | None = None,
    updated_since: datetime | None = None,
) -> list[asyncpg.Record]:
    """A page of rows, newest first (one more than the limit): one statement."""
    where = READER.where(principal)
    where.filter("t.requester_id = {}", requester_id)
    where.filter("t.responder_id = {}", responder_id)
    where.filter("t.status = {}", status)
    where.filter("t.updated_at >= {}", updated_since)
    return await READER.page(db, where, params, principal)


async def update(
    session: AsyncSession,
    principal: Principal,
    request: FeedbackRequest,
    body: FeedbackRequestUpdate,
) -> FeedbackRequest:
    changes = body.model_dump(exclude_unset=True)
    reject_nulls(changes, FeedbackRequestUpdate.non_null)
    if request.status != "open" and any(f in changes for f in OPEN_ONLY_FIELDS):
        raise InvalidTransition(LABEL, request.status, "change the prompt or due_at of")
    if "due_at" in changes and changes["due_at"] != request.due_at:
        _check_future(changes["due_at"])
    if "external_id" in changes:
        await check_external_id_free(
            session,
            FeedbackRequest,
            principal.tenant_id,
            changes["external_id"],
            exclude=request.id,
        )
    if apply_changes(request, changes):
        await session.flush()
        await _emit(session, principal, "feedback_request.updated", request)
    return request


async def answer(
    session: AsyncSession,
    principal: Principal,
    request: FeedbackRequest,
    body: FeedbackRequestAnswer,
) -> Feedback:
    """Create the responder's feedback to the requester and mark the request answered (the
    acting person, if any, is the responder: ``get_for_response``)."""
    if request.status != "open":
        raise InvalidTransition(LABEL, request.status, "answer")
    now = utcnow()
    if request.due_at <= now:
        raise PastDue(
            f"This feedback request was due at {request.due_at.isoformat()} and can no longer "
            "be answered.",
            extra={"current_status": request.status, "due_at": request.due_at.isoformat()},
        )
    await check_external_id_free(session, Feedback, principal.tenant_id, body.external_id)
    feedback = Feedback(
        tenant_id=principal.tenant_id,
        giver_id=request.responder_id,
        recipient_id=request.requester_id,
        kind=body.kind,
        body=body.body,
        visibility=body.visibility,
        conversation_id=request.conversation_id,
        goal_id=request.goal_id,
        request_id=request.id,
        external_id=body.external_id,
        metadata_=body.metadata,
    )
    request.status = "answered"
    request.answered_at = now
    request.updated_at = now
    await feedback_service.insert(session, principal, feedback)
    await _emit(session, principal, "feedback_request.answered", request)
    return feedback


async def decline(
    session: AsyncSession,
    principal: Principal,
    request: FeedbackRequest,
    body: FeedbackRequestDecline,
) -> FeedbackRequest:
    if request.status != "open":
        raise InvalidTransition(LABEL, request.status, "decline")
    now = utcnow()
    request.status = "declined"
    request.declined_at = now
    request.decline_reason = body.reason
    request.updated_at = now
    await session.flush()
    await _emit(session, principal, "feedback_request.declined", request)
    return request


async def delete(session: AsyncSession, principal: Principal, request: FeedbackRequest) -> None:
    if request.status == "answered":
        # The answering feedback points at it: deleting it would cut that history.
        raise InvalidTransition(LABEL, request.status, "delete")
    await _emit(session, principal, "feedback_request.deleted", request)
    await session.delete(request)
    await session.flush()


# Time-driven events (run by app/background/scheduler.py): an open request whose due
# moment has come expires, and says so.
_OPEN = sql_value(FeedbackRequestStatus, "open")


async def _expire(session: AsyncSession, ident: uuid.UUID, now: datetime) -> None:
    await session.execute(
        sa.text(
            # B608: the status is a constant of the status set; values are bind parameters
            f"UPDATE feedback_requests SET status = {sql_value(FeedbackRequestStatus, 'expired')}, "  # nosec B608
            f"updated_at = :now WHERE id = :id AND status = {_OPEN}"
        ),
        {"id": ident, "now": now},
    )


SCHEDULED: tuple[Rule, ...] = (
    Rule(
        "feedback_request.expired",
        "feedback_request",
        # B608: built from constants; values are bind parameters
        "SELECT r.tenant_id, r.id, r.due_at FROM feedback_requests r "  # nosec B608
        f"WHERE r.status = {_OPEN} AND r.due_at <= :now "
        f"AND {not_fired('r', 'r.due_at', 'feedback_request.expired')} "
        "ORDER BY r.due_at LIMIT :limit",
        snapshot,
        _expire,
    ),
)
