from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import (
    TenantResource,
    TimestampField,
    resource_table_args,
    sql_in,
    sql_value,
    uuid7,
)


def _ts() -> Any:
    return Field(default=None, sa_type=sa.DateTime(timezone=True))


# The statuses a row may hold: the CHECK constraint, the API's schema and the SQL of
# the rules all read them from here.
ConversationStatus = Literal["draft", "scheduled", "completed", "canceled"]


class Conversation(TenantResource, table=True):
    """A career conversation between an employee and a facilitator (manager, mentor, …)."""

    __tablename__ = "conversations"
    __table_args__ = resource_table_args(
        "conversations",
        sa.Index("ix_conversations_tenant_employee", "tenant_id", "employee_id", "created_at"),
        sa.Index(
            "ix_conversations_tenant_facilitator", "tenant_id", "facilitator_id", "created_at"
        ),
        sa.Index("ix_conversations_tenant_status", "tenant_id", "status", "created_at"),
        sa.Index("ix_conversations_tenant_start", "tenant_id", "scheduled_start"),
        # The scheduler's reminder scan, across tenants.
        sa.Index(
            "ix_conversations_scheduled_start",
            "scheduled_start",
            postgresql_where=sa.text(f"status = {sql_value(ConversationStatus, 'scheduled')}"),
        ),
        sa.Index("ix_conversations_tenant_updated", "tenant_id", "updated_at", "id"),
        # The cadence scan and GET /v1/people/{id}/cadence: an employee's last completed
        # conversation of a kind, one index probe.
        sa.Index(
            "ix_conversations_completed_by_employee",
            "tenant_id",
            "employee_id",
            "kind",
            "completed_at",
            postgresql_where=sa.text(f"status = {sql_value(ConversationStatus, 'completed')}"),
        ),
        # The insights' window over a conversation's own date (app/services/insights.py).
        sa.Index(
            "ix_conversations_tenant_insight_date",
            "tenant_id",
            sa.text("COALESCE(completed_at, canceled_at, scheduled_start, created_at)"),
        ),
        # A series' occurrence is created once, however many schedulers run.
        sa.UniqueConstraint(
            "series_id", "occurrence_start", name="uq_conversations_series_occurrence"
        ),
        sa.CheckConstraint(sql_in("status", ConversationStatus), name="status"),
        sa.CheckConstraint("kind IN ('career', 'mentorship', 'skip_level', 'stay')", name="kind"),
        sa.CheckConstraint("employee_id <> facilitator_id", name="distinct_parties"),
        sa.CheckConstraint("duration_minutes BETWEEN 5 AND 480", name="duration"),
        sa.CheckConstraint("reschedule_count >= 0", name="reschedule_count"),
        sa.CheckConstraint("calendar_sequence >= 0", name="calendar_sequence"),
    )

    employee_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    facilitator_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    kind: str = Field(default="career", max_length=20)
    status: str = Field(default="draft", max_length=20)
    scheduled_start: datetime | None = _ts()
    duration_minutes: int = Field(default=30)
    timezone: str = Field(default="UTC", max_length=64)
    location: str | None = Field(default=None, max_length=500)
    meeting_url: str | None = Field(default=None, max_length=2000)
    employee_objectives: str | None = Field(default=None, max_length=10_000)
    facilitator_objectives: str | None = Field(default=None, max_length=10_000)
    summary: str | None = Field(default=None, max_length=50_000)
    reschedule_count: int = Field(default=0)
    # When it went ``draft → scheduled`` (the insights' lead time: start - this).
    scheduled_at: datetime | None = _ts()
    # The iCalendar SEQUENCE of its invitation: bumped by every change of time, duration,
    # time zone or place and by the cancellation (app/services/calendars.py).
    calendar_sequence: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    employee_prepared_at: datetime | None = _ts()
    facilitator_prepared_at: datetime | None = _ts()
    # When sealed agenda items became shared (both prepared, or the start passed).
    preparation_revealed_at: datetime | None = _ts()
    completed_at: datetime | None = _ts()
    canceled_at: datetime | None = _ts()
    cancel_reason: str | None = Field(default=None, max_length=2000)
    # An occurrence of a series (app/services/series.py): the series and the occurrence's
    # original start (a reschedule moves ``scheduled_start`` only).
    series_id: uuid.UUID | None = Field(
        default=None, foreign_key="conversation_series.id", ondelete="RESTRICT"
    )
    occurrence_start: datetime | None = _ts()
    # The versions of the employee's aspiration and assessment this conversation discussed
    # (app/services/alignment.py); plain columns, read on the hot path as they are.
    aspiration_version_id: uuid.UUID | None = Field(
        default=None, foreign_key="aspirations.id", ondelete="RESTRICT"
    )
    assessment_version_id: uuid.UUID | None = Field(
        default=None, foreign_key="assessments.id", ondelete="RESTRICT"
    )


