"""Action plans and their items; and items across plans ("what does this person owe")."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response, status

from app.core.auth import ReadKey, WriteKey
from app.core.deps import Db, Session
from app.core.errors import problem_responses
from app.core.idempotency import Idempotent
from app.core.pagination import Page, PageParams, build_page, by_position, page_params
from app.routers.base import api_router
from app.routers.common import IfMatch, with_etag
from app.schemas.action_plans import (
    ActionItemCreate,
    ActionItemRead,
    ActionItemUpdate,
    ActionPlanCreate,
    ActionPlanRead,
    ActionPlanUpdate,
    ItemStatus,
    PlanStatus,
)
from app.schemas.common import Day, Instant
from app.services import action_plans as service

router = api_router(prefix="/v1", tags=["action plans"])

PLANS = "/action-plans"
PLAN = "/action-plans/{plan_id}"
ITEMS = "/action-plans/{plan_id}/items"
ITEM = "/action-plans/{plan_id}/items/{item_id}"


@router.post(
    PLANS,
    status_code=status.HTTP_201_CREATED,
    operation_id="create_action_plan",
    summary="Create an action plan",
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def create_action_plan(
    body: ActionPlanCreate, response: Response, principal: WriteKey, session: Session
) -> ActionPlanRead:
    """Create a plan, optionally tied to a goal and/or the conversation it closes."""
    plan = await service.create(session, principal, body)
    with_etag(response, plan)
    response.headers["Location"] = f"/v1/action-plans/{plan.id}"
    return plan


@router.get(
    PLANS,
    operation_id="list_action_plans",
    summary="List action plans",
    response_model=Page[ActionPlanRead],
)
async def list_action_plans(
    request: Request,
    principal: ReadKey,
    db: Db,
    params: PageParams = Depends(page_params),
    owner_id: Annotated[uuid.UUID | None, Query()] = None,
    goal_id: Annotated[uuid.UUID | None, Query()] = None,
    conversation_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[PlanStatus | None, Query()] = None,
    updated_since: Annotated[
        Instant | None,
        Query(description="Only plans changed (including their items) at or after this time."),
    ] = None,
) -> Response:
    """Action plans, newest first, each with its items and completion."""
    rows = await service.fetch_page(
        db,
        principal,
        params,
        owner_id=owner_id,
        goal_id=goal_id,
        conversation_id=conversation_id,
        status=status,
        updated_since=updated_since,
    )
    return service.PLANS.answer_page(request, rows, params)


@router.get(
    PLAN,
    operation_id="get_action_plan",
    summary="Get an action plan",
    responses=problem_responses(404),
    response_model=ActionPlanRead,
)
async def get_action_plan(plan_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """One plan with its items (by position) and completion, and an `ETag`."""
    return service.PLANS.answer(await service.PLANS.one(db, principal, plan_id))


@router.patch(
    PLAN,
    operation_id="update_action_plan",
    summary="Update an action plan",
    responses=problem_responses(404, 409, 412),
)
async def update_action_plan(
    plan_id: uuid.UUID,
    body: ActionPlanUpdate,
    response: Response,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> ActionPlanRead:
    """Change the fields you send; `status` may be set to `completed` or `archived`."""
    plan = await service.get_for_write(session, principal, plan_id, if_match)
    read = await service.update(session, principal, plan, body)
    with_etag(response, read)
    return read


@router.delete(
    PLAN,
    operation_id="delete_action_plan",
    summary="Delete an action plan",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 409, 412),
)
async def delete_action_plan(
    plan_id: uuid.UUID, principal: WriteKey, session: Session, if_match: IfMatch = None
) -> Response:
    """Delete a plan together with its items."""
    plan = await service.get_for_write(session, principal, plan_id, if_match)
    await service.delete(session, principal, plan)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    ITEMS,
    status_code=status.HTTP_201_CREATED,
    operation_id="create_action_item",
    summary="Add an action item",
    dependencies=[Idempotent],
    responses=problem_responses(404, 409),
)
async def create_action_item(
    plan_id: uuid.UUID,
    body: ActionItemCreate,
    response: Response,
    principal: WriteKey,
    session: Session,
) -> ActionItemRead:
    """Add a step at `position` (default: last), assigned to the employee or the manager."""
    plan = await service.get_for_change(session, principal, plan_id)
    item = await service.create_item(session, principal, plan, body)
    with_etag(response, item)
    response.headers["Location"] = f"/v1/action-plans/{plan.id}/items/{item.id}"
    return ActionItemRead.model_validate(item)


@router.get(
    ITEMS,
    operation_id="list_action_items",
    summary="List a plan's action items",
    responses=problem_responses(404),
)
async def list_action_items(
    plan_id: uuid.UUID,
    request: Request,
    response: Response,
    principal: ReadKey,
    session: Session,
    params: PageParams = Depends(page_params),
    status: Annotated[ItemStatus | None, Query()] = None,
    assignee_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[ActionItemRead]:
    """The plan's items in position order."""
    plan = await service.get(session, principal, plan_id)
    rows = await service.list_items(session, plan, params, status=status, assignee_id=assignee_id)
    items = [ActionItemRead.model_validate(i) for i in rows]
    return build_page(rows, params, items, request, response, sort_key=by_position)


