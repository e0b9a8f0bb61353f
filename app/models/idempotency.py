from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.models.base import TimestampField


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a POST carrying an ``Idempotency-Key``, replayed on retries."""

    __tablename__ = "idempotency_records"

    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", primary_key=True, ondelete="CASCADE")
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: bytes = Field(sa_type=sa.LargeBinary)
    response_headers: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    created_at: datetime = TimestampField()