class ConversationReschedule(SQLModel, table=True):
    """One move of a scheduled conversation: the history behind ``reschedule_count``."""

    __tablename__ = "conversation_reschedules"
    __table_args__ = (
        sa.Index("ix_conversation_reschedules_conversation", "conversation_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="CASCADE")
    created_at: datetime = TimestampField()
    previous_start: datetime | None = _ts()
    new_start: datetime = Field(sa_type=sa.DateTime(timezone=True))
    reason: str | None = Field(default=None, max_length=2000)


class AgendaItem(TenantResource, table=True):
    """A talking point either party adds to a conversation."""

    __tablename__ = "agenda_items"
    __table_args__ = resource_table_args(
        "agenda_items",
        sa.Index("ix_agenda_items_conversation_position", "conversation_id", "position", "id"),
        sa.CheckConstraint(
            "category IN ('aspirations', 'strengths', 'growth_areas', 'opportunities', "
            "'feedback', 'other')",
            name="category",
        ),
        sa.CheckConstraint("position >= 0", name="position"),
        sa.CheckConstraint("visibility IN ('shared', 'sealed')", name="visibility"),
        # "Already carried?": one lookup per undiscussed item of a series; unique, so two
        # concurrent carries copy an item once.
        sa.Index(
            "uq_agenda_items_carried_from",
            "carried_from_id",
            unique=True,
            postgresql_where=sa.text("carried_from_id IS NOT NULL"),
        ),
    )

    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="CASCADE")
    author_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    topic: str = Field(max_length=500)
    category: str = Field(default="other", max_length=20)
    position: int = Field(default=0)
    discussed: bool = Field(default=False)
    notes: str | None = Field(default=None, max_length=10_000)
    # ``sealed``: only its author sees it until the conversation's preparation is revealed.
    visibility: str = Field(
        default="shared", max_length=10, sa_column_kwargs={"server_default": "shared"}
    )
    # Items created from an agenda template: the template's id (a built-in's fixed id or a
    # tenant template's, not a foreign key: the template may be deleted later) and the
    # item's guiding question. Both null for items added by hand.
    template_id: uuid.UUID | None = Field(default=None)
    prompt: str | None = Field(default=None, max_length=2000)
    # An item a series' occurrence did not get to, carried to the next occurrence
    # (app/services/series.py ``carry_forward``): the item it was copied from.
    carried_from_id: uuid.UUID | None = Field(
        default=None, foreign_key="agenda_items.id", ondelete="SET NULL"
    )


class ConversationNote(TenantResource, table=True):
    """A note on a conversation: ``shared`` with both parties or ``private`` to its author."""

    __tablename__ = "conversation_notes"
    __table_args__ = resource_table_args(
        "conversation_notes",
        sa.Index("ix_conversation_notes_conversation", "conversation_id", "created_at", "id"),
        # Retention (app/services/retention.py): a tenant's private notes by age.
        sa.Index(
            "ix_conversation_notes_tenant_private_created",
            "tenant_id",
            "created_at",
            postgresql_where=sa.text("visibility = 'private'"),
        ),
        sa.CheckConstraint("visibility IN ('shared', 'private')", name="visibility"),
    )

    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="CASCADE")
    author_id: uuid.UUID = Field(foreign_key="people.id", ondelete="RESTRICT")
    visibility: str = Field(default="shared", max_length=10)
    body: str = Field(max_length=50_000)
