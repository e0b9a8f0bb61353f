"""Follow-ups: dated check-ins after a conversation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from app.models.follow_up import (
    FollowUpStatus as FollowUpStatus,  # the status set lives with its table
)
from app.schemas.common import (
    EXAMPLE_CONVERSATION_ID,
    EXAMPLE_MANAGER_ID,
    ExternalId,
    Metadata,
    ResourceRead,
    UtcDatetime,
    WriteSchema,
)

_EXAMPLE: dict[str, Any] = {
    "id": "0193a1e0-3333-7000-8000-00000000d001",
    "external_id": None,
    "metadata": {},
    "created_at": "2025-03-04T11:00:00Z",
    "updated_at": "2025-03-04T11:00:00Z",
    "conversation_id": "0193a1c5-0000-7000-8000-00000000c001",
    "assignee_id": "0193a1c0-0000-7000-8000-000000000001",
    "due_at": "2025-04-04T07:00:00Z",
    "note": "Check progress on the public-speaking goal.",
    "status": "pending",
    "completed_at": None,
    "canceled_at": None,
    "cancel_reason": None,
}


class FollowUpCreate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "conversation_id": EXAMPLE_CONVERSATION_ID,
                    "assignee_id": EXAMPLE_MANAGER_ID,
                    "due_at": "2030-04-04T09:00:00+02:00",
                    "note": "Check progress on the public-speaking goal.",
                }
            ]
        }
    )

    conversation_id: uuid.UUID = Field(description="The conversation this follows up on.")
    assignee_id: uuid.UUID = Field(description="Who owns the check-in: a person of your tenant.")
    due_at: UtcDatetime = Field(
        description="RFC 3339 with an offset. `follow_up.due` is emitted at this time.",
        examples=["2025-04-04T09:00:00+02:00"],
    )
    note: str | None = Field(
        default=None, max_length=5_000, examples=["Check progress on the public-speaking goal."]
    )
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class FollowUpUpdate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"note": "Check in on the mentoring pairing after two sessions."}]
        }
    )

    non_null: ClassVar[tuple[str, ...]] = ("due_at", "assignee_id", "metadata")
    due_at: UtcDatetime | None = Field(
        default=None, description="Only while `pending`; re-arms the due/overdue events."
    )
    note: str | None = Field(default=None, max_length=5_000, description="Only while `pending`.")
    assignee_id: uuid.UUID | None = Field(default=None, description="Only while `pending`.")
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


class FollowUpCancel(WriteSchema):
    reason: str | None = Field(
        default=None, max_length=2_000, examples=["Covered in the next 1:1 instead."]
    )


class FollowUpRead(ResourceRead):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    conversation_id: uuid.UUID
    assignee_id: uuid.UUID
    due_at: datetime
    note: str | None
    status: FollowUpStatus
    completed_at: datetime | None
    canceled_at: datetime | None
    cancel_reason: str | None
