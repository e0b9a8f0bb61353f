from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from app.models.base import MetadataField, TimestampField, uuid7


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    name: str = Field(max_length=200)
    metadata_: dict[str, Any] = MetadataField()
    created_at: datetime = TimestampField()
    updated_at: datetime = TimestampField()
