"""Agenda items of a conversation: add, list in order, read, update (and move), delete."""

from __future__ import annotations

import uuid

from fastapi import Depends, Request, Response, status

from app.core.auth import ReadKey, WriteKey
from app.core.deps import Session
from app.core.errors import problem_responses
from app.core.idempotency import Idempotent
from app.core.pagination import Page, PageParams, build_page, by_position, page_params
from app.models.conversation import AgendaItem
from app.routers.base import api_router
from app.routers.common import IfMatch, with_etag
from app.schemas.conversations import AgendaItemCreate, AgendaItemRead, AgendaItemUpdate
from app.services import agenda_items as service
from app.services import conversations

router = api_router(
    prefix="/v1/conversations/{conversation_id}/agenda-items", tags=["agenda items"]
)


def _answer(response: Response, item: AgendaItem) -> AgendaItemRead:
    with_etag(response, item)
    return AgendaItemRead.model_validate(item)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_agenda_item",
    summary="Add an agenda item",
    dependencies=[Idempotent],
    responses=problem_responses(403, 404, 409),
)
async def create_agenda_item(
    conversation_id: uuid.UUID,
    body: AgendaItemCreate,
    response: Response,
    principal: WriteKey,
    session: Session,
) -> AgendaItemRead:
    """Add a talking point by the employee or the facilitator (`author_id`; a person: only
    themselves, as a party, else 403), at the end or at `position`; refused (409) once the
    conversation is completed or canceled. `visibility: sealed` keeps it to its author until
    the preparation is revealed."""
    conversation = await conversations.get(session, principal, conversation_id, for_update=True)
    item = await service.create(session, principal, conversation, body)
    response.headers["Location"] = f"/v1/conversations/{conversation_id}/agenda-items/{item.id}"
    return _answer(response, item)


@router.get(
    "",
    operation_id="list_agenda_items",
    summary="List agenda items",
    responses=problem_responses(404),
)
async def list_agenda_items(
    conversation_id: uuid.UUID,
    request: Request,
    response: Response,
    principal: ReadKey,
    session: Session,
    params: PageParams = Depends(page_params),
) -> Page[AgendaItemRead]:
    """The agenda in order (`position` ascending): shared items and your own sealed ones."""
    conversation = await conversations.get(session, principal, conversation_id)
    rows = await service.list_items(session, principal, conversation, params)
    items = [AgendaItemRead.model_validate(i) for i in rows]
    return build_page(rows, params, items, request, response, sort_key=by_position)


@router.get(
    "/{item_id}",
    operation_id="get_agenda_item",
    summary="Get an agenda item",
    responses=problem_responses(404),
)
async def get_agenda_item(
    conversation_id: uuid.UUID,
    item_id: uuid.UUID,
    response: Response,
    principal: ReadKey,
    session: Session,
) -> AgendaItemRead:
    """One agenda item, with an `ETag`; someone else's sealed item answers 404."""
    conversation = await conversations.get(session, principal, conversation_id)
    return _answer(response, await service.get(session, principal, conversation, item_id))


@router.patch(
    "/{item_id}",
    operation_id="update_agenda_item",
    summary="Update or move an agenda item",
    responses=problem_responses(403, 404, 409, 412),
)
async def update_agenda_item(
    conversation_id: uuid.UUID,
    item_id: uuid.UUID,
    body: AgendaItemUpdate,
    response: Response,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> AgendaItemRead:
    """Change the fields you send (a person: its author only, else 403); a new `position`
    moves the item and renumbers the others. After completion only `discussed`, `notes`,
    `external_id` and `metadata` change."""
    conversation, item = await service.get_for_write(
        session, principal, conversation_id, item_id, if_match
    )
    return _answer(response, await service.update(session, principal, conversation, item, body))


@router.delete(
    "/{item_id}",
    operation_id="delete_agenda_item",
    summary="Delete an agenda item",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404, 409, 412),
)
async def delete_agenda_item(
    conversation_id: uuid.UUID,
    item_id: uuid.UUID,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> Response:
    """Remove an item from a draft or scheduled conversation (a person: its author only,
    else 403); the others close the gap."""
    conversation, item = await service.get_for_write(
        session, principal, conversation_id, item_id, if_match
    )
    await service.delete(session, principal, conversation, item)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
