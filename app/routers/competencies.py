"""Competencies of the career framework: create (one or a batch), read, list, update, delete."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response, status

from app.core.auth import PlatformWriteKey, ReadKey
from app.core.deps import Db, Session
from app.core.errors import problem_responses
from app.core.idempotency import Idempotent
from app.core.pagination import Page, PageParams, page_params
from app.core.rows import json_response
from app.routers.base import api_router
from app.routers.common import IfMatch, with_etag
from app.schemas.career_framework import (
    CompetencyBatch,
    CompetencyCreate,
    CompetencyList,
    CompetencyRead,
    CompetencyUpdate,
)
from app.schemas.common import Instant
from app.services import career_framework as service

router = api_router(prefix="/v1/competencies", tags=["career framework"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_competency",
    summary="Create a competency",
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def create_competency(
    body: CompetencyCreate, response: Response, principal: PlatformWriteKey, session: Session
) -> CompetencyRead:
    """A skill or experience of your career framework; its name is unique (ignoring case)."""
    result = await service.create_competency(session, principal, body)
    with_etag(response, result)
    response.headers["Location"] = f"/v1/competencies/{result.id}"
    return result


@router.post(
    "/batch",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_competencies",
    summary="Create competencies in a batch",
    dependencies=[Idempotent],
    responses=problem_responses(409),
    response_model=CompetencyList,
)
async def create_competencies(
    body: CompetencyBatch, principal: PlatformWriteKey, session: Session
) -> Response:
    """Up to 500 competencies, all or none, answered in input order; an error names the item."""
    created = await service.create_competencies(session, principal, body.items)
    return json_response({"data": created}, status_code=status.HTTP_201_CREATED)


@router.get(
    "",
    operation_id="list_competencies",
    summary="List competencies",
    response_model=Page[CompetencyRead],
)
async def list_competencies(
    request: Request,
    principal: ReadKey,
    db: Db,
    params: PageParams = Depends(page_params),
    category: Annotated[
        str | None, Query(max_length=100, description="Only this category (exact).")
    ] = None,
    updated_since: Annotated[
        Instant | None, Query(description="Changed at or after this time.")
    ] = None,
) -> Response:
    """Your tenant's competencies, newest first."""
    rows = await service.fetch_competency_page(
        db, principal, params, category=category, updated_since=updated_since
    )
    return service.COMPETENCY_READER.answer_page(request, rows, params)


@router.get(
    "/{competency_id:uuid}",
    operation_id="get_competency",
    summary="Get a competency",
    responses=problem_responses(404),
    response_model=CompetencyRead,
)
async def get_competency(competency_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """One competency, with an `ETag` to send back as `If-Match`."""
    reader = service.COMPETENCY_READER
    return reader.answer(await reader.one(db, principal, competency_id))


@router.patch(
    "/{competency_id:uuid}",
    operation_id="update_competency",
    summary="Update a competency",
    responses=problem_responses(404, 409, 412),
)
async def update_competency(
    competency_id: uuid.UUID,
    body: CompetencyUpdate,
    response: Response,
    principal: PlatformWriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> CompetencyRead:
    """Change the fields you send; a name another competency holds is a 409."""
    competency = await service.get_competency_for_write(session, principal, competency_id, if_match)
    result = await service.update_competency(session, principal, competency, body)
    with_etag(response, result)
    return result


@router.delete(
    "/{competency_id:uuid}",
    operation_id="delete_competency",
    summary="Delete a competency",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 409, 412),
)
async def delete_competency(
    competency_id: uuid.UUID,
    principal: PlatformWriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> Response:
    """Delete a competency no goal, feedback or track level references (409 `in_use`)."""
    competency = await service.get_competency_for_write(session, principal, competency_id, if_match)
    await service.delete_competency(session, principal, competency)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
