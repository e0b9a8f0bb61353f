"""The event log: poll every change in commit order, and the catalog of event types."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Request, Response

from app.core.auth import ReadKey
from app.core.deps import Session
from app.core.errors import problem_responses
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.routers.base import api_router
from app.schemas.events import EventPage, EventRead, EventType, EventTypeList
from app.services import events as service
from app.services.event_types import EVENT_TYPES

router = api_router(prefix="/v1", tags=["events"])


@router.get("/events", operation_id="list_events", summary="List events")
async def list_events(
    request: Request,
    response: Response,
    principal: ReadKey,
    session: Session,
    after: Annotated[
        uuid.UUID | None,
        Query(description="Return events after this event id (the previous `next_cursor`)."),
    ] = None,
    type: Annotated[
        list[str] | None,
        Query(description="Only these event types; repeat the parameter for several."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> EventPage:
    """Events oldest first, in commit order. Poll with `after` = the last `next_cursor`:
    an event never appears before one listed earlier."""
    rows = await service.list_events(
        session, principal.tenant_id, after=after, types=type or [], limit=limit
    )
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = str(rows[-1].id) if rows else (str(after) if after else None)
    if has_more and next_cursor:
        url = request.url.include_query_params(after=next_cursor, limit=limit)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return EventPage(
        data=[EventRead.model_validate(e) for e in rows], next_cursor=next_cursor, has_more=has_more
    )


@router.get(
    "/events/{event_id}",
    operation_id="get_event",
    summary="Get an event",
    responses=problem_responses(404),
)
async def get_event(event_id: uuid.UUID, principal: ReadKey, session: Session) -> EventRead:
    """One event by id."""
    return EventRead.model_validate(await service.get_event(session, principal.tenant_id, event_id))


@router.get("/event-types", operation_id="list_event_types", summary="List event types")
async def list_event_types(principal: ReadKey) -> EventTypeList:
    """Every event type the API emits, with its meaning. Webhook endpoints subscribe to these."""
    return EventTypeList(
        data=[EventType(type=t, description=d) for t, d in sorted(EVENT_TYPES.items())]
    )
