"""Agenda templates: create, read, update, list, delete and copy (built-ins included)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response, status

from app.core.auth import PlatformWriteKey, ReadKey
from app.core.deps import Db, Session
from app.core.errors import problem_responses
from app.core.idempotency import Idempotent
from app.core.pagination import Page, PageParams, page_params
from app.routers.base import api_router
from app.routers.common import IfMatch, with_etag
from app.schemas.agenda_templates import (
    AgendaTemplateCopy,
    AgendaTemplateCreate,
    AgendaTemplateRead,
    AgendaTemplateUpdate,
)
from app.schemas.common import Instant
from app.schemas.conversations import ConversationKind
from app.services import agenda_templates as service

router = api_router(prefix="/v1/agenda-templates", tags=["agenda templates"])


def _created(response: Response, template: AgendaTemplateRead) -> AgendaTemplateRead:
    with_etag(response, template)
    response.headers["Location"] = f"/v1/agenda-templates/{template.id}"
    return template


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_agenda_template",
    summary="Create an agenda template",
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def create_agenda_template(
    body: AgendaTemplateCreate, response: Response, principal: PlatformWriteKey, session: Session
) -> AgendaTemplateRead:
    """A template of your tenant: a name, the kind of conversation and its ordered items."""
    return _created(response, await service.create(session, principal, body))


@router.get(
    "",
    operation_id="list_agenda_templates",
    summary="List agenda templates",
    response_model=Page[AgendaTemplateRead],
)
async def list_agenda_templates(
    request: Request,
    principal: ReadKey,
    db: Db,
    params: PageParams = Depends(page_params),
    kind: Annotated[ConversationKind | None, Query(description="Made for this kind.")] = None,
    builtin: Annotated[
        bool | None, Query(description="Only the built-ins (`true`) or only yours (`false`).")
    ] = None,
    updated_since: Annotated[
        Instant | None, Query(description="Changed at or after this time.")
    ] = None,
) -> Response:
    """Your templates and the built-in ones, each with its items, newest first (the
    built-ins last)."""
    rows = await service.fetch_page(
        db, principal, params, kind=kind, builtin=builtin, updated_since=updated_since
    )
    return service.READER.answer_page(request, rows, params)


@router.get(
    "/{template_id}",
    operation_id="get_agenda_template",
    summary="Get an agenda template",
    responses=problem_responses(404),
    response_model=AgendaTemplateRead,
)
async def get_agenda_template(template_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """One template (yours or a built-in) with its items."""
    return service.READER.answer(await service.fetch(db, principal, template_id))


@router.patch(
    "/{template_id}",
    operation_id="update_agenda_template",
    summary="Update an agenda template",
    responses=problem_responses(404, 409, 412),
)
async def update_agenda_template(
    template_id: uuid.UUID,
    body: AgendaTemplateUpdate,
    response: Response,
    principal: PlatformWriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> AgendaTemplateRead:
    """Change the fields you send; `items` replaces the list. Built-ins are read-only (409
    `builtin_template`): copy one first. Conversations already created keep their agenda."""
    template = await service.get_for_write(session, principal, template_id, if_match)
    result = await service.update(session, principal, template, body)
    with_etag(response, result)
    return result


@router.delete(
    "/{template_id}",
    operation_id="delete_agenda_template",
    summary="Delete an agenda template",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 409, 412),
)
async def delete_agenda_template(
    template_id: uuid.UUID,
    principal: PlatformWriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> Response:
    """Delete one of your templates (built-ins: 409); agendas made from it stay as they are."""
    template = await service.get_for_write(session, principal, template_id, if_match, "delete")
    await service.delete(session, template)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{template_id}/copy",
    status_code=status.HTTP_201_CREATED,
    operation_id="copy_agenda_template",
    summary="Copy an agenda template",
    dependencies=[Idempotent],
    responses=problem_responses(404, 409),
)
async def copy_agenda_template(
    template_id: uuid.UUID,
    response: Response,
    principal: PlatformWriteKey,
    session: Session,
    body: AgendaTemplateCopy | None = None,
) -> AgendaTemplateRead:
    """A new template of yours with the items of this one (a built-in or yours), to edit."""
    result = await service.copy(session, principal, template_id, body or AgendaTemplateCopy())
    return _created(response, result)
