from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

# The status sets live with their tables.
from app.models.action_plan import ItemStatus as ItemStatus
from app.models.action_plan import PlanStatus as PlanStatus
from app.schemas.common import (
    EXAMPLE_CONVERSATION_ID,
    EXAMPLE_EMPLOYEE_ID,
    JSON_INT,
    Day,
    ExternalId,
    Metadata,
    ResourceRead,
    WriteSchema,
)

Position = Annotated[int, Field(ge=0, le=10_000), JSON_INT]

MAX_ITEMS_PER_PLAN = 200

ITEM_EXAMPLE: JsonDict = {
    "id": "0193a2b0-3333-7eee-8fff-000000000101",
    "external_id": None,
    "metadata": {},
    "created_at": "2025-01-14T10:10:00Z",
    "updated_at": "2025-01-14T10:10:00Z",
    "plan_id": "0193a2a0-3333-7eee-8fff-000000000100",
    "title": "Shadow the current payments on-call for two weeks",
    "assignee_id": "0193a1e0-1111-7aaa-8bbb-000000000001",
    "due_date": "2025-02-15",
    "status": "todo",
    "support_needed": "Manager to arrange the rota swap.",
    "position": 0,
    "completed_at": None,
}

PLAN_EXAMPLE: JsonDict = {
    "id": "0193a2a0-3333-7eee-8fff-000000000100",
    "external_id": None,
    "metadata": {},
    "created_at": "2025-01-14T10:05:00Z",
    "updated_at": "2025-01-14T10:10:00Z",
    "title": "Steps towards leading the payments migration",
    "owner_id": "0193a1e0-1111-7aaa-8bbb-000000000001",
    "goal_id": "0193a1f2-7c4e-7d21-9b61-5a1c2e3f4a5b",
    "conversation_id": "0193a1e5-2222-7ccc-8ddd-000000000042",
    "status": "active",
    "items": [ITEM_EXAMPLE],
    "completion": {"done": 0, "total": 1, "ratio": 0.0},
}


class ActionPlanCreate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Steps towards leading the payments migration",
                    "owner_id": EXAMPLE_EMPLOYEE_ID,
                    "conversation_id": EXAMPLE_CONVERSATION_ID,
                }
            ]
        }
    )

    title: str = Field(min_length=1, max_length=300)
    owner_id: uuid.UUID = Field(description="The person accountable for the plan.")
    goal_id: uuid.UUID | None = Field(default=None, description="The goal this plan breaks down.")
    conversation_id: uuid.UUID | None = Field(
        default=None, description="The conversation this plan closes."
    )
    status: PlanStatus = "active"
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class ActionPlanUpdate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"title": "Steps towards leading the payments migration (Q3)"}]
        }
    )

    non_null: ClassVar[tuple[str, ...]] = ("title", "owner_id", "status", "metadata")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    owner_id: uuid.UUID | None = None
    goal_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    status: PlanStatus | None = None
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


class ActionItemCreate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Shadow the current payments on-call for two weeks",
                    "assignee_id": EXAMPLE_EMPLOYEE_ID,
                    "due_date": "2025-02-15",
                    "support_needed": "Manager to arrange the rota swap.",
                }
            ]
        }
    )

    title: str = Field(min_length=1, max_length=300)
    assignee_id: uuid.UUID = Field(
        description="Who does it: the employee or the manager (any person of your tenant)."
    )
    due_date: Day | None = None
    status: ItemStatus = "todo"
    support_needed: str | None = Field(
        default=None, max_length=5_000, description="What the assignee needs from others."
    )
    position: Position | None = Field(
        default=None,
        description="0-based place in the plan; omitted or past the end = last. Later "
        "items move down.",
    )
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class ActionItemUpdate(WriteSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"support_needed": "Manager to arrange the rota swap before the 15th."}]
        }
    )

    non_null: ClassVar[tuple[str, ...]] = ("title", "assignee_id", "status", "position", "metadata")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    assignee_id: uuid.UUID | None = None
    due_date: Day | None = None
    status: ItemStatus | None = Field(
        default=None,
        description="`done` sets `completed_at`; any other status clears it.",
    )
    support_needed: str | None = Field(default=None, max_length=5_000)
    position: Position | None = Field(
        default=None,
        description="Move the item; its siblings are renumbered 0…n-1.",
    )
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


class ActionItemRead(ResourceRead):
    model_config = ConfigDict(json_schema_extra={"examples": [ITEM_EXAMPLE]})

    plan_id: uuid.UUID
    title: str
    assignee_id: uuid.UUID
    due_date: date | None
    status: ItemStatus
    support_needed: str | None
    position: int
    completed_at: datetime | None = Field(description="When the item was last marked `done`.")


class Completion(BaseModel):
    done: int = Field(description="Items whose status is `done`.")
    total: int = Field(description="All items of the plan.")
    ratio: float = Field(ge=0.0, le=1.0, description="done / total; 0 when there are no items.")


class ActionPlanRead(ResourceRead):
    model_config = ConfigDict(json_schema_extra={"examples": [PLAN_EXAMPLE]})

    title: str
    owner_id: uuid.UUID
    goal_id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    status: PlanStatus
    items: list[ActionItemRead] = Field(description="The plan's items, by position.")
    completion: Completion