@router.get(
    ITEM,
    operation_id="get_action_item",
    summary="Get an action item",
    responses=problem_responses(404),
    response_model=ActionItemRead,
)
async def get_action_item(
    plan_id: uuid.UUID, item_id: uuid.UUID, principal: ReadKey, db: Db
) -> Response:
    """One item, with an `ETag` to send back as `If-Match` when updating."""
    row = await service.fetch_item(db, principal, plan_id, item_id)
    return service.ITEMS.answer(row)


@router.patch(
    ITEM,
    operation_id="update_action_item",
    summary="Update an action item",
    responses=problem_responses(404, 409, 412),
)
async def update_action_item(
    plan_id: uuid.UUID,
    item_id: uuid.UUID,
    body: ActionItemUpdate,
    response: Response,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> ActionItemRead:
    """Change the fields you send. `status: done` completes the item; `position` moves it."""
    plan, item = await service.get_item_for_write(
        session, principal, plan_id, item_id, if_match, assignee_may=True
    )
    item = await service.update_item(session, principal, plan, item, body)
    with_etag(response, item)
    return ActionItemRead.model_validate(item)


@router.delete(
    ITEM,
    operation_id="delete_action_item",
    summary="Delete an action item",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 412),
)
async def delete_action_item(
    plan_id: uuid.UUID,
    item_id: uuid.UUID,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> Response:
    """Remove an item; the items after it move up."""
    plan, item = await service.get_item_for_write(
        session, principal, plan_id, item_id, if_match, assignee_may=False
    )
    await service.delete_item(session, principal, plan, item)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/action-items",
    operation_id="list_all_action_items",
    summary="List action items across plans",
    response_model=Page[ActionItemRead],
)
async def list_all_action_items(
    request: Request,
    principal: ReadKey,
    db: Db,
    params: PageParams = Depends(page_params),
    assignee_id: Annotated[uuid.UUID | None, Query(description="Items assigned to them.")] = None,
    status: Annotated[ItemStatus | None, Query()] = None,
    due_before: Annotated[
        Day | None, Query(description="Only items due strictly before this date.")
    ] = None,
    updated_since: Annotated[Instant | None, Query()] = None,
) -> Response:
    """Action items of every plan, newest first: what someone owes, and by when."""
    rows = await service.fetch_all_items(
        db,
        principal,
        params,
        assignee_id=assignee_id,
        status=status,
        due_before=due_before,
        updated_since=updated_since,
    )
    return service.ITEMS.answer_page(request, rows, params)
