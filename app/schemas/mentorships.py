"""Mentorships: a mentor paired with a mentee, active until ended."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from app.models.mentorship import (
    MentorshipStatus as MentorshipStatus,  # the status set lives with its table
)
from app.schemas.common import (
    EXAMPLE_EMPLOYEE_ID,
    EXAMPLE_MANAGER_ID,
    ExternalId,
    Metadata,
    ResourceRead,
    WriteSchema,
)

_EXAMPLE: dict[str, Any] = {
    "id": "0193a1c2-7d4e-7f00-8a1b-2c3d4e5f6a7b",
    "external_id": "MENTOR-88",
    "metadata": {"program": "2025 engineering mentoring"},
    "created_at": "2025-03-01T09:00:00Z",
    "updated_at": "2025-03-01T09:00:00Z",
    "mentor_id": "0193a1c0-0000-7000-8000-000000000001",
    "mentee_id": "0193a1c0-0000-7000-8000-000000000002",
    "focus": "Growing into a staff engineer role",
    "status": "active",
    "ended_at": None,
    "end_reason": None,
}


class MentorshipCreate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mentor_id": EXAMPLE_MANAGER_ID,
                    "mentee_id": EXAMPLE_EMPLOYEE_ID,
                    "focus": "Growing into a staff engineer role",
                }
            ]
        }
    )

    mentor_id: uuid.UUID = Field(description="The mentor: a person of your tenant.")
    mentee_id: uuid.UUID = Field(description="The mentee: another person of your tenant.")
    focus: str | None = Field(
        default=None, max_length=2_000, examples=["Growing into a staff engineer role"]
    )
    status: MentorshipStatus = Field(
        default="active",
        description="`ended` records a past pairing (e.g. imported from the HRIS); its "
        "`ended_at` is the creation time. Only one `active` pairing per (mentor, mentee).",
    )
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class MentorshipUpdate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"focus": "System design and technical leadership"}]}
    )

    non_null: ClassVar[tuple[str, ...]] = ("metadata",)
    focus: str | None = Field(default=None, max_length=2_000)
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


class MentorshipEnd(WriteSchema):
    reason: str | None = Field(
        default=None, max_length=2_000, examples=["Mentee moved to the mentor's team"]
    )


class MentorshipRead(ResourceRead):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    mentor_id: uuid.UUID
    mentee_id: uuid.UUID
    focus: str | None
    status: MentorshipStatus
    ended_at: datetime | None = Field(description="When the mentorship ended.")
    end_reason: str | None
