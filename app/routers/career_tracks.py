"""Career tracks of the career framework, with their ordered levels."""

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
    CareerTrackBatch,
    CareerTrackCreate,
    CareerTrackList,
    CareerTrackRead,
    CareerTrackUpdate,
)
from app.schemas.common import Instant
from app.services import career_framework as service

router = api_router(prefix="/v1/career-tracks", tags=["career framework"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_career_track",
    summary="Create a career track",
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def create_career_track(
    body: CareerTrackCreate, response: Response, principal: PlatformWriteKey, session: Session
) -> CareerTrackRead:
    """A track with its levels, lowest first, each with the competencies it expects."""
    result = await service.create_track(session, principal, body)
    with_etag(response, result)
    response.headers["Location"] = f"/v1/career-tracks/{result.id}"
    return result


@router.post(
    "/batch",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_career_tracks",
    summary="Create career tracks in a batch",
    dependencies=[Idempotent],
    responses=problem_responses(409),
    response_model=CareerTrackList,
)
async def create_career_tracks(
    body: CareerTrackBatch, principal: PlatformWriteKey, session: Session
) -> Response:
    """Up to 500 tracks, all or none, answered in input order; an error names the item."""
    created = await service.create_tracks(session, principal, body.items)
    return json_response({"data": created}, status_code=status.HTTP_201_CREATED)


@router.get(
    "",
    operation_id="list_career_tracks",
    summary="List career tracks",
    response_model=Page[CareerTrackRead],
)
async def list_career_tracks(
    request: Request,
    principal: ReadKey,
    db: Db,
    params: PageParams = Depends(page_params),
    updated_since: Annotated[
        Instant | None, Query(description="Changed at or after this time.")
    ] = None,
) -> Response:
    """Your tenant's career tracks with their levels, newest first."""
    rows = await service.fetch_track_page(db, principal, params, updated_since=updated_since)
    return service.TRACK_READER.answer_page(request, rows, params)


@router.get(
    "/{track_id:uuid}",
    operation_id="get_career_track",
    summary="Get a career track",
    responses=problem_responses(404),
    response_model=CareerTrackRead,
)
async def get_career_track(track_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """One track with its levels, with an `ETag` to send back as `If-Match`."""
    reader = service.TRACK_READER
    return reader.answer(await reader.one(db, principal, track_id))


@router.patch(
    "/{track_id:uuid}",
    operation_id="update_career_track",
    summary="Update a career track",
    responses=problem_responses(404, 409, 412),
)
async def update_career_track(
    track_id: uuid.UUID,
    body: CareerTrackUpdate,
    response: Response,
    principal: PlatformWriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> CareerTrackRead:
    """Change the fields you send; `levels` replaces the list (a level sent with its `id`
    keeps it, one without gets a new id, the levels left out are deleted; 409 `in_use` if an
    aspiration or assessment names one of those)."""
    track = await service.get_track_for_write(session, principal, track_id, if_match)
    result = await service.update_track(session, principal, track, body)
    with_etag(response, result)
    return result


@router.delete(
    "/{track_id:uuid}",
    operation_id="delete_career_track",
    summary="Delete a career track",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 409, 412),
)
async def delete_career_track(
    track_id: uuid.UUID,
    principal: PlatformWriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> Response:
    """Delete a track and its levels (409 `in_use` while an aspiration or assessment names one)."""
    track = await service.get_track_for_write(session, principal, track_id, if_match)
    await service.delete_track(session, principal, track)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
