from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Field

from app.models.base import (
    CompetencyIds,
    TenantResource,
    resource_table_args,
    sql_in,
    sql_value,
)

# The statuses a row may hold: the CHECK constraint, the API's schema and the SQL of
# the rules all read them from here.
FeedbackRequestStatus = Literal["open", "answered", "declined", "expired"]


class FeedbackRequest(TenantResource, table=True):
    """A request asking someone for feedback by a date."""

    __tablename__ = "feedback_requests"
    __table_args__ = resource_table_args(
        "feedback_requests",
        sa.Index(
            "ix_feedback_requests_tenant_responder", "tenant_id", "responder_id", "created_at"
        ),
        sa.Index(
            "ix_feedback_requests_tenant_requester", "tenant_id", "requester_id", "created_at"
        ),
        sa.Index("ix_feedback_requests_tenant_updated", "tenant_id", "updated_at", "id"),
        sa.Index(
            "ix_feedback_requests_open_due",
            "due_at",
            postgresql_where=sa.text(f"status = {sql_value(FeedbackRequestStatus, 'open')}"),
        ),
        sa.CheckConstraint(sql_in("status", FeedbackRequestStatus), name="status"),
        sa.CheckConstraint("requester_id <> responder_id", name="distinct_parties"),
    )

    requester_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    responder_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    prompt: str = Field(max_length=5_000)
    due_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    status: str = Field(default="open", max_length=10)
    conversation_id: uuid.UUID | None = Field(
        default=None, foreign_key="conversations.id", ondelete="RESTRICT"
    )
    goal_id: uuid.UUID | None = Field(default=None, foreign_key="goals.id", ondelete="RESTRICT")
    decline_reason: str | None = Field(default=None, max_length=2_000)
    declined_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    answered_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class Feedback(TenantResource, table=True):
    """Constructive feedback or guidance from one person to another."""

    __tablename__ = "feedback"
    __table_args__ = resource_table_args(
        "feedback",
        sa.Index("ix_feedback_tenant_recipient", "tenant_id", "recipient_id", "created_at"),
        sa.Index("ix_feedback_tenant_giver", "tenant_id", "giver_id", "created_at"),
        sa.Index("ix_feedback_tenant_conversation", "tenant_id", "conversation_id", "created_at"),
        sa.Index("ix_feedback_tenant_goal", "tenant_id", "goal_id", "created_at"),
        sa.Index("ix_feedback_tenant_updated", "tenant_id", "updated_at", "id"),
        sa.Index("ix_feedback_competency_ids", "competency_ids", postgresql_using="gin"),
        sa.CheckConstraint(
            "kind IN ('strength', 'growth_area', 'guidance', 'recognition')", name="kind"
        ),
        sa.CheckConstraint(
            "visibility IN ('recipient', 'recipient_and_manager')", name="visibility"
        ),
        sa.CheckConstraint("giver_id <> recipient_id", name="distinct_parties"),
    )

    giver_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    recipient_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    kind: str = Field(max_length=20)
    body: str = Field(max_length=20_000)
    visibility: str = Field(default="recipient", max_length=30)
    conversation_id: uuid.UUID | None = Field(
        default=None, foreign_key="conversations.id", ondelete="RESTRICT"
    )
    goal_id: uuid.UUID | None = Field(default=None, foreign_key="goals.id", ondelete="RESTRICT")
    request_id: uuid.UUID | None = Field(
        default=None, foreign_key="feedback_requests.id", ondelete="RESTRICT", unique=True
    )
    competency_ids: list[uuid.UUID] = CompetencyIds()
