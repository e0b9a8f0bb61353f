from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from app.models.goal import GoalStatus as GoalStatus  # the status set lives with its table
from app.schemas.career_framework import COMPETENCY_IDS_DESCRIPTION, CompetencyIdList
from app.schemas.common import (
    EXAMPLE_CONVERSATION_ID,
    EXAMPLE_EMPLOYEE_ID,
    JSON_INT,
    Day,
    ExternalId,
    Metadata,
    ReadSchema,
    ResourceRead,
    WriteSchema,
)

GoalCategory = Literal["skill", "role", "project", "learning", "other"]
AgreementParty = Literal["employee", "facilitator"]

MAX_GOAL_CONVERSATIONS = 50
Percent = Annotated[int, Field(ge=0, le=100), JSON_INT]

_CONVERSATION_IDS_DESCRIPTION = (
    "Conversations of your tenant where this goal was discussed; the goal's owner must be "
    f"each conversation's employee. At most {MAX_GOAL_CONVERSATIONS}; duplicates are ignored."
)

GOAL_EXAMPLE: JsonDict = {
    "id": "0193a1f2-7c4e-7d21-9b61-5a1c2e3f4a5b",
    "external_id": "HRIS-GOAL-311",
    "metadata": {"review_cycle": "2025-H1"},
    "created_at": "2025-01-14T09:30:00Z",
    "updated_at": "2025-01-14T10:02:11Z",
    "owner_id": "0193a1e0-1111-7aaa-8bbb-000000000001",
    "title": "Lead the payments migration",
    "description": "Own the design and rollout of the new payments service.",
    "category": "project",
    "target_date": "2025-06-30",
    "success_criteria": "Cut-over done with no P1 incident; runbook handed to on-call.",
    "progress": 0,
    "status": "agreed",
    "target_role": "Tech Lead",
    "conversation_ids": ["0193a1e5-2222-7ccc-8ddd-000000000042"],
    "competency_ids": [],
    "agreement": {
        "employee_agreed_at": "2025-01-14T09:58:40Z",
        "facilitator_agreed_at": "2025-01-14T10:02:11Z",
        "facilitator_id": "0193a1e0-1111-7aaa-8bbb-000000000002",
    },
    "achieved_at": None,
    "abandoned_at": None,
    "abandon_reason": None,
}


class GoalCreate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "owner_id": EXAMPLE_EMPLOYEE_ID,
                    "title": "Lead the payments migration",
                    "category": "project",
                    "target_date": "2025-06-30",
                    "success_criteria": "Cut-over done with no P1 incident.",
                    "target_role": "Tech Lead",
                    "conversation_ids": [EXAMPLE_CONVERSATION_ID],
                }
            ]
        }
    )

    owner_id: uuid.UUID = Field(description="The employee who owns the goal.")
    title: str = Field(min_length=1, max_length=300, examples=["Lead the payments migration"])
    description: str | None = Field(default=None, max_length=10_000)
    category: GoalCategory = "other"
    target_date: Day | None = Field(default=None, examples=["2025-06-30"])
    success_criteria: str | None = Field(
        default=None, max_length=10_000, examples=["Cut-over done with no P1 incident."]
    )
    progress: Percent = Field(default=0, description="Percent done, 0 to 100.")
    target_role: str | None = Field(
        default=None, max_length=200, description="The role this goal leads towards, if any."
    )
    conversation_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=MAX_GOAL_CONVERSATIONS,
        description=_CONVERSATION_IDS_DESCRIPTION,
    )
    competency_ids: CompetencyIdList = Field(default_factory=list)
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class GoalUpdate(WriteSchema):
    """The owner is fixed at creation; the status moves only through the action routes."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"success_criteria": "Leads two design reviews end to end this half."}]
        }
    )

    non_null: ClassVar[tuple[str, ...]] = (
        "title",
        "category",
        "progress",
        "conversation_ids",
        "competency_ids",
        "metadata",
    )

    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=10_000)
    category: GoalCategory | None = None
    target_date: Day | None = None
    success_criteria: str | None = Field(default=None, max_length=10_000)
    progress: Percent | None = Field(
        default=None,
        description="Setting progress above 0 on an `agreed` goal starts it (`in_progress`).",
    )
    target_role: str | None = Field(default=None, max_length=200)
    conversation_ids: list[uuid.UUID] | None = Field(
        default=None,
        max_length=MAX_GOAL_CONVERSATIONS,
        description="Replaces the set of linked conversations. " + _CONVERSATION_IDS_DESCRIPTION,
    )
    competency_ids: CompetencyIdList | None = Field(
        default=None, description="Replaces the list. " + COMPETENCY_IDS_DESCRIPTION
    )
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


class GoalAgree(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"party": "facilitator", "person_id": "0193a1e0-1111-7aaa-8bbb-000000000002"}
            ]
        }
    )

    party: AgreementParty | None = Field(
        default=None,
        description="`employee`: the goal's owner. `facilitator`: the owner's manager, the "
        "facilitator of a linked conversation, or the owner's active mentor. Required from "
        "the platform; a person acting (`Acting-Person`) may leave it out: their own side is "
        "recorded.",
    )
    person_id: uuid.UUID | None = Field(
        default=None,
        description="The person agreeing. Required from the platform; a person acting may "
        "leave it out or send their own id (another id is a 403).",
    )


class GoalAbandon(WriteSchema):
    reason: str | None = Field(
        default=None, max_length=2_000, examples=["Re-organisation moved the project."]
    )


class GoalConversationLink(WriteSchema):
    conversation_id: uuid.UUID = Field(
        description="A conversation of your tenant whose employee owns the goal."
    )


class GoalAgreement(ReadSchema):
    employee_agreed_at: datetime | None = Field(
        description="When the owner agreed; null until they do."
    )
    facilitator_agreed_at: datetime | None = Field(
        description="When a facilitator agreed; null until one does."
    )
    facilitator_id: uuid.UUID | None = Field(description="The facilitator who agreed.")


class GoalRead(ResourceRead):
    model_config = ConfigDict(json_schema_extra={"examples": [GOAL_EXAMPLE]})

    owner_id: uuid.UUID
    title: str
    description: str | None
    category: GoalCategory
    target_date: date | None
    success_criteria: str | None
    progress: int
    status: GoalStatus = Field(
        description="`proposed → agreed → in_progress → achieved | abandoned`; changed "
        "only through the action routes (`agree`, `start`, `achieve`, `abandon`)."
    )
    target_role: str | None
    conversation_ids: list[uuid.UUID] = Field(
        description="Linked conversations, in the order they were linked."
    )
    competency_ids: list[uuid.UUID] = Field(
        description="Competencies of the career framework this goal develops, in order."
    )
    agreement: GoalAgreement
    achieved_at: datetime | None
    abandoned_at: datetime | None
    abandon_reason: str | None
