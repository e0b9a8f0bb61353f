from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import TimestampField


class ScheduledFiring(SQLModel, table=True):
    """That a time-driven event fired for a subject's due time: the key makes it happen once.

    A new due time is a new key (the event re-arms); the scheduler only considers subjects
    still in a state that wants the event (completing or canceling disarms it).
    """

    __tablename__ = "scheduled_firings"
    __table_args__ = (sa.Index("ix_scheduled_firings_tenant_fired", "tenant_id", "fired_at"),)

    type: str = Field(primary_key=True, max_length=100)
    subject_id: uuid.UUID = Field(primary_key=True)
    due_at: datetime = Field(primary_key=True, sa_type=sa.DateTime(timezone=True))
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    event_id: uuid.UUID | None = Field(default=None)
    fired_at: datetime = TimestampField()
