"""Notes on a conversation: shared with both parties, or private to their author."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response, status

from app.core.auth import ReadKey, WriteKey
from app.core.deps import Session
from app.core.errors import problem_responses
from app.core.idempotency import Idempotent
from app.core.pagination import Page, PageParams, build_page, page_params
from app.models.conversation import ConversationNote
from app.routers.base import api_router
from app.routers.common import IfMatch, with_etag
from app.schemas.common import Instant
from app.schemas.conversations import NoteCreate, NoteRead, NoteUpdate
from app.services import conversations
from app.services import notes as service

router = api_router(prefix="/v1/conversations/{conversation_id}/notes", tags=["notes"])


def _answer(response: Response, note: ConversationNote) -> NoteRead:
    with_etag(response, note)
    return NoteRead.model_validate(note)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_note",
    summary="Add a note",
    dependencies=[Idempotent],
    responses=problem_responses(404, 409),
)
async def create_note(
    conversation_id: uuid.UUID,
    body: NoteCreate,
    response: Response,
    principal: WriteKey,
    session: Session,
) -> NoteRead:
    """Add a `shared` or `private` note by the employee or the facilitator (`author_id`);
    private notes write no event. Acting for a person, they must be a party and the
    author (403 `not_permitted` otherwise)."""
    conversation = await conversations.get(session, principal, conversation_id)
    note = await service.create(session, principal, conversation, body)
    response.headers["Location"] = f"/v1/conversations/{conversation_id}/notes/{note.id}"
    return _answer(response, note)


@router.get(
    "",
    operation_id="list_notes",
    summary="List notes",
    responses=problem_responses(404),
)
async def list_notes(
    conversation_id: uuid.UUID,
    request: Request,
    response: Response,
    principal: ReadKey,
    session: Session,
    params: PageParams = Depends(page_params),
    updated_since: Annotated[
        Instant | None, Query(description="Changed at or after this time.")
    ] = None,
) -> Page[NoteRead]:
    """Shared notes, plus the acting person's (`Acting-Person`) own private notes; newest
    first."""
    conversation = await conversations.get(session, principal, conversation_id)
    rows = await service.list_notes(
        session, principal, conversation, params, updated_since=updated_since
    )
    items = [NoteRead.model_validate(n) for n in rows]
    return build_page(rows, params, items, request, response)


@router.get(
    "/{note_id}",
    operation_id="get_note",
    summary="Get a note",
    responses=problem_responses(404),
)
async def get_note(
    conversation_id: uuid.UUID,
    note_id: uuid.UUID,
    response: Response,
    principal: ReadKey,
    session: Session,
) -> NoteRead:
    """One note; a private note answers 404 unless the acting person (`Acting-Person`) is
    its author."""
    conversation = await conversations.get(session, principal, conversation_id)
    return _answer(response, await service.get(session, principal, conversation, note_id))


@router.patch(
    "/{note_id}",
    operation_id="update_note",
    summary="Update a note",
    responses=problem_responses(404, 409, 412),
)
async def update_note(
    conversation_id: uuid.UUID,
    note_id: uuid.UUID,
    body: NoteUpdate,
    response: Response,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> NoteRead:
    """Change a note's `body`, `external_id` or `metadata`. Acting for a person, only its
    author may (403 `not_permitted`); a private note exists for its author only (404)."""
    note = await service.get_for_write(session, principal, conversation_id, note_id, if_match)
    return _answer(response, await service.update(session, principal, note, body))


@router.delete(
    "/{note_id}",
    operation_id="delete_note",
    summary="Delete a note",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 412),
)
async def delete_note(
    conversation_id: uuid.UUID,
    note_id: uuid.UUID,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> Response:
    """Delete a note. Acting for a person, only its author may (403 `not_permitted`); a
    private note exists for its author only (404)."""
    note = await service.get_for_write(session, principal, conversation_id, note_id, if_match)
    await service.delete(session, principal, note)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
