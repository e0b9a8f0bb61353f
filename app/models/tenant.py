from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import MetadataField, TimestampField, uuid7


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    name: str = Field(max_length=200)
    metadata_: dict[str, Any] = MetadataField()
    # Scheduler lead times and grace periods (minutes), configurable per tenant.
    follow_up_reminder_lead_minutes: int = Field(
        default=1440, sa_column_kwargs={"server_default": sa.text("1440")}
    )
    follow_up_overdue_grace_minutes: int = Field(
        default=1440, sa_column_kwargs={"server_default": sa.text("1440")}
    )
    conversation_reminder_lead_minutes: int = Field(
        default=60, sa_column_kwargs={"server_default": sa.text("60")}
    )
    created_at: datetime = TimestampField()
    updated_at: datetime = TimestampField()
