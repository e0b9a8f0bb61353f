"""The event log: poll every change in commit order, and the catalog of event types."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Request, Response
from pydantic import Field

from app.core.auth import ReadKey
from app.core.deps import Db
from app.core.errors import problem_responses
from app.core.event_types import EVENT_TYPES
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.core.rows import json_response
from app.routers.base import api_router
from app.schemas.events import EventPage, EventRead, EventType, EventTypeList
from app.services import events as service

router = api_router(prefix="/v1", tags=["events"])


@router.get("/events", operation_id="list_events", summary="List events", response_model=EventPage)
async def list_events(
    request: Request,
    principal: ReadKey,
    db: Db,
    after: Annotated[
        uuid.UUID | None,
        Query(description="Return events after this event id (the previous `next_cursor`)."),
    ] = None,
    type: Annotated[
        list[Annotated[str, Field(json_schema_extra={"enum": sorted(EVENT_TYPES)})]] | None,
        Query(description="Only these event types; repeat the parameter for several."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Response:
    """Events oldest first, in commit order. Poll with `after` = the last `next_cursor`:
    an event never appears before one listed earlier. For an acting person, only events
    whose subject they see now (person snapshots without `external_id` and `metadata`)."""
    rows = await service.fetch_events(db, principal, after=after, types=type or [], limit=limit)
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = str(rows[-1]["id"]) if rows else (str(after) if after else None)
    headers = {}
    if has_more and next_cursor:
        url = request.url.include_query_params(after=next_cursor, limit=limit)
        headers["Link"] = f'<{url}>; rel="next"'
    body = {
        "data": service.shape_for(principal).many(rows),
        "next_cursor": next_cursor,
        "has_more": has_more,
    }
    return json_response(body, headers=headers)


@router.get(
    "/events/{event_id}",
    operation_id="get_event",
    summary="Get an event",
    responses=problem_responses(404),
    response_model=EventRead,
)
async def get_event(event_id: uuid.UUID, principal: ReadKey, db: Db) -> Response:
    """One event by id (404 if an acting person does not see its subject now)."""
    row = await service.fetch_event(db, principal, event_id)
    return json_response(service.shape_for(principal)(row))


@router.get("/event-types", operation_id="list_event_types", summary="List event types")
async def list_event_types(principal: ReadKey) -> EventTypeList:
    """Every event type the API emits, with its meaning. Webhook endpoints subscribe to these."""
    return EventTypeList(
        data=[EventType(type=t, description=d) for t, d in sorted(EVENT_TYPES.items())]
    )
