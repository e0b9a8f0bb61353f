from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.schemas.common import ReadSchema


class EventActor(ReadSchema):
    """Who made the change."""

    api_key_id: uuid.UUID | None = Field(
        description="The API key (or the key that minted the person session) that made the "
        "change; null for scheduler events."
    )
    person_id: uuid.UUID | None = Field(
        description="The person the key acted for (`Acting-Person` or a person session); "
        "null when the platform acted, and for scheduler events."
    )


class EventRead(ReadSchema):
    id: uuid.UUID = Field(description="Sortable event id; pass as `after` to resume polling.")
    type: str = Field(examples=["conversation.completed"])
    occurred_at: datetime
    subject_type: str = Field(examples=["conversation"])
    subject_id: uuid.UUID
    data: dict[str, Any] = Field(
        description="The resource as the API returned it after the change (private notes "
        "are never included)."
    )
    actor: EventActor
    api_key_id: uuid.UUID | None = Field(
        description="Deprecated: the same as `actor.api_key_id`.", deprecated=True
    )


class EventPage(BaseModel):
    data: list[EventRead]
    next_cursor: str | None = Field(description="The last event's id: pass as `after`.")
    has_more: bool


class EventType(BaseModel):
    type: str
    description: str


class EventTypeList(BaseModel):
    data: list[EventType]
