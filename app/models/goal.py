from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import (
    CompetencyIds,
    TenantResource,
    TimestampField,
    resource_table_args,
    sql_in,
)


def _ts() -> Any:
    return Field(default=None, sa_type=sa.DateTime(timezone=True))


# The statuses a row may hold: the CHECK constraint, the API's schema and the SQL of
# the rules all read them from here.
GoalStatus = Literal["proposed", "agreed", "in_progress", "achieved", "abandoned"]


class Goal(TenantResource, table=True):
    """A specific, actionable career goal owned by an employee."""

    __tablename__ = "goals"
    __table_args__ = resource_table_args(
        "goals",
        sa.Index("ix_goals_tenant_owner", "tenant_id", "owner_id", "created_at"),
        sa.Index("ix_goals_tenant_status", "tenant_id", "status", "created_at"),
        sa.Index("ix_goals_tenant_updated", "tenant_id", "updated_at", "id"),
        sa.Index("ix_goals_competency_ids", "competency_ids", postgresql_using="gin"),
        sa.CheckConstraint(sql_in("status", GoalStatus), name="status"),
        sa.CheckConstraint(
            "category IN ('skill', 'role', 'project', 'learning', 'other')", name="category"
        ),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name="progress"),
    )

    owner_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    title: str = Field(max_length=300)
    description: str | None = Field(default=None, max_length=10_000)
    category: str = Field(default="other", max_length=20)
    target_date: date | None = Field(default=None)
    success_criteria: str | None = Field(default=None, max_length=10_000)
    progress: int = Field(default=0)
    status: str = Field(default="proposed", max_length=20)
    target_role: str | None = Field(default=None, max_length=200)
    employee_agreed_at: datetime | None = _ts()
    facilitator_agreed_at: datetime | None = _ts()
    facilitator_agreed_by: uuid.UUID | None = Field(
        default=None, foreign_key="people.id", ondelete="RESTRICT"
    )
    achieved_at: datetime | None = _ts()
    abandoned_at: datetime | None = _ts()
    abandon_reason: str | None = Field(default=None, max_length=2_000)
    competency_ids: list[uuid.UUID] = CompetencyIds()


class GoalConversation(SQLModel, table=True):
    """Links a goal to a conversation where it was discussed."""

    __tablename__ = "goal_conversations"
    __table_args__ = (sa.Index("ix_goal_conversations_conversation", "conversation_id"),)

    goal_id: uuid.UUID = Field(foreign_key="goals.id", primary_key=True, ondelete="CASCADE")
    conversation_id: uuid.UUID = Field(
        foreign_key="conversations.id", primary_key=True, ondelete="CASCADE"
    )
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    created_at: datetime = TimestampField()
