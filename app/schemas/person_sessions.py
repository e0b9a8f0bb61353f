"""Person sessions: what the platform sends to mint one, and what it sees of it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from app.schemas.common import EXAMPLE_EMPLOYEE_ID, JSON_INT, ReadSchema, WriteSchema

TtlSeconds = Annotated[int, Field(ge=60, le=3600), JSON_INT]


class PersonSessionCreate(WriteSchema):
    person_id: uuid.UUID = Field(
        description="The person the token acts for: a person of your tenant.",
        examples=[EXAMPLE_EMPLOYEE_ID],
    )
    ttl_seconds: TtlSeconds = Field(
        default=900,
        description="How long the token works, in seconds (60 to 3600).",
        examples=[900],
    )


class PersonSessionRead(ReadSchema):
    id: uuid.UUID
    person_id: uuid.UUID
    api_key_id: uuid.UUID = Field(
        description="The API key that created it: the session's requests count against its "
        "rate limit, and revoking the key ends the session."
    )
    expires_at: datetime
    revoked_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PersonSessionCreated(PersonSessionRead):
    token: str = Field(
        description="The bearer token (`Authorization: Bearer ccs_…`) acting for the person. "
        "Shown only once: hand it to the front-end; it is stored only as a hash.",
        examples=["ccs_Jx0u5…"],
    )
