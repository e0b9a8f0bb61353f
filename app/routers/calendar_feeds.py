"""Calendar feeds: a person's secret, subscribable calendar of their conversations."""

from __future__ import annotations

import uuid

from fastapi import Request, Response, status

from app.core.auth import WriteKey, count_secret_use, refuse_blocked_address
from app.core.deps import AppSettings, Db, Session
from app.core.errors import NotFound, problem_responses
from app.core.idempotency import SealedIdempotent
from app.core.routing import TransactionalRoute
from app.routers.base import IndexedRouter
from app.routers.common import NOT_MODIFIED, calendar_answer
from app.schemas.calendar_feeds import CalendarFeedCreated
from app.services import calendar_feeds as service
from app.services import calendars

# Not ``api_router``: the feed itself takes no API key (no 401/403/422 of its own).
router = IndexedRouter(route_class=TransactionalRoute, tags=["calendar feeds"])
_KEYED = (401, 403, 404, 422, 429, 500, 503)

_FEED_EXAMPLE = (
    "BEGIN:VCALENDAR\r\nPRODID:-//Career Conversations API//ccapi//EN\r\nVERSION:2.0\r\n"
    "CALSCALE:GREGORIAN\r\nNAME:Career conversations: Ada Lovelace\r\n"
    "X-WR-CALNAME:Career conversations: Ada Lovelace\r\n"
    "REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\nX-PUBLISHED-TTL:PT1H\r\n"
    "BEGIN:VEVENT\r\nSUMMARY:Career conversation: Ada Lovelace and Grace Hopper\r\n"
    "DTSTART:20300603T090000Z\r\nDTEND:20300603T100000Z\r\nDTSTAMP:20300601T120000Z\r\n"
    "UID:0193a1e5-2222-7ccc-8ddd-000000000042@ccapi\r\nSEQUENCE:1\r\nSTATUS:CONFIRMED\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


@router.post(
    "/v1/people/{person_id}/calendar-feed",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_calendar_feed",
    summary="Create or rotate a person's calendar feed",
    dependencies=[SealedIdempotent],
    responses=problem_responses(*_KEYED),
)
async def create_calendar_feed(
    person_id: uuid.UUID,
    request: Request,
    principal: WriteKey,
    session: Session,
    settings: AppSettings,
) -> CalendarFeedCreated:
    """A secret URL listing the person's conversations for calendar apps (`url`, token shown
    once). A person has one feed: calling again rotates it (the old URL answers 404). The
    platform, or the person acting for themselves (else 403)."""
    row, token = await service.create(session, principal, person_id)
    base = settings.public_base_url or str(request.base_url)
    return CalendarFeedCreated(
        id=row.id,
        person_id=row.person_id,
        url=service.feed_url(base, token),
        token=token,
        created_at=row.created_at,
    )


@router.delete(
    "/v1/people/{person_id}/calendar-feed",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="revoke_calendar_feed",
    summary="Revoke a person's calendar feed",
    responses=problem_responses(*_KEYED),
)
async def revoke_calendar_feed(
    person_id: uuid.UUID, principal: WriteKey, session: Session
) -> Response:
    """Its URL answers 404 from the next request on (404 if the person has none). The
    platform, or the person acting for themselves (else 403)."""
    await service.revoke(session, principal, person_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/calendar-feeds/{token}.ics",
    operation_id="get_calendar_feed",
    summary="Read a calendar feed (no credentials)",
    response_class=Response,
    responses={
        200: {
            "description": "The person's conversations (RFC 5545), with an `ETag`.",
            "content": {
                calendars.MEDIA_TYPE.split(";")[0]: {
                    "schema": {"type": "string"},
                    "example": _FEED_EXAMPLE,
                }
            },
        },
        **NOT_MODIFIED,
        **problem_responses(404, 429, 500, 503),
    },
    # Read from the path by hand: any text is a token to look up (a 404 if unknown), never
    # a 422, so the parameter is declared here rather than validated by FastAPI.
    openapi_extra={
        "parameters": [
            {
                "name": "token",
                "in": "path",
                "required": True,
                "description": "The feed's secret (`ccf_…`), as in the `url` its creation "
                "answered.",
                "schema": {"type": "string"},
            },
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "The ETag of the feed you hold: 304 Not Modified (no body) "
                "while it is still current.",
                "schema": {"type": "string"},
            },
        ]
    },
)
async def get_calendar_feed(request: Request, db: Db) -> Response:
    """What calendar apps poll: the person's conversations from 30 days back to 180 ahead
    as they see them, without any header (the token is the credential). An unknown or
    revoked token is a 404; unknown tokens count as failed authentications of the address."""
    refuse_blocked_address(request)
    token: str = request.path_params["token"]
    found = await service.read(db, token)
    await count_secret_use(request, None if found is None else f"feed:{found[0]}")
    if found is None:
        raise NotFound(service.NOT_FOUND_DETAIL)
    if_none_match = request.headers.get("if-none-match")
    return calendar_answer(found[1], if_none_match, **{"Cache-Control": "private, no-transform"})
