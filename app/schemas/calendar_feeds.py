"""Calendar feeds: what creating (or rotating) a person's feed answers."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from app.schemas.common import ReadSchema


class CalendarFeedCreated(ReadSchema):
    id: uuid.UUID = Field(description="The feed; a new id each time the token is rotated.")
    person_id: uuid.UUID = Field(description="The person whose conversations it lists.")
    url: str = Field(
        description="The address to subscribe to in a calendar app (no header needed): "
        "`…/v1/calendar-feeds/{token}.ics`. Whoever has it reads the person's calendar.",
        examples=["https://api.example.com/v1/calendar-feeds/ccf_Qm3vT0x….ics"],
    )
    token: str = Field(
        description="The secret in the URL (`ccf_…`). Shown only once; stored as a hash.",
        examples=["ccf_Qm3vT0x…"],
    )
    created_at: datetime
