"""Follow-ups: dated check-ins after a conversation; complete or cancel them."""

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
from app.schemas.follow_ups import (
    FollowUpCancel,
    FollowUpCreate,
    FollowUpRead,
    FollowUpStatus,
    FollowUpUpdate,
)
from app.services import follow_ups as service

router = api_router(prefix="/v1/follow-ups", tags=["follow-ups"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_follow_up",
    summary="Create a follow-up",
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def create_follow_up(
    body: FollowUpCreate, response: Response, principal: WriteKey, session: Session
) -> FollowUpRead:
    """Schedule a check-in after a conversation; `follow_up.due` fires at `due_at`."""
    follow_up = await service.create(session, principal, body)
    with_etag(response, follow_up)
    response.headers["Location"] = f"/v1/follow-ups/{follow_up.id}"
    return FollowUpRead.model_validate(follow_up)


@router.get(
    "", response_model=Page[FollowUpRead], operation_id="list_follow_ups", summary="List follow-ups"
)
async def list_follow_ups(
    request: Request,
    principal: ReadKey,
    db: Db,
    params: PageParams = Depends(page_params),
    conversation_id: Annotated[
        uuid.UUID | None, Query(description="Follow-ups of this conversation.")
    ] = None,
    assignee_id: Annotated[
        uuid.UUID | None, Query(description="Follow-ups assigned to this person.")
    ] = None,
    status: Annotated[FollowUpStatus | None, Query()] = None,
    due_before: Annotated[
        Instant | None, Query(description="Only follow-ups due strictly before this time.")
    ] = None,
    due_after: Annotated[
        Instant | None, Query(description="Only follow-ups due at or after this time.")
    ] = None,
    updated_since: Annotated[
        Instant | None, Query(description="Only follow-ups changed at or after this time.")
    ] = None,
) -> Response:
    """Follow-ups, newest first."""
    rows = await service.fetch_page(
        db,
        principal,
        params,
        conversation_id=conversation_id,
        assignee_id=assignee_id,
        status=status,
        due_before=due_before,
        due_after=due_after,
        updated_since=updated_since,
    )
    return service.READER.answer_page(request, rows, params)


@router.get(
    "/{follow_up_id}",
    operation_id="get_follow_up",
    summary="Get a follow-up",
    responses=problem_responses(404),
    response_model=FollowUpRead,
)
async def get_follow_up(follow_up_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """One follow-up, with an `ETag` to send back as `If-Match` when updating."""
    return service.READER.answer(await service.READER.one(db, principal, follow_up_id))


@router.patch(
    "/{follow_up_id}",
    operation_id="update_follow_up",
    summary="Update a follow-up",
    responses=problem_responses(404, 409, 412),
)
async def update_follow_up(
    follow_up_id: uuid.UUID,
    body: FollowUpUpdate,
    response: Response,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> FollowUpRead:
    """Move, reassign or re-note a pending follow-up (a new `due_at` re-arms its due events)."""
    follow_up = await service.get_for_write(session, principal, follow_up_id, if_match)
    follow_up = await service.update(session, principal, follow_up, body)
    with_etag(response, follow_up)
    return FollowUpRead.model_validate(follow_up)


@router.post(
    "/{follow_up_id}/complete",
    operation_id="complete_follow_up",
    summary="Complete a follow-up",
    dependencies=[Idempotent],
    responses=problem_responses(404, 409),
)
async def complete_follow_up(
    follow_up_id: uuid.UUID, response: Response, principal: WriteKey, session: Session
) -> FollowUpRead:
    """Mark a pending follow-up done."""
    follow_up = await service.get_for_change(session, principal, follow_up_id)
    follow_up = await service.complete(session, principal, follow_up)
    with_etag(response, follow_up)
    return FollowUpRead.model_validate(follow_up)


@router.post(
    "/{follow_up_id}/cancel",
    operation_id="cancel_follow_up",
    summary="Cancel a follow-up",
    dependencies=[Idempotent],
    responses=problem_responses(404, 409),
)
async def cancel_follow_up(
    follow_up_id: uuid.UUID,
    response: Response,
    principal: WriteKey,
    session: Session,
    body: FollowUpCancel | None = None,
) -> FollowUpRead:
    """Cancel a pending follow-up, with an optional reason; no due events fire for it."""
    follow_up = await service.get_for_change(session, principal, follow_up_id)
    follow_up = await service.cancel(session, principal, follow_up, body or FollowUpCancel())
    with_etag(response, follow_up)
    return FollowUpRead.model_validate(follow_up)


@router.delete(
    "/{follow_up_id}",
    operation_id="delete_follow_up",
    summary="Delete a follow-up",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 412),
)
async def delete_follow_up(
    follow_up_id: uuid.UUID, principal: WriteKey, session: Session, if_match: IfMatch = None
) -> Response:
    """Delete a follow-up in any status."""
    follow_up = await service.get_for_write(session, principal, follow_up_id, if_match)
    await service.delete(session, principal, follow_up)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
