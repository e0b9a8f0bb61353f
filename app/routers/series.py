"""Conversation series: recurring conversations created ahead by the scheduler."""

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
from app.routers.common import with_etag
from app.schemas.common import Instant
from app.schemas.series import ConversationSeriesCreate, ConversationSeriesRead, SeriesStatus
from app.services import series as service

router = api_router(prefix="/v1/conversation-series", tags=["conversation series"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_conversation_series",
    summary="Create a conversation series",
    dependencies=[Idempotent],
    responses=problem_responses(403, 409),
)
async def create_conversation_series(
    body: ConversationSeriesCreate, response: Response, principal: WriteKey, session: Session
) -> ConversationSeriesRead:
    """A recurring conversation: the scheduler creates its occurrences within the tenant's
    `series_horizon_days` as scheduled conversations. A person: a party or a manager of the
    employee (403)."""
    series = await service.create(session, principal, body)
    with_etag(response, series)
    response.headers["Location"] = f"/v1/conversation-series/{series.id}"
    return series


@router.get(
    "",
    operation_id="list_conversation_series",
    summary="List conversation series",
    response_model=Page[ConversationSeriesRead],
)
async def list_conversation_series(
    request: Request,
    principal: ReadKey,
    db: Db,
    params: PageParams = Depends(page_params),
    employee_id: Annotated[uuid.UUID | None, Query(description="This employee's.")] = None,
    facilitator_id: Annotated[uuid.UUID | None, Query(description="This facilitator's.")] = None,
    status: Annotated[SeriesStatus | None, Query(description="In this status.")] = None,
    updated_since: Annotated[
        Instant | None, Query(description="Changed at or after this time.")
    ] = None,
) -> Response:
    """The series you see, newest first."""
    rows = await service.fetch_page(
        db,
        principal,
        params,
        employee_id=employee_id,
        facilitator_id=facilitator_id,
        status=status,
        updated_since=updated_since,
    )
    return service.READER.answer_page(request, rows, params)


@router.get(
    "/{series_id}",
    operation_id="get_conversation_series",
    summary="Get a conversation series",
    response_model=ConversationSeriesRead,
    responses=problem_responses(404),
)
async def get_conversation_series(series_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """One series, with its `ETag`."""
    return service.READER.answer(await service.READER.one(db, principal, series_id))


async def _act(
    series_id: uuid.UUID, response: Response, principal: WriteKey, session: Session, action: str
) -> ConversationSeriesRead:
    series = await service.get_for_action(session, principal, series_id, action)
    result = await service.transition(session, principal, series, action)
    with_etag(response, result)
    return result


@router.post(
    "/{series_id}/pause",
    operation_id="pause_conversation_series",
    summary="Pause a conversation series",
    dependencies=[Idempotent],
    responses=problem_responses(403, 404, 409),
)
async def pause_conversation_series(
    series_id: uuid.UUID, response: Response, principal: WriteKey, session: Session
) -> ConversationSeriesRead:
    """`active → paused`: no further occurrences are created (those created stay). A
    person: a party only (403)."""
    return await _act(series_id, response, principal, session, "pause")


@router.post(
    "/{series_id}/resume",
    operation_id="resume_conversation_series",
    summary="Resume a conversation series",
    dependencies=[Idempotent],
    responses=problem_responses(403, 404, 409),
)
async def resume_conversation_series(
    series_id: uuid.UUID, response: Response, principal: WriteKey, session: Session
) -> ConversationSeriesRead:
    """`paused → active`: the next pass creates the occurrences within the horizon again.
    A person: a party only (403)."""
    return await _act(series_id, response, principal, session, "resume")


@router.post(
    "/{series_id}/end",
    operation_id="end_conversation_series",
    summary="End a conversation series",
    dependencies=[Idempotent],
    responses=problem_responses(403, 404, 409),
)
async def end_conversation_series(
    series_id: uuid.UUID, response: Response, principal: WriteKey, session: Session
) -> ConversationSeriesRead:
    """`active | paused → ended`, for good: no further occurrences. A person: a party only
    (403)."""
    return await _act(series_id, response, principal, session, "end")
