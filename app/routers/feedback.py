"""Feedback: give, list (incl. who may see it), read, edit, delete."""

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
from app.schemas.feedback import FeedbackCreate, FeedbackKind, FeedbackRead, FeedbackUpdate
from app.services import feedback as service

router = api_router(prefix="/v1/feedback", tags=["feedback"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_feedback",
    summary="Give feedback",
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def create_feedback(
    body: FeedbackCreate, response: Response, principal: WriteKey, session: Session
) -> FeedbackRead:
    """Record feedback from one person to another, optionally tied to a conversation or goal.
    Acting for a person: `giver_id` is that person (403 `not_permitted`), and the
    conversation or goal one they see (422 otherwise)."""
    feedback = await service.create(session, principal, body)
    with_etag(response, feedback)
    response.headers["Location"] = f"/v1/feedback/{feedback.id}"
    return FeedbackRead.model_validate(feedback)


@router.get(
    "", response_model=Page[FeedbackRead], operation_id="list_feedback", summary="List feedback"
)
async def list_feedback(
    request: Request,
    principal: ReadKey,
    db: Db,
    params: PageParams = Depends(page_params),
    recipient_id: Annotated[uuid.UUID | None, Query(description="Feedback to this person.")] = None,
    giver_id: Annotated[uuid.UUID | None, Query(description="Feedback from this person.")] = None,
    conversation_id: Annotated[
        uuid.UUID | None, Query(description="Feedback tied to this conversation.")
    ] = None,
    goal_id: Annotated[uuid.UUID | None, Query(description="Feedback tied to this goal.")] = None,
    request_id: Annotated[
        uuid.UUID | None, Query(description="The feedback that answered this request.")
    ] = None,
    kind: Annotated[FeedbackKind | None, Query()] = None,
    competency_id: Annotated[
        uuid.UUID | None, Query(description="Feedback whose `competency_ids` include this one.")
    ] = None,
    visible_to: Annotated[
        uuid.UUID | None,
        Query(
            description="Only feedback this person may see: they gave or received it, or they "
            "manage its recipient and its visibility is `recipient_and_manager`."
        ),
    ] = None,
    updated_since: Annotated[
        Instant | None, Query(description="Only feedback changed at or after this time.")
    ] = None,
) -> Response:
    """Feedback, newest first. Acting for a person (`Acting-Person`), only what they may see;
    `visible_to` narrows any list the same way for another person."""
    rows = await service.fetch_page(
        db,
        principal,
        params,
        recipient_id=recipient_id,
        giver_id=giver_id,
        conversation_id=conversation_id,
        goal_id=goal_id,
        request_id=request_id,
        kind=kind,
        competency_id=competency_id,
        visible_to=visible_to,
        updated_since=updated_since,
    )
    return service.READER.answer_page(request, rows, params)


@router.get(
    "/{feedback_id}",
    operation_id="get_feedback",
    summary="Get feedback",
    responses=problem_responses(404),
    response_model=FeedbackRead,
)
async def get_feedback(feedback_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """One piece of feedback, with an `ETag` to send back as `If-Match` when updating."""
    return service.READER.answer(await service.READER.one(db, principal, feedback_id))


@router.patch(
    "/{feedback_id}",
    operation_id="update_feedback",
    summary="Edit feedback",
    responses=problem_responses(404, 409, 412),
)
async def update_feedback(
    feedback_id: uuid.UUID,
    body: FeedbackUpdate,
    response: Response,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> FeedbackRead:
    """Change the body, kind, visibility, external id or metadata; the people stay fixed.
    Acting for a person: the giver only (403 `not_permitted`)."""
    feedback = await service.get_for_write(session, principal, feedback_id, if_match)
    feedback = await service.update(session, principal, feedback, body)
    with_etag(response, feedback)
    return FeedbackRead.model_validate(feedback)


@router.delete(
    "/{feedback_id}",
    operation_id="delete_feedback",
    summary="Delete feedback",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 412),
)
async def delete_feedback(
    feedback_id: uuid.UUID, principal: WriteKey, session: Session, if_match: IfMatch = None
) -> Response:
    """Delete a piece of feedback (a request it answered stays `answered`). Acting for a
    person: the giver only (403 `not_permitted`)."""
    feedback = await service.get_for_write(session, principal, feedback_id, if_match)
    await service.delete(session, principal, feedback)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
