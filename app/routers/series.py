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
from app.routers.common import NOT_MODIFIED, IfMatch, IfNoneMatch, calendar_answer, with_etag
from app.schemas.common import Instant
from app.schemas.series import (
    ConversationSeriesCreate,
    ConversationSeriesRead,
    ConversationSeriesUpdate,
    SeriesStatus,
)
from app.services import calendars
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


@router.patch(
    "/{series_id}",
    operation_id="update_conversation_series",
    summary="Update a conversation series",
    responses=problem_responses(403, 404, 409, 412),
)
async def update_conversation_series(
    series_id: uuid.UUID,
    body: ConversationSeriesUpdate,
    response: Response,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> ConversationSeriesRead:
    """Change an active or paused series (409 once ended). A new `rrule`, `start`,
    `timezone` or `duration_minutes` regenerates the occurrences that have not started:
    those the new rule still has stay (taking the new duration and zone unless moved by
    hand), the others are canceled, and an active series gets the new rule's occurrences
    within the horizon at once. Completed and started occurrences are untouched. A person:
    a party only (403)."""
    series = await service.get_for_write(session, principal, series_id, if_match)
    result = await service.update(session, principal, series, body)
    with_etag(response, result)
    return result


_SERIES_ICS_EXAMPLE = (
    "BEGIN:VCALENDAR\r\nPRODID:-//Career Conversations API//ccapi//EN\r\nVERSION:2.0\r\n"
    "CALSCALE:GREGORIAN\r\nMETHOD:REQUEST\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
    "…\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nSUMMARY:Career conversation: Ada Lovelace and "
    "Grace Hopper\r\nDTSTART;TZID=Europe/Berlin:20300103T100000\r\n"
    "DTEND;TZID=Europe/Berlin:20300103T104500\r\nDTSTAMP:20261201T094856Z\r\n"
    "UID:0193a1e5-3333-7ccc-8ddd-000000000042@ccapi\r\nSEQUENCE:0\r\n"
    "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TH\r\n"
    "EXDATE;TZID=Europe/Berlin:20300117T100000\r\n"
    "ORGANIZER;CN=Grace Hopper:mailto:grace@example.com\r\nSTATUS:CONFIRMED\r\n"
    "END:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:Career conversation: Ada Lovelace and "
    "Grace Hopper\r\nDTSTART;TZID=Europe/Berlin:20300201T090000\r\n"
    "DTEND;TZID=Europe/Berlin:20300201T094500\r\nDTSTAMP:20261201T095012Z\r\n"
    "UID:0193a1e5-3333-7ccc-8ddd-000000000042@ccapi\r\n"
    "RECURRENCE-ID;TZID=Europe/Berlin:20300131T100000\r\nSEQUENCE:2\r\n"
    "STATUS:CONFIRMED\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@router.get(
    "/{series_id}/calendar.ics",
    operation_id="get_conversation_series_calendar",
    summary="Get a conversation series' calendar",
    response_class=Response,
    responses={
        200: {
            "description": "The series (RFC 5545), with its `ETag`.",
            "content": {
                calendars.MEDIA_TYPE.split(";")[0]: {
                    "schema": {"type": "string"},
                    "example": _SERIES_ICS_EXAMPLE,
                }
            },
        },
        **NOT_MODIFIED,
        **problem_responses(404),
    },
)
async def get_conversation_series_calendar(
    series_id: uuid.UUID, principal: ReadKey, db: Db, if_none_match: IfNoneMatch = None
) -> Response:
    """The series as one recurring VEVENT: its `RRULE` from the first occurrence in the
    series' zone, an `EXDATE` for each canceled (or, while paused, skipped) occurrence, an
    overriding VEVENT (`RECURRENCE-ID`) for each occurrence moved or changed since it was
    created, and a VEVENT of its own for an occurrence an earlier rule gave. A paused or
    ended series' rule stops at its last occurrence. `UID` is the series' own; each
    occurrence's invitation (`GET /v1/conversations/{id}/calendar.ics`, `data.ics`) is an
    instance of it."""
    text = await calendars.get_series(db, principal, series_id)
    return calendar_answer(text, if_none_match)


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
