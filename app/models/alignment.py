"""Expectations alignment: the employee's aspiration and a facilitator's assessment, each a
history of immutable versions, and per person the last computed alignment between them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.models.base import TimestampField, sql_in, uuid7

# The value sets a row may hold: CHECK constraints, the API's schemas and the rules read them.
Mobility = Literal["none", "team", "department", "anywhere"]
Readiness = Literal["ready_now", "ready_in_1_year", "ready_in_2_years", "not_on_this_path"]
AlignmentStatus = Literal["unknown", "aligned", "gap"]
Difference = Literal["role", "level", "horizon"]


def _list_column() -> Any:
    return Field(
        default_factory=list,
        sa_type=JSONB,
        sa_column_kwargs={"server_default": sa.text("'[]'::jsonb")},
        nullable=False,
    )


class Aspiration(SQLModel, table=True):
    """One version of an employee's own view of where they want to go (never changed:
    each change is a new version, ``version`` 1, 2, 3 … per person)."""

    __tablename__ = "aspirations"
    __table_args__ = (
        sa.UniqueConstraint("person_id", "version", name="uq_aspirations_person_version"),
        sa.Index(
            "ix_aspirations_tenant_person_created", "tenant_id", "person_id", "created_at", "id"
        ),
        sa.Index(
            "ix_aspirations_track_level",
            "track_level_id",
            postgresql_where=sa.text("track_level_id IS NOT NULL"),
        ),
        sa.CheckConstraint(sql_in("mobility", Mobility), name="mobility"),
        sa.CheckConstraint("horizon_months BETWEEN 1 AND 120", name="horizon_months"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", nullable=False, ondelete="CASCADE")
    person_id: uuid.UUID = Field(foreign_key="people.id", nullable=False, ondelete="RESTRICT")
    version: int
    target_role: str = Field(max_length=200)
    target_level: str | None = Field(default=None, max_length=100)
    # The career track level aimed at; a level a version names is not deleted (409 in_use).
    track_level_id: uuid.UUID | None = Field(default=None, foreign_key="career_track_levels.id")
    horizon_months: int
    mobility: str = Field(max_length=16)
    wants_to_learn: list[str] = _list_column()
    notes: str | None = Field(default=None, max_length=4_000)
    created_at: datetime = TimestampField()
    updated_at: datetime = TimestampField()


class Assessment(SQLModel, table=True):
    """One version of a facilitator's (a manager's or mentor's) view of where the person
    realistically can go (immutable, versioned like ``Aspiration``)."""

    __tablename__ = "assessments"
    __table_args__ = (
        sa.UniqueConstraint("person_id", "version", name="uq_assessments_person_version"),
        sa.Index(
            "ix_assessments_tenant_person_created", "tenant_id", "person_id", "created_at", "id"
        ),
        sa.Index(
            "ix_assessments_track_level",
            "track_level_id",
            postgresql_where=sa.text("track_level_id IS NOT NULL"),
        ),
        sa.CheckConstraint(sql_in("readiness", Readiness), name="readiness"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", nullable=False, ondelete="CASCADE")
    person_id: uuid.UUID = Field(foreign_key="people.id", nullable=False, ondelete="RESTRICT")
    version: int
    assessed_by: uuid.UUID = Field(foreign_key="people.id", nullable=False, ondelete="RESTRICT")
    realistic_role: str = Field(max_length=200)
    realistic_level: str | None = Field(default=None, max_length=100)
    # The career track level found realistic (see ``Aspiration.track_level_id``).
    track_level_id: uuid.UUID | None = Field(default=None, foreign_key="career_track_levels.id")
    readiness: str = Field(max_length=20)
    pathway: str | None = Field(default=None, max_length=4_000)
    gaps: list[str] = _list_column()
    opportunities: list[str] = _list_column()
    created_at: datetime = TimestampField()
    updated_at: datetime = TimestampField()


class Alignment(SQLModel, table=True):
    """Per person, the alignment last computed from their current aspiration and assessment:
    the row every write locks (``FOR UPDATE``) so a status change is recorded exactly once."""

    __tablename__ = "alignments"
    __table_args__ = (
        sa.Index("ix_alignments_tenant_created", "tenant_id", "created_at", "id"),
        sa.CheckConstraint(sql_in("status", AlignmentStatus), name="status"),
        # Not a person's history: it is derived from their versions, which are.
        {"info": {"not_history": True}},
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", nullable=False, ondelete="CASCADE")
    person_id: uuid.UUID = Field(
        foreign_key="people.id", nullable=False, ondelete="CASCADE", unique=True
    )
    status: str = Field(default="unknown", max_length=10)
    differences: list[str] = _list_column()
    aspiration_id: uuid.UUID | None = Field(
        default=None, foreign_key="aspirations.id", ondelete="RESTRICT"
    )
    assessment_id: uuid.UUID | None = Field(
        default=None, foreign_key="assessments.id", ondelete="RESTRICT"
    )
    created_at: datetime = TimestampField()
    updated_at: datetime = TimestampField()
