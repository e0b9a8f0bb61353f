"""Goals: create, read, update, list, delete; agreement, lifecycle and conversation links."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Body, Depends, Query, Request, Response, status

from app.core.auth import ReadKey, WriteKey
from app.core.deps import Db, Session
from app.core.errors import problem_responses
from app.core.idempotency import Idempotent
from app.core.pagination import Page, PageParams, page_params
from app.routers.base import api_router
from app.routers.common import IfMatch, with_etag
from app.schemas.common import Instant
from app.schemas.goals import (
    GoalAbandon,
    GoalAgree,
    GoalCategory,
    GoalConversationLink,
    GoalCreate,
    GoalRead,
    GoalStatus,
    GoalUpdate,
)
from app.services import goals as service

router = api_router(prefix="/v1/goals", tags=["goals"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_goal",
    summary="Propose a goal",
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def create_goal(
    body: GoalCreate, response: Response, principal: WriteKey, session: Session
) -> GoalRead:
    """Create a `proposed` goal owned by an employee, optionally linked to conversations."""
    goal = await service.create(session, principal, body)
    with_etag(response, goal)
    response.headers["Location"] = f"/v1/goals/{goal.id}"
    return goal


@router.get("", operation_id="list_goals", summary="List goals", response_model=Page[GoalRead])
async def list_goals(
    request: Request,
    principal: ReadKey,
    db: Db,
    params: PageParams = Depends(page_params),
    owner_id: Annotated[uuid.UUID | None, Query(description="Goals of this employee.")] = None,
    status: Annotated[GoalStatus | None, Query()] = None,
    category: Annotated[GoalCategory | None, Query()] = None,
    conversation_id: Annotated[
        uuid.UUID | None, Query(description="Goals linked to this conversation.")
    ] = None,
    competency_id: Annotated[
        uuid.UUID | None, Query(description="Goals whose `competency_ids` include this one.")
    ] = None,
    updated_since: Annotated[
        Instant | None, Query(description="Only goals changed at or after this time.")
    ] = None,
) -> Response:
    """Goals, newest first, each with its `conversation_ids`."""
    rows = await service.fetch_page(
        db,
        principal,
        params,
        owner_id=owner_id,
        status=status,
        category=category,
        conversation_id=conversation_id,
        competency_id=competency_id,
        updated_since=updated_since,
    )
    return service.READER.answer_page(request, rows, params)


@router.get(
    "/{goal_id}",
    operation_id="get_goal",
    summary="Get a goal",
    responses=problem_responses(404),
    response_model=GoalRead,
)
async def get_goal(goal_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """One goal, with an `ETag` to send back as `If-Match` when updating."""
    return service.READER.answer(await service.READER.one(db, principal, goal_id))


@router.patch(
    "/{goal_id}",
    operation_id="update_goal",
    summary="Update a goal",
    responses=problem_responses(404, 409, 412),
)
async def update_goal(
    goal_id: uuid.UUID,
    body: GoalUpdate,
    response: Response,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> GoalRead:
    """Change the fields you send. Editing what was agreed to on a `proposed` goal clears
    the agreement; progress above 0 on an `agreed` goal starts it."""
    goal = await service.get_for_write(session, principal, goal_id, if_match)
    read = await service.update(session, principal, goal, body)
    with_etag(response, read)
    return read


@router.delete(
    "/{goal_id}",
    operation_id="delete_goal",
    summary="Delete a goal",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 409, 412),
)
async def delete_goal(
    goal_id: uuid.UUID, principal: WriteKey, session: Session, if_match: IfMatch = None
) -> Response:
    """Delete a goal no action plan or feedback refers to (409 otherwise: abandon it)."""
    goal = await service.get_for_write(session, principal, goal_id, if_match)
    await service.delete(session, principal, goal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{goal_id}/agree",
    operation_id="agree_goal",
    summary="Agree to a goal",
    dependencies=[Idempotent],
    responses=problem_responses(404, 409),
)
async def agree_goal(
    goal_id: uuid.UUID,
    response: Response,
    principal: WriteKey,
    session: Session,
    body: Annotated[GoalAgree | None, Body()] = None,
) -> GoalRead:
    """Record one party's agreement; the goal becomes `agreed` once both have agreed. The
    platform names `party` and `person_id`; a person (`Acting-Person`) records their own
    side and needs no body (403 for anyone who may not agree)."""
    goal = await service.get(session, principal, goal_id, for_update=True)
    read = await service.agree(session, principal, goal, body)
    with_etag(response, read)
    return read


@router.post(
    "/{goal_id}/start",
    operation_id="start_goal",
    summary="Start working on a goal",
    dependencies=[Idempotent],
    responses=problem_responses(404, 409),
)
async def start_goal(
    goal_id: uuid.UUID, response: Response, principal: WriteKey, session: Session
) -> GoalRead:
    """Move an `agreed` goal to `in_progress`."""
    goal = await service.get_for_change(session, principal, goal_id)
    read = await service.start(session, principal, goal)
    with_etag(response, read)
    return read


@router.post(
    "/{goal_id}/achieve",
    operation_id="achieve_goal",
    summary="Mark a goal achieved",
    dependencies=[Idempotent],
    responses=problem_responses(404, 409),
)
async def achieve_goal(
    goal_id: uuid.UUID, response: Response, principal: WriteKey, session: Session
) -> GoalRead:
    """Move an `agreed` or `in_progress` goal to `achieved`, with progress 100."""
    goal = await service.get_for_change(session, principal, goal_id)
    read = await service.achieve(session, principal, goal)
    with_etag(response, read)
    return read


@router.post(
    "/{goal_id}/abandon",
    operation_id="abandon_goal",
    summary="Abandon a goal",
    dependencies=[Idempotent],
    responses=problem_responses(404, 409),
)
async def abandon_goal(
    goal_id: uuid.UUID,
    response: Response,
    principal: WriteKey,
    session: Session,
    body: Annotated[GoalAbandon | None, Body()] = None,
) -> GoalRead:
    """Abandon a goal that is not yet achieved or abandoned, with an optional reason."""
    goal = await service.get_for_change(session, principal, goal_id)
    read = await service.abandon(session, principal, goal, body.reason if body else None)
    with_etag(response, read)
    return read


@router.post(
    "/{goal_id}/conversations",
    operation_id="link_goal_conversation",
    summary="Link a goal to a conversation",
    dependencies=[Idempotent],
    responses=problem_responses(404, 412),
)
async def link_goal_conversation(
    goal_id: uuid.UUID,
    body: GoalConversationLink,
    response: Response,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> GoalRead:
    """Record that the goal was discussed in a conversation of its owner (no-op if linked)."""
    goal = await service.get_for_write(session, principal, goal_id, if_match)
    read = await service.link_conversation(session, principal, goal, body.conversation_id)
    with_etag(response, read)
    return read


@router.delete(
    "/{goal_id}/conversations/{conversation_id}",
    operation_id="unlink_goal_conversation",
    summary="Unlink a goal from a conversation",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 412),
)
async def unlink_goal_conversation(
    goal_id: uuid.UUID,
    conversation_id: uuid.UUID,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> Response:
    """Remove one conversation from the goal's links (404 if it is not linked)."""
    goal = await service.get_for_write(session, principal, goal_id, if_match)
    await service.unlink_conversation(session, principal, goal, conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
