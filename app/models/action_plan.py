from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Field

from app.models.base import TenantResource, resource_table_args, sql_in, sql_value

# The statuses a row may hold: the CHECK constraint, the API's schema and the SQL of
# the rules all read them from here.
PlanStatus = Literal["active", "completed", "archived"]
ItemStatus = Literal["todo", "in_progress", "done", "blocked"]


class ActionPlan(TenantResource, table=True):
    """The steps that carry a goal or close a conversation."""

    __tablename__ = "action_plans"
    __table_args__ = resource_table_args(
        "action_plans",
        sa.Index("ix_action_plans_tenant_owner", "tenant_id", "owner_id", "created_at"),
        sa.Index("ix_action_plans_tenant_goal", "tenant_id", "goal_id"),
        sa.Index("ix_action_plans_tenant_conversation", "tenant_id", "conversation_id"),
        sa.Index("ix_action_plans_tenant_updated", "tenant_id", "updated_at", "id"),
        sa.CheckConstraint(sql_in("status", PlanStatus), name="status"),
    )

    title: str = Field(max_length=300)
    owner_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    goal_id: uuid.UUID | None = Field(default=None, foreign_key="goals.id", ondelete="RESTRICT")
    conversation_id: uuid.UUID | None = Field(
        default=None, foreign_key="conversations.id", ondelete="RESTRICT"
    )
    status: str = Field(default="active", max_length=20)


class ActionItem(TenantResource, table=True):
    """One step of a plan, assigned to the employee or to the manager."""

    __tablename__ = "action_items"
    __table_args__ = resource_table_args(
        "action_items",
        sa.Index("ix_action_items_plan_position", "plan_id", "position", "id"),
        sa.Index("ix_action_items_tenant_assignee", "tenant_id", "assignee_id", "created_at"),
        # The insights' window over due days (app/services/insights.py).
        sa.Index("ix_action_items_tenant_due", "tenant_id", "due_date"),
        sa.Index(
            "ix_action_items_open_due",
            "due_date",
            postgresql_where=sa.text(f"status <> {sql_value(ItemStatus, 'done')}"),
        ),
        sa.CheckConstraint(sql_in("status", ItemStatus), name="status"),
    )

    plan_id: uuid.UUID = Field(foreign_key="action_plans.id", ondelete="CASCADE")
    title: str = Field(max_length=300)
    assignee_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    due_date: date | None = Field(default=None)
    status: str = Field(default="todo", max_length=20)
    support_needed: str | None = Field(default=None, max_length=5_000)
    position: int = Field(default=0)
    completed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
