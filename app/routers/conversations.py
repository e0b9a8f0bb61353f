"""Conversations: create, read, update, list, delete; schedule, reschedule, prepare,
complete and cancel."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response, status

from app.core.auth import ReadKey, WriteKey
from app.core.deps import Db, Session
from app.core.errors import problem_responses
from app.core.idempotency import Idempotent
from app.core.pagination import Page, PageParams, page_params
from app.core.rows import etag_for, json_response
from app.routers.base import api_router
from app.routers.common import NOT_MODIFIED, IfMatch, IfNoneMatch, calendar_answer, with_etag
from app.schemas.common import Instant
from app.schemas.conversations import (
    ConversationCancel,
    ConversationComplete,
    ConversationCreate,
    ConversationKind,
    ConversationPrepare,
    ConversationRead,
    ConversationReschedule,
    ConversationSchedule,
    ConversationStatus,
    ConversationUpdate,
)
from app.services import calendars
from app.services import conversations as service

router = api_router(prefix="/v1/conversations", tags=["conversations"])


def _answer(response: Response, conversation: ConversationRead) -> ConversationRead:
    with_etag(response, conversation)
    return conversation


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_conversation",
    summary="Create a conversation",
    dependencies=[Idempotent],
    responses=problem_responses(403, 409),
    response_model=ConversationRead,
)
async def create_conversation(body: ConversationCreate, principal: WriteKey, db: Db) -> Response:
    """Create a conversation as a `draft` between an employee and a facilitator of your
    tenant; schedule it with `POST /v1/conversations/{id}/schedule`. A person creates only
    conversations where they are the employee, the facilitator or a manager of the employee
    (else 403)."""
    row, data = await service.create(db, principal, body)
    return json_response(
        data,
        status_code=status.HTTP_201_CREATED,
        etag=etag_for(row["id"], row["updated_at"]),
        location=f"/v1/conversations/{row['id']}",
    )


@router.get(
    "",
    operation_id="list_conversations",
    summary="List conversations",
    response_model=Page[ConversationRead],
)
async def list_conversations(
    request: Request,
    principal: ReadKey,
    db: Db,
    params: PageParams = Depends(page_params),
    employee_id: Annotated[uuid.UUID | None, Query(description="This employee's.")] = None,
    facilitator_id: Annotated[
        uuid.UUID | None, Query(description="Facilitated by this person.")
    ] = None,
    person_id: Annotated[
        uuid.UUID | None, Query(description="This person takes part, as either party.")
    ] = None,
    status: Annotated[ConversationStatus | None, Query()] = None,
    kind: Annotated[ConversationKind | None, Query()] = None,
    scheduled_after: Annotated[
        Instant | None, Query(description="Starting at or after this time.")
    ] = None,
    scheduled_before: Annotated[
        Instant | None, Query(description="Starting before this time.")
    ] = None,
    updated_since: Annotated[
        Instant | None, Query(description="Changed at or after this time.")
    ] = None,
) -> Response:
    """Conversations with their agendas, newest first."""
    rows = await service.fetch_page(
        db,
        principal,
        params,
        employee_id=employee_id,
        facilitator_id=facilitator_id,
        person_id=person_id,
        status=status,
        kind=kind,
        scheduled_after=scheduled_after,
        scheduled_before=scheduled_before,
        updated_since=updated_since,
    )
    return service.READER.answer_page(request, rows, params)


@router.get(
    "/{conversation_id}",
    operation_id="get_conversation",
    summary="Get a conversation",
    responses=problem_responses(404),
    response_model=ConversationRead,
)
async def get_conversation(conversation_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """One conversation with its agenda, reschedule history and preparation state."""
    return service.READER.answer(await service.READER.one(db, principal, conversation_id))


_ICS_EXAMPLE = (
    "BEGIN:VCALENDAR\r\nPRODID:-//Career Conversations API//ccapi//EN\r\nVERSION:2.0\r\n"
    "CALSCALE:GREGORIAN\r\nMETHOD:REQUEST\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
    "…\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nSUMMARY:Career conversation: Ada Lovelace and "
    "Grace Hopper\r\nDTSTART;TZID=Europe/Berlin:20300304T100000\r\n"
    "DTEND;TZID=Europe/Berlin:20300304T104500\r\nDTSTAMP:20261130T194856Z\r\n"
    "UID:0193a1e5-2222-7ccc-8ddd-000000000042@ccapi\r\nSEQUENCE:1\r\n"
    "ATTENDEE;CN=Ada Lovelace;CUTYPE=INDIVIDUAL;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTIC\r\n"
    " IPANT;RSVP=TRUE:mailto:ada@example.com\r\nDESCRIPTION:Employee objectives:\\nGrow"
    "\\n\\nAgenda:\\n- Aspirations: Next role\r\nLOCATION:Room 4\r\n"
    "ORGANIZER;CN=Grace Hopper:mailto:grace@example.com\r\nSTATUS:CONFIRMED\r\n"
    "URL:https://meet.example.com/ada-grace\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@router.get(
    "/{conversation_id}/calendar.ics",
    operation_id="get_conversation_calendar",
    summary="Get a conversation's calendar invitation",
    response_class=Response,
    responses={
        200: {
            "description": "The invitation (RFC 5545), with its `ETag`.",
            "content": {
                calendars.MEDIA_TYPE.split(";")[0]: {
                    "schema": {"type": "string"},
                    "example": _ICS_EXAMPLE,
                }
            },
        },
        **NOT_MODIFIED,
        **problem_responses(404, 409),
    },
)
async def get_conversation_calendar(
    conversation_id: uuid.UUID, principal: ReadKey, db: Db, if_none_match: IfNoneMatch = None
) -> Response:
    """The conversation as an iCalendar invitation: one VEVENT whose UID never changes (a
    series' occurrence: the series' UID with a `RECURRENCE-ID`) and whose SEQUENCE grows
    with every move; `METHOD:CANCEL` once canceled. A draft without a start has none (409
    `no_scheduled_start`)."""
    text = await calendars.get(db, principal, conversation_id)
    return calendar_answer(text, if_none_match)


@router.patch(
    "/{conversation_id}",
    operation_id="update_conversation",
    summary="Update a conversation",
    responses=problem_responses(403, 404, 409, 412),
)
async def update_conversation(
    conversation_id: uuid.UUID,
    body: ConversationUpdate,
    response: Response,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> ConversationRead:
    """Change the fields you send (a person: a party only, else 403). A scheduled
    conversation moves only through `reschedule`; a completed one accepts `summary`,
    `external_id` and `metadata`."""
    conversation = await service.get_for_write(session, principal, conversation_id, if_match)
    return _answer(response, await service.update(session, principal, conversation, body))


@router.delete(
    "/{conversation_id}",
    operation_id="delete_conversation",
    summary="Delete a conversation",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404, 409, 412),
)
async def delete_conversation(
    conversation_id: uuid.UUID,
    principal: WriteKey,
    session: Session,
    if_match: IfMatch = None,
) -> Response:
    """Delete a `draft` or `canceled` conversation with its agenda and notes (a person: a
    party only, else 403); refused (409) while goals, plans, feedback or follow-ups refer
    to it."""
    conversation = await service.get_for_write(
        session, principal, conversation_id, if_match, "delete"
    )
    await service.delete(session, principal, conversation)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{conversation_id}/schedule",
    operation_id="schedule_conversation",
    summary="Schedule a conversation",
    dependencies=[Idempotent],
    responses=problem_responses(403, 404, 409),
)
async def schedule_conversation(
    conversation_id: uuid.UUID,
    response: Response,
    principal: WriteKey,
    session: Session,
    body: ConversationSchedule | None = None,
) -> ConversationRead:
    """`draft → scheduled`, at `scheduled_start` (or the draft's own start if omitted); a
    person: a party only (403)."""
    conversation = await service.get_for_action(session, principal, conversation_id, "schedule")
    result = await service.schedule(
        session, principal, conversation, body or ConversationSchedule()
    )
    return _answer(response, result)


@router.post(
    "/{conversation_id}/reschedule",
    operation_id="reschedule_conversation",
    summary="Reschedule a conversation",
    dependencies=[Idempotent],
    responses=problem_responses(403, 404, 409),
)
async def reschedule_conversation(
    conversation_id: uuid.UUID,
    body: ConversationReschedule,
    response: Response,
    principal: WriteKey,
    session: Session,
) -> ConversationRead:
    """Move a `scheduled` conversation; increments `reschedule_count` and records the move
    in `reschedules`. A person: a party only (403)."""
    conversation = await service.get_for_action(session, principal, conversation_id, "reschedule")
    return _answer(response, await service.reschedule(session, principal, conversation, body))


@router.post(
    "/{conversation_id}/complete",
    operation_id="complete_conversation",
    summary="Complete a conversation",
    dependencies=[Idempotent],
    responses=problem_responses(403, 404, 409),
)
async def complete_conversation(
    conversation_id: uuid.UUID,
    response: Response,
    principal: WriteKey,
    session: Session,
    body: ConversationComplete | None = None,
) -> ConversationRead:
    """`scheduled → completed`, optionally with the `summary`; reveals sealed agenda items.
    A person: a party only (403)."""
    conversation = await service.get_for_action(session, principal, conversation_id, "complete")
    result = await service.complete(
        session, principal, conversation, body or ConversationComplete()
    )
    return _answer(response, result)


@router.post(
    "/{conversation_id}/cancel",
    operation_id="cancel_conversation",
    summary="Cancel a conversation",
    dependencies=[Idempotent],
    responses=problem_responses(403, 404, 409),
)
async def cancel_conversation(
    conversation_id: uuid.UUID,
    body: ConversationCancel,
    response: Response,
    principal: WriteKey,
    session: Session,
) -> ConversationRead:
    """`draft | scheduled → canceled`, with the `reason`. A person: a party only (403)."""
    conversation = await service.get_for_action(session, principal, conversation_id, "cancel")
    return _answer(response, await service.cancel(session, principal, conversation, body))


@router.post(
    "/{conversation_id}/prepare",
    operation_id="prepare_conversation",
    summary="Mark a party prepared",
    dependencies=[Idempotent],
    responses=problem_responses(403, 404, 409),
)
async def prepare_conversation(
    conversation_id: uuid.UUID,
    response: Response,
    principal: WriteKey,
    session: Session,
    body: ConversationPrepare | None = None,
) -> ConversationRead:
    """Mark the employee or the facilitator (`person_id`) prepared; `preparation.unprepared`
    lists who still is not. A person marks only themselves (`person_id` optional, else 403).
    Once both are prepared, sealed agenda items become shared
    (`conversation.preparation_revealed`)."""
    conversation = await service.get(session, principal, conversation_id, for_update=True)
    result = await service.prepare(session, principal, conversation, body or ConversationPrepare())
    return _answer(response, result)
