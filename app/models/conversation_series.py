from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Field

from app.models.base import TenantResource, resource_table_args, sql_in, sql_value

SeriesStatus = Literal["active", "paused", "ended"]


class ConversationSeries(TenantResource, table=True):
    """A recurring conversation: an RFC 5545 RRULE expanded from a local start in a time
    zone; the scheduler keeps its next occurrences created as scheduled conversations."""

    __tablename__ = "conversation_series"
    __table_args__ = resource_table_args(
        "conversation_series",
        sa.Index(
            "ix_conversation_series_tenant_employee", "tenant_id", "employee_id", "created_at"
        ),
        sa.Index(
            "ix_conversation_series_tenant_facilitator", "tenant_id", "facilitator_id", "created_at"
        ),
        sa.Index("ix_conversation_series_tenant_updated", "tenant_id", "updated_at", "id"),
        # The scheduler's pass, across tenants.
        sa.Index(
            "ix_conversation_series_active",
            "id",
            postgresql_where=sa.text(f"status = {sql_value(SeriesStatus, 'active')}"),
        ),
        sa.CheckConstraint(sql_in("status", SeriesStatus), name="status"),
        sa.CheckConstraint("kind IN ('career', 'mentorship', 'skip_level', 'stay')", name="kind"),
        sa.CheckConstraint("employee_id <> facilitator_id", name="distinct_parties"),
        sa.CheckConstraint("duration_minutes BETWEEN 5 AND 480", name="duration"),
        sa.CheckConstraint("calendar_sequence >= 0", name="calendar_sequence"),
    )

    employee_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    facilitator_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    kind: str = Field(default="career", max_length=20)
    status: str = Field(default="active", max_length=20)
    rrule: str = Field(max_length=500)
    # The first occurrence as a wall-clock time in ``timezone`` (naive: expanded locally).
    start: datetime = Field(sa_type=sa.DateTime(timezone=False))
    timezone: str = Field(max_length=64)
    duration_minutes: int = Field(default=30)
    # Each occurrence starts with this template's items (a built-in's fixed id or a tenant
    # template's; not a foreign key, like ``agenda_items.template_id``).
    agenda_template_id: uuid.UUID | None = Field(default=None)
    # The iCalendar SEQUENCE of the series' invitation (its rule, start, zone, duration or
    # status changed).
    calendar_sequence: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
