"""Mentorships: pair a mentor with a mentee, list, update, end, delete."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response, status

from app.core.auth import PlatformWriteKey, ReadKey, WriteKey
from app.core.deps import Db, Session
from app.core.errors import problem_responses
from app.core.idempotency import Idempotent
from app.core.pagination import Page, PageParams, page_params
from app.routers.base import api_router
from app.routers.common import IfMatch, with_etag
from app.schemas.common import Instant
from app.schemas.mentorships import (
    MentorshipCreate,
    MentorshipEnd,
    MentorshipRead,
    MentorshipStatus,
    MentorshipUpdate,
)
from app.services import mentorships as service

router = api_router(prefix="/v1/mentorships", tags=["mentorships"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_mentorship",
    summary="Create a mentorship",
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def create_mentorship(
    body: MentorshipCreate, response: Response, principal: PlatformWriteKey, session: Session
) -> MentorshipRead:
    """Pair a mentor with a mentee (two people of your tenant); one active pairing per pair.
    The platform's only: acting for a person is refused (403 `not_permitted`)."""
    mentorship = await service.create(session, principal, body)
    with_etag(response, mentorship)
    response.headers["Location"] = f"/v1/mentorships/{mentorship.id}"
    return MentorshipRead.model_validate(mentorship)


@router.get(
    "",
    response_model=Page[MentorshipRead],
    operation_id="list_mentorships",
    summary="List mentorships",
)
async def list_mentorships(
    request: Request,
    principal: ReadKey,
    db: Db,
    params: PageParams = Depends(page_params),
    mentor_id: Annotated[uuid.UUID | None, Query(description="Mentorships of this mentor.")] = None,
    mentee_id: Annotated[uuid.UUID | None, Query(description="Mentorships of this mentee.")] = None,
    person_id: Annotated[
        uuid.UUID | None, Query(description="Mentorships where this person is either party.")
    ] = None,
    status: Annotated[MentorshipStatus | None, Query()] = None,
    updated_since: Annotated[
        Instant | None, Query(description="Only mentorships changed at or after this time.")
    ] = None,
) -> Response:
    """Mentorships, newest first."""
    rows = await service.fetch_page(
        db,
        principal,
        params,
        mentor_id=mentor_id,
        mentee_id=mentee_id,
        person_id=person_id,
        status=status,
        updated_since=updated_since,
    )
    return service.READER.answer_page(request, rows, params)


@router.get(
    "/{mentorship_id}",
    operation_id="get_mentorship",
    summary="Get a mentorship",
    responses=problem_responses(404),
    response_model=MentorshipRead,
)
async def get_mentorship(mentorship_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """One mentorship, with an `ETag` to send back as `If-Match` when updating."""
    return service.READER.answer(await service.READER.one(db, principal, mentorship_id))


@router.patch(
    "/{mentorship_id}",
    operation_id="update_mentorship",
    summary="Update a mentorship",
    responses=problem_responses(404, 409, 412),
)
async def update_mentorship(
    mentorship_id: uuid.UUID,
    body: MentorshipUpdate,
    response: Response,
    principal: PlatformWriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> MentorshipRead:
    """Change the focus, external id or metadata; end a mentorship with `…/end`. The
    platform's only (403 `not_permitted` acting for a person)."""
    mentorship = await service.get_for_write(session, principal, mentorship_id, if_match)
    mentorship = await service.update(session, principal, mentorship, body)
    with_etag(response, mentorship)
    return MentorshipRead.model_validate(mentorship)


@router.post(
    "/{mentorship_id}/end",
    operation_id="end_mentorship",
    summary="End a mentorship",
    dependencies=[Idempotent],
    responses=problem_responses(404, 409),
)
async def end_mentorship(
    mentorship_id: uuid.UUID,
    response: Response,
    principal: WriteKey,
    session: Session,
    body: MentorshipEnd | None = None,
) -> MentorshipRead:
    """End an active mentorship, with an optional reason (409 if it already ended). Acting
    for a person: the mentor or the mentee only (403 `not_permitted`)."""
    mentorship = await service.get(session, principal, mentorship_id, for_update=True)
    mentorship = await service.end(session, principal, mentorship, body or MentorshipEnd())
    with_etag(response, mentorship)
    return MentorshipRead.model_validate(mentorship)


@router.delete(
    "/{mentorship_id}",
    operation_id="delete_mentorship",
    summary="Delete a mentorship",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 412),
)
async def delete_mentorship(
    mentorship_id: uuid.UUID,
    principal: PlatformWriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> Response:
    """Delete a mentorship recorded by mistake; to close a real one, end it instead. The
    platform's only (403 `not_permitted` acting for a person)."""
    mentorship = await service.get_for_write(session, principal, mentorship_id, if_match)
    await service.delete(session, principal, mentorship)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
