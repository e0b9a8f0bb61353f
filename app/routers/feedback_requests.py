"""Feedback requests: ask someone for feedback by a date; answer or decline."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response, status

from app.core.auth import ReadKey, WriteKey
from app.core.deps import Db, Session
from app.core.errors import problem_responses
from app.core.idempotency import Idempotent
from app.core.pagination import Page, PageParams, page_params
from app.routers.base import api_router
from app.routers.common import IfMatch, with_etag
from app.schemas.common import Instant
from app.schemas.feedback import (
    FeedbackRead,
    FeedbackRequestAnswer,
    FeedbackRequestAnswered,
    FeedbackRequestCreate,
    FeedbackRequestDecline,
    FeedbackRequestRead,
    FeedbackRequestStatus,
    FeedbackRequestUpdate,
)
from app.services import feedback_requests as service

router = api_router(prefix="/v1/feedback-requests", tags=["feedback"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_feedback_request",
    summary="Request feedback",
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def create_feedback_request(
    body: FeedbackRequestCreate, response: Response, principal: WriteKey, session: Session
) -> FeedbackRequestRead:
    """Ask `responder_id` for feedback to `requester_id`, due by `due_at` (in the future).
    Acting for a person: `requester_id` is that person (403 `not_permitted`), and the
    conversation or goal one they see (422 otherwise)."""
    request = await service.create(session, principal, body)
    with_etag(response, request)
    response.headers["Location"] = f"/v1/feedback-requests/{request.id}"
    return FeedbackRequestRead.model_validate(request)


@router.get(
    "",
    response_model=Page[FeedbackRequestRead],
    operation_id="list_feedback_requests",
    summary="List feedback requests",
)
async def list_feedback_requests(
    request: Request,
    principal: ReadKey,
    db: Db,
    params: PageParams = Depends(page_params),
    requester_id: Annotated[
        uuid.UUID | None, Query(description="Requests made by this person.")
    ] = None,
    responder_id: Annotated[
        uuid.UUID | None, Query(description="Requests addressed to this person.")
    ] = None,
    status: Annotated[FeedbackRequestStatus | None, Query()] = None,
    updated_since: Annotated[
        Instant | None, Query(description="Only requests changed at or after this time.")
    ] = None,
) -> Response:
    """Feedback requests, newest first."""
    rows = await service.fetch_page(
        db,
        principal,
        params,
        requester_id=requester_id,
        responder_id=responder_id,
        status=status,
        updated_since=updated_since,
    )
    return service.READER.answer_page(request, rows, params)


@router.get(
    "/{request_id}",
    operation_id="get_feedback_request",
    summary="Get a feedback request",
    responses=problem_responses(404),
    response_model=FeedbackRequestRead,
)
async def get_feedback_request(request_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """One feedback request, with an `ETag` to send back as `If-Match` when updating."""
    return service.READER.answer(await service.READER.one(db, principal, request_id))


@router.patch(
    "/{request_id}",
    operation_id="update_feedback_request",
    summary="Update a feedback request",
    responses=problem_responses(404, 409, 412),
)
async def update_feedback_request(
    request_id: uuid.UUID,
    body: FeedbackRequestUpdate,
    response: Response,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> FeedbackRequestRead:
    """Change the prompt or due time of an open request; external id and metadata any time.
    Acting for a person: the requester only (403 `not_permitted`)."""
    request = await service.get_for_write(session, principal, request_id, if_match)
    request = await service.update(session, principal, request, body)
    with_etag(response, request)
    return FeedbackRequestRead.model_validate(request)


@router.post(
    "/{request_id}/answer",
    operation_id="answer_feedback_request",
    summary="Answer a feedback request",
    dependencies=[Idempotent],
    responses=problem_responses(404, 409),
)
async def answer_feedback_request(
    request_id: uuid.UUID,
    body: FeedbackRequestAnswer,
    response: Response,
    principal: WriteKey,
    session: Session,
) -> FeedbackRequestAnswered:
    """Create the responder's feedback, mark the request `answered`; 409 if not open or past due.
    Acting for a person: the responder only (403 `not_permitted`, before any 409)."""
    request = await service.get_for_response(session, principal, request_id)
    feedback = await service.answer(session, principal, request, body)
    with_etag(response, request)
    return FeedbackRequestAnswered(
        request=FeedbackRequestRead.model_validate(request),
        feedback=FeedbackRead.model_validate(feedback),
    )


@router.post(
    "/{request_id}/decline",
    operation_id="decline_feedback_request",
    summary="Decline a feedback request",
    dependencies=[Idempotent],
    responses=problem_responses(404, 409),
)
async def decline_feedback_request(
    request_id: uuid.UUID,
    response: Response,
    principal: WriteKey,
    session: Session,
    body: FeedbackRequestDecline | None = None,
) -> FeedbackRequestRead:
    """Decline an open request, with an optional reason. Acting for a person: the responder
    only (403 `not_permitted`, before any 409)."""
    request = await service.get_for_response(session, principal, request_id)
    request = await service.decline(session, principal, request, body or FeedbackRequestDecline())
    with_etag(response, request)
    return FeedbackRequestRead.model_validate(request)


@router.delete(
    "/{request_id}",
    operation_id="delete_feedback_request",
    summary="Delete a feedback request",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 409, 412),
)
async def delete_feedback_request(
    request_id: uuid.UUID, principal: WriteKey, session: Session, if_match: IfMatch = None
) -> Response:
    """Delete an open, declined or expired request; an answered one is kept (409). Acting for
    a person: the requester only (403 `not_permitted`, before any 409)."""
    request = await service.get_for_write(session, principal, request_id, if_match)
    await service.delete(session, principal, request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
