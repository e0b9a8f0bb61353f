from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Field

from app.models.base import TenantResource, resource_table_args, sql_in, sql_value

# The statuses a row may hold: the CHECK constraint, the API's schema and the SQL of
# the rules all read them from here.
MentorshipStatus = Literal["active", "ended"]


class Mentorship(TenantResource, table=True):
    """A mentor-mentee pairing: at most one active pairing per (mentor, mentee)."""

    __tablename__ = "mentorships"
    __table_args__ = resource_table_args(
        "mentorships",
        sa.Index(
            "uq_mentorships_active_pair",
            "tenant_id",
            "mentor_id",
            "mentee_id",
            unique=True,
            postgresql_where=sa.text(f"status = {sql_value(MentorshipStatus, 'active')}"),
        ),
        sa.Index("ix_mentorships_tenant_mentor", "tenant_id", "mentor_id", "created_at"),
        sa.Index("ix_mentorships_tenant_mentee", "tenant_id", "mentee_id", "created_at"),
        sa.Index("ix_mentorships_tenant_updated", "tenant_id", "updated_at", "id"),
        sa.CheckConstraint(sql_in("status", MentorshipStatus), name="status"),
        sa.CheckConstraint("mentor_id <> mentee_id", name="distinct_parties"),
    )

    mentor_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    mentee_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    focus: str | None = Field(default=None, max_length=2_000)
    status: str = Field(default="active", max_length=10)
    ended_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    end_reason: str | None = Field(default=None, max_length=2_000)
