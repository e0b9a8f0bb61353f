"""Feedback between people, and requests asking someone for feedback by a date."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models.feedback import (
    FeedbackRequestStatus as FeedbackRequestStatus,  # the status set lives with its table
)
from app.schemas.career_framework import COMPETENCY_IDS_DESCRIPTION, CompetencyIdList
from app.schemas.common import (
    EXAMPLE_CONVERSATION_ID,
    EXAMPLE_EMPLOYEE_ID,
    EXAMPLE_MANAGER_ID,
    ExternalId,
    Metadata,
    ResourceRead,
    UtcDatetime,
    WriteSchema,
)

FeedbackKind = Literal["strength", "growth_area", "guidance", "recognition"]
FeedbackVisibility = Literal["recipient", "recipient_and_manager"]


_VISIBILITY = (
    "`recipient`: the giver and the recipient; `recipient_and_manager`: also the "
    "recipient's manager. Use `GET /v1/feedback?visible_to=<person_id>` to list what a "
    "person may see."
)
_BODY = Field(
    min_length=1,
    max_length=20_000,
    examples=["Your design review of the billing service was thorough and kind."],
)

FEEDBACK_EXAMPLE: dict[str, Any] = {
    "id": "0193a1d0-1111-7000-8000-00000000f001",
    "external_id": None,
    "metadata": {},
    "created_at": "2025-03-04T10:15:00Z",
    "updated_at": "2025-03-04T10:15:00Z",
    "giver_id": "0193a1c0-0000-7000-8000-000000000001",
    "recipient_id": "0193a1c0-0000-7000-8000-000000000002",
    "kind": "strength",
    "body": "Your design review of the billing service was thorough and kind.",
    "visibility": "recipient_and_manager",
    "conversation_id": None,
    "goal_id": None,
    "request_id": None,
    "competency_ids": [],
}
REQUEST_EXAMPLE: dict[str, Any] = {
    "id": "0193a1d0-2222-7000-8000-00000000e001",
    "external_id": None,
    "metadata": {},
    "created_at": "2025-03-01T09:00:00Z",
    "updated_at": "2025-03-01T09:00:00Z",
    "requester_id": "0193a1c0-0000-7000-8000-000000000002",
    "responder_id": "0193a1c0-0000-7000-8000-000000000001",
    "prompt": "What should I keep doing when I lead design reviews?",
    "due_at": "2025-03-14T17:00:00Z",
    "status": "open",
    "conversation_id": None,
    "goal_id": None,
    "answered_at": None,
    "declined_at": None,
    "decline_reason": None,
}


# Feedback


class FeedbackCreate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "giver_id": EXAMPLE_MANAGER_ID,
                    "recipient_id": EXAMPLE_EMPLOYEE_ID,
                    "kind": "strength",
                    "body": "Your write-up of the migration made the trade-offs clear.",
                    "visibility": "recipient_and_manager",
                    "conversation_id": EXAMPLE_CONVERSATION_ID,
                }
            ]
        }
    )

    giver_id: uuid.UUID = Field(description="Who gives the feedback: a person of your tenant.")
    recipient_id: uuid.UUID = Field(description="Who receives it: another person.")
    kind: FeedbackKind = Field(examples=["strength"])
    body: str = _BODY
    visibility: FeedbackVisibility = Field(default="recipient", description=_VISIBILITY)
    conversation_id: uuid.UUID | None = Field(
        default=None, description="The conversation this feedback came up in."
    )
    goal_id: uuid.UUID | None = Field(default=None, description="The goal it is about.")
    competency_ids: CompetencyIdList = Field(default_factory=list)
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class FeedbackUpdate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"body": "Clear, calm incident write-up; the timeline made the review easy."}
            ]
        }
    )

    non_null: ClassVar[tuple[str, ...]] = (
        "kind",
        "body",
        "visibility",
        "competency_ids",
        "metadata",
    )
    kind: FeedbackKind | None = None
    body: str | None = Field(default=None, min_length=1, max_length=20_000)
    visibility: FeedbackVisibility | None = None
    competency_ids: CompetencyIdList | None = Field(
        default=None, description="Replaces the list. " + COMPETENCY_IDS_DESCRIPTION
    )
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


class FeedbackRead(ResourceRead):
    model_config = ConfigDict(json_schema_extra={"examples": [FEEDBACK_EXAMPLE]})

    giver_id: uuid.UUID
    recipient_id: uuid.UUID
    kind: FeedbackKind
    body: str
    visibility: FeedbackVisibility = Field(description=_VISIBILITY)
    conversation_id: uuid.UUID | None
    goal_id: uuid.UUID | None
    request_id: uuid.UUID | None = Field(
        description="The feedback request this feedback answered, if any."
    )
    competency_ids: list[uuid.UUID] = Field(
        description="Competencies of the career framework this feedback is about, in order."
    )


# Feedback requests


class FeedbackRequestCreate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "requester_id": EXAMPLE_EMPLOYEE_ID,
                    "responder_id": EXAMPLE_MANAGER_ID,
                    "prompt": "What should I keep doing when I lead design reviews?",
                    "due_at": "2030-03-14T17:00:00Z",
                }
            ]
        }
    )

    requester_id: uuid.UUID = Field(description="Who asks for feedback (its future recipient).")
    responder_id: uuid.UUID = Field(description="Who is asked (its future giver).")
    prompt: str = Field(
        min_length=1,
        max_length=5_000,
        examples=["What should I keep doing when I lead design reviews?"],
    )
    due_at: UtcDatetime = Field(
        description="RFC 3339 with an offset, in the future. Unanswered by then, the request "
        "expires.",
        examples=["2025-03-14T17:00:00Z"],
    )
    conversation_id: uuid.UUID | None = Field(
        default=None, description="Inherited by the feedback that answers it."
    )
    goal_id: uuid.UUID | None = Field(
        default=None, description="Inherited by the feedback that answers it."
    )
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class FeedbackRequestUpdate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"prompt": "What should I keep doing when I lead design reviews?"}]
        }
    )

    non_null: ClassVar[tuple[str, ...]] = ("prompt", "due_at", "metadata")
    prompt: str | None = Field(
        default=None, min_length=1, max_length=5_000, description="Only while `open`."
    )
    due_at: UtcDatetime | None = Field(
        default=None, description="Only while `open`; must be in the future."
    )
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


class FeedbackRequestAnswer(WriteSchema):
    kind: FeedbackKind = Field(examples=["strength"])
    body: str = _BODY
    visibility: FeedbackVisibility = Field(default="recipient", description=_VISIBILITY)
    external_id: ExternalId | None = Field(default=None, description="For the new feedback.")
    metadata: Metadata = Field(default_factory=dict, description="For the new feedback.")


class FeedbackRequestDecline(WriteSchema):
    reason: str | None = Field(
        default=None, max_length=2_000, examples=["I have not worked with Ada this quarter."]
    )


class FeedbackRequestRead(ResourceRead):
    model_config = ConfigDict(json_schema_extra={"examples": [REQUEST_EXAMPLE]})

    requester_id: uuid.UUID
    responder_id: uuid.UUID
    prompt: str
    due_at: datetime
    status: FeedbackRequestStatus
    conversation_id: uuid.UUID | None
    goal_id: uuid.UUID | None
    answered_at: datetime | None
    declined_at: datetime | None
    decline_reason: str | None


class FeedbackRequestAnswered(BaseModel):
    """The answered request and the feedback the answer created."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request": {
                        **REQUEST_EXAMPLE,
                        "status": "answered",
                        "answered_at": "2025-03-04T10:15:00Z",
                        "updated_at": "2025-03-04T10:15:00Z",
                    },
                    "feedback": {**FEEDBACK_EXAMPLE, "request_id": REQUEST_EXAMPLE["id"]},
                }
            ]
        }
    )

    request: FeedbackRequestRead
    feedback: FeedbackRead
