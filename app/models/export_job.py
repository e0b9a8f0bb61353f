"""Per-person exports (GDPR art. 15): the job, and the JSON document it wrote, in chunks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import TimestampField, sql_in, sql_value, uuid7

ExportStatus = Literal["pending", "running", "completed", "failed"]


class ExportJob(SQLModel, table=True):
    """One export of everything held about a person; the worker claims ``pending`` ones."""

    __tablename__ = "export_jobs"
    __table_args__ = (
        sa.CheckConstraint(sql_in("status", ExportStatus), name="status"),
        sa.Index("ix_export_jobs_tenant_person", "tenant_id", "person_id", "created_at"),
        # The claim: pending jobs, oldest first (running ones whose lease lapsed are retaken).
        sa.Index(
            "ix_export_jobs_pending",
            "created_at",
            postgresql_where=sa.text(f"status = {sql_value(ExportStatus, 'pending')}"),
        ),
        sa.Index(
            "ix_export_jobs_running_lease",
            "lease_expires_at",
            postgresql_where=sa.text(f"status = {sql_value(ExportStatus, 'running')}"),
        ),
        sa.Index("ix_export_jobs_expires", "expires_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", nullable=False, ondelete="CASCADE")
    person_id: uuid.UUID = Field(foreign_key="people.id", nullable=False, ondelete="CASCADE")
    status: str = Field(default="pending", max_length=16)
    # Who asked: the person themself (Acting-Person) or None (the platform).
    requested_by_person_id: uuid.UUID | None = Field(default=None)
    api_key_id: uuid.UUID | None = Field(default=None)
    lease_expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    started_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    completed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    size_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = TimestampField()
    updated_at: datetime = TimestampField()


class ExportChunk(SQLModel, table=True):
    """A piece of an export's JSON document, in order (``seq``); the download streams them."""

    __tablename__ = "export_chunks"

    job_id: uuid.UUID = Field(foreign_key="export_jobs.id", primary_key=True, ondelete="CASCADE")
    seq: int = Field(primary_key=True)
    data: bytes = Field(sa_type=sa.LargeBinary)
