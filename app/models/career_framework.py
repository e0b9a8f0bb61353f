"""The career framework: the tenant's competencies and its career tracks, whose ordered
levels say which competencies each level expects.

Levels are rows of their own (``career_track_levels``) with a stable uuid7 id, so other
resources can point at a level; their ``expectations`` are one JSON array
``[{"competency_id", "expectation"}]``, replaced with the level.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.models.base import TenantResource, TimestampField, resource_table_args, uuid7


class Competency(TenantResource, table=True):
    """A skill or experience the tenant expects people to grow in; its name is unique per
    tenant, ignoring case."""

    __tablename__ = "competencies"
    __table_args__ = resource_table_args(
        "competencies",
        sa.Index("ix_competencies_tenant_updated", "tenant_id", "updated_at", "id"),
        sa.Index("ix_competencies_tenant_category", "tenant_id", "category", "created_at"),
        sa.Index("uq_competencies_tenant_name", "tenant_id", sa.text("lower(name)"), unique=True),
    )

    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    category: str | None = Field(default=None, max_length=100)


class CareerTrack(TenantResource, table=True):
    """A path of ordered levels (``career_track_levels``)."""

    __tablename__ = "career_tracks"
    __table_args__ = resource_table_args(
        "career_tracks",
        sa.Index("ix_career_tracks_tenant_updated", "tenant_id", "updated_at", "id"),
    )

    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=5000)


class CareerTrackLevel(SQLModel, table=True):
    """One level of a track, at ``position`` (0 first); its id stays while the level does."""

    __tablename__ = "career_track_levels"
    __table_args__ = (
        sa.UniqueConstraint(
            "track_id",
            "position",
            name="uq_career_track_levels_track_id_position",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.Index("ix_career_track_levels_tenant", "tenant_id"),
        sa.Index(
            "ix_career_track_levels_expectations",
            "expectations",
            postgresql_using="gin",
            postgresql_ops={"expectations": "jsonb_path_ops"},
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", nullable=False, ondelete="CASCADE")
    track_id: uuid.UUID = Field(foreign_key="career_tracks.id", ondelete="CASCADE")
    position: int
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    expectations: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_type=JSONB,
        sa_column_kwargs={"server_default": sa.text("'[]'::jsonb")},
        nullable=False,
    )
    created_at: datetime = TimestampField()
    updated_at: datetime = TimestampField()
