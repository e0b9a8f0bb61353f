from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Field

from app.models.base import TenantResource, resource_table_args, sql_in, sql_value

# The statuses a row may hold: the CHECK constraint, the API's schema and the SQL of
# the rules all read them from here.
FollowUpStatus = Literal["pending", "completed", "canceled"]


class FollowUp(TenantResource, table=True):
    """A dated check-in after a conversation; downstream systems are told when it is due."""

    __tablename__ = "follow_ups"
    __table_args__ = resource_table_args(
        "follow_ups",
        sa.Index("ix_follow_ups_tenant_conversation", "tenant_id", "conversation_id", "created_at"),
        sa.Index("ix_follow_ups_tenant_assignee", "tenant_id", "assignee_id", "created_at"),
        sa.Index("ix_follow_ups_tenant_due", "tenant_id", "due_at"),
        sa.Index("ix_follow_ups_tenant_updated", "tenant_id", "updated_at", "id"),
        sa.Index(
            "ix_follow_ups_pending_due",
            "due_at",
            postgresql_where=sa.text(f"status = {sql_value(FollowUpStatus, 'pending')}"),
        ),
        sa.CheckConstraint(sql_in("status", FollowUpStatus), name="status"),
    )

    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="RESTRICT")
    assignee_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    due_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    note: str | None = Field(default=None, max_length=5_000)
    status: str = Field(default="pending", max_length=10)
    completed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    canceled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    cancel_reason: str | None = Field(default=None, max_length=2_000)
