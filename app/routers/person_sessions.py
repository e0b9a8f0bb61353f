"""Person sessions: short-lived tokens for browser front-ends (the platform only)."""

from __future__ import annotations

import uuid

from fastapi import Response, status

from app.core.auth import PlatformReadKey, PlatformWriteKey
from app.core.deps import Db, Session
from app.core.errors import problem_responses
from app.core.idempotency import SealedIdempotent
from app.routers.base import api_router
from app.routers.common import with_etag
from app.schemas.person_sessions import (
    PersonSessionCreate,
    PersonSessionCreated,
    PersonSessionRead,
)
from app.services import person_sessions as service

router = api_router(prefix="/v1/person-sessions", tags=["person sessions"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_person_session",
    summary="Create a person session",
    dependencies=[SealedIdempotent],
)
async def create_person_session(
    body: PersonSessionCreate, response: Response, principal: PlatformWriteKey, session: Session
) -> PersonSessionCreated:
    """A token (`ccs_…`, shown once) that acts for the person on read and write routes until
    it expires or is revoked, for a browser front-end (see "Person sessions" in the guide)."""
    row, token = await service.create(session, principal, body)
    with_etag(response, row)
    response.headers["Location"] = f"/v1/person-sessions/{row.id}"
    read = PersonSessionRead.model_validate(row).model_dump()
    return PersonSessionCreated(**read, token=token)


@router.get(
    "/{session_id}",
    operation_id="get_person_session",
    summary="Get a person session",
    responses=problem_responses(404),
    response_model=PersonSessionRead,
)
async def get_person_session(session_id: uuid.UUID, principal: PlatformReadKey, db: Db) -> Response:
    """One session, without its token: whom it acts for, when it expires, if it was revoked."""
    return service.READER.answer(await service.READER.one(db, principal, session_id))


@router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="revoke_person_session",
    summary="Revoke a person session",
    responses=problem_responses(404),
)
async def revoke_person_session(
    session_id: uuid.UUID, principal: PlatformWriteKey, session: Session
) -> Response:
    """End the session now: its token answers 401 from the next request on, in every
    process. Revoking a revoked session changes nothing."""
    await service.revoke(session, principal, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
